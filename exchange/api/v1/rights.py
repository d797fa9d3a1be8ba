"""``/v1/subjects``: a privacy officer honours erasure, restriction and rectification requests
and lifts restrictions;
``/v1/notices``: recipients read what was erased or restricted of the data they received."""

from __future__ import annotations

from fastapi import APIRouter

from exchange.auth.guards import CurrentPrincipal, requires
from exchange.auth.scopes import SUBJECTS_RIGHTS
from exchange.http.bodies import JsonRoute
from exchange.http.deps import CurrentBroker, DbSession, rights_context
from exchange.organisations.terms import PROVIDER_KINDS, OrganisationKind
from exchange.rights import service
from exchange.rights.schemas import (
    ErasureOut,
    NoticeList,
    NoticeOut,
    RectificationOut,
    RectificationRequest,
    RestrictionLifted,
    RestrictionOut,
    RightsRequest,
)

router = APIRouter(tags=["data-subject rights"], route_class=JsonRoute)
OVERSIGHT = {OrganisationKind.PRIVACY_OFFICER}
RECIPIENT_KINDS = {
    OrganisationKind.MUNICIPALITY,
    OrganisationKind.NEIGHBOURHOOD_TEAM,
    OrganisationKind.DEBT_SERVICE,
}


@router.post(
    "/subjects/erasure",
    response_model=ErasureOut,
    summary="Erase a person's data (AVG art. 17), or say which legal duty overrides it",
    responses={409: {"description": "A legal obligation overrides erasure; the ground in words"}},
)
@requires(SUBJECTS_RIGHTS, OVERSIGHT)
def erasure(
    body: RightsRequest, principal: CurrentPrincipal, broker: CurrentBroker, session: DbSession
) -> ErasureOut:
    result = service.erase(
        session, rights_context(broker, session), principal, body.person, body.reason
    )
    return ErasureOut.model_validate(result)


@router.post(
    "/subjects/restriction",
    response_model=RestrictionOut,
    summary="Restrict a person's data (AVG art. 18): kept, disclosed to nobody",
)
@requires(SUBJECTS_RIGHTS, OVERSIGHT)
def restriction(
    body: RightsRequest, principal: CurrentPrincipal, broker: CurrentBroker, session: DbSession
) -> RestrictionOut:
    result = service.restrict(
        session, rights_context(broker, session), principal, body.person, body.reason
    )
    return RestrictionOut.model_validate(result)


@router.post(
    "/subjects/restriction/lift",
    response_model=RestrictionLifted,
    summary="Lift a person's restriction (AVG art. 18(3)); the recipients are told",
    responses={404: {"description": "No restriction is in force for the person"}},
)
@requires(SUBJECTS_RIGHTS, OVERSIGHT)
def lift_restriction(
    body: RightsRequest, principal: CurrentPrincipal, broker: CurrentBroker, session: DbSession
) -> RestrictionLifted:
    result = service.lift_restriction(
        session, rights_context(broker, session), principal, body.person, body.reason
    )
    return RestrictionLifted.model_validate(result)


@router.post(
    "/subjects/rectification",
    response_model=RectificationOut,
    summary="Correct a person's details (AVG art. 16); the recipients are told (art. 19)",
)
@requires(SUBJECTS_RIGHTS, OVERSIGHT)
def rectification(
    body: RectificationRequest,
    principal: CurrentPrincipal,
    broker: CurrentBroker,
    session: DbSession,
) -> RectificationOut:
    result = service.rectify(
        session,
        rights_context(broker, session),
        principal,
        body.person,
        body.corrections.model_dump(exclude_unset=True),
        body.reason,
    )
    return RectificationOut.model_validate(result)


@router.get(
    "/notices",
    response_model=NoticeList,
    summary="Erasures, rectifications and restrictions of data you received (AVG art. 19)",
)
@requires(None, RECIPIENT_KINDS | set(PROVIDER_KINDS))
def notices(principal: CurrentPrincipal, session: DbSession) -> NoticeList:
    return NoticeList(
        items=[
            NoticeOut(id=n.id, event=n.event, resources=n.resources, created_at=n.created_at)
            for n in service.notices_for(session, principal.organisation_id)
        ]
    )
