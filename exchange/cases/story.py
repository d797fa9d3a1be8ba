"""The household's story on one page: who signalled, the household's other cases, and what
changed after a person used their rights.

Reading the story is part of reading the case (``service.read_case``): it starts from the
case document that read cut for the caller, and adds only what the caller's rule shows.

- The creditors by name only where the rule lists ``provider.name`` (the register decides:
  the municipality, the neighbourhood team and, under its consent, the debt service); a
  caller whose rule does not list it sees only the kinds of the signals.
- The household's other cases (closed ones too) only where the rule lists
  ``case.composition``, which says a case is a repeat. A case the caller may know of
  (``service._visible``: the municipality its own, a team or debt service what is assigned
  to it) is a link with its dates, status and result, each disclosed for the people of that
  case through the one disclosure path (``case.story``, one audit entry per person); any
  other is a plain line, with nothing of it.
- The notices after a correction, restriction or erasure come in worded already
  (``exchange.rights.notices``: the rights package sits above this one).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.auth.tokens import Principal
from exchange.cases.models import Case
from exchange.cases.service import (
    CaseContext,
    _asks,
    _instant,
    _people,
    _purpose,
    _rule_fields,
    _visible,
    visible_case,
)
from exchange.db import CHUNK
from exchange.disclosures import Disclosure, Party, Person
from exchange.organisations.models import Organisation
from exchange.signals.models import Signal

CREDITOR_FIELD = "provider.name"
# The field that tells a case is a repeat: without it, the household's other cases are not
# the caller's to know of.
REPEAT_FIELD = "case.composition"
STORY_ACTION = "case.story"


def household_story(
    session: Session,
    context: CaseContext,
    principal: Principal,
    case_document: dict[str, Any],
    *,
    notices: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The story of the case ``read_case`` gave the caller (``case_document``), cut to the
    caller's rule; ``notices`` are the caller's notices about this case, in words."""
    case = visible_case(session, principal, uuid.UUID(case_document["id"]))
    purpose = _purpose(principal)
    # What the case was cut with, and no more than the caller's rule lists today.
    fields = frozenset(case_document["disclosure"]["fields"]) & _rule_fields(
        context, principal, purpose, "read"
    )
    signals = _shown_signals(session, case_document)
    story: dict[str, Any] = {
        "case_id": str(case.id),
        "creditor_names": CREDITOR_FIELD in fields,
        "creditors": _creditors(session, signals) if CREDITOR_FIELD in fields else [],
        "signal_kinds": sorted({kind for _, _, kind, _ in signals}) if "kind" in fields else [],
        "other_cases": (
            _other_cases(session, context, principal, purpose, case)
            if REPEAT_FIELD in fields
            else None
        ),
        "notices": list(notices),
    }
    return story


_SignalLine = tuple[uuid.UUID, uuid.UUID, str, dt.datetime]


def _shown_signals(session: Session, case_document: dict[str, Any]) -> list[_SignalLine]:
    """The signals the case document shows (a withheld person's signals are not in it):
    id, provider, kind, received."""
    ids = [uuid.UUID(s["id"]) for s in case_document.get("signals", [])]
    found: list[_SignalLine] = []
    for start in range(0, len(ids), CHUNK):
        found.extend(
            (row.id, row.provider_id, row.kind, row.received_at)
            for row in session.execute(
                select(Signal.id, Signal.provider_id, Signal.kind, Signal.received_at).where(
                    Signal.id.in_(ids[start : start + CHUNK])
                )
            )
        )
    return sorted(found, key=lambda line: (line[3], line[0]))


def _creditors(session: Session, signals: list[_SignalLine]) -> list[dict[str, Any]]:
    """Each organisation that signalled, by name, with the kinds it signalled, first first."""
    by_provider: dict[uuid.UUID, list[_SignalLine]] = defaultdict(list)
    for line in signals:
        by_provider[line[1]].append(line)
    organisations = {
        o.id: o
        for o in session.scalars(select(Organisation).where(Organisation.id.in_(list(by_provider))))
    }
    creditors = []
    for provider_id, lines in by_provider.items():
        organisation = organisations.get(provider_id)
        if organisation is None:
            continue
        creditors.append(
            {
                "name": organisation.name,
                "organisation_kind": organisation.kind,
                "signal_kinds": sorted({kind for _, _, kind, _ in lines}),
                "signals": len(lines),
                "first_signal_at": _instant(lines[0][3]),
            }
        )
    return sorted(creditors, key=lambda c: (c["first_signal_at"], c["name"]))


def _other_cases(
    session: Session,
    context: CaseContext,
    principal: Principal,
    purpose: str,
    case: Case,
) -> list[dict[str, Any]]:
    """The household's other cases, newest first: a case the caller may know of with what
    its rule shows of it (disclosed per person), any other as a plain line."""
    others = list(
        session.scalars(
            select(Case)
            .where(Case.household_id == case.household_id, Case.id != case.id)
            .order_by(Case.opened_at.desc(), Case.id)
        )
    )
    if not others:
        return []
    visible = set(
        session.scalars(
            select(Case.id).where(Case.id.in_([o.id for o in others]), _visible(principal))
        )
    )
    caller = Party.of(principal)
    people: dict[uuid.UUID, list[Person]] = {
        other.id: _people(session, other.id) for other in others if other.id in visible
    }
    asks = [
        ask
        for other_id, persons in people.items()
        for ask in _asks(persons, caller, {"case": str(other_id), "story_of": str(case.id)})
    ]
    fields_of: dict[str, frozenset[str]] = {}
    if asks:
        for one in context.disclosures(session).disclose(
            Disclosure(caller, purpose, "read", STORY_ACTION), asks
        ):
            if one.permitted:
                fields_of.setdefault(one.ask.resources["case"], one.decision.fields)
    lines = []
    for other in others:
        relation = "earlier" if other.opened_at <= case.opened_at else "later"
        line: dict[str, Any] = {"relation": relation}
        if other.id not in visible:
            line["shown"] = "not_yours"
        elif str(other.id) not in fields_of:
            line["shown"] = "withheld"
        else:
            shown = fields_of[str(other.id)]
            line.update(
                shown="yours",
                id=str(other.id),
                number=getattr(other, "number", None) or str(other.id)[:8],
                opened_at=_instant(other.opened_at),
                closed_at=_instant(other.closed_at),
            )
            if "case.status" in shown:
                line["status"] = other.status
            if "case.result_code" in shown:
                line["result"] = other.result_code
        lines.append(line)
    return lines
