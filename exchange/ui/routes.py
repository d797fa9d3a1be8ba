"""``/ui``: the pages for case workers, neighbourhood teams and privacy officers.

The pages call the same services as the API, so a page that shows personal data is decided
by the register and written to the audit log exactly like ``GET /v1/cases/{id}``: the
service does it, not the page. The person is named in the log by user id.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from exchange import clock
from exchange.auditlog.schemas import AccessReport
from exchange.auditlog.service import AuditRecord
from exchange.cases import consent as case_consent
from exchange.cases import service as cases
from exchange.cases import story
from exchange.cases.schemas import AssignmentIn, ContactAttemptIn, ResultIn
from exchange.cases.terms import SENT_CHANNELS, CaseStatus, ContactChannel, PartOfDay
from exchange.consents import records as consent_records
from exchange.consents import service as consents
from exchange.consents import terms as consent_words
from exchange.db import roll_back, unit_of_work
from exchange.disclosures import Party, Refused
from exchange.disclosures.oversight import record_review
from exchange.errors import ExchangeError, FieldError, InvalidInput
from exchange.fields import MAX_BIGINT, no_nul, within_window
from exchange.http.deps import (
    CurrentBroker,
    DbSession,
    case_context,
    ledger_context,
    rights_context,
)
from exchange.identity.schemas import Person
from exchange.identity.service import identify
from exchange.organisations import service as organisations
from exchange.organisations.terms import PROVIDER_KINDS, OrganisationKind
from exchange.outreach import service as outreach
from exchange.reports.overview import build_overview
from exchange.reports.period import period
from exchange.rights import letter, report
from exchange.rights import notices as rights_notices
from exchange.rights import service as rights
from exchange.rights.schemas import Corrections
from exchange.signals.terms import SignalKind
from exchange.ui import accounts, throttle, worklist
from exchange.ui import overview as overview_page
from exchange.ui import views as saved_views
from exchange.ui.accounts import SignedIn
from exchange.ui.verification import latest_verification, verify_log
from exchange.ui.web import (
    CASEWORK,
    CASEWORK_KINDS,
    LOGIN_CSRF_COOKIE,
    OVERSIGHT,
    OVERSIGHT_KINDS,
    PUBLIC,
    SESSION_COOKIE,
    SIGNED_IN,
    CurrentUser,
    PageError,
    PageRoute,
    allow,
    as_uuid,
    language,
    new_login_csrf,
    page,
    principal_of,
    redirect,
    render,
    safe_next,
    secure_cookies,
)
from policies.casework import ResultCode
from policies.engine import Register
from policies.words import duration_words, number_words

# Every route of these pages states who may open it (@page(rule)); the route class refuses
# a route that states nothing, and checks the rule, and every form's CSRF token, before any
# of the route is read (web.PageRoute).
router = APIRouter(prefix="/ui", include_in_schema=False, route_class=PageRoute)
# Every caseworker records attempts and results, each under its own rule.
RECORDER_KINDS = CASEWORK_KINDS
MUNICIPALITY = allow({OrganisationKind.MUNICIPALITY})
RECORDERS = allow(RECORDER_KINDS)
ASSIGNER_KINDS = frozenset({OrganisationKind.MUNICIPALITY, OrganisationKind.NEIGHBOURHOOD_TEAM})
ASSIGNERS = allow(ASSIGNER_KINDS)
# The home page sends each person to their own start page; a person of another kind has none.
HOME = allow(CASEWORK_KINDS | OVERSIGHT_KINDS)
# How far back the work list tells of corrections, restrictions and erasures.
QUEUE_NOTICE_DAYS = dt.timedelta(days=14)
# The audit search: newest first, this many entries a page.
AUDIT_PAGE = 50
DECISIONS = ("permit", "deny", "recorded")


# Logging in and out ---------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
@page(PUBLIC)
def login_form(request: Request, broker: CurrentBroker, next: str | None = None) -> Response:
    return _login_page(request, broker, next)


@router.post("/login", response_class=HTMLResponse)
@page(PUBLIC)
def login(
    request: Request,
    broker: CurrentBroker,
    username: Annotated[str, Form(max_length=120)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=500)] = "/ui/",
) -> Response:
    # The form's login CSRF token is checked before this runs (web.PageRoute).
    now = clock.now()
    attempt = throttle.LoginAttempt.of(
        broker.keyring, username, request.client.host if request.client else None
    )
    # The attempt is counted (or refused) and committed before the password is verified, so
    # parallel guesses cannot all pass the count first, and argon2 runs with no transaction
    # open. Its own units of work, not the request's session, for that reason.
    for session in unit_of_work(broker.sessions):
        found = accounts.credential(session, username)
        held = throttle.admit(session, broker.audit, attempt, found, now)
    if held is not None:
        # No password is verified while throttled: that is what keeps guessing from
        # costing the broker argon2's CPU.
        return _login_page(request, broker, next, retry_after=held.retry_after(now))
    if not accounts.password_matches(found, password):
        return _login_page(request, broker, next, failed=True)
    signed: Response | None = None
    for session in unit_of_work(broker.sessions):
        user = accounts.account_of(session, found, password)
        if user is not None:
            throttle.succeeded(session, attempt)
            signed = finish_login(session, broker, user, safe_next(next))
    return signed or _login_page(request, broker, next, failed=True)


def _login_page(
    request: Request,
    broker: Any,
    next: str | None,
    *,
    failed: bool = False,
    retry_after: int | None = None,
) -> Response:
    """The login form (again): after a wrong name or password 401, while throttled 429 with
    ``Retry-After`` and how many minutes to wait. A new login CSRF token each time."""
    token = new_login_csrf()
    status = 429 if retry_after is not None else 401 if failed else 200
    response = render(
        request,
        "login.html",
        {
            "next": safe_next(next),
            "login_csrf": token,
            "failed": failed,
            "wait_minutes": math.ceil(retry_after / 60) if retry_after is not None else None,
            "oidc": broker.settings.oidc_enabled,
        },
        status=status,
    )
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    _set_login_csrf(response, token, broker)
    return response


def finish_login(session: Session, broker: Any, user: Any, target: str) -> Response:
    """Start a session for a user who proved who they are (password or identity provider)."""
    now = clock.now()
    token = accounts.start_session(session, user, now)
    broker.audit.append(
        session,
        [
            AuditRecord(
                action="ui.login",
                decision="recorded",
                actor_org=user.organisation_id,
                actor_client=f"user:{user.id}",
            )
        ],
        now,
    )
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(accounts.SESSION_LIFETIME.total_seconds()),
        path="/ui",
        httponly=True,
        samesite="lax",
        secure=secure_cookies(broker),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/ui")
    return response


@router.post("/logout")
@page(SIGNED_IN)
def logout(request: Request, session: DbSession) -> Response:
    accounts.end_session(session, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/ui")
    return response


def _set_login_csrf(response: Response, token: str, broker: Any) -> None:
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=secure_cookies(broker),
    )


@router.get("/")
@page(HOME)
def home(request: Request, user: CurrentUser) -> Response:
    if user.organisation_kind in OVERSIGHT_KINDS:
        return RedirectResponse("/ui/audit", status_code=303)
    return RedirectResponse("/ui/cases", status_code=303)


# The work queue and the case page ------------------------------------------------------


@router.get("/cases", response_class=HTMLResponse)
@page(CASEWORK)
def queue(
    request: Request, user: CurrentUser, broker: CurrentBroker, session: DbSession
) -> Response:
    """The work list: filters, sorting and pages from the query string (``worklist``), a
    mistake shown on its field with the rest of the list as it was."""
    context = case_context(broker, session)
    principal = principal_of(user)
    fields = cases.readable_fields(context, principal)
    params = {name: request.query_params.getlist(name) for name in request.query_params}
    form = worklist.read(params, rule_fields=fields)
    listing = cases.queue(session, context, principal, form.wanted)
    last_page = max(1, math.ceil(listing["total"] / worklist.PAGE_SIZE))
    if form.page > last_page:
        # A page past the end (an old link, a typed number): say so, and show the first.
        form = worklist.WorkList(
            cases.paged(form.wanted, 0, worklist.PAGE_SIZE),
            form.chosen,
            form.errors | {"page": "error_page"},
            1,
        )
        listing = cases.queue(session, context, principal, form.wanted)
    municipality = user.organisation_kind is OrganisationKind.MUNICIPALITY
    views = saved_views.views_of(session, user.user_id)
    return render(
        request,
        "queue.html",
        {
            "listing": listing,
            "fields": fields,
            "statuses": [s.value for s in CaseStatus],
            "kinds": [k.value for k in SignalKind],
            "creditor_kinds": sorted(k.value for k in PROVIDER_KINDS),
            "age_bands": list(cases.band_labels(context.intake.age_bands_years, 1, "under")),
            "teams": organisations.teams_of(session, user.organisation_id) if municipality else [],
            "chosen": form.chosen,
            "sort_keys": [
                key.value
                for key, needs in cases.SORT_FIELDS.items()
                if needs is None or needs in fields
            ],
            "errors": form.errors,
            "page_no": form.page,
            "last_page": last_page,
            "first_shown": listing["offset"] + 1 if listing["items"] else 0,
            "last_shown": listing["offset"] + len(listing["items"]),
            "query": lambda **changes: worklist.query_of(form.chosen, **changes),
            "here": worklist.query_of(form.chosen),
            "views": views,
            # What changed or went after a person's request, in the worker's words.
            "notices": rights_notices.notices_for_queue(
                session, principal, clock.now() - QUEUE_NOTICE_DAYS
            ),
            "bulk_targets": _hand_over_targets(session, user),
            "may_send_letters": outreach.may_send(user.organisation_kind),
            "saved": request.query_params.get("saved"),
            "bulk_counts": (
                _count(request.query_params.get("done")),
                _count(request.query_params.get("refused")),
            ),
            "title_key": "cases" if municipality else "my_cases",
        },
        user=user,
        status=422 if form.errors else 200,
    )


def _count(text: str | None) -> int:
    return int(text) if text and text.isdigit() and len(text) < 6 else 0


def _hand_over_targets(session: Session, user: SignedIn) -> list[Any]:
    """Whom this person may hand a case over to: the municipality its teams and debt
    services, a team the debt services of its municipality; others nobody."""
    if user.organisation_kind is OrganisationKind.MUNICIPALITY:
        return organisations.teams_of(session, user.organisation_id)
    if user.organisation_kind is OrganisationKind.NEIGHBOURHOOD_TEAM:
        own = organisations.own_municipality(session, user.organisation_id)
        if own.parent_id is None:
            return []
        return [
            o
            for o in organisations.teams_of(session, own.parent_id)
            if o.kind == OrganisationKind.DEBT_SERVICE.value
        ]
    return []


@router.get("/cases.csv")
@page(CASEWORK)
def export_queue(
    request: Request, user: CurrentUser, broker: CurrentBroker, session: DbSession
) -> Response:
    """The worker's own list as filtered, every page of it, with only the columns the rule
    shows; each case's people on the audit log as ``case.export``."""
    context = case_context(broker, session)
    principal = principal_of(user)
    fields = cases.readable_fields(context, principal)
    params = {name: request.query_params.getlist(name) for name in request.query_params}
    form = worklist.read(params, rule_fields=fields)
    lang = language(request)
    rows: list[dict[str, Any]] = []
    offset = 0
    while offset < worklist.EXPORT_LIMIT:
        wanted = cases.paged(form.wanted, offset)
        listing = cases.queue(session, context, principal, wanted, action="case.export")
        rows.extend(listing["items"])
        offset += cases.MAX_PAGE
        if offset >= listing["total"]:
            break
    body = worklist.csv_of(rows, fields, lang)
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": (
                f'attachment; filename="casussen-{clock.today().isoformat()}.csv"'
            ),
            "Cache-Control": "no-store",
        },
    )


