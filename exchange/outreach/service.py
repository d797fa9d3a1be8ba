"""Outreach from a template, in the order that keeps it honest:

1. the case is read through the one disclosure path (``cases.service.read_case``: decided by
   the register, cut to the caller's rule, the read on the audit log), and the template is
   filled in from that cut only, after checking each placeholder against the rule;
2. the message goes out (e-mail, text message), outside any transaction: no lock of the
   audit log is held while a mail server answers;
3. the contact attempt is recorded (``cases.service.record_attempt``: channel, today, not
   reached, a short note naming the template), decided and audited like any attempt.

If step 2 fails, step 3 does not happen: nothing is recorded, the worker is told. The read
of step 1 stays on the log, since the data was read. A letter is printed by the worker, so
for a letter step 3 is the worker's own "sent" and 2 is the PDF.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import structlog
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.orm import Session, sessionmaker

from exchange.auth.tokens import Principal
from exchange.cases import service as cases
from exchange.cases.schemas import ContactAttemptIn
from exchange.cases.terms import CaseStatus, ContactChannel
from exchange.db import outside_effect, unit_of_work
from exchange.errors import Conflict, ExchangeError, FieldError, Forbidden, InvalidInput
from exchange.organisations.service import find_organisation
from exchange.organisations.terms import OrganisationKind
from exchange.outreach.senders import Email, EmailSender, SendFailed, TextMessage, TextSender
from exchange.outreach.templates import (
    CHANNEL_NEEDS,
    SHIPPED,
    Filled,
    Language,
    TemplateName,
    TemplateRefused,
    clock_time,
    day_with_weekday,
    load,
    long_day,
    team_contact,
)
from exchange.pdf import LetterFile, html_to_pdf, htmls_to_pdf

log = structlog.get_logger("exchange.outreach")

# Who sends outreach from templates: the organisations that reach out to a person today.
# The debt service records attempts too; it may join here once its letters are written.
OUTREACH_KINDS: Final = frozenset(
    {OrganisationKind.MUNICIPALITY, OrganisationKind.NEIGHBOURHOOD_TEAM}
)
# How far ahead a worker may propose a visit or a call.
PROPOSAL_WINDOW: Final = dt.timedelta(days=90)
_TIME = re.compile(r"([01][0-9]|2[0-3])[:.]([0-5][0-9])")
# The note on the attempt, for colleagues (Dutch, like the rest of the case's notes).
_NOTE: Final[Mapping[TemplateName, str]] = {
    TemplateName.LETTER_HOME_VISIT: "brief verstuurd (sjabloon huisbezoek)",
    TemplateName.LETTER_CALL: "brief verstuurd (sjabloon telefoongesprek)",
    TemplateName.EMAIL: "e-mail verstuurd (sjabloon e-mail)",
    TemplateName.SMS: "sms verstuurd (sjabloon sms)",
}
_LETTER_WORDS: Final[Mapping[str, tuple[str, str]]] = {
    "phone": ("Telefoon", "Phone"),
    "email": ("E-mail", "E-mail"),
    "date": ("Datum", "Date"),
    "reference": ("Kenmerk", "Reference"),
    "letters_title": ("Brieven om te versturen", "Letters to send"),
    "letters_count": ("Brieven in dit bestand", "Letters in this file"),
    "letters_recorded": (
        "Elke brief staat als contactpoging (brief verstuurd) bij de casus.",
        "Each letter is on its case as a contact attempt (letter sent).",
    ),
    "letters_skipped": (
        "Geen brief gemaakt voor deze casussen; bekijk ze op de casuspagina:",
        "No letter was made for these cases; see them on the case page:",
    ),
}
_letters = Environment(
    loader=FileSystemLoader(SHIPPED),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_transaction = contextmanager(unit_of_work)


@dataclass(frozen=True)
class Proposal:
    """The day and time the worker proposes for the visit or the call."""

    day: dt.date
    time: dt.time


@dataclass(frozen=True)
class Composed:
    """A template filled in for the person of one case, ready to send or print."""

    case_id: uuid.UUID
    case_number: str | None
    template: TemplateName
    language: Language
    proposal: Proposal
    filled: Filled
    values: Mapping[str, str]
    to: str | None  # the e-mail address or the phone number; None for a letter

    @property
    def channel(self) -> ContactChannel:
        return self.template.channel

    @property
    def note(self) -> str:
        when = f"{day_with_weekday(self.proposal.day, 'nl')} {clock_time(self.proposal.time, 'nl')}"
        return f"{_NOTE[self.template]}, voorstel {when}"

    @property
    def reference(self) -> str:
        return self.case_number or str(self.case_id)


class NotRecorded(Exception):
    """The message went out, but recording the attempt was refused afterwards (the case
    closed or moved in between): the worker must record it by hand."""

    def __init__(self, channel: ContactChannel, error: ExchangeError) -> None:
        super().__init__(f"{channel.value} sent, attempt not recorded: {error.detail}")
        self.channel = channel
        self.error = error


def may_send(kind: OrganisationKind) -> bool:
    return kind in OUTREACH_KINDS


def default_proposal(today: dt.date) -> Proposal:
    """Three working days from today, at ten: time for a letter to arrive."""
    day, left = today, 3
    while left:
        day += dt.timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    return Proposal(day, dt.time(10, 0))


def parse_proposal(day: str, time: str, today: dt.date) -> Proposal:
    """The worker's proposal from a form; ``InvalidInput`` naming the field at fault."""
    errors = []
    try:
        on = dt.date.fromisoformat(day.strip())
    except ValueError:
        on = None
        errors.append(FieldError("proposed_date", "is not a date", code="outreach_date"))
    if on is not None and not today <= on <= today + PROPOSAL_WINDOW:
        errors.append(
            FieldError("proposed_date", "must lie within 90 days from today", code="outreach_date")
        )
    found = _TIME.fullmatch(time.strip())
    if found is None:
        errors.append(FieldError("proposed_time", "is not a time (HH:MM)", code="outreach_time"))
    if errors:
        raise InvalidInput("the proposal is not valid", errors)
    assert on is not None and found is not None
    return Proposal(on, dt.time(int(found[1]), int(found[2])))


