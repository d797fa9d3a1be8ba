"""``/v1/consents`` and ``/v1/objections``: the consent ledger."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from exchange.auth.guards import CurrentPrincipal, requires
from exchange.auth.scopes import CONSENTS_READ, CONSENTS_WRITE
from exchange.consents import records, service
from exchange.consents.schemas import (
    ConsentIn,
    ConsentList,
    ConsentOut,
    ConsentSearch,
    ObjectionIn,
    ObjectionOut,
    WithdrawalIn,
)
from exchange.fields import Text
from exchange.http.bodies import JsonRoute
from exchange.http.deps import CurrentBroker, DbSession, ledger_context
from exchange.identity.service import identify
from exchange.organisations.terms import OrganisationKind

router = APIRouter(tags=["consents"], route_class=JsonRoute)

# Who records consents and objections: the organisations that talk to the person.
LEDGER_KINDS = frozenset(
    {
        OrganisationKind.MUNICIPALITY,
        OrganisationKind.NEIGHBOURHOOD_TEAM,
        OrganisationKind.DEBT_SERVICE,
        OrganisationKind.PRIVACY_OFFICER,
    }
)


@router.post(
    "/consents",
    status_code=201,
    response_model=ConsentOut,
    summary="Record a consent the person gave to your organisation",
)
@requires(CONSENTS_WRITE, LEDGER_KINDS)
def give_consent(
    body: ConsentIn, principal: CurrentPrincipal, broker: CurrentBroker, session: DbSession
) -> ConsentOut:
    consent = service.give_consent(session, ledger_context(broker, session), principal, body)
    return service.consents_out(session, broker.keyring, principal, [consent])[0]


@router.post(
    "/consents/{consent_id}/withdrawal",
    response_model=ConsentOut,
    summary="Withdraw a consent; every later disclosure under it is denied",
)
@requires(CONSENTS_WRITE, LEDGER_KINDS)
def withdraw_consent(
    consent_id: uuid.UUID,
    principal: CurrentPrincipal,
    broker: CurrentBroker,
    session: DbSession,
    body: WithdrawalIn | None = None,
) -> ConsentOut:
    consent = service.withdraw_consent(
        session,
        ledger_context(broker, session),
        principal,
        consent_id,
        body.effective_on if body else None,
    )
    return service.consents_out(session, broker.keyring, principal, [consent])[0]


@router.get(
    "/consents", response_model=ConsentList, summary="Consents you collected or receive data under"
)
@requires(CONSENTS_READ, LEDGER_KINDS)
def list_consents(
    principal: CurrentPrincipal,
    broker: CurrentBroker,
    session: DbSession,
    purpose: Annotated[Text | None, Query(description="Only consents for this purpose")] = None,
) -> ConsentList:
    consents = service.consents_for(
        session, ledger_context(broker, session), principal, purpose=purpose
    )
    return ConsentList(consents=service.consents_out(session, broker.keyring, principal, consents))


@router.post(
    "/consents/search",
    response_model=ConsentList,
    summary="One person's consents (the identity goes in the body, never the URL)",
)
@requires(CONSENTS_READ, LEDGER_KINDS)
def search_consents(
    body: ConsentSearch, principal: CurrentPrincipal, broker: CurrentBroker, session: DbSession
) -> ConsentList:
    person = identify(session, broker.keyring, body.person)
    consents = service.consents_for(
        session, ledger_context(broker, session), principal, subject_ids=person.subject_ids
    )
    return ConsentList(consents=service.consents_out(session, broker.keyring, principal, consents))


@router.get("/consents/{consent_id}", response_model=ConsentOut, summary="One consent")
@requires(CONSENTS_READ, LEDGER_KINDS)
def read_consent(
    consent_id: uuid.UUID,
    principal: CurrentPrincipal,
    broker: CurrentBroker,
    session: DbSession,
) -> ConsentOut:
    consent = service.visible_consent(session, principal, consent_id)
    return service.consents_out(session, broker.keyring, principal, [consent])[0]


# The record's frame; the DPV terms inside are for a JSON-LD processor to expand.
CONSENT_RECORD_SCHEMA = {
    "type": "object",
    "required": ["@context", "@id", "@type", "dct:identifier"],
    "properties": {
        "@context": {"type": "object", "additionalProperties": {"type": "string"}},
        "@id": {"type": "string", "format": "uri"},
        "@type": {"const": "dpv:ConsentRecord"},
        "dct:identifier": {"type": "string", "format": "uuid"},
    },
}


@router.get(
    "/consents/{consent_id}/record",
    response_class=Response,
    summary="One consent as an ISO/IEC TS 27560 record in W3C DPV (JSON-LD)",
    responses={
        200: {
            "content": {records.MEDIA_TYPE: {"schema": CONSENT_RECORD_SCHEMA}},
            "description": "The consent record, application/ld+json; the person appears only "
            "under the pseudonym your organisation knows them by",
        }
    },
)
@requires(CONSENTS_READ, LEDGER_KINDS)
def consent_record(
    consent_id: uuid.UUID,
    principal: CurrentPrincipal,
    broker: CurrentBroker,
    session: DbSession,
) -> Response:
    consent = service.visible_consent(session, principal, consent_id)
    record = records.consent_records(
        session,
        broker.keyring,
        ledger_context(broker, session).register,
        principal,
        [consent],
        broker.settings.data_location,
    )[0]
    url = f"{broker.settings.issuer.rstrip('/')}/v1/consents/{consent_id}/record"
    return Response(records.json_ld_bytes(record, url), media_type=records.MEDIA_TYPE)


@router.post(
    "/objections",
    status_code=201,
    response_model=ObjectionOut,
    summary="Record an objection (AVG art. 21); it stops later disclosures at once",
)
@requires(CONSENTS_WRITE, LEDGER_KINDS)
def record_objection(
    body: ObjectionIn, principal: CurrentPrincipal, broker: CurrentBroker, session: DbSession
) -> ObjectionOut:
    objection, pseudonym = service.record_objection(
        session, ledger_context(broker, session), principal, body
    )
    return ObjectionOut(
        id=objection.id,
        status="in_force",
        subject=service.as_seen_by(broker.keyring, principal, pseudonym),
        purposes=objection.purposes,
        made_on=objection.made_on,
        recorded_by=objection.recorded_by_id,
    )
