"""``/v1/reports``: the municipality's DDAS delivery and its aggregate overview."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from exchange import clock
from exchange.auth.guards import CurrentPrincipal, requires
from exchange.auth.scopes import CASES_READ
from exchange.errors import NotFound
from exchange.fields import Day, Text
from exchange.http.answers import answer
from exchange.http.bodies import JsonRoute
from exchange.http.deps import CurrentBroker, DbSession
from exchange.organisations.service import own_municipality
from exchange.organisations.terms import OrganisationKind
from exchange.reports.ddas import DdasVersion, build_ddas
from exchange.reports.overview import OverviewReport, build_overview
from exchange.reports.period import period

router = APIRouter(prefix="/reports", tags=["reports"], route_class=JsonRoute)

From = Annotated[Day, Query(alias="from", description="First day (Europe/Amsterdam).")]
To = Annotated[Day, Query(alias="to", description="Last day, included; at most 366 days.")]


# The frame the VNG uitwisselmodel v0.9 and v1.2 share (json_schema_Uitwisselmodel.json);
# the deliveries inside follow the version's schema, which tests/test_ddas.py checks.
DDAS_DELIVERY_SCHEMA = {
    "type": "object",
    "title": "DdasUitwisselmodel",
    "required": [
        "aanleverdatumEnTijd",
        "einddatumLevering",
        "startdatumLevering",
        "codeGegevensleverancier",
    ],
    "properties": {
        "startdatumLevering": {"type": "string", "format": "date"},
        "einddatumLevering": {"type": "string", "format": "date"},
        "aanleverdatumEnTijd": {"type": "string", "format": "date-time"},
        "codeGegevensleverancier": {"type": "string"},
        "leveringen": {"type": "array", "items": {"type": "object"}},
    },
}


@router.get(
    "/ddas",
    summary="The DDAS uitwisselmodel delivery (v1.2 or v0.9) to CBS for a municipality and period",
    response_model=None,
    responses={
        200: {
            "description": "The delivery",
            "content": {"application/json": {"schema": DDAS_DELIVERY_SCHEMA}},
        }
    },
)
@requires(CASES_READ, {OrganisationKind.MUNICIPALITY})
def ddas_delivery(
    municipality: Annotated[Text, Query(description="Gemeentecode, e.g. 0599.")],
    start: From,
    end: To,
    principal: CurrentPrincipal,
    broker: CurrentBroker,
    session: DbSession,
    version: Annotated[
        DdasVersion | None,
        Query(description="The uitwisselmodel version; default: the municipality's setting."),
    ] = None,
) -> dict[str, Any]:
    own = own_municipality(session, principal.organisation_id)
    # Another municipality's delivery does not exist for this caller.
    if own.gemeentecode != municipality:
        raise NotFound(f"municipality {municipality} not found")
    checked = period(start, end)
    return build_ddas(
        session,
        broker.keyring,
        broker.policies.active(session).register,
        own,
        checked.start,
        checked.end,
        clock.now(),
        broker.settings.ddas_supplier_code,
        audit=broker.audit,
        actor_client=principal.client_id,
        version=version or DdasVersion(broker.settings.ddas_version_for(own.gemeentecode)),
    )


@router.get(
    "/overview",
    summary="Aggregate figures for the municipality, small counts suppressed",
    **answer(OverviewReport, "The figures; a suppressed figure is null, with suppressed: true"),
)
@requires(CASES_READ, {OrganisationKind.MUNICIPALITY})
def overview(
    start: From,
    end: To,
    principal: CurrentPrincipal,
    broker: CurrentBroker,
    session: DbSession,
) -> dict[str, Any]:
    checked = period(start, end)
    return build_overview(
        session,
        broker.policies.active(session).register,
        own_municipality(session, principal.organisation_id),
        checked.start,
        checked.end,
        clock.now(),
        audit=broker.audit,
        actor_client=principal.client_id,
    )
