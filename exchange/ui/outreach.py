"""``/ui/cases/{id}/outreach/...``: a letter, an e-mail or a text message from a template,
seen first, then printed or sent, and the contact attempt recorded on the case.

The case page shows what may be sent (``_outreach.html``, through :func:`offer`, which the
page's template environment knows as ``outreach_offer``): only the channels the person has
data for in the caller's view of the case. Each text is filled in by
``exchange.outreach.service`` from the case as the disclosure path cut it.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from exchange import clock
from exchange.auth.tokens import Principal
from exchange.broker import Broker
from exchange.cases import service as cases
from exchange.cases.terms import CaseStatus, ContactChannel
from exchange.disclosures import Refused
from exchange.errors import ExchangeError, InvalidInput
from exchange.http.deps import CurrentBroker, DbSession, case_context
from exchange.outreach import senders
from exchange.outreach import service as outreach
from exchange.outreach.templates import SMS_LENGTH, Language, TemplateName, TemplateRefused
from exchange.ui import i18n, worklist
from exchange.ui.accounts import SignedIn
from exchange.ui.web import (
    CurrentUser,
    PageError,
    PageRoute,
    allow,
    as_uuid,
    page,
    principal_of,
    redirect,
    render,
    templates,
)
from exchange.ui.web import (
    language as lang_of,
)

router = APIRouter(prefix="/ui", include_in_schema=False, route_class=PageRoute)
SENDERS = allow(outreach.OUTREACH_KINDS)
# How a failed send reads, by status: the mail server being down is the server's problem.
_FAILED_STATUS = {"unreachable": 503, "not_configured": 409, "recipient": 422}


def offer(case: dict[str, Any], user: SignedIn | None, request: Request) -> dict[str, Any] | None:
    """What the case page's outreach part offers this person for this case, or None."""
    if user is None or not outreach.may_send(user.organisation_kind):
        return None
    if case.get("status") == CaseStatus.CLOSED.value:
        return None
    settings = request.app.state.broker.settings
    ready = {
        ContactChannel.LETTER: True,
        ContactChannel.EMAIL: senders.email_sender(settings) is not None,
        ContactChannel.SMS_WHATSAPP: senders.text_sender(settings) is not None,
    }
    return {
        "templates": [
            {
                "name": name.value,
                "letter": name.is_letter,
                "ready": ready[name.channel],
                "not_set_up": f"outreach_{'email' if name is TemplateName.EMAIL else 'sms'}"
                "_not_set_up",
            }
            for name in outreach.offered(case)
        ]
    }


templates.globals["outreach_offer"] = offer


@router.get("/cases/{case_id}/outreach/{template}", response_class=HTMLResponse)
@page(SENDERS)
def preview(
    request: Request,
    user: CurrentUser,
    case_id: str,
    template: str,
    broker: CurrentBroker,
    session: DbSession,
    proposed_date: str = "",
    proposed_time: str = "",
    language: str = "nl",
) -> Response:
    """The text filled in for the case's person, with the proposal to change and the
    buttons to print or send it."""
    name, case = _template(template), as_uuid(case_id)
    typed = {"proposed_date": proposed_date, "proposed_time": proposed_time}
    try:
        proposal = _proposal(proposed_date, proposed_time)
    except InvalidInput as error:
        return _page(
            request, user, broker, session, case, name, _language(language), None,
            errors=_errors(error), typed=typed, status=422,
        )  # fmt: skip
    return _page(request, user, broker, session, case, name, _language(language), proposal)


@router.get("/cases/{case_id}/outreach/{template}/pdf")
@page(SENDERS)
def letter_pdf(
    request: Request,
    user: CurrentUser,
    case_id: str,
    template: str,
    broker: CurrentBroker,
    session: DbSession,
    proposed_date: str = "",
    proposed_time: str = "",
    language: str = "nl",
) -> Response:
    """The letter as a PDF to print: the case read for it is on the log, no attempt yet."""
    name, case = _template(template), as_uuid(case_id)
    if not name.is_letter:
        raise PageError(404, "not_found")
    lang = _language(language)
    typed = {"proposed_date": proposed_date, "proposed_time": proposed_time}
    try:
        proposal = _proposal(proposed_date, proposed_time)
    except InvalidInput as error:
        return _page(
            request, user, broker, session, case, name, lang, None,
            errors=_errors(error), typed=typed, status=422,
        )  # fmt: skip
    try:
        composed = _compose(broker, session, user, case, name, lang, proposal)
    except TemplateRefused:
        return _page(request, user, broker, session, case, name, lang, proposal, status=422)
    printed = outreach.letter_pdf(composed)
    return Response(printed.content, media_type=printed.media_type, headers=printed.headers)


