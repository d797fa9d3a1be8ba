"""The notices of AVG art. 19 in a worker's words, on the case page and the work list.

After a correction, a restriction or an erasure every organisation that received the
person's data gets a ``RecipientNotice`` (``service.notify_recipients``): ids it already
knows and what happened, never the data itself. Here they become sentences a worker reads
(Dutch at taalniveau B1, and English): on the page of the case a notice names, and in the
work list, where the case may have gone (erased, or no longer the worker's to see).

The words carry no personal data either: what happened, the day, and the case's number.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.auth.tokens import Principal
from exchange.cases.models import Case
from exchange.cases.service import _visible
from exchange.clock import local_date
from exchange.rights.models import RecipientNotice
from exchange.rights.report import long_date
from exchange.signals.models import Signal

Words = tuple[str, str]  # (nl, en); {day}: the day it happened, written out

# On the page of the case the notice names.
CASE_WORDS: Final[dict[str, Words]] = {
    "rectification": (
        "Op {day} zijn gegevens in deze casus verbeterd op verzoek van de persoon.",
        "On {day} data in this case was corrected at the person's request.",
    ),
    "restriction": (
        "Op {day} heeft een persoon in deze casus gevraagd om het gebruik van de gegevens te "
        "beperken. Zolang dat duurt, ziet u de gegevens van die persoon niet.",
        "On {day} a person in this case asked for the use of their data to be restricted. "
        "While that lasts, you do not see that person's data.",
    ),
    "restriction_lifted": (
        "Op {day} is de beperking van het gebruik opgeheven. U ziet de gegevens weer, zoals "
        "uw regel het toestaat.",
        "On {day} the restriction of use was lifted. You see the data again, as your rule permits.",
    ),
    "erasure": (
        "Op {day} is een signaal in deze casus gewist op verzoek van de persoon; u ziet het "
        "niet meer.",
        "On {day} a signal in this case was erased at the person's request; you no longer see it.",
    ),
}

# In the work list: the case may be gone, so the sentence does not point at one.
QUEUE_WORDS: Final[dict[str, Words]] = {
    "rectification": (
        "Op {day} zijn gegevens verbeterd op verzoek van de persoon.",
        "On {day} data was corrected at the person's request.",
    ),
    "restriction": (
        "Op {day} heeft een persoon gevraagd om het gebruik van de gegevens te beperken. "
        "Zolang dat duurt, ziet u de casus niet, of zonder de gegevens van die persoon.",
        "On {day} a person asked for the use of their data to be restricted. While that "
        "lasts, you do not see the case, or you see it without that person's data.",
    ),
    "restriction_lifted": (
        "Op {day} is een beperking van het gebruik opgeheven. U ziet de casus weer, zoals "
        "uw regel het toestaat.",
        "On {day} a restriction of use was lifted. You see the case again, as your rule permits.",
    ),
    "erasure": (
        "Op {day} zijn gegevens gewist op verzoek van de persoon. Wat gewist is, ziet u niet meer.",
        "On {day} data was erased at the person's request. What was erased, you no longer see.",
    ),
}

# A case a notice names that the worker cannot open (any more).
GONE_WORDS: Final[dict[str, Words]] = {
    "erased": ("een casus die helemaal is gewist", "a case that was erased entirely"),
    "not_yours": ("een casus die u niet meer ziet", "a case you no longer see"),
}

# Why a case is left out of the work list, by the register's outcome: a restriction is not
# an objection, and the list says which it was.
HIDDEN_WORDS: Final[dict[str, Words]] = {
    "restricted": (
        "verborgen: de persoon heeft gevraagd om het gebruik van de gegevens te beperken",
        "hidden: the person asked for the use of their data to be restricted",
    ),
    "objected": (
        "verborgen: de persoon heeft bezwaar gemaakt",
        "hidden: the person objected",
    ),
}

QUEUE_LIMIT = 20


def words(table: dict[str, Words], event: str, day: dt.date) -> dict[str, str]:
    """One notice's sentence in Dutch and English."""
    nl, en = table.get(event, table["rectification"])
    return {"nl": nl.format(day=long_date(day, "nl")), "en": en.format(day=long_date(day, "en"))}


def case_notices(
    session: Session, principal: Principal, case_id: uuid.UUID
) -> list[dict[str, Any]]:
    """The caller's organisation's notices that name this case or one of its signals,
    newest first, in words. Only the organisation the notice is addressed to sees it."""
    case = session.get(Case, case_id)
    if case is None:
        return []
    signal_ids = {
        str(i) for i in session.scalars(select(Signal.id).where(Signal.case_id == case.id))
    }
    found = []
    for notice in session.scalars(
        select(RecipientNotice)
        .where(
            RecipientNotice.organisation_id == principal.organisation_id,
            # A notice about a case cannot be older than the case.
            RecipientNotice.created_at >= case.opened_at,
        )
        .order_by(RecipientNotice.created_at.desc(), RecipientNotice.id)
    ):
        named = str(case.id) in notice.resources.get("cases", []) or bool(
            signal_ids & set(notice.resources.get("signals", []))
        )
        if named:
            found.append(
                {
                    "id": str(notice.id),
                    "event": notice.event,
                    "at": _instant(notice.created_at),
                    "text": words(CASE_WORDS, notice.event, local_date(notice.created_at)),
                }
            )
    return found


def notices_for_queue(
    session: Session, principal: Principal, since: dt.datetime
) -> list[dict[str, Any]]:
    """The caller's organisation's notices since ``since``, newest first (at most
    ``QUEUE_LIMIT``), in words, each with the cases it names: a case the caller may still
    open by its number, any other (erased, handed over) in words, never by number."""
    notices = list(
        session.scalars(
            select(RecipientNotice)
            .where(
                RecipientNotice.organisation_id == principal.organisation_id,
                RecipientNotice.created_at >= since,
            )
            .order_by(RecipientNotice.created_at.desc(), RecipientNotice.id)
            .limit(QUEUE_LIMIT)
        )
    )
    named = {uuid.UUID(c) for n in notices for c in n.resources.get("cases", [])}
    existing = set(session.scalars(select(Case.id).where(Case.id.in_(named)))) if named else set()
    mine = (
        {
            row.id: row.number
            for row in session.execute(
                select(Case.id, Case.number).where(Case.id.in_(existing), _visible(principal))
            )
        }
        if existing
        else {}
    )
    items = []
    for notice in notices:
        cases = []
        for case_text in sorted(notice.resources.get("cases", [])):
            case_id = uuid.UUID(case_text)
            if case_id in mine:
                cases.append(
                    {"id": case_text, "number": mine[case_id] or case_text[:8], "gone": None}
                )
            else:
                gone = "not_yours" if case_id in existing else "erased"
                cases.append(
                    {"id": None, "number": None, "gone": gone, "text": _pair(GONE_WORDS[gone])}
                )
        items.append(
            {
                "id": str(notice.id),
                "event": notice.event,
                "at": _instant(notice.created_at),
                "text": words(QUEUE_WORDS, notice.event, local_date(notice.created_at)),
                "cases": cases,
            }
        )
    return items


def hidden_words(outcome: str) -> dict[str, str] | None:
    """Why cases are left out of the work list, for a restriction or an objection."""
    pair = HIDDEN_WORDS.get(outcome)
    return _pair(pair) if pair is not None else None


def _pair(pair: Words) -> dict[str, str]:
    return {"nl": pair[0], "en": pair[1]}


def _instant(instant: dt.datetime) -> str:
    return instant.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
