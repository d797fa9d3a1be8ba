"""Sending due webhook deliveries, with retries and backoff.

Several broker processes may run this at once. A delivery is claimed in a short transaction
(on PostgreSQL with ``FOR UPDATE SKIP LOCKED``, so two dispatchers never take the same row;
SQLite has one writer anyway): the claim counts the attempt and moves ``next_attempt_at`` a
lease ahead, so a delivery whose sender died is taken up again when the lease ends. The
request itself is sent outside any transaction, and its result recorded in another short one.

Every request goes through ``exchange.outbound``: the URL's host is resolved and checked
again at each attempt (a name may point elsewhere since it was registered, and the allowed
hosts may have changed), and the connection goes to the address checked.

2xx is delivered. Anything else (a redirect, which is never followed, an error status, a
timeout, a refused connection, a destination that is not public) is retried after 30 s,
2 min, 10 min, 1 h, 6 h, 24 h and 24 h; after the eighth attempt the delivery is failed.
Only the status code and the kind of error are kept, never the response body.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import httpx
import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange import clock
from exchange.broker import Broker
from exchange.db import unit_of_work
from exchange.outbound import DestinationRefused, Outbound, http_client
from exchange.vault.keyring import Keyring
from exchange.webhooks.models import WebhookDelivery, WebhookSubscription
from exchange.webhooks.service import DeliveryState, signing_secret, url_problem
from exchange.webhooks.signing import signed_headers

log = structlog.get_logger("exchange.webhooks")

# The wait after the 1st, 2nd, ... failed attempt; one attempt more than there are waits.
BACKOFF = (
    dt.timedelta(seconds=30),
    dt.timedelta(minutes=2),
    dt.timedelta(minutes=10),
    dt.timedelta(hours=1),
    dt.timedelta(hours=6),
    dt.timedelta(hours=24),
    dt.timedelta(hours=24),
)
MAX_ATTEMPTS = len(BACKOFF) + 1
# Longer than a claimed batch can take to send (every request is bounded by the timeout).
LEASE = dt.timedelta(minutes=10)
BATCH = 50
USER_AGENT = "signal-exchange-webhooks/1"


@dataclass
class DispatchReport:
    """What one run did: deliveries delivered, scheduled for another try, given up."""

    delivered: int = 0
    retrying: int = 0
    failed: int = 0

    @property
    def attempted(self) -> int:
        return self.delivered + self.retrying + self.failed


def deliver_due(
    broker: Broker,
    *,
    now: dt.datetime | None = None,
    limit: int = BATCH,
    outbound: Outbound | None = None,
) -> DispatchReport:
    """Send up to ``limit`` deliveries that are due at ``now`` (default: the clock).

    With an explicit ``now`` every timestamp of the run is that instant (tests drive time
    this way); otherwise each request is signed and scheduled by the clock when it is sent.
    ``outbound`` decides where requests may go (default: from the settings).
    """
    moment = now or clock.now()
    for session in unit_of_work(broker.sessions):
        outgoing, unsubscribed = _claim(session, broker.keyring, moment, limit)
    report = DispatchReport(failed=unsubscribed)
    if not outgoing:
        return report
    http = http_client(
        outbound or Outbound.from_settings(broker.settings),
        timeout=broker.settings.webhook_timeout_seconds,
        headers={"user-agent": USER_AGENT},
    )
    with http:
        for item in outgoing:
            sent_at = now or clock.now()
            # The http setting may have changed since the URL was registered.
            error = (
                "url not allowed"
                if url_problem(item.url, broker.settings.webhook_allow_http)
                else None
            )
            status: int | None = None
            if error is None:
                status, error = _post(http, item, sent_at)
            for session in unit_of_work(broker.sessions):
                outcome = _record(session, item, status, error, now or clock.now())
            if outcome == DeliveryState.DELIVERED:
                report.delivered += 1
            elif outcome == DeliveryState.FAILED:
                report.failed += 1
            elif outcome == DeliveryState.PENDING:
                report.retrying += 1
    return report


@dataclass(frozen=True)
class _Outgoing:
    delivery_id: uuid.UUID
    organisation_id: uuid.UUID
    attempt: int
    body: bytes
    url: str
    secret: bytes


def _claim(
    session: Session, keyring: Keyring, now: dt.datetime, limit: int
) -> tuple[list[_Outgoing], int]:
    due = session.scalars(
        select(WebhookDelivery)
        .where(
            WebhookDelivery.state == DeliveryState.PENDING,
            WebhookDelivery.next_attempt_at <= now,
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if not due:
        return [], 0
    subscriptions = {
        s.organisation_id: s
        for s in session.scalars(
            select(WebhookSubscription).where(
                WebhookSubscription.organisation_id.in_({d.organisation_id for d in due})
            )
        )
    }
    outgoing = []
    unsubscribed = 0
    for delivery in due:
        subscription = subscriptions.get(delivery.organisation_id)
        if subscription is None:
            delivery.state = DeliveryState.FAILED
            delivery.last_error = "unsubscribed"
            unsubscribed += 1
            continue
        delivery.attempts += 1
        delivery.next_attempt_at = now + LEASE
        outgoing.append(
            _Outgoing(
                delivery_id=delivery.id,
                organisation_id=delivery.organisation_id,
                attempt=delivery.attempts,
                body=delivery.payload.encode(),
                # Read at send time: a replaced URL or a rotated secret applies to every
                # delivery not yet sent, including retries.
                url=subscription.url,
                secret=signing_secret(keyring, subscription),
            )
        )
    session.flush()
    return outgoing, unsubscribed


def _post(http: httpx.Client, item: _Outgoing, at: dt.datetime) -> tuple[int | None, str | None]:
    headers = signed_headers(item.secret, str(item.delivery_id), at, item.body)
    headers["content-type"] = "application/json"
    try:
        # Streamed and closed unread: the receiver's answer body is never read or kept.
        with http.stream("POST", item.url, content=item.body, headers=headers) as response:
            status = response.status_code
    except DestinationRefused as refused:
        # Nothing was connected to. The kind only ("resolves to a loopback address").
        return None, f"destination refused: {refused.reason}"
    except httpx.HTTPError as error:
        # The class name only: some messages quote the URL, which may hold a token.
        return None, type(error).__name__
    if 200 <= status < 300:
        return status, None
    if 300 <= status < 400:
        return status, "redirect not followed"
    return status, f"HTTP {status}"


def _record(
    session: Session,
    item: _Outgoing,
    status: int | None,
    error: str | None,
    now: dt.datetime,
) -> str | None:
    delivery = session.scalar(
        select(WebhookDelivery)
        .where(
            WebhookDelivery.id == item.delivery_id,
            WebhookDelivery.state == DeliveryState.PENDING,
            # Another dispatcher took it up after our lease ran out: its result counts.
            WebhookDelivery.attempts == item.attempt,
        )
        .with_for_update()
    )
    if delivery is None:
        return None
    delivery.last_status = status
    delivery.last_error = error
    fields = {
        "delivery_id": str(item.delivery_id),
        "organisation_id": str(item.organisation_id),
        "attempt": item.attempt,
        "status": status,
    }
    if error is None:
        delivery.state = DeliveryState.DELIVERED
        delivery.delivered_at = now
        log.info("webhook.delivered", **fields)
    elif item.attempt >= MAX_ATTEMPTS:
        delivery.state = DeliveryState.FAILED
        log.warning("webhook.failed", error=error, **fields)
    else:
        delivery.next_attempt_at = now + BACKOFF[item.attempt - 1]
        log.info("webhook.retry_scheduled", error=error, **fields)
    session.flush()
    return delivery.state
