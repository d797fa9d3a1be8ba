"""Webhook subscriptions, and announcing feedback changes to the providers that subscribed.

A provider organisation has at most one webhook. Its signing secret is made here, shown
once, and kept only wrapped by the key-encryption key. ``announce_feedback`` runs in the
case service's transaction: each announcement is a disclosure decided by the register and
written to the audit log, and the delivery row it adds is sent later by the dispatcher.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import structlog
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from exchange import clock
from exchange.auditlog.service import AuditRecord, AuditTrail
from exchange.auth.tokens import Principal
from exchange.cases.feedback import FEEDBACK_PURPOSE, PAUSE_FIELD, STATUS_FIELD, provider_feedback
from exchange.cases.models import Case
from exchange.db import insert_ignoring_conflicts
from exchange.disclosures import Ask, Disclosure, Disclosures, Party, Person, Shown
from exchange.errors import FieldError, InvalidInput, NotFound
from exchange.identity.models import Subject
from exchange.organisations.models import Organisation
from exchange.outbound import DestinationRefused, Outbound
from exchange.signals.models import Signal
from exchange.vault import envelope
from exchange.vault.keyring import Keyring
from exchange.webhooks import signing
from exchange.webhooks.models import WebhookDelivery, WebhookSubscription
from exchange.webhooks.schemas import MAX_URL_LENGTH, DeliveryOut, WebhookOut, WebhookWithSecret
from policies.casework import CaseworkPolicy, load_casework_policy
from policies.engine import Decision, Register

log = structlog.get_logger("exchange.webhooks")

FEEDBACK_CHANGED = "signal.feedback_changed"


class DeliveryState:
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True)
class Subscribed:
    """A subscription with its signing secret in the ``whsec_`` form, to be shown once."""

    subscription: WebhookSubscription
    secret: str
    created: bool


# Subscriptions ----------------------------------------------------------------------------


def subscribe(
    session: Session,
    keyring: Keyring,
    audit: AuditTrail,
    principal: Principal,
    url: str,
    *,
    allow_http: bool,
    outbound: Outbound,
    now: dt.datetime,
) -> Subscribed:
    """Set or replace the organisation's webhook URL; a new secret comes with every call.

    A replaced URL gets a new secret too: the old secret may be known at the old address,
    which need not be the same party.
    """
    url = check_url(url, allow_http=allow_http, outbound=outbound)
    candidate = uuid.uuid4()
    secret = signing.new_secret()
    # Insert-or-keep, then lock: two concurrent first PUTs end in one row, not an error.
    insert_ignoring_conflicts(
        session,
        WebhookSubscription,
        [
            {
                "id": candidate,
                "organisation_id": principal.organisation_id,
                "url": url,
                "wrapped_secret": _wrap(keyring, candidate, secret),
                "kek_id": keyring.kek.active_id,
                "created_at": now,
                "updated_at": now,
            }
        ],
        ["organisation_id"],
    )
    subscription = _locked(session, principal.organisation_id)
    assert subscription is not None
    created = subscription.id == candidate
    if not created:
        subscription.url = url
        _set_secret(keyring, subscription, secret, now)
    session.flush()
    _audit(session, audit, principal, "webhook.subscribe", subscription, now)
    log.info(
        "webhook.subscribed",
        organisation_id=str(principal.organisation_id),
        subscription_id=str(subscription.id),
        created=created,
    )
    return Subscribed(subscription, signing.secret_text(secret), created)


def rotate_secret(
    session: Session, keyring: Keyring, audit: AuditTrail, principal: Principal, now: dt.datetime
) -> Subscribed:
    """A new signing secret for the organisation's webhook; the old one stops at once."""
    subscription = _locked(session, principal.organisation_id)
    if subscription is None:
        raise NotFound("this organisation has no webhook; create one with PUT /v1/webhook")
    secret = signing.new_secret()
    _set_secret(keyring, subscription, secret, now)
    session.flush()
    _audit(session, audit, principal, "webhook.rotate_secret", subscription, now)
    log.info("webhook.secret_rotated", subscription_id=str(subscription.id))
    return Subscribed(subscription, signing.secret_text(secret), created=False)


def unsubscribe(
    session: Session, audit: AuditTrail, principal: Principal, now: dt.datetime
) -> None:
    """Remove the organisation's webhook. Announcements not yet sent are given up."""
    subscription = _locked(session, principal.organisation_id)
    if subscription is None:
        raise NotFound("this organisation has no webhook")
    session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.organisation_id == principal.organisation_id,
            WebhookDelivery.state == DeliveryState.PENDING,
        )
        .values(state=DeliveryState.FAILED, last_error="unsubscribed")
    )
    _audit(session, audit, principal, "webhook.unsubscribe", subscription, now)
    session.delete(subscription)
    session.flush()
    log.info("webhook.unsubscribed", subscription_id=str(subscription.id))


