"""``/v1/cases``: the municipality's work queue, assignment, outreach and results.

Municipalities, neighbourhood teams and debt services call these; each sees only its own
cases (another's is a 404) and each answer is cut to the caller's rule in the register.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from exchange.auth.guards import CurrentPrincipal, requires
from exchange.auth.scopes import CASES_READ, CASES_WRITE
from exchange.cases import service, story
from exchange.cases.schemas import (
    AssignmentIn,
    AssignmentOut,
    CaseDocument,
    CaseStory,
    ContactAttemptIn,
    ContactAttemptOut,
    EndedAssignmentOut,
    QueuePage,
    ReopenedOut,
    ResultIn,
    ResultOut,
)
from exchange.cases.terms import CaseStatus, Composition
from exchange.errors import FieldError, InvalidInput
from exchange.fields import Offset, Text
from exchange.http.answers import answer
from exchange.http.bodies import JsonRoute
from exchange.http.deps import CurrentBroker, DbSession, case_context
from exchange.organisations.terms import OrganisationKind
from exchange.rights import notices
from exchange.signals.terms import SignalKind

router = APIRouter(prefix="/cases", tags=["cases"], route_class=JsonRoute)

CASEWORKERS = {
    OrganisationKind.MUNICIPALITY,
    OrganisationKind.NEIGHBOURHOOD_TEAM,
    OrganisationKind.DEBT_SERVICE,
}
# Who records attempts and results: every caseworker, each under its own rule (a debt
# service under the person's consent).
RECORDERS = CASEWORKERS
# Who hands a case over: the municipality to its teams and debt services, a team to a debt
# service (after it recorded the consent the referral needs).
ASSIGNERS = {OrganisationKind.MUNICIPALITY, OrganisationKind.NEIGHBOURHOOD_TEAM}


@router.get(
    "",
    summary="The work queue: your cases, crisis first, then by deadline",
    **answer(QueuePage, "A page of your cases"),
)
@requires(CASES_READ, CASEWORKERS)
def list_cases(
    principal: CurrentPrincipal,
    broker: CurrentBroker,
    session: DbSession,
    status: Annotated[
        list[CaseStatus] | None, Query(description="default: every status but closed")
    ] = None,
    kind: Annotated[list[SignalKind] | None, Query(description="signal kind")] = None,
    amount_min: Annotated[int | None, Query(ge=0, description="euros")] = None,
    amount_max: Annotated[int | None, Query(ge=0, description="euros")] = None,
    crisis: bool | None = None,
    classification: Annotated[list[Composition] | None, Query()] = None,
    pc4: Annotated[list[int] | None, Query(description="PC4 area(s), e.g. 1011")] = None,
    age_band: Annotated[list[Text] | None, Query(description="e.g. 27-45")] = None,
    overdue: bool | None = None,
    team: Annotated[
        list[uuid.UUID] | None, Query(description="a team or debt service assigned now")
    ] = None,
    creditor: Annotated[
        list[OrganisationKind] | None, Query(description="the kind of organisation that signalled")
    ] = None,
    number: Annotated[
        str | None, Query(pattern=r"^\d{4}-\d{4}-\d{6}$", description="e.g. 0599-2026-000123")
    ] = None,
    sort: Annotated[
        service.Sort, Query(description="the column; urgency: crisis first, then deadline")
    ] = service.Sort.URGENCY,
    descending: bool = False,
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = 50,
    offset: Annotated[Offset, Query()] = 0,
) -> dict[str, Any]:
    if amount_min is not None and amount_max is not None and amount_min > amount_max:
        raise InvalidInput(
            "the amount range is empty", [FieldError("amount_min", "is above amount_max")]
        )
    for area in pc4 or ():
        if not 1000 <= area <= 9999:
            raise InvalidInput("a PC4 area has four digits", [FieldError("pc4", "not 1000-9999")])
    used = {
        name
        for name, value in (
            ("case.status", status),
            ("kind", kind),
            ("amount_band", amount_min if amount_min is not None else amount_max),
            ("crisis", crisis),
            ("case.composition", classification),
            ("pc4", pc4),
            ("age_band", age_band),
            ("case.deadline", overdue),
            ("case.assignments", team),
            ("kind", creditor),
        )
        if value is not None
    }
    if creditor and any(not kind.is_provider for kind in creditor):
        raise InvalidInput(
            "a creditor is a kind of organisation that signals",
            [FieldError("creditor", "not a provider kind")],
        )
    wanted = service.QueueFilter(
        statuses=tuple(s.value for s in status) if status else service.OPEN_STATUSES,
        kinds=tuple(k.value for k in kind or ()),
        amount_min=amount_min,
        amount_max=amount_max,
        crisis=crisis,
        classifications=tuple(c.value for c in classification or ()),
        pc4=tuple(pc4 or ()),
        age_bands=tuple(age_band or ()),
        overdue=overdue,
        teams=tuple(team or ()),
        creditor_kinds=tuple(k.value for k in creditor or ()),
        number=number,
        sort=sort,
        descending=descending,
        limit=limit,
        offset=offset,
        used_fields=frozenset(used),
    )
    return service.queue(session, case_context(broker, session), principal, wanted)


@router.get(
    "/{case_id}",
    summary="One case, as your rule in the register permits",
    **answer(CaseDocument, "The case"),
)
@requires(CASES_READ, CASEWORKERS)
def read_case(
    case_id: uuid.UUID, principal: CurrentPrincipal, broker: CurrentBroker, session: DbSession
) -> dict[str, Any]:
    return service.read_case(session, case_context(broker, session), principal, case_id)


@router.post(
    "/{case_id}/assignment",
    summary="Hand the case over to a neighbourhood team or debt service, or add a co-worker",
    **answer(AssignmentOut, "The assignment made, and those it ended"),
)
@requires(CASES_WRITE, ASSIGNERS)
def assign_case(
    case_id: uuid.UUID,
    body: AssignmentIn,
    principal: CurrentPrincipal,
    broker: CurrentBroker,
    session: DbSession,
) -> dict[str, Any]:
    return service.assign(session, case_context(broker, session), principal, case_id, body)


@router.post(
    "/{case_id}/contact-attempts",
    status_code=201,
    summary="Record an attempt to reach the person",
    **answer(ContactAttemptOut, "The attempt recorded", 201),
)
@requires(CASES_WRITE, RECORDERS)
def record_contact_attempt(
    case_id: uuid.UUID,
    body: ContactAttemptIn,
    principal: CurrentPrincipal,
    broker: CurrentBroker,
    session: DbSession,
    response: Response,
) -> dict[str, Any]:
    attempt = service.record_attempt(
        session, case_context(broker, session), principal, case_id, body
    )
    response.headers["Location"] = f"/v1/cases/{case_id}"
    return attempt


@router.post(
    "/{case_id}/result",
    summary="Close the case with a national result code",
    **answer(ResultOut, "The case, closed"),
)
@requires(CASES_WRITE, RECORDERS)
def record_result(
    case_id: uuid.UUID,
    body: ResultIn,
    principal: CurrentPrincipal,
    broker: CurrentBroker,
    session: DbSession,
) -> dict[str, Any]:
    return service.record_result(session, case_context(broker, session), principal, case_id, body)


@router.post(
    "/{case_id}/assignments/{assignment_id}/end",
    summary="End an assignment: that organisation stops seeing the case",
    **answer(EndedAssignmentOut, "The assignment, ended"),
)
@requires(CASES_WRITE, CASEWORKERS)
def end_assignment(
    case_id: uuid.UUID,
    assignment_id: uuid.UUID,
    principal: CurrentPrincipal,
    broker: CurrentBroker,
    session: DbSession,
) -> dict[str, Any]:
    return service.end_assignment(
        session, case_context(broker, session), principal, case_id, assignment_id
    )


@router.post(
    "/{case_id}/reopen",
    summary="Open a closed case again, within the set period",
    **answer(ReopenedOut, "The case, open again"),
)
@requires(CASES_WRITE, RECORDERS)
def reopen_case(
    case_id: uuid.UUID, principal: CurrentPrincipal, broker: CurrentBroker, session: DbSession
) -> dict[str, Any]:
    return service.reopen(session, case_context(broker, session), principal, case_id)


@router.get(
    "/{case_id}/story",
    summary="The household's story: who signalled, its other cases, notices after a right",
    **answer(CaseStory, "The story"),
)
@requires(CASES_READ, CASEWORKERS)
def case_story(
    case_id: uuid.UUID, principal: CurrentPrincipal, broker: CurrentBroker, session: DbSession
) -> dict[str, Any]:
    """Read as part of the case: the case is read (and logged) as ``GET /v1/cases/{id}``
    reads it, and the story adds only what the caller's rule shows."""
    context = case_context(broker, session)
    document = service.read_case(session, context, principal, case_id)
    return story.household_story(
        session,
        context,
        principal,
        document,
        notices=notices.case_notices(session, principal, case_id),
    )