@router.post("/cases/bulk")
@page(ASSIGNERS)
def bulk_hand_over(
    request: Request,
    user: CurrentUser,
    broker: CurrentBroker,
    session: DbSession,
    organisation_id: Annotated[str, Form(max_length=100)] = "",
    mode: Annotated[str, Form(max_length=20)] = "hand_over",
    back: Annotated[str, Form(max_length=4000)] = "",
    case: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Hand many cases over at once (or add a co-worker to them). Each case is decided on
    its own: one that may not go (no consent for a debt service) stays, with its refusal on
    the log, and the page says how many went and how many did not."""
    picked = (case or [])[: cases.MAX_PAGE]
    back = worklist.saved_query(back)
    target = organisation_id
    if not picked:
        return redirect(f"/ui/cases?{back}", message="bulk_none_chosen")
    context = case_context(broker, session)
    principal = principal_of(user)
    try:
        body = AssignmentIn.model_validate({"organisation_id": target, "mode": mode})
    except ValidationError:
        return redirect(f"/ui/cases?{back}", message="bulk_bad_target")
    done = refused = 0
    for case_id in picked:
        try:
            with session.begin_nested():
                cases.assign(session, context, principal, as_uuid(case_id), body)
            done += 1
        except Refused as refusal:
            refusal.record(session)
            refused += 1
        except (ExchangeError, PageError):
            refused += 1
    return RedirectResponse(
        f"/ui/cases?{back}{'&' if back else ''}saved=bulk_done&done={done}&refused={refused}",
        status_code=303,
    )


@router.post("/cases/views")
@page(CASEWORK)
def save_view(
    request: Request,
    user: CurrentUser,
    session: DbSession,
    name: Annotated[str, Form(max_length=200)] = "",
    query: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Keep the list as it is filtered and sorted now, under a name: a werkbakje."""
    kept = worklist.saved_query(query)
    if saved_views.save_view(session, user.user_id, name, kept) is None:
        return redirect(f"/ui/cases?{kept}", message="view_needs_name")
    return redirect(f"/ui/cases?{kept}", message="view_saved")


@router.post("/cases/views/{view_id}/delete")
@page(CASEWORK)
def delete_view(request: Request, user: CurrentUser, session: DbSession, view_id: str) -> Response:
    if not saved_views.delete_view(session, user.user_id, as_uuid(view_id)):
        raise PageError(404, "not_found")
    return redirect("/ui/cases", message="view_deleted")


@router.get("/cases/{case_id}", response_class=HTMLResponse)
@page(CASEWORK)
def case_page(
    request: Request, user: CurrentUser, case_id: str, broker: CurrentBroker, session: DbSession
) -> Response:
    return _case_view(request, user, broker, session, as_uuid(case_id))


def _case_view(
    request: Request,
    user: SignedIn,
    broker: Any,
    session: Session,
    case_id: uuid.UUID,
    *,
    form: str | None = None,
    errors: dict[str, str] | None = None,
    typed: dict[str, str] | None = None,
    confirm: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    """The case page; after a refused form, with the refusal on that form's fields, in the
    page's language, and what the worker typed still in them."""
    context = case_context(broker, session)
    principal = principal_of(user)
    document = cases.read_case(session, context, principal, case_id)
    fields = frozenset(document["disclosure"]["fields"])
    closed = document.get("status") == CaseStatus.CLOSED.value
    targets = _hand_over_targets(session, user)
    names = _names(session, document, targets)
    ledger = ledger_context(broker, session)
    # Every caseworker may hear a person withdraw: the team that took the consent, the
    # debt service it names (after the hand-over the team no longer has the case).
    door_consents = case_consent.consents_of_case(session, ledger, principal, case_id)
    return render(
        request,
        "case.html",
        {
            "case": document,
            "fields": fields,
            "names": names,
            "people": _workers(session, document),
            "assignable": targets if not closed else [],
            "debt_services": [o for o in targets if o.kind == OrganisationKind.DEBT_SERVICE.value],
            "door_consents": door_consents,
            "may_take_consent": user.organisation_kind in ASSIGNER_KINDS,
            "purpose_name": context.register.purpose(document["disclosure"]["purpose"]).name,
            "story": story.household_story(
                session,
                context,
                principal,
                document,
                notices=rights_notices.case_notices(session, principal, case_id),
            ),
            "can_record": user.organisation_kind in RECORDER_KINDS and not closed,
            "can_note": "case.notes" in fields,
            "can_reopen": user.organisation_kind in RECORDER_KINDS
            and cases.can_reopen(context, document),
            "channels": [c.value for c in ContactChannel],
            "sent_channels": sorted(c.value for c in SENT_CHANNELS),
            "parts_of_day": [p.value for p in PartOfDay],
            "results": [r.value for r in ResultCode],
            "result_rules": {
                code.value: needs.basis
                for code, needs in context.casework.result_requirements.items()
            },
            "collection_methods": [m.value for m in consent_words.CollectionMethod],
            "today": clock.today().isoformat(),
            "saved": request.query_params.get("saved"),
            "form": form,
            "errors": errors or {},
            "typed": typed or {},
            "confirm": confirm,
        },
        user=user,
        status=status,
    )


def _names(session: Session, document: dict[str, Any], targets: list[Any]) -> dict[str, str]:
    ids = {a["organisation_id"] for a in document.get("assignments", [])}
    ids |= {a["recorded_by"] for a in document.get("contact_attempts", [])}
    ids |= {e["organisation_id"] for e in document.get("history", []) if e["organisation_id"]}
    ids |= {e["organisation"] for e in document.get("history", []) if e.get("organisation")}
    ids |= {str(o.id) for o in targets}
    return organisations.organisation_names(session, [uuid.UUID(i) for i in ids if i])


def _workers(session: Session, document: dict[str, Any]) -> dict[str, str]:
    """The display names of the people who acted on the case (``user:<id>``); an API
    client is named by its client id."""
    clients = {e["by"] for e in document.get("history", []) if e.get("by")}
    clients |= {
        a["recorded_by_client"]
        for a in document.get("contact_attempts", [])
        if a.get("recorded_by_client")
    }
    return accounts.display_names(session, clients)


# What a refused form says, by the service's error code, in the page's words.
CASE_ERRORS = {
    "date_future": "case_error_date_future",
    "date_before_case": "case_error_date_before_case",
    "sent_not_answered": "case_error_sent_not_answered",
    "result_not_yet": "case_error_result_not_yet",
    "needs_consent": "case_error_needs_consent",
    "not_permitted": "case_error_not_permitted",
    "not_assignable": "case_error_not_assignable",
    "already_assigned": "case_error_already_assigned",
    "reopen_late": "case_error_reopen_late",
}


def _on_form(
    request: Request,
    user: SignedIn,
    broker: Any,
    session: Session,
    case_id: uuid.UUID,
    form: str,
    typed: dict[str, str],
    act: Callable[[], Any],
    done: str,
) -> Response:
    """Run one act of a case form; a refusal comes back on the form (kept on the log when
    it is a refused disclosure), not on an error page."""
    try:
        act()
    except (ExchangeError, PageError) as error:
        if isinstance(error, PageError) or error.status == 404:
            raise
        roll_back(session, error)
        errors: dict[str, str] = {}
        for wrong in error.errors:
            key = CASE_ERRORS.get(wrong.code)
            if wrong.code.startswith("status_"):
                key = "case_error_status_changed"
            if key is None and wrong.code == "" and isinstance(error, InvalidInput):
                key = "case_error_field"
            errors[wrong.field] = key or "case_error_refused"
            if wrong.code == "result_not_yet":
                typed["rule"] = wrong.message
        if not errors:
            errors["form"] = "case_error_refused"
        return _case_view(
            request,
            user,
            broker,
            session,
            case_id,
            form=form,
            errors=errors,
            typed=typed,
            status=error.status,
        )
    return redirect(f"/ui/cases/{case_id}", message=done)


@router.post("/cases/{case_id}/assignment")
@page(ASSIGNERS)
def assign(
    request: Request,
    user: CurrentUser,
    case_id: str,
    broker: CurrentBroker,
    session: DbSession,
    organisation_id: Annotated[str, Form(max_length=100)] = "",
    mode: Annotated[str, Form(max_length=20)] = "hand_over",
) -> Response:
    case = as_uuid(case_id)
    typed = {"organisation_id": organisation_id, "mode": mode}
    try:
        body = AssignmentIn.model_validate(typed)
    except ValidationError:
        return _case_view(
            request,
            user,
            broker,
            session,
            case,
            form="assign",
            errors={"organisation_id": "case_error_not_assignable"},
            typed=typed,
            status=422,
        )
    answer: dict[str, Any] = {}

    def act() -> None:
        answer.update(
            cases.assign(session, case_context(broker, session), principal_of(user), case, body)
        )

    response = _on_form(
        request, user, broker, session, case, "assign", typed, act, "saved_assignment"
    )
    if answer and not answer["caller_keeps_access"]:
        # Handed over its own assignment: the case is no longer this team's to open.
        return redirect("/ui/cases", message="saved_handed_over")
    return response


@router.post("/cases/{case_id}/assignments/{assignment_id}/end")
@page(CASEWORK)
def end_assignment(
    request: Request,
    user: CurrentUser,
    case_id: str,
    assignment_id: str,
    broker: CurrentBroker,
    session: DbSession,
) -> Response:
    case = as_uuid(case_id)
    cases.end_assignment(
        session, case_context(broker, session), principal_of(user), case, as_uuid(assignment_id)
    )
    if user.organisation_kind is OrganisationKind.MUNICIPALITY:
        return redirect(f"/ui/cases/{case_id}", message="saved_assignment_ended")
    return redirect("/ui/cases", message="saved_given_back")


@router.post("/cases/{case_id}/contact-attempts")
@page(RECORDERS)
def record_attempt(
    request: Request,
    user: CurrentUser,
    case_id: str,
    broker: CurrentBroker,
    session: DbSession,
    channel: Annotated[str, Form(max_length=20)] = "",
    date: Annotated[str, Form(max_length=20)] = "",
    reached: Annotated[str, Form(max_length=5)] = "no",
    part_of_day: Annotated[str, Form(max_length=20)] = "",
    note: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    case = as_uuid(case_id)
    typed = {
        "channel": channel,
        "date": date,
        "reached": reached,
        "part_of_day": part_of_day,
        "note": note,
    }
    try:
        body = ContactAttemptIn.model_validate(
            {
                "channel": channel,
                "date": date,
                "part_of_day": part_of_day or None,
                # A letter or a card is sent: the question "reached?" is not asked for it.
                "reached": reached == "yes" and channel not in SENT_CHANNELS,
                "note": note.strip() or None,
            }
        )
    except ValidationError as error:
        wrong = {str(e["loc"][0]) for e in error.errors() if e["loc"]}
        return _case_view(
            request,
            user,
            broker,
            session,
            case,
            form="attempt",
            errors={name: f"case_error_{name}" for name in sorted(wrong)},
            typed=typed,
            status=422,
        )
    return _on_form(
        request,
        user,
        broker,
        session,
        case,
        "attempt",
        typed,
        lambda: cases.record_attempt(
            session, case_context(broker, session), principal_of(user), case, body
        ),
        "saved_attempt",
    )


@router.post("/cases/{case_id}/result")
@page(RECORDERS)
def record_result(
    request: Request,
    user: CurrentUser,
    case_id: str,
    broker: CurrentBroker,
    session: DbSession,
    result: Annotated[str, Form(max_length=60)] = "",
    confirmed: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    """Closing takes two steps: the page asks to confirm, naming the result, before the
    case closes."""
    case = as_uuid(case_id)
    typed = {"result": result}
    try:
        body = ResultIn.model_validate({"result": result})
    except ValidationError:
        return _case_view(
            request,
            user,
            broker,
            session,
            case,
            form="close",
            errors={"result": "case_error_result"},
            typed=typed,
            status=422,
        )
    if confirmed != "yes":
        return _case_view(request, user, broker, session, case, confirm={"result": result})
    return _on_form(
        request,
        user,
        broker,
        session,
        case,
        "close",
        typed,
        lambda: cases.record_result(
            session, case_context(broker, session), principal_of(user), case, body
        ),
        "saved_result",
    )


@router.post("/cases/{case_id}/reopen")
@page(RECORDERS)
def reopen_case(
    request: Request, user: CurrentUser, case_id: str, broker: CurrentBroker, session: DbSession
) -> Response:
    case = as_uuid(case_id)
    return _on_form(
        request,
        user,
        broker,
        session,
        case,
        "reopen",
        {},
        lambda: cases.reopen(session, case_context(broker, session), principal_of(user), case),
        "saved_reopened",
    )


@router.post("/cases/{case_id}/consents")
@page(ASSIGNERS)
def record_door_consent(
    request: Request,
    user: CurrentUser,
    case_id: str,
    broker: CurrentBroker,
    session: DbSession,
    debt_service_id: Annotated[str, Form(max_length=100)] = "",
    collection_method: Annotated[str, Form(max_length=20)] = "in_person",
    consent_type: Annotated[str, Form(max_length=20)] = "",
    language: Annotated[str, Form(max_length=5)] = "nl",
) -> Response:
    """The person agreed, at the door or on the phone, to be referred to this debt
    service; the worker ticks that they agreed in words to exactly that."""
    case = as_uuid(case_id)
    typed = {
        "debt_service_id": debt_service_id,
        "collection_method": collection_method,
        "consent_type": consent_type,
        "language": language,
    }
    errors: dict[str, str] = {}
    try:
        target = uuid.UUID(debt_service_id)
    except ValueError:
        errors["debt_service_id"] = "case_error_not_assignable"
    if collection_method not in set(consent_words.CollectionMethod):
        errors["collection_method"] = "case_error_field"
    if consent_type != consent_words.ConsentType.EXPLICIT.value:
        # The page records explicit consent only: the person said yes to this referral.
        errors["consent_type"] = "case_error_consent_confirm"
    if language not in ("nl", "en"):
        errors["language"] = "case_error_field"
    if errors:
        return _case_view(
            request,
            user,
            broker,
            session,
            case,
            form="consent",
            errors=errors,
            typed=typed,
            status=422,
        )
    return _on_form(
        request,
        user,
        broker,
        session,
        case,
        "consent",
        typed,
        lambda: case_consent.record_consent(
            session,
            case_context(broker, session),
            ledger_context(broker, session),
            principal_of(user),
            case,
            debt_service_id=target,
            collection_method=consent_words.CollectionMethod(collection_method),
            consent_type=consent_words.ConsentType.EXPLICIT,
            notice_version=case_consent.DOOR_NOTICE,
            language=language,
        ),
        "saved_consent",
    )


@router.post("/cases/{case_id}/consents/{consent_id}/withdrawal")
@page(CASEWORK)
def withdraw_door_consent(
    request: Request,
    user: CurrentUser,
    case_id: str,
    consent_id: str,
    broker: CurrentBroker,
    session: DbSession,
) -> Response:
    case = as_uuid(case_id)
    return _on_form(
        request,
        user,
        broker,
        session,
        case,
        "consent",
        {},
        lambda: case_consent.withdraw_consent(
            session,
            case_context(broker, session),
            ledger_context(broker, session),
            principal_of(user),
            case,
            as_uuid(consent_id),
        ),
        "saved_consent_withdrawn",
    )


def _validated(model: Any, data: dict[str, Any]) -> Any:
    """The same validation as the API; a bad field becomes an error page naming it."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        fields = [".".join(str(p) for p in e["loc"]) for e in error.errors()]
        raise InvalidInput(
            "the form has invalid fields: " + ", ".join(fields),
            [FieldError(f, "invalid") for f in fields],
        ) from None


# The municipality's overview ------------------------------------------------------------


@router.get("/overview", response_class=HTMLResponse)
@page(MUNICIPALITY)
def overview(
    request: Request,
    user: CurrentUser,
    broker: CurrentBroker,
    session: DbSession,
    start: Annotated[str, Query(alias="from")] = "",
    end: Annotated[str, Query(alias="to")] = "",
) -> Response:
    lang = language(request)
    asked = overview_page.read_period(start, end, clock.today())
    if asked.errors:
        context = overview_page.page_context(None, asked, lang)
        return render(request, "overview.html", context, user=user, status=422)
    figures = _overview_figures(user, broker, session, asked, {})
    context = overview_page.page_context(figures, asked, lang)
    return render(request, "overview.html", context, user=user)


@router.get("/overview.csv")
@page(MUNICIPALITY)
def export_overview(
    request: Request,
    user: CurrentUser,
    broker: CurrentBroker,
    session: DbSession,
    start: Annotated[str, Query(alias="from")] = "",
    end: Annotated[str, Query(alias="to")] = "",
) -> Response:
    """The page's figures as a file: the same disclosure, on record with ``format: csv``."""
    lang = language(request)
    asked = overview_page.read_period(start, end, clock.today())
    if asked.errors:
        context = overview_page.page_context(None, asked, lang)
        return render(request, "overview.html", context, user=user, status=422)
    figures = _overview_figures(user, broker, session, asked, {"format": "csv"})
    return Response(
        overview_page.csv_of(figures, lang),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": (
                f'attachment; filename="{overview_page.csv_filename(figures)}"'
            ),
            "Cache-Control": "no-store",
        },
    )


def _overview_figures(
    user: SignedIn,
    broker: Any,
    session: Session,
    asked: overview_page.PeriodAsked,
    resources: dict[str, str],
) -> dict[str, Any]:
    assert asked.first is not None and asked.last is not None  # read_period found no error
    period(asked.first, asked.last)  # the checks the report applies, before it runs
    return build_overview(
        session,
        case_context(broker, session).register,
        organisations.own_municipality(session, user.organisation_id),
        asked.first,
        asked.last,
        clock.now(),
        audit=broker.audit,
        actor_client=f"user:{user.user_id}",
        resources=resources,
    )


# The privacy officer's pages --------------------------------------------------------------


@router.get("/audit", response_class=HTMLResponse)
@page(OVERSIGHT)
def audit_form(
    request: Request, user: CurrentUser, broker: CurrentBroker, session: DbSession
) -> Response:
    return _audit_page(request, broker, session, user, {}, searched=False)


@router.post("/audit", response_class=HTMLResponse)
@page(OVERSIGHT)
def audit_search(
    request: Request,
    user: CurrentUser,
    broker: CurrentBroker,
    session: DbSession,
    bsn: Annotated[str, Form(max_length=20)] = "",
    surname: Annotated[str, Form(max_length=200)] = "",
    initials: Annotated[str, Form(max_length=20)] = "",
    birth_date: Annotated[str, Form(max_length=10)] = "",
    organisation: Annotated[str, Form(max_length=40)] = "",
    purpose: Annotated[str, Form(max_length=80)] = "",
    action: Annotated[str, Form(max_length=80)] = "",
    decision: Annotated[str, Form(max_length=16)] = "",
    start: Annotated[str, Form(alias="from", max_length=10)] = "",
    end: Annotated[str, Form(alias="to", max_length=10)] = "",
    before: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    # A POST, like the API's search: a person's identity never goes into a URL, where
    # access logs and browser history would keep it. "Older entries" posts the same form
    # again with the page's cursor (before).
    form = {
        "bsn": bsn, "surname": surname, "initials": initials, "birth_date": birth_date,
        "organisation": organisation, "purpose": purpose, "action": action,
        "decision": decision, "from": start, "to": end, "before": before,
    }  # fmt: skip
    return _audit_page(request, broker, session, user, form, searched=True)


def _audit_page(
    request: Request,
    broker: Any,
    session: Session,
    user: SignedIn,
    form: dict[str, str],
    *,
    searched: bool,
) -> Response:
    register = case_context(broker, session).register
    found: report.Found | None = None
    if searched:
        named = _person(form["bsn"], form["surname"], form["initials"], form["birth_date"])
        stages = None if named is None else report.in_log(session, broker.keyring, named)[1]
        try:
            since = _start_of(form["from"]) if form["from"] else None
            until = _start_of(form["to"]) + dt.timedelta(days=1) if form["to"] else None
            organisation_id = uuid.UUID(form["organisation"]) if form["organisation"] else None
            before = int(form["before"]) if form["before"] else None
            if before is not None and not 0 < before <= MAX_BIGINT:
                raise ValueError("before")
            no_nul(form["purpose"])
            no_nul(form["action"])
        except ValueError:
            raise PageError(422, "error", "dates as YYYY-MM-DD, organisation as an id") from None
        if form["decision"] not in ("", *DECISIONS):
            raise PageError(422, "error", "decision: permit, deny or recorded")
        filters = report.Filters(
            subject=stages,
            organisation=organisation_id,
            purpose=form["purpose"] or None,
            action=form["action"] or None,
            decision=form["decision"] or None,
            since=since,
            until=until,
        )
        found = report.search_newest(
            session, broker.audit.tree_size(session), filters, before=before, limit=AUDIT_PAGE
        )
        _record_oversight(
            session,
            broker,
            user,
            "audit.search",
            sorted({e["subject"] for e in found.entries if e.get("subject")}) or [None],
        )
    return render(
        request,
        "audit.html",
        {
            "entries": found.entries if found else [],
            "found": found,
            "searched": searched,
            "organisations": organisations.organisation_names(session),
            "purposes": [p.id for p in register.purposes],
            "decisions": DECISIONS,
            "form": form,
        },
        user=user,
    )


@router.post("/access-report", response_class=HTMLResponse)
@page(OVERSIGHT)
def access_report(
    request: Request,
    user: CurrentUser,
    broker: CurrentBroker,
    session: DbSession,
    bsn: Annotated[str, Form()] = "",
    surname: Annotated[str, Form()] = "",
    initials: Annotated[str, Form()] = "",
    birth_date: Annotated[str, Form()] = "",
) -> Response:
    # A POST: the person's identity goes in the body, never into a URL or a server log.
    named, pseudonym, result = _access_report_of(
        session, broker, bsn, surname, initials, birth_date
    )
    _record_oversight(session, broker, user, "audit.access_report", [pseudonym])
    typed = {"bsn": bsn, "surname": surname, "initials": initials, "birth_date": birth_date}
    return render(
        request,
        "access_report.html",
        {
            "report": result,
            "form": typed,
            "whom": letter.full_name(named),
            "bsn": letter.masked_bsn(named.bsn),
            "lt": lambda key: letter.text(key, language(request)),
            "long_day": lambda day: report.long_date(day, language(request)),
        },
        user=user,
    )


@router.post("/access-report/letter")
@page(OVERSIGHT)
def access_letter(
    request: Request,
    user: CurrentUser,
    broker: CurrentBroker,
    session: DbSession,
    bsn: Annotated[str, Form()] = "",
    surname: Annotated[str, Form()] = "",
    initials: Annotated[str, Form()] = "",
    birth_date: Annotated[str, Form()] = "",
    format: Annotated[str, Form(max_length=8)] = "pdf",
    lang: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """The access report as a letter to the person, to download: a PDF, or printable HTML
    with nothing of these pages in it (no menu, no forms, no token). In the page's language
    unless the form says. Recorded in the log like the report itself."""
    if format not in ("pdf", "html"):
        raise PageError(422, "error", "format: pdf or html")
    named, pseudonym, result = _access_report_of(
        session, broker, bsn, surname, initials, birth_date
    )
    chosen = letter.language(lang or language(request))
    record_review(
        broker.disclosures(session),
        Party.of(principal_of(user)),
        "audit.access_letter",
        [pseudonym],
        resources={"format": format, "language": chosen},
    )
    made = letter.letter_file(result, named, chosen, format, sender=user.organisation_name)
    return Response(made.content, media_type=made.media_type, headers=made.headers)


def _access_report_of(
    session: Session,
    broker: Any,
    bsn: str,
    surname: str,
    initials: str,
    birth_date: str,
) -> tuple[Person, str, AccessReport]:
    """The person a form names, the pseudonym their review is recorded under, and their
    access report, made from a checkpoint signed at the log's size now."""
    named = _person(bsn, surname, initials, birth_date)
    if named is None:
        raise PageError(422, "error", "a BSN, or surname, initials and date of birth")
    person, result = report.report_for(
        session,
        broker.keyring,
        broker.audit,
        case_context(broker, session).register,
        named,
        clock.now(),
    )
    return named, person.primary, result


@router.get("/access-report", response_class=HTMLResponse)
@page(OVERSIGHT)
def access_report_form(request: Request, user: CurrentUser) -> Response:
    return render(
        request,
        "access_report_form.html",
        {"lt": lambda key: letter.text(key, language(request))},
        user=user,
    )


@router.get("/log", response_class=HTMLResponse)
@page(OVERSIGHT)
def log_status(
    request: Request, user: CurrentUser, broker: CurrentBroker, session: DbSession
) -> Response:
    return render(
        request,
        "log_status.html",
        {
            "tree_size": broker.audit.tree_size(session),
            "checkpoint": broker.audit.latest_checkpoint(session),
            "verification": latest_verification(session),
            "verifier_key": broker.audit.verifier_key(),
        },
        user=user,
    )


@router.post("/log/verification")
@page(OVERSIGHT)
def verify_now(
    request: Request,
    user: CurrentUser,
    broker: CurrentBroker,
    session: DbSession,
) -> Response:
    verify_log(session, broker, user.user_id)
    return redirect("/ui/log")


@router.get("/register", response_class=HTMLResponse)
@page(SIGNED_IN)
def register_page(
    request: Request, user: CurrentUser, broker: CurrentBroker, session: DbSession
) -> Response:
    """The register in force as AVG art. 30(1) lists it, in words for the people whose data
    it is: who is responsible, whose data, one section per purpose, transfers, security.
    The rules as the systems read them (rule ids, field paths, version hash) have a page of
    their own, /ui/register/rules."""
    register = broker.policies.active(session).register
    return render(
        request,
        "register.html",
        {"register": register, "purposes": _purposes_in_words(register, language(request))},
        user=user,
    )


def _purposes_in_words(register: Register, lang: str) -> list[dict[str, Any]]:
    """Each purpose with its legal basis, data, recipients and retention in words: the names
    the register gives them, never a field path, a legal-basis code or an ISO duration."""
    side = 1 if lang == "en" else 0
    categories = {category.id: category.name[lang] for category in register.categories}
    kinds = {kind.id: kind.name[lang] for kind in register.recipient_kinds}
    purposes: list[dict[str, Any]] = []
    for purpose in register.purposes:
        # Recipients that get the data on the same terms, together: "Woningcorporatie,
        # Energieleverancier, ...: alleen een statuscode".
        recipients: dict[tuple[str, ...], list[str]] = {}
        named: set[str] = set()
        group_size: int | None = None
        for rule in register.rules:
            if rule.purpose != purpose.id:
                continue
            notes: list[str] = []
            if rule.consent_required:
                notes.append("consent")
            if rule.aggregates_only:
                notes.append("counts")
                group_size = rule.min_group_size or group_size
            elif rule.feedback_codes:
                notes.append("status")
            for kind in rule.recipient_kinds:
                if kind not in named:
                    named.add(kind)
                    recipients.setdefault(tuple(notes), []).append(kinds.get(kind, kind))
        purposes.append(
            {
                "name": purpose.name[lang],
                "description": purpose.description[lang],
                "bases": [report.LEGAL_BASES.get(b, (b, b))[side] for b in purpose.legal_basis],
                "national_basis": purpose.national_basis,
                "categories": sorted(categories.get(c, c) for c in purpose.categories),
                "recipients": recipients,
                "group_size": number_words(group_size, lang) if group_size else None,
                "retention": duration_words(purpose.retention_period, lang),
                "counted_from": purpose.retention_counted_from.get(lang),
            }
        )
    return purposes


@router.get("/register/rules", response_class=HTMLResponse)
@page(SIGNED_IN)
def register_rules_page(
    request: Request, user: CurrentUser, broker: CurrentBroker, session: DbSession
) -> Response:
    """The machine view of the register in force: per purpose its rules with their ids,
    recipient kinds, actions and field paths; the fields and categories; the version hash."""
    register = broker.policies.active(session).register
    return render(request, "register_rules.html", {"register": register}, user=user)


@router.get("/consents", response_class=HTMLResponse)
@page(OVERSIGHT)
def consent_form(request: Request, user: CurrentUser) -> Response:
    return render(
        request,
        "consents.html",
        {"searched": False, "form": {}, "organisations": {}, **consent_words.page_words()},
        user=user,
    )


@router.post("/consents", response_class=HTMLResponse)
@page(OVERSIGHT)
def consent_ledger(
    request: Request,
    user: CurrentUser,
    broker: CurrentBroker,
    session: DbSession,
    bsn: Annotated[str, Form(max_length=20)] = "",
    surname: Annotated[str, Form(max_length=200)] = "",
    initials: Annotated[str, Form(max_length=20)] = "",
    birth_date: Annotated[str, Form(max_length=10)] = "",
    record: Annotated[str, Form(max_length=36)] = "",
) -> Response:
    named = _person(bsn, surname, initials, birth_date)
    if named is None:
        raise PageError(422, "error", "a BSN, or surname, initials and date of birth")
    person = identify(session, broker.keyring, named)
    pseudonym = person.primary
    # The same ledger as POST /v1/consents/search shows a privacy officer, and the objections,
    # under every identifier linked to the one given.
    ledger = ledger_context(broker, session)
    found = consents.consents_for(
        session, ledger, principal_of(user), subject_ids=person.subject_ids
    )
    # Each consent as an ISO/IEC TS 27560 record, in words; ``record`` asks for one of them
    # as the JSON-LD that GET /v1/consents/{id}/record gives (the same search, on record).
    shown = consent_records.consent_records(
        session,
        broker.keyring,
        ledger.register,
        principal_of(user),
        found,
        broker.settings.data_location,
    )
    objections = consents.objections_of(session, person.subject_ids)
    _record_oversight(session, broker, user, "consent.search", [pseudonym])
    if record:
        wanted = [r for r in shown if str(r.consent.id) == record]
        if not wanted:
            raise PageError(404, "not_found")
        url = f"{broker.settings.issuer.rstrip('/')}/v1/consents/{record}/record"
        return Response(
            consent_records.json_ld_bytes(wanted[0], url),
            media_type=consent_records.MEDIA_TYPE,
            headers={
                "Content-Disposition": f'attachment; filename="consent-{record}.jsonld"',
                "Cache-Control": "no-store",
            },
        )
    return render(
        request,
        "consents.html",
        {
            "searched": True,
            "records": shown,
            "objections": objections,
            "organisations": organisations.organisation_names(session),
            "purpose_names": {
                p.id: consent_records.purpose_terms(ledger.register, p.id).name
                for p in ledger.register.purposes
            },
            "form": {
                "bsn": bsn,
                "surname": surname,
                "initials": initials,
                "birth_date": birth_date,
            },
            **consent_words.page_words(),
        },
        user=user,
    )


def _person(bsn: str, surname: str, initials: str, birth_date: str) -> Person | None:
    """The person given on a form: by BSN, by name and birth date, or by both (then every
    record linked to either is found); None when neither is filled in."""
    if not (bsn.strip() or surname.strip()):
        return None
    fields: dict[str, Any] = {"bsn": bsn.strip() or None}
    if surname.strip() or not bsn.strip():
        fields |= {
            "surname": surname.strip() or None,
            "initials": initials.strip() or None,
            "birth_date": birth_date or None,
        }
    try:
        return Person.model_validate(fields)
    except ValidationError as error:
        names = ", ".join(".".join(str(p) for p in e["loc"]) or "person" for e in error.errors())
        raise PageError(422, "error", f"check: {names}") from None


def _start_of(day: str) -> dt.datetime:
    """Midnight in the Netherlands of a day in the broker's window, else ``ValueError``."""
    return dt.datetime.combine(
        within_window(dt.date.fromisoformat(day)), dt.time(), tzinfo=clock.NETHERLANDS
    )


def _record_oversight(
    session: Session, broker: Any, user: SignedIn, action: str, subjects: list[str | None]
) -> None:
    """The privacy officer's reads are logged too, one entry per person looked up."""
    record_review(broker.disclosures(session), Party.of(principal_of(user)), action, subjects)


# A person's rights: erasure, rectification, restriction -----------------------------------


@router.get("/rights", response_class=HTMLResponse)
@page(OVERSIGHT)
def rights_form(request: Request, user: CurrentUser) -> Response:
    return render(
        request, "rights.html", {"result": None, "refused": None, "form": None}, user=user
    )


@router.post("/rights", response_class=HTMLResponse)
@page(OVERSIGHT)
def rights_request(
    request: Request,
    user: CurrentUser,
    broker: CurrentBroker,
    session: DbSession,
    request_kind: Annotated[str, Form(alias="request")],
    bsn: Annotated[str, Form(max_length=20)] = "",
    surname: Annotated[str, Form(max_length=200)] = "",
    initials: Annotated[str, Form(max_length=20)] = "",
    birth_date: Annotated[str, Form(max_length=10)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    new_phone: Annotated[str, Form(max_length=32)] = "",
    new_email: Annotated[str, Form(max_length=254)] = "",
    new_surname: Annotated[str, Form(max_length=200)] = "",
    new_street: Annotated[str, Form(max_length=200)] = "",
    new_city: Annotated[str, Form(max_length=100)] = "",
    new_postcode: Annotated[str, Form(max_length=10)] = "",
    new_house_number: Annotated[str, Form(max_length=10)] = "",
    new_house_number_addition: Annotated[str, Form(max_length=10)] = "",
    confirmed: Annotated[str, Form(max_length=3)] = "",
) -> Response:
    """The same services as ``/v1/subjects/*``: decided, carried out and logged alike.

    An erasure is carried out only once confirmed: the first request shows what is held
    about the person (and logs that the officer looked), or that nothing is. Every answer
    names the person as the officer gave them, keeps the form filled in, and says "nothing
    found" rather than success where no record was found."""
    if request_kind not in ("erasure", "restriction", "restriction_lifted", "rectification"):
        raise PageError(
            422, "error", "request: erasure, restriction, restriction_lifted or rectification"
        )
    person = _person(bsn, surname, initials, birth_date)
    if person is None:
        raise PageError(422, "error", "a BSN, or surname, initials and date of birth")
    context = rights_context(broker, session)
    principal = principal_of(user)
    typed = {"bsn": bsn, "surname": surname, "initials": initials, "birth_date": birth_date}
    shown: dict[str, Any] = {"form": typed, "kind": request_kind, "whom": _whom(person)}
    if request_kind == "erasure" and confirmed != "yes":
        held = rights.held_about(session, context, person)
        _record_oversight(session, broker, user, "subject.lookup", [held.pseudonym])
        return render(
            request,
            "rights.html",
            {"result": None, "refused": None, "held": held, "reason": reason, **shown},
            user=user,
        )
    try:
        if request_kind == "erasure":
            result = rights.erase(session, context, principal, person, reason)
        elif request_kind == "restriction":
            result = rights.restrict(session, context, principal, person, reason)
        elif request_kind == "restriction_lifted":
            result = rights.lift_restriction(session, context, principal, person, reason)
        else:
            corrections = {
                name: value.strip()
                for name, value in (
                    ("phone", new_phone),
                    ("email", new_email),
                    ("surname", new_surname),
                    ("street", new_street),
                    ("city", new_city),
                    ("postcode", new_postcode),
                    ("house_number", new_house_number),
                    ("house_number_addition", new_house_number_addition),
                )
                if value.strip()
            }
            try:
                checked = Corrections.model_validate(corrections)
            except ValidationError as error:
                # Shown on the form, in the page's language, with what was typed kept.
                wrong = sorted({str(e["loc"][0]) for e in error.errors() if e["loc"]})
                return render(
                    request,
                    "rights.html",
                    {
                        "result": None,
                        "refused": None,
                        "invalid": wrong,
                        "fix": corrections,
                        **shown,
                    },
                    user=user,
                    status=422,
                )
            result = rights.rectify(
                session, context, principal, person, checked.model_dump(exclude_unset=True), reason
            )
    except rights.NoRestriction:
        return render(
            request,
            "rights.html",
            {"result": None, "refused": None, "no_restriction": True, **shown},
            user=user,
        )
    except rights.AddressNotMovable as refusal:
        return render(
            request,
            "rights.html",
            {"result": None, "refused": None, "not_movable": refusal.why, **shown},
            user=user,
            status=409,
        )
    except Refused as refusal:
        if not isinstance(refusal.problem, rights.ErasureRefused):
            raise
        # Nothing the request did is kept but the refusal's own audit entry; the page shows
        # the legal ground.
        roll_back(session, refusal)
        return render(
            request,
            "rights.html",
            {"result": None, "refused": refusal.problem.ground, **shown},
            user=user,
            status=409,
        )
    return render(
        request,
        "rights.html",
        {"result": result, "refused": None, "found": _found(request_kind, result), **shown},
        user=user,
    )


def _whom(person: Person) -> str:
    """The person as the officer gave them, for the answer to say whom it is about."""
    name = " ".join(p for p in (person.initials, person.surname_prefix, person.surname) if p)
    named = f"{name}, {person.birth_date.isoformat() if person.birth_date else ''}".strip(", ")
    if person.bsn:
        return f"BSN {person.bsn} ({named})" if name else f"BSN {person.bsn}"
    return named


def _found(kind: str, result: dict[str, Any]) -> bool:
    """Whether the request found any record of the person: an erasure or a rectification of
    nothing is not a success to show. A restriction holds whether or not records exist yet:
    signals that arrive later are restricted from the start."""
    if kind == "erasure":
        return any(result["erased"].values())
    if kind == "rectification":
        return bool(result["signals_corrected"])
    return True
