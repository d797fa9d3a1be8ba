"""The outreach texts: a letter proposing a home visit or a call, an e-mail, a text message.

A template is a plain-text file with ``{placeholder}`` names in it (``{{`` and ``}}`` for a
brace), and for a letter or an e-mail a first line ``Onderwerp: ...`` (or ``Subject: ...``),
then a blank line, then the text. The broker ships them in Dutch (taalniveau B1: short
sentences, "u", no jargon) and in English under ``exchange/outreach/templates/<lang>/``. A
municipality overrides any of them with a file of the same name under

    <data_dir>/outreach/<gemeentecode>/<lang>/<template>.txt

and says how a person reaches each of its teams (phone, e-mail) in

    <data_dir>/outreach/<gemeentecode>/teams.yaml

A placeholder names what it needs of the person's data in the register's field names
(:data:`PLACEHOLDERS`). A template is refused, when it loads and again when it is filled in,
if one of its placeholders needs a field the caller's rule does not show: a neighbourhood
team's template cannot name the exact amount or the e-mail address it never sees. The BSN
and the birth date are in no outreach text at all (:data:`NEVER`): a letter is read by
whoever opens the post.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import yaml

from exchange.cases.terms import ContactChannel

Language = Literal["nl", "en"]
LANGUAGES: Final = ("nl", "en")
SHIPPED = Path(__file__).parent / "templates"
# A text message is one SMS (GSM 03.38 allows 160 characters in one part).
SMS_LENGTH: Final = 160
# A template file larger than this is refused before it is read as a template.
MAX_TEMPLATE_BYTES: Final = 20_000


class TemplateName(enum.StrEnum):
    """The shipped templates, by file name; each is sent by one channel."""

    LETTER_HOME_VISIT = "letter_home_visit"
    LETTER_CALL = "letter_call"
    EMAIL = "email"
    SMS = "sms"

    @property
    def channel(self) -> ContactChannel:
        return _CHANNEL[self]

    @property
    def is_letter(self) -> bool:
        return self.channel is ContactChannel.LETTER


_CHANNEL = {
    TemplateName.LETTER_HOME_VISIT: ContactChannel.LETTER,
    TemplateName.LETTER_CALL: ContactChannel.LETTER,
    TemplateName.EMAIL: ContactChannel.EMAIL,
    TemplateName.SMS: ContactChannel.SMS_WHATSAPP,
}

# What each placeholder needs of the person's data, in the register's field names. The
# ones that need nothing are the sender's (the team, the municipality) and the worker's
# (the proposed day and time), never the person's.
PLACEHOLDERS: Final[Mapping[str, frozenset[str]]] = {
    "name": frozenset({"person.surname"}),
    "address": frozenset({"address.street", "address.house_number"}),
    "postcode_city": frozenset({"address.postcode", "address.city"}),
    "phone": frozenset({"contact.phone"}),
    "email": frozenset({"contact.email"}),
    "amount": frozenset({"amount_cents"}),
    "amount_band": frozenset({"amount_band"}),
    "team_name": frozenset(),
    "team_phone": frozenset(),
    "team_email": frozenset(),
    "municipality": frozenset(),
    "case_number": frozenset(),
    "proposed_date": frozenset(),
    "proposed_time": frozenset(),
    "today": frozenset(),
}
# Never in an outreach text, whatever the caller's rule shows.
NEVER: Final[Mapping[str, str]] = {
    "bsn": "person.bsn",
    "birth_date": "person.birth_date",
    "external_ref": "external_ref",
}
# What a channel needs to reach the person at all: the letter's address block, the
# e-mail's recipient, the text message's number.
CHANNEL_NEEDS: Final[Mapping[ContactChannel, tuple[str, ...]]] = {
    ContactChannel.LETTER: ("name", "address", "postcode_city"),
    ContactChannel.EMAIL: ("email",),
    ContactChannel.SMS_WHATSAPP: ("phone",),
}

RefusalCode = Literal["unknown", "never", "not_in_rule", "syntax", "missing", "too_long"]


class TemplateRefused(Exception):
    """A template that may not be used: ``code`` says why (for a page's own words),
    ``placeholder`` which name. The message names no person's data."""

    def __init__(self, template: str, code: RefusalCode, placeholder: str = "") -> None:
        self.template = template
        self.code = code
        self.placeholder = placeholder
        super().__init__(f"template {template}: {code} {placeholder}".strip())


@dataclass(frozen=True)
class Filled:
    """A template filled in for one person: the subject (letters and e-mail) and the text."""

    subject: str | None
    body: str

    @property
    def paragraphs(self) -> list[str]:
        return [p.strip() for p in re.split(r"\n\s*\n", self.body) if p.strip()]


@dataclass(frozen=True)
class Template:
    name: TemplateName
    language: Language
    origin: str  # "shipped" or the gemeentecode whose file it is
    subject: str | None
    body: str
    placeholders: frozenset[str]

    def render(self, values: Mapping[str, str], shown: frozenset[str]) -> Filled:
        """The template filled in with ``values``, after checking again that every
        placeholder is one the caller's fields for this case (``shown``) permit."""
        check(self.name, self.placeholders, shown)
        subject = _fill(self.name, self.subject, values) if self.subject else None
        body = _fill(self.name, self.body, values).strip() + "\n"
        if self.name is TemplateName.SMS:
            body = " ".join(body.split())
            if len(body) > SMS_LENGTH:
                raise TemplateRefused(self.name, "too_long", str(len(body)))
        return Filled(subject, body)


def load(
    name: TemplateName,
    language: Language,
    *,
    gemeentecode: str | None,
    data_dir: Path,
    allowed: frozenset[str],
) -> Template:
    """The municipality's own template if it has one, else the shipped one; refused
    (:class:`TemplateRefused`) if a placeholder needs a field outside ``allowed`` (the
    caller's rule), is unknown, or is never used in outreach."""
    path = SHIPPED / language / f"{name.value}.txt"
    origin = "shipped"
    own = override_path(data_dir, gemeentecode, language, name)
    if own is not None and own.is_file():
        path, origin = own, str(gemeentecode)
    if path.stat().st_size > MAX_TEMPLATE_BYTES:
        raise TemplateRefused(name, "syntax", "size")
    subject, body = _split(path.read_text(encoding="utf-8"))
    names = _names(name, subject or "") | _names(name, body)
    names |= set(CHANNEL_NEEDS[name.channel])
    template = Template(name, language, origin, subject, body, frozenset(names))
    check(name, template.placeholders, allowed)
    return template


def check(name: str, placeholders: frozenset[str], allowed: frozenset[str]) -> None:
    """Refuse a placeholder that is unknown, never in outreach, or needs a field that is
    not in ``allowed``."""
    for placeholder in sorted(placeholders):
        if placeholder in NEVER:
            raise TemplateRefused(name, "never", placeholder)
        needs = PLACEHOLDERS.get(placeholder)
        if needs is None:
            raise TemplateRefused(name, "unknown", placeholder)
        if not needs <= allowed:
            raise TemplateRefused(name, "not_in_rule", placeholder)


def permitted_placeholders(allowed: frozenset[str]) -> list[str]:
    """The placeholders a template may use under a rule with these fields."""
    return sorted(p for p, needs in PLACEHOLDERS.items() if needs <= allowed)


def override_path(
    data_dir: Path, gemeentecode: str | None, language: Language, name: TemplateName
) -> Path | None:
    """Where a municipality's own version of a template lives (it may not exist)."""
    base = municipality_dir(data_dir, gemeentecode)
    return None if base is None else base / language / f"{name.value}.txt"


def municipality_dir(data_dir: Path, gemeentecode: str | None) -> Path | None:
    if gemeentecode is None or not re.fullmatch(r"[0-9]{4}", gemeentecode):
        return None
    return data_dir / "outreach" / gemeentecode


@dataclass(frozen=True)
class TeamContact:
    """How a person reaches the team that writes to them."""

    phone: str | None = None
    email: str | None = None


def team_contact(
    data_dir: Path, gemeentecode: str | None, organisation_id: str, organisation_name: str
) -> TeamContact:
    """The team's phone and e-mail from the municipality's ``teams.yaml`` (keyed by the
    organisation's name as registered, or its id), else nothing."""
    base = municipality_dir(data_dir, gemeentecode)
    path = None if base is None else base / "teams.yaml"
    if path is None or not path.is_file():
        return TeamContact()
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(document, dict):
        return TeamContact()
    entry = document.get(organisation_id) or document.get(organisation_name) or {}
    if not isinstance(entry, dict):
        return TeamContact()
    phone, email = entry.get("phone"), entry.get("email")
    return TeamContact(str(phone).strip() if phone else None, str(email).strip() if email else None)


# Dates and times as a letter writes them ---------------------------------------------------

WEEKDAYS: Final[Mapping[Language, tuple[str, ...]]] = {
    "nl": ("maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
MONTHS: Final[Mapping[Language, tuple[str, ...]]] = {
    "nl": (
        "januari", "februari", "maart", "april", "mei", "juni",
        "juli", "augustus", "september", "oktober", "november", "december",
    ),
    "en": (
        "January", "February", "March", "April", "May", "June",
        "July", "August", "September", "October", "November", "December",
    ),
}  # fmt: skip


def day_with_weekday(day: dt.date, language: Language) -> str:
    """'dinsdag 8 december' / 'Tuesday 8 December': no year, the proposal is weeks away."""
    return f"{WEEKDAYS[language][day.weekday()]} {day.day} {MONTHS[language][day.month - 1]}"


def long_day(day: dt.date, language: Language) -> str:
    """'8 december 2026' / '8 December 2026': the letter's own date."""
    return f"{day.day} {MONTHS[language][day.month - 1]} {day.year}"


def clock_time(time: dt.time, language: Language) -> str:
    """'10.00 uur' in Dutch, '10:00' in English."""
    return f"{time:%H.%M} uur" if language == "nl" else f"{time:%H:%M}"


# Reading a template -------------------------------------------------------------------------

_SUBJECT = re.compile(r"(?:Onderwerp|Subject):[ \t]*(?P<subject>.+)")
_NAME = re.compile(r"[a-z][a-z_]{0,39}")


def _split(text: str) -> tuple[str | None, str]:
    text = text.replace("\r\n", "\n").lstrip("\ufeff")
    first, _, rest = text.partition("\n")
    found = _SUBJECT.fullmatch(first.strip())
    if found is None:
        return None, text
    return found["subject"].strip(), rest.lstrip("\n")


def _names(template: str, text: str) -> set[str]:
    names: set[str] = set()
    for _, name, spec, conversion in _parse(template, text):
        if name is None:
            continue
        if spec or conversion or not _NAME.fullmatch(name):
            # Only bare names: no {name.attr}, {name[0]}, {name!r} or {name:>20}.
            raise TemplateRefused(template, "syntax", name[:40])
        names.add(name)
    return names


def _fill(template: str, text: str, values: Mapping[str, str]) -> str:
    parts: list[str] = []
    for literal, name, _, _ in _parse(template, text):
        parts.append(literal)
        if name is None:
            continue
        value = values.get(name)
        if not value:
            raise TemplateRefused(template, "missing", name)
        parts.append(value)
    return "".join(parts)


def _parse(template: str, text: str) -> list[tuple[str, str | None, str | None, str | None]]:
    try:
        return list(string.Formatter().parse(text))
    except ValueError:
        raise TemplateRefused(template, "syntax") from None