def offered(document: Mapping[str, Any]) -> list[TemplateName]:
    """The templates the case's person can be reached by in the caller's view of the case:
    a letter with an address, an e-mail with an e-mail address, a text with a number."""
    return [
        name
        for name in TemplateName
        if any(_reachable(signal, name.channel) for signal in document.get("signals", []))
    ]


def compose(
    session: Session,
    context: cases.CaseContext,
    principal: Principal,
    case_id: uuid.UUID,
    name: TemplateName,
    language: Language,
    proposal: Proposal,
    *,
    data_dir: Path,
) -> Composed:
    """Read the case (audited), load the municipality's template for the caller's rule and
    fill it in with the person's data as the caller's rule shows it."""
    if not may_send(principal.organisation_kind):
        raise Forbidden("outreach from templates is not part of this organisation's work")
    writer = find_organisation(session, principal.organisation_id)
    if writer is None:
        raise Forbidden("the caller's organisation is not registered")
    municipality = (
        writer
        if writer.parent_id is None
        else (find_organisation(session, writer.parent_id) or writer)
    )
    template = load(
        name,
        language,
        gemeentecode=municipality.gemeentecode,
        data_dir=data_dir,
        allowed=cases.readable_fields(context, principal),
    )
    # Only now the person's data: read through the disclosure path, cut to the rule.
    document = cases.read_case(session, context, principal, case_id)
    if document.get("status") == CaseStatus.CLOSED.value:
        raise Conflict(
            "the case is closed: reopen it before reaching out",
            [FieldError("status", "the case is closed", code="outreach_closed")],
        )
    shown = frozenset(document["disclosure"]["fields"])
    signal = next((s for s in document.get("signals", []) if _reachable(s, name.channel)), None)
    if signal is None:
        raise TemplateRefused(name, "missing", CHANNEL_NEEDS[name.channel][0])
    contact = team_contact(data_dir, municipality.gemeentecode, str(writer.id), writer.name)
    values = {
        **_person_values(signal, language),
        "team_name": writer.name,
        "team_phone": contact.phone or "",
        "team_email": contact.email or "",
        "municipality": municipality.name,
        "case_number": document.get("number") or "",
        "proposed_date": day_with_weekday(proposal.day, language),
        "proposed_time": clock_time(proposal.time, language),
        "today": long_day(context.today, language),
    }
    filled = template.render(values, shown)
    filled = Filled(filled.subject, _once(filled.body))
    to = {
        ContactChannel.EMAIL: values.get("email"),
        ContactChannel.SMS_WHATSAPP: values.get("phone"),
    }.get(name.channel)
    return Composed(case_id, document.get("number"), name, language, proposal, filled, values, to)