@router.post("/cases/{case_id}/outreach/{template}", response_class=HTMLResponse)
@page(SENDERS)
def send(
    request: Request,
    user: CurrentUser,
    case_id: str,
    template: str,
    broker: CurrentBroker,
    session: DbSession,
    proposed_date: Annotated[str, Form(max_length=20)] = "",
    proposed_time: Annotated[str, Form(max_length=10)] = "",
    language: Annotated[str, Form(max_length=5)] = "nl",
) -> Response:
    """A letter: record that it was sent. An e-mail or a text: send it, then record it; if
    sending fails, nothing is recorded and the page says why."""
    name, case = _template(template), as_uuid(case_id)
    lang = _language(language)
    typed = {"proposed_date": proposed_date, "proposed_time": proposed_time}
    try:
        proposal = _proposal(proposed_date, proposed_time)
    except InvalidInput as error:
        return _page(
            request, user, broker, session, case, name, lang, None,
            errors=_errors(error), typed=typed, status=422,
        )  # fmt: skip
    principal = principal_of(user)
    if name.is_letter:
        try:
            composed = _compose(broker, session, user, case, name, lang, proposal)
        except TemplateRefused:
            return _page(request, user, broker, session, case, name, lang, proposal, status=422)
        outreach.record_sent(session, case_context(broker, session), principal, composed)
        return redirect(f"/ui/cases/{case}", message="outreach_saved_letter")
    settings = broker.settings
    try:
        outreach.send_and_record(
            broker.sessions,
            lambda own: case_context(broker, own),
            principal,
            case,
            name,
            lang,
            proposal,
            data_dir=settings.data_dir,
            email=senders.email_sender(settings),
            text=senders.text_sender(settings),
        )
    except senders.SendFailed as failed:
        return _page(
            request, user, broker, session, case, name, lang, proposal,
            problem=f"outreach_failed_{failed.reason}",
            status=_FAILED_STATUS.get(failed.reason, 502),
        )  # fmt: skip
    except outreach.NotRecorded:
        return _page(
            request, user, broker, session, case, name, lang, proposal,
            problem="outreach_sent_not_recorded", status=409,
        )  # fmt: skip
    except TemplateRefused:
        return _page(request, user, broker, session, case, name, lang, proposal, status=422)
    except ExchangeError as error:
        # Its own unit of work has already rolled back (and kept a refusal's log entries):
        # the request's session must not record them a second time.
        key = {403: "denied", 404: "not_found"}.get(error.status, "error")
        raise PageError(error.status, key, error.detail if error.status != 404 else None) from None
    return redirect(f"/ui/cases/{case}", message=f"outreach_saved_{name.channel.value}")


# The page --------------------------------------------------------------------------------


def _page(
    request: Request,
    user: SignedIn,
    broker: Broker,
    session: Session,
    case_id: uuid.UUID,
    name: TemplateName,
    language: Language,
    proposal: outreach.Proposal | None,
    *,
    errors: dict[str, str] | None = None,
    typed: dict[str, str] | None = None,
    problem: str | None = None,
    status: int = 200,
) -> Response:
    today = clock.today()
    shown = proposal or outreach.default_proposal(today)
    composed, refused = None, None
    try:
        composed = _compose(broker, session, user, case_id, name, language, shown)
    except TemplateRefused as error:
        refused = error
        status = status if status != 200 else 422
    except ExchangeError as error:
        if error.errors and error.errors[0].code == "outreach_closed":
            problem, status = "outreach_closed", 409
        else:
            raise
    settings = broker.settings
    ready = {
        ContactChannel.LETTER: True,
        ContactChannel.EMAIL: senders.email_sender(settings) is not None,
        ContactChannel.SMS_WHATSAPP: senders.text_sender(settings) is not None,
    }[name.channel]
    values = {
        "proposed_date": shown.day.isoformat(),
        "proposed_time": f"{shown.time:%H:%M}",
        **(typed or {}),
    }
    return render(
        request,
        "outreach.html",
        {
            "case_id": str(case_id),
            "case_number": composed.case_number if composed else None,
            "template": name.value,
            "letter": name.is_letter,
            "channel": name.channel.value,
            "composed": composed,
            "refused": _refusal(refused, lang_of(request)) if refused else None,
            "ready": ready,
            "text_language": language,
            "values": values,
            "min_date": today.isoformat(),
            "max_date": (today + outreach.PROPOSAL_WINDOW).isoformat(),
            "sms_length": SMS_LENGTH,
            "errors": errors or {},
            "problem": problem,
        },
        user=user,
        status=status,
    )


