"""``/v1/webhook``: a provider organisation's webhook for feedback on its signals."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response

from exchange import clock
from exchange.auth.guards import CurrentPrincipal, requires
from exchange.auth.scopes import SIGNALS_READ, SIGNALS_WRITE
from exchange.http.bodies import JsonRoute
from exchange.http.deps import CurrentBroker, DbSession
from exchange.organisations.terms import PROVIDER_KINDS
from exchange.outbound import Outbound
from exchange.webhooks import service
from exchange.webhooks.schemas import DeliveryList, WebhookIn, WebhookOut, WebhookWithSecret

router = APIRouter(prefix="/webhook", tags=["webhook"], route_class=JsonRoute)


@router.put(
    "",
    status_code=201,
    response_model=WebhookWithSecret,
    responses={200: {"model": WebhookWithSecret, "description": "The URL was replaced"}},
    summary="Set or replace your webhook; the answer holds a new signing secret, once",
)
@requires(SIGNALS_WRITE, PROVIDER_KINDS)
def put_webhook(
    body: WebhookIn,
    principal: CurrentPrincipal,
    broker: CurrentBroker,
    session: DbSession,
    response: Response,
) -> WebhookWithSecret:
    subscribed = service.subscribe(
        session,
        broker.keyring,
        broker.audit,
        principal,
        body.url,
        allow_http=broker.settings.webhook_allow_http,
        outbound=Outbound.from_settings(broker.settings),
        now=clock.now(),
    )
    response.status_code = 201 if subscribed.created else 200
    response.headers["Cache-Control"] = "no-store"
    return service.with_secret(subscribed)


@router.post(
    "/secret",
    response_model=WebhookWithSecret,
    summary="Rotate the signing secret; the old one stops at once",
)
@requires(SIGNALS_WRITE, PROVIDER_KINDS)
def rotate_secret(
    principal: CurrentPrincipal, broker: CurrentBroker, session: DbSession, response: Response
) -> WebhookWithSecret:
    subscribed = service.rotate_secret(
        session, broker.keyring, broker.audit, principal, clock.now()
    )
    response.headers["Cache-Control"] = "no-store"
    return service.with_secret(subscribed)


@router.get("", response_model=WebhookOut, summary="Your webhook (never its secret)")
@requires(SIGNALS_READ, PROVIDER_KINDS)
def read_webhook(principal: CurrentPrincipal, session: DbSession) -> WebhookOut:
    return service.subscription_out(service.subscription_of(session, principal.organisation_id))


@router.delete("", status_code=204, summary="Remove your webhook; unsent deliveries are dropped")
@requires(SIGNALS_WRITE, PROVIDER_KINDS)
def delete_webhook(
    principal: CurrentPrincipal, broker: CurrentBroker, session: DbSession
) -> Response:
    service.unsubscribe(session, broker.audit, principal, clock.now())
    return Response(status_code=204)


@router.get("/deliveries", response_model=DeliveryList, summary="Your recent webhook deliveries")
@requires(SIGNALS_READ, PROVIDER_KINDS)
def list_deliveries(
    principal: CurrentPrincipal,
    session: DbSession,
    limit: int = Query(default=50, ge=1, le=200, description="At most this many, newest first"),
) -> DeliveryList:
    deliveries = service.recent_deliveries(session, principal.organisation_id, limit)
    return DeliveryList(items=[service.delivery_out(d) for d in deliveries])