def subscription_of(session: Session, organisation_id: uuid.UUID) -> WebhookSubscription:
    subscription = session.scalar(
        select(WebhookSubscription).where(WebhookSubscription.organisation_id == organisation_id)
    )
    if subscription is None:
        raise NotFound("this organisation has no webhook")
    return subscription


def recent_deliveries(
    session: Session, organisation_id: uuid.UUID, limit: int
) -> list[WebhookDelivery]:
    """The organisation's own deliveries, newest first."""
    return list(
        session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.organisation_id == organisation_id)
            .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id)
            .limit(limit)
        )
    )


def signing_secret(keyring: Keyring, subscription: WebhookSubscription) -> bytes:
    """The raw signing secret, unwrapped with the key-encryption key it was wrapped by."""
    return envelope.unwrap_data_key(
        keyring.kek.get(subscription.kek_id), subscription.wrapped_secret, subscription.id.bytes
    )


def check_url(url: str, *, allow_http: bool, outbound: Outbound) -> str:
    """The URL if a webhook may be sent there, else ``InvalidInput`` naming the field ``url``.

    https only (plain http where the setting allows it, for development); no user name or
    password in the URL, since it would be sent along and shown back; and a host that
    ``outbound`` lets the broker connect to now (the dispatcher asks again at each attempt).
    """
    url = url.strip()
    problem = url_problem(url, allow_http)
    if problem is None:
        try:
            outbound.check_url(url)
        except DestinationRefused as refused:
            problem = refused.problem
    if problem is not None:
        raise InvalidInput(
            f"the webhook URL is not usable: {problem}", [FieldError("url", problem)]
        )
    return url


def url_problem(url: str, allow_http: bool) -> str | None:
    """What is wrong with the URL's form, or None; where it points is ``Outbound``'s
    question."""
    if not url:
        return "is required"
    if len(url) > MAX_URL_LENGTH:
        return f"is longer than {MAX_URL_LENGTH} characters"
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return "must not contain spaces or control characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (a port that is not a number raises here)
    except ValueError:
        return "is not a valid URL"
    allowed = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in allowed:
        return "must be an https URL"
    if not parts.hostname:
        return "is not a valid URL: it has no host"
    if parts.username is not None or parts.password is not None:
        return "must not contain a user name or password"
    if parts.fragment:
        return "must not contain a fragment (#...)"
    try:
        httpx.URL(url)
    except httpx.InvalidURL:
        return "is not a valid URL"
    return None


def _locked(session: Session, organisation_id: uuid.UUID) -> WebhookSubscription | None:
    return session.scalar(
        select(WebhookSubscription)
        .where(WebhookSubscription.organisation_id == organisation_id)
        .with_for_update()
    )


def _wrap(keyring: Keyring, subscription_id: uuid.UUID, secret: bytes) -> bytes:
    # Bound to the row: a wrapped secret copied onto another subscription does not unwrap.
    return envelope.wrap_data_key(keyring.kek.active, secret, subscription_id.bytes)


def _set_secret(
    keyring: Keyring, subscription: WebhookSubscription, secret: bytes, now: dt.datetime
) -> None:
    subscription.wrapped_secret = _wrap(keyring, subscription.id, secret)
    subscription.kek_id = keyring.kek.active_id
    subscription.updated_at = now


def _audit(
    session: Session,
    audit: AuditTrail,
    principal: Principal,
    action: str,
    subscription: WebhookSubscription,
    now: dt.datetime,
) -> None:
    # The host says where announcements go; the rest of the URL may hold the provider's
    # own access token, so it stays out of the log.
    audit.append(
        session,
        [
            AuditRecord(
                action=action,
                decision="recorded",
                actor_org=principal.organisation_id,
                actor_client=principal.client_id,
                resources={
                    "subscription": str(subscription.id),
                    "host": urlsplit(subscription.url).hostname or "",
                },
            )
        ],
        now,
    )


# Announcing feedback ----------------------------------------------------------------------