def _compose(
    broker: Broker,
    session: Session,
    user: SignedIn,
    case_id: uuid.UUID,
    name: TemplateName,
    language: Language,
    proposal: outreach.Proposal,
) -> outreach.Composed:
    return outreach.compose(
        session,
        case_context(broker, session),
        principal_of(user),
        case_id,
        name,
        language,
        proposal,
        data_dir=broker.settings.data_dir,
    )


def _refusal(error: TemplateRefused, lang: str) -> list[str]:
    """Why the template cannot be used, in the page's words: what it asked for, and whom to
    ask to change it."""
    words = i18n.text(f"outreach_refused_{error.code}", lang)
    if error.code == "unknown":
        words %= "{" + error.placeholder + "}"
    elif error.code == "too_long":
        words %= error.placeholder
    elif "%s" in words:
        words %= i18n.text(f"outreach_field_{error.placeholder}", lang)
    if error.code == "too_long":
        return [words]
    return [words, i18n.text("outreach_refused_admin", lang)]


def _template(value: str) -> TemplateName:
    try:
        return TemplateName(value)
    except ValueError:
        raise PageError(404, "not_found") from None


def _language(value: str) -> Language:
    return "en" if value == "en" else "nl"


def _proposal(day: str, time: str) -> outreach.Proposal:
    today = clock.today()
    if not day and not time:
        return outreach.default_proposal(today)
    default = outreach.default_proposal(today)
    return outreach.parse_proposal(
        day or default.day.isoformat(), time or f"{default.time:%H:%M}", today
    )


def _errors(error: InvalidInput) -> dict[str, str]:
    return {
        wrong.field: f"outreach_error_{wrong.field.removeprefix('proposed_')}"
        for wrong in error.errors
    }


@router.post("/cases/bulk-letters")
@page(SENDERS)
def bulk_letters(
    request: Request,
    user: CurrentUser,
    broker: CurrentBroker,
    session: DbSession,
    template: Annotated[str, Form(max_length=40)] = "letter_home_visit",
    language: Annotated[str, Form(max_length=5)] = "nl",
    back: Annotated[str, Form(max_length=4000)] = "",
    case: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Letters for many cases at once, as one PDF to print, each recorded as a contact
    attempt (letter sent). A case whose letter cannot be made (closed, no address in the
    caller's view, a template the rule refuses) gets none and is named on the first page;
    its refusal, if it was one, stays on the log."""
    name = _template(template)
    if not name.is_letter:
        raise PageError(404, "not_found")
    lang = _language(language)
    kept = worklist.saved_query(back)
    picked = (case or [])[: cases.MAX_PAGE]
    if not picked:
        return redirect(f"/ui/cases?{kept}", message="bulk_none_chosen")
    proposal = outreach.default_proposal(clock.today())
    principal = principal_of(user)

    def one_name(case_id: str) -> str:
        return _skipped_name(session, principal, case_id)

    composed: list[outreach.Composed] = []
    skipped: list[str] = []
    context = case_context(broker, session)
    for case_id in picked:
        try:
            wanted = as_uuid(case_id)
            with session.begin_nested():
                one = _compose(broker, session, user, wanted, name, lang, proposal)
                outreach.record_sent(session, context, principal_of(user), one)
            composed.append(one)
        except Refused as refusal:
            refusal.record(session)
            skipped.append(one_name(case_id))
        except (ExchangeError, TemplateRefused, PageError):
            skipped.append(one_name(case_id))
    if not composed:
        return redirect(f"/ui/cases?{kept}", message="bulk_no_letters")
    printed = outreach.letters_pdf(composed, skipped, lang)
    return Response(printed.content, media_type=printed.media_type, headers=printed.headers)


def _skipped_name(session: Session, principal: Principal, case_id: str) -> str:
    """A case that got no letter, by its number where the caller may know the case."""
    try:
        return cases.number_of(session, principal, uuid.UUID(case_id)) or case_id
    except ValueError:
        return case_id[:40]
