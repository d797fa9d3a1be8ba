"""The application factory."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute

from exchange.api import background, openapi
from exchange.api import oauth as auth_routes
from exchange.api.middleware import (
    BearerAuthentication,
    BodyLimit,
    LostRaces,
    RequestId,
    RequestLimits,
    UnexpectedErrors,
)
from exchange.api.v1 import audit as audit_routes
from exchange.api.v1 import cases as case_routes
from exchange.api.v1 import consents as consent_routes
from exchange.api.v1 import policies as policy_routes
from exchange.api.v1 import reports as report_routes
from exchange.api.v1 import rights as rights_routes
from exchange.api.v1 import signals as signal_routes
from exchange.api.v1 import webhooks as webhook_routes
from exchange.auth.guards import authenticate, authorize
from exchange.broker import Broker
from exchange.config import Settings
from exchange.http import problems
from exchange.intake.coalescer import IntakeCoalescer
from exchange.logs import configure_logging
from exchange.ops import install as install_operations
from exchange.tracing import TraceContext
from exchange.ui import oidc as oidc_routes
from exchange.ui import outreach as outreach_routes
from exchange.ui import routes as ui_routes
from exchange.ui.web import HERE as UI_HERE
from exchange.ui.web import public_files

UI_STATIC = UI_HERE / "static"
# Every router under /v1: each behind the guard, each reading JSON bodies strictly
# (exchange.http.bodies.JsonRoute). Intake first: it is by far the busiest.
V1_ROUTERS = (
    signal_routes.router,
    case_routes.router,
    consent_routes.router,
    policy_routes.router,
    audit_routes.router,
    webhook_routes.router,
    report_routes.router,
    rights_routes.router,
)
GUARDED = [("/v1", router) for router in V1_ROUTERS]


def _operation_id(route: APIRoute) -> str:
    # The handler's name (send_signal, read_case): what a generated client calls its
    # functions. Unique across the API, which tests/test_openapi.py holds to.
    return route.name


ABOUT: dict[str, Any] = {
    "generate_unique_id_function": _operation_id,
    "title": "Signal exchange",
    "version": "0.1.0",
    "description": (
        "Early signals of payment arrears, from creditors to municipalities: "
        "pseudonymised, decided by purpose and legal basis, audited."
    ),
}


def include_api(app: FastAPI) -> None:
    """The API's routes: ``/v1`` and OAuth's. The pages and ``/healthz`` are not the API."""
    # Every /v1 route is behind the guard: default deny, on the router, never per route.
    # Each router goes into the app itself rather than under one /v1 router: FastAPI
    # matches a request by walking every nested router, which cost a single intake about
    # 4% of its instructions (BENCHMARKS.md).
    for prefix, router in GUARDED:
        app.include_router(router, prefix=prefix, dependencies=[Depends(authorize)])
    app.include_router(auth_routes.router)


def api_document(issuer: str) -> dict[str, Any]:
    """The OpenAPI document a broker at ``issuer`` serves, without starting one: for
    ``exchange openapi`` (client generators, the linters in ``make lint``)."""
    app = FastAPI(**ABOUT)
    include_api(app)
    return openapi.build(app, issuer, GUARDED)


def create_app(
    settings: Settings | None = None,
    broker: Broker | None = None,
    *,
    background_jobs: bool = False,
) -> FastAPI:
    """The API and pages; ``background_jobs`` also runs the periodic jobs (``exchange serve``):
    webhook deliveries and deadline escalations (``exchange.api.background``)."""
    settings = settings or (broker.settings if broker else Settings())
    configure_logging(settings.log_format, settings.log_level)
    broker = broker or Broker.start(settings, serving=background_jobs)

    app = FastAPI(
        **ABOUT,
        # Off unless asked for, so that tests and tools building an app send no webhooks
        # and record no escalations behind the test's back.
        lifespan=background.lifespan(broker) if background_jobs else None,
        # No OpenTelemetry export: the broker carries W3C trace context itself (into every
        # log line and audit entry, exchange.tracing) and serves Prometheus metrics. Off,
        # FastAPI no longer asks the OpenTelemetry API for providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.broker = broker
    app.state.intake = IntakeCoalescer(broker)
    problems.install(app)
    openapi.install(app, settings.issuer, GUARDED)

    # Innermost: a request that lost a race runs again from the route, its body kept.
    app.add_middleware(LostRaces)
    batch_path = "/v1/signals/batch"
    app.add_middleware(
        BodyLimit,
        limit_for=lambda path: (
            settings.max_batch_body_bytes if path == batch_path else settings.max_body_bytes
        ),
    )
    app.add_middleware(
        BearerAuthentication,
        prefix="/v1/",
        authenticate=lambda header: authenticate(broker.token_validator, header),
    )
    app.add_middleware(TraceContext)
    # Outside everything that reads the request: an oversized line or header is refused
    # before a token is checked or a trace header parsed.
    app.add_middleware(RequestLimits)
    # Inside the request id, so that a 500 carries it and its log line names it.
    app.add_middleware(UnexpectedErrors)
    app.add_middleware(RequestId)

    include_api(app)
    # The pages deny by default too: each route states its rule, checked by the route class
    # of their routers (exchange.ui.web.PageRoute); the static files are public.
    app.include_router(ui_routes.router)
    app.include_router(outreach_routes.router)
    app.include_router(oidc_routes.router)
    app.mount("/ui/static", public_files(UI_STATIC), name="ui-static")
    # /healthz, /readyz, /metrics; last, so that its request metrics wrap every middleware.
    install_operations(app, broker)
    return app
