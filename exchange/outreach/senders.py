"""How an outreach message leaves the broker: e-mail through an SMTP server, a text message
through an SMS gateway. Each is behind a small interface (:class:`EmailSender`,
:class:`TextSender`), so another gateway plugs in by implementing ``send``.

Both connect only where ``exchange.outbound`` allows (a public host, or one the operator
named in ``outbound_allowed_hosts``: a relay inside a closed network), to the address that
check returned. A failure is :class:`SendFailed` with a short reason and never the message,
the address or the number: those are personal data, and errors end up in logs.
"""

from __future__ import annotations

import re
import smtplib
import socket
import ssl
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Protocol

import httpx
import structlog

from exchange import clock
from exchange.config import Settings
from exchange.outbound import (
    MAX_ADDRESSES_TRIED,
    Address,
    DestinationRefused,
    Outbound,
    http_client,
)

log = structlog.get_logger("exchange.outreach")


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    body: str
    reference: str  # the case's number or id: in the Message-ID's place, never a person


@dataclass(frozen=True)
class TextMessage:
    to: str
    body: str
    reference: str


class SendFailed(Exception):
    """The message did not go out. ``reason``: ``destination`` (the host is not one the
    broker may reach), ``unreachable``, ``refused`` (the server said no), ``recipient``
    (no usable address or number)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class EmailSender(Protocol):
    def send(self, email: Email) -> None:
        """Hand the e-mail to the server; return only when it was accepted."""


class TextSender(Protocol):
    def send(self, message: TextMessage) -> None:
        """Hand the text message to the gateway; return only when it was accepted."""


def email_sender(settings: Settings) -> EmailSender | None:
    """The SMTP sender the settings describe, or None when e-mail is not set up."""
    if not settings.smtp_host or not settings.smtp_from:
        return None
    return SmtpSender(
        host=settings.smtp_host,
        port=settings.smtp_port,
        sender=settings.smtp_from,
        starttls=settings.smtp_starttls,
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        timeout=settings.smtp_timeout_seconds,
        outbound=Outbound.from_settings(settings),
    )


def text_sender(settings: Settings) -> TextSender | None:
    """The SMS gateway the settings describe, or None when text messages are not set up."""
    if not settings.sms_gateway_url:
        return None
    token = settings.sms_gateway_token
    return HttpTextSender(
        url=settings.sms_gateway_url,
        token=token.get_secret_value() if token else None,
        sender=settings.sms_sender,
        timeout=settings.webhook_timeout_seconds,
        outbound=Outbound.from_settings(settings),
    )


# E-mail ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpSender:
    """E-mail through an SMTP server (STARTTLS by default), with the standard library."""

    host: str
    port: int
    sender: str
    starttls: bool
    username: str | None
    password: str | None
    timeout: float
    outbound: Outbound

    def send(self, email: Email) -> None:
        try:
            destination = self.outbound.check(self.host, self.port)
        except DestinationRefused as refused:
            log.warning("outreach.smtp_refused_destination", reason=refused.reason)
            raise SendFailed("destination") from None
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = email.to
        message["Subject"] = email.subject
        message["Date"] = format_datetime(clock.now())
        domain = self.sender.rpartition("@")[2] or None
        message["Message-ID"] = make_msgid(idstring=uuid.uuid4().hex[:12], domain=domain)
        message.set_content(email.body)
        try:
            with _PinnedSMTP(self.host, self.port, destination.addresses, self.timeout) as smtp:
                smtp.ehlo()
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(message)
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as error:
            # Their text carries the addresses: only the kind goes on.
            log.warning("outreach.smtp_refused", error=type(error).__name__)
            raise SendFailed("refused") from None
        except smtplib.SMTPResponseException as error:
            log.warning("outreach.smtp_refused", error=type(error).__name__, code=error.smtp_code)
            raise SendFailed("refused") from None
        except (smtplib.SMTPException, OSError) as error:
            log.warning("outreach.smtp_unreachable", error=type(error).__name__)
            raise SendFailed("unreachable") from None
        log.info("outreach.email_sent", reference=email.reference)


class _PinnedSMTP(smtplib.SMTP):
    """An SMTP connection to an address ``exchange.outbound`` checked, while the host name
    stays the one STARTTLS verifies the certificate against (``smtplib`` keeps it as
    ``_host``)."""

    def __init__(
        self, host: str, port: int, addresses: tuple[Address, ...], timeout: float
    ) -> None:
        self._addresses = addresses
        super().__init__(host, port, timeout=timeout)  # connects, through _get_socket

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        failure: OSError | None = None
        for address in self._addresses[:MAX_ADDRESSES_TRIED]:
            try:
                return socket.create_connection((str(address), port), timeout)
            except OSError as error:
                failure = error
        assert failure is not None
        raise failure


# Text messages ---------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpTextSender:
    """A text message as one JSON POST to a gateway: ``{"to": "+316...", "text": ...,
    "sender": ..., "reference": ...}`` with a bearer token; any 2xx is accepted."""

    url: str
    token: str | None
    sender: str | None
    timeout: float
    outbound: Outbound

    def send(self, message: TextMessage) -> None:
        number = international_number(message.to)
        if number is None:
            raise SendFailed("recipient")
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        body = {"to": number, "text": message.body, "reference": message.reference}
        if self.sender:
            body["sender"] = self.sender
        try:
            with http_client(self.outbound, timeout=self.timeout, headers=headers) as client:
                answer = client.post(self.url, json=body)
        except DestinationRefused as refused:
            log.warning("outreach.sms_refused_destination", reason=refused.reason)
            raise SendFailed("destination") from None
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            log.warning("outreach.sms_unreachable", error=type(error).__name__)
            raise SendFailed("unreachable") from None
        if not answer.is_success:
            log.warning("outreach.sms_refused", status=answer.status_code)
            raise SendFailed("refused")
        log.info("outreach.sms_sent", reference=message.reference)


def international_number(phone: str) -> str | None:
    """A Dutch or international phone number as E.164 (``06-1234 5678`` -> ``+31612345678``),
    or None if it is not one."""
    digits = re.sub(r"[\s().-]", "", phone)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    elif digits.startswith("0"):
        digits = "+31" + digits[1:]
    return digits if re.fullmatch(r"\+[1-9][0-9]{7,14}", digits) else None
