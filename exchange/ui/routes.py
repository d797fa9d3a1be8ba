"""``/ui``: the pages for case workers, neighbourhood teams and privacy officers.

The pages call the same services as the API, so a page that shows personal data is decided
by the register and written to the audit log exactly like ``GET /v1/cases/{id}``: the
service does it, not the page. The person is named in the log by user id.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from exchange import clock
from exchange.auditlog.schemas import AccessReport
from exchange.auditlog.service import AuditRecord
from exchange.cases import service as cases
from exchange.cases.schemas import AssignmentIn, ContactAttemptIn, ResultIn
from exchange.cases.terms import CaseStatus, ContactChannel, PartOfDay
from exchange.consents import records as consent_records
from exchange.consents import service as consents
from exchange.consents import terms as consent_words
from exchange.db import roll_back, unit_of_work
from exchange.disclosures import Party, Refused
from exchange.disclosures.oversight import record_review
from exchange.errors import FieldError, InvalidInput
from exchange.fields import MAX_BIGINT, Offset, no_nul, within_window
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
from exchange.organisations.terms import OrganisationKind
from exchange.reports.overview import build_overview
from exchange.reports.period import period
from exchange.rights import letter, report
from exchange.rights import service as rights
from exchange.rights.schemas import Corrections
from exchange.signals.terms import SignalKind
from exchange.ui import accounts, charts, throttle
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
RECORDER_KINDS = frozenset({OrganisationKind.MUNICIPALITY, OrganisationKind.NEIGHBOURHOOD_TEAM})
MUNICIPALITY = allow({OrganisationKind.MUNICIPALITY})
RECORDERS = allow(RECORDER_KINDS)
# The home page sends each person to their own start page; a person of another kind has none.
HOME = allow(CASEWORK_KINDS | OVERSIGHT_KINDS)
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
    request: Request,
    user: CurrentUser,
    broker: CurrentBroker,
    session: DbSession,
    status: Annotated[list[str] | None, Query()] = None,
    kind: Annotated[list[str] | None, Query()] = None,
    crisis: str = "",
    overdue: str = "",
    classification: str = "",
    pc4: str = "",
    amount_min: str = "",
    amount_max: str = "",
    offset: Annotated[Offset, Query()] = 0,
) -> Response:
    statuses = tuple(s for s in status or () if s in CaseStatus.__members__.values())
    kinds = tuple(k for k in kind or () if k in SignalKind.__members__.values())
    used = {
        name
        for name, value in (
            ("case.status", statuses),
            ("kind", kinds),
            ("crisis", crisis),
            ("case.deadline", overdue),
            ("case.composition", classification),
            ("pc4", pc4),
            ("amount_band", amount_min or amount_max),
        )
        if value
    }
    try:
        wanted = cases.QueueFilter(
            statuses=statuses or cases.OPEN_STATUSES,
            kinds=kinds,
            crisis=True if crisis == "yes" else None,
            overdue=True if overdue == "yes" else None,
            classifications=(classification,) if classification else (),
            pc4=(int(pc4),) if pc4 else (),
            amount_min=int(amount_min) if amount_min else None,
            amount_max=int(amount_max) if amount_max else None,
            limit=50,
            offset=offset,
            used_fields=frozenset(used),
        )
        if any(not 1000 <= code <= 9999 for code in wanted.pc4):
            raise ValueError("a PC4 is four digits")
    except ValueError:
        raise PageError(422, "error", "numbers only in PC4 and amounts") from None
    context = case_context(broker, session)
    listing = cases.queue(session, context, principal_of(user), wanted)
    return render(
        request,
        "queue.html",
        {
            "listing": listing,
            "statuses": [s.value for s in CaseStatus],
            "kinds": [k.value for k in SignalKind],
            "chosen": {
                "status": statuses,
                "kind": kinds,
                "crisis": crisis,
                "overdue": overdue,
                "classification": classification,
                "pc4": pc4,
                "amount_min": amount_min,
                "amount_max": amount_max,
            },
            "title_key": "cases"
            if user.organisation_kind is OrganisationKind.MUNICIPALITY
            else "my_cases",
        },
        user=user,
    )


@router.get("/cases/{case_id}", response_class=HTMLResponse)
@page(CASEWORK)
def case_page(
    request: Request, user: CurrentUser, case_id: str, broker: CurrentBroker, session: DbSession
) -> Response:
    context = case_context(broker, session)
    document = cases.read_case(session, context, principal_of(user), as_uuid(case_id))
    assignable = (
        organisations.teams_of(session, user.organisation_id)
        if user.organisation_kind is OrganisationKind.MUNICIPALITY
        else []
    )
    names = _names(session, document)
    return render(
        request,
        "case.html",
        {
            "case": document,
            "names": names,
            "assignable": assignable,
            "can_record": user.organisation_kind in RECORDER_KINDS
            and document.get("status") != CaseStatus.CLOSED.value,
            "channels": [c.value for c in ContactChannel],
            "parts_of_day": [p.value for p in PartOfDay],
            "results": [r.value for r in ResultCode],
            "today": clock.today().isoformat(),
            "saved": request.query_params.get("saved"),
            "errors": request.query_params.getlist("error"),
        },
        user=user,
    )


def _names(session: Session, document: dict[str, Any]) -> dict[str, str]:
    ids = {a["organisation_id"] for a in document.get("assignments", [])}
    ids |= {a["recorded_by"] for a in document.get("contact_attempts", [])}
    return organisations.organisation_names(session, [uuid.UUID(i) for i in ids])


@router.post("/cases/{case_id}/assignment")
@page(MUNICIPALITY)
def assign(
    request: Request,
    user: CurrentUser,
    case_id: str,
    broker: CurrentBroker,
    session: DbSession,
    organisation_id: Annotated[str, Form()],
) -> Response:
    body = _validated(AssignmentIn, {"organisation_id": organisation_id})
    cases.assign(session, case_context(broker, session), principal_of(user), as_uuid(case_id), body)
    return redirect(f"/ui/cases/{case_id}", message="saved_assignment")


@router.post("/cases/{case_id}/contact-attempts")
@page(RECORDERS)
def record_attempt(
    request: Request,
    user: CurrentUser,
    case_id: str,
    broker: CurrentBroker,
    session: DbSession,
    channel: Annotated[str, Form()],
    date: Annotated[str, Form()],
    reached: Annotated[str, Form()] = "no",
    part_of_day: Annotated[str, Form()] = "",
    note: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    body = _validated(
        ContactAttemptIn,
        {
            "channel": channel,
            "date": date,
            "part_of_day": part_of_day or None,
            "reached": reached == "yes",
            "note": note.strip() or None,
        },
    )
    cases.record_attempt(
        session, case_context(broker, session), principal_of(user), as_uuid(case_id), body
    )
    return redirect(f"/ui/cases/{case_id}", message="saved_attempt")


@router.post("/cases/{case_id}/result")
@page(RECORDERS)
def record_result(
    request: Request,
    user: CurrentUser,
    case_id: str,
    broker: CurrentBroker,
    session: DbSession,
    result: Annotated[str, Form()],
) -> Response:
    body = _validated(ResultIn, {"result": result})
    cases.record_result(
        session, case_context(broker, session), principal_of(user), as_uuid(case_id), body
    )
    return redirect(f"/ui/cases/{case_id}", message="saved_result")


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
    today = clock.today()
    try:
        first = dt.date.fromisoformat(start) if start else today.replace(month=1, day=1)
        last = dt.date.fromisoformat(end) if end else today
    except ValueError:
        raise PageError(422, "error", "dates as YYYY-MM-DD") from None
    try:
        period(first, last)  # the checks the report applies, before it runs
    except InvalidInput as error:
        raise PageError(422, "error", error.detail) from None
    municipality = organisations.own_municipality(session, user.organisation_id)
    figures = build_overview(
        session,
        case_context(broker, session).register,
        municipality,
        first,
        last,
        clock.now(),
        audit=broker.audit,
        actor_client=f"user:{user.user_id}",
    )
    lang = language(request)
    return render(
        request,
        "overview.html",
        {
            "figures": figures,
            "first": first.isoformat(),
            "last": last.isoformat(),
            "per_month_chart": charts.stacked_months(figures, lang),
            "channel_chart": charts.channels(figures, lang),
        },
        user=user,
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