def letter_html(composed: Composed) -> str:
    """The letter as one standalone HTML document, for print and for the PDF."""
    language = composed.language
    values = composed.values
    return _letters.get_template("letter.html").render(
        lang=language,
        t=lambda key: _LETTER_WORDS[key][1 if language == "en" else 0],
        subject=composed.filled.subject or "",
        paragraphs=composed.filled.paragraphs,
        name=values["name"],
        address=values["address"],
        postcode_city=values["postcode_city"],
        team_name=values["team_name"],
        municipality=(
            values["municipality"] if values["municipality"] != values["team_name"] else ""
        ),
        team_phone=values["team_phone"],
        team_email=values["team_email"],
        today=values["today"],
        case_number=values["case_number"],
    )


def letter_pdf(composed: Composed) -> LetterFile:
    """The letter as a printable PDF (``exchange.pdf``, WeasyPrint)."""
    pdf = html_to_pdf(letter_html(composed))
    log.info("outreach.letter_printed", case=str(composed.case_id), template=composed.template)
    return LetterFile(pdf, "application/pdf", f"brief-{composed.reference}.pdf")


def letters_pdf(composed: list[Composed], skipped: list[str], language: Language) -> LetterFile:
    """Many letters as one PDF to print at once, after a first page that says how many it
    holds and which cases got none (by number), so the worker knows what is left to do."""
    summary = _letters.get_template("letters_summary.html").render(
        lang=language,
        t=lambda key: _LETTER_WORDS[key][1 if language == "en" else 0],
        count=len(composed),
        skipped=skipped,
    )
    pdf = htmls_to_pdf([summary, *(letter_html(one) for one in composed)])
    log.info("outreach.letters_printed", letters=len(composed), skipped=len(skipped))
    return LetterFile(pdf, "application/pdf", f"brieven-{dt.date.today().isoformat()}.pdf")


def record_sent(
    session: Session, context: cases.CaseContext, principal: Principal, composed: Composed
) -> dict[str, Any]:
    """The contact attempt the message made: today, by its channel, not reached (a reply is
    an attempt of its own), a note naming the template and the proposal."""
    attempt = cases.record_attempt(
        session,
        context,
        principal,
        composed.case_id,
        ContactAttemptIn(
            channel=composed.channel, date=context.today, reached=False, note=composed.note
        ),
    )
    log.info(
        "outreach.recorded",
        case=str(composed.case_id),
        attempt=attempt["id"],
        channel=composed.channel.value,
        template=composed.template.value,
    )
    return attempt