def announce_feedback(
    session: Session,
    audit: AuditTrail,
    register: Register,
    case: Case,
    now: dt.datetime,
    *,
    casework: CaseworkPolicy | None = None,
) -> int:
    """Queue a ``signal.feedback_changed`` webhook for each subscribed provider of a case.

    Call it in the transaction that changed ``case.feedback_status`` (after the change).
    For every signal of the case whose provider has a webhook, the register decides the
    provider-feedback read for that provider; the decision, permitted or denied, goes into
    the audit log, and a permitted one adds a delivery that the dispatcher sends after the
    commit. The payload holds the signal id, the provider's reference when the rule lists
    it, and the feedback the rule permits: never a reason, a note or personal data.
    Returns the number of deliveries queued.
    """
    casework = casework or load_casework_policy()
    rows = session.execute(
        select(
            Signal.id,
            Signal.provider_id,
            Signal.external_ref,
            Subject.pseudonym,
            Organisation.kind,
        )
        .join(WebhookSubscription, WebhookSubscription.organisation_id == Signal.provider_id)
        .join(Organisation, Organisation.id == Signal.provider_id)
        .outerjoin(Subject, Subject.id == Signal.subject_id)
        .where(Signal.case_id == case.id)
        .order_by(Signal.received_at, Signal.id)
    ).all()
    if not rows:
        return 0
    occurred_at = _instant(now)
    deliveries: list[WebhookDelivery] = []

    def payload_for(ask: Ask[Any], decision: Decision) -> Shown[None]:
        row = ask.item
        feedback = provider_feedback(casework, decision, case)
        if feedback is None:
            return Shown(None, fields=())
        delivery_id = uuid.uuid4()
        payload = {
            "type": FEEDBACK_CHANGED,
            "id": str(delivery_id),
            "signal_id": str(row.id),
            **({"external_ref": row.external_ref} if "external_ref" in decision.fields else {}),
            "feedback": feedback,
            "occurred_at": occurred_at,
        }
        deliveries.append(
            WebhookDelivery(
                id=delivery_id,
                organisation_id=row.provider_id,
                event_type=FEEDBACK_CHANGED,
                payload=orjson.dumps(payload).decode(),
                state=DeliveryState.PENDING,
                attempts=0,
                created_at=now,
                next_attempt_at=now,
            )
        )
        return Shown(
            None, fields=_disclosed_fields(payload), resources={"delivery": str(delivery_id)}
        )

    # The broker announces; the change itself is audited by whoever made it.
    Disclosures(session, register, audit, now, clock.local_date(now)).disclose(
        Disclosure(
            Party(None, client="exchange-webhooks"),
            FEEDBACK_PURPOSE,
            "read",
            "signal.feedback_announced",
        ),
        [
            Ask(
                Person(row.pseudonym),
                Party(row.provider_id, row.kind),
                row,
                {"signal": str(row.id)},
            )
            for row in rows
        ],
        show=payload_for,
    )
    session.add_all(deliveries)
    session.flush()
    for delivery in deliveries:
        log.info(
            "webhook.queued",
            delivery_id=str(delivery.id),
            organisation_id=str(delivery.organisation_id),
            case_id=str(case.id),
        )
    return len(deliveries)


def _disclosed_fields(payload: dict[str, Any] | None) -> tuple[str, ...]:
    """The register's names of the fields a payload carries (nothing when none is sent)."""
    if payload is None:
        return ()
    fields = {STATUS_FIELD}
    if "external_ref" in payload:
        fields.add("external_ref")
    if PAUSE_FIELD.removeprefix("feedback.") in payload["feedback"]:
        fields.add(PAUSE_FIELD)
    return tuple(sorted(fields))


def _instant(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def subscription_out(subscription: WebhookSubscription) -> WebhookOut:
    """A subscription as its provider sees it (never its secret)."""
    return WebhookOut(
        url=subscription.url,
        created_at=subscription.created_at,
        updated_at=subscription.updated_at,
    )


def with_secret(subscribed: Subscribed) -> WebhookWithSecret:
    """A subscription just made or renewed, with its secret: the one time it is shown."""
    subscription = subscribed.subscription
    return WebhookWithSecret(
        url=subscription.url,
        created_at=subscription.created_at,
        updated_at=subscription.updated_at,
        secret=subscribed.secret,
    )


def delivery_out(delivery: WebhookDelivery) -> DeliveryOut:
    """A delivery as its provider sees it: the next attempt only while one is due."""
    return DeliveryOut(
        id=delivery.id,
        type=delivery.event_type,
        state=delivery.state,
        attempts=delivery.attempts,
        last_status=delivery.last_status,
        created_at=delivery.created_at,
        delivered_at=delivery.delivered_at,
        next_attempt_at=(
            delivery.next_attempt_at if delivery.state == DeliveryState.PENDING else None
        ),
    )