def send_and_record(
    sessions: sessionmaker[Session],
    context_of: Callable[[Session], cases.CaseContext],
    principal: Principal,
    case_id: uuid.UUID,
    name: TemplateName,
    language: Language,
    proposal: Proposal,
    *,
    data_dir: Path,
    email: EmailSender | None = None,
    text: TextSender | None = None,
) -> dict[str, Any]:
    """Fill in, send, record: each database step in a unit of work of its own, and the
    sending between them (see the module's docstring). ``SendFailed``: nothing recorded."""
    with _transaction(sessions) as session:
        composed = compose(
            session,
            context_of(session),
            principal,
            case_id,
            name,
            language,
            proposal,
            data_dir=data_dir,
        )
    deliver(composed, email=email, text=text)
    try:
        with _transaction(sessions) as session:
            return record_sent(session, context_of(session), principal, composed)
    except ExchangeError as error:
        log.warning("outreach.sent_not_recorded", case=str(case_id), error=type(error).__name__)
        raise NotRecorded(composed.channel, error) from error


def deliver(
    composed: Composed, *, email: EmailSender | None = None, text: TextSender | None = None
) -> None:
    """Hand the message to its sender; ``SendFailed("not_configured")`` when the channel
    has none."""
    if composed.channel is ContactChannel.EMAIL:
        if email is None:
            raise SendFailed("not_configured")
        assert composed.to is not None
        outside_effect("outreach.email")  # a request that sent it must not run again
        email.send(
            Email(
                composed.to, composed.filled.subject or "", composed.filled.body, composed.reference
            )
        )
    elif composed.channel is ContactChannel.SMS_WHATSAPP:
        if text is None:
            raise SendFailed("not_configured")
        assert composed.to is not None
        outside_effect("outreach.text")
        text.send(TextMessage(composed.to, composed.filled.body.strip(), composed.reference))
    else:
        raise SendFailed("not_sent_by_the_broker")


# Filling in --------------------------------------------------------------------------------


def _reachable(signal: Mapping[str, Any], channel: ContactChannel) -> bool:
    values = _person_values(signal, "nl")
    return all(values.get(need) for need in CHANNEL_NEEDS[channel])


def _person_values(signal: Mapping[str, Any], language: Language) -> dict[str, str]:
    """What the signal, as the caller's rule cut it, says of the person: only fields that
    are there, so a placeholder the rule does not show has no value either."""
    person = signal.get("person") or {}
    address = signal.get("address") or {}
    contact = signal.get("contact") or {}
    values: dict[str, str] = {}
    name = " ".join(
        str(part).strip()
        for part in (person.get("initials"), person.get("surname_prefix"), person.get("surname"))
        if part and str(part).strip()
    )
    if person.get("surname"):
        values["name"] = name
    street, number = address.get("street"), address.get("house_number")
    if street and number:
        addition = str(address.get("house_number_addition") or "").strip()
        joined = f"{number}{addition}" if len(addition) <= 1 else f"{number} {addition}"
        values["address"] = f"{street} {joined}"
    postcode, city = address.get("postcode"), address.get("city")
    if postcode and city:
        code = str(postcode).replace(" ", "").upper()
        values["postcode_city"] = f"{code[:4]} {code[4:]}  {city}".replace("  ", " ")
    if contact.get("phone"):
        values["phone"] = str(contact["phone"])
    if contact.get("email"):
        values["email"] = str(contact["email"])
    if isinstance(signal.get("amount_cents"), int):
        values["amount"] = _euros(signal["amount_cents"], language)
    if signal.get("amount_band"):
        values["amount_band"] = f"€ {signal['amount_band']}"
    return values


def _euros(cents: int, language: Language) -> str:
    whole, rest = divmod(cents, 100)
    if language == "en":
        return f"€{whole:,}.{rest:02d}"
    return f"€ {whole:,}".replace(",", ".") + f",{rest:02d}"


def _once(body: str) -> str:
    """A line that repeats the line right above it is written once: the municipality's
    own worker signs as the team and the municipality, which are one organisation."""
    lines: list[str] = []
    for line in body.split("\n"):
        if line.strip() and lines and line.strip() == lines[-1].strip():
            continue
        lines.append(line)
    return "\n".join(lines)
