"""What the broker holds about one person right now, by purpose, with its expiry.

Part of the access report (AVG art. 15(1)(b) and (d)): the categories of data held, the
purposes they are held for, and how long. Counted from the stored rows, never opened:
the report says *that* a signal with an address is held, not the address.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Collection, Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exchange.auditlog.schemas import HeldData
from exchange.cases.expiry import ASSIGNMENT_PURPOSES, CASE_PURPOSE
from exchange.cases.models import Assignment, Case, ContactAttempt
from exchange.consents.models import Consent
from exchange.signals.models import Signal
from policies.engine import Register

# Categories of what a consent record holds about the person: who (by pseudonym) agreed to
# what. The sealed signal data is under the purposes of the case.
CONSENT_CATEGORIES = ("pseudonym",)


def held_data(
    session: Session, register: Register, subject_ids: Collection[uuid.UUID]
) -> list[HeldData]:
    """One line per purpose the person's data is held for, over every subject row of theirs
    (``exchange.identity.service.identify``); empty when nothing is held."""
    if not subject_ids:
        return []
    wanted = sorted(subject_ids)
    purposes: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    expiries: dict[str, dt.date | None] = {}
    signal_cases = dict(
        session.execute(
            select(Signal.case_id, func.count(Signal.id))
            .where(Signal.subject_id.in_(wanted))
            .group_by(Signal.case_id)
        ).all()
    )
    case_ids = list(signal_cases)
    if case_ids:
        case_expiry = dict(
            session.execute(select(Case.id, Case.expires_on).where(Case.id.in_(case_ids))).all()
        )
        notes = session.scalar(
            select(func.count(ContactAttempt.id)).where(
                ContactAttempt.case_id.in_(case_ids), ContactAttempt.sealed_note.is_not(None)
            )
        )
        latest = _latest(case_expiry.values())
        counts = purposes[CASE_PURPOSE]
        counts["signals"] = sum(signal_cases.values())
        counts["cases"] = len(case_ids)
        if notes:
            counts["notes"] = int(notes)
        expiries[CASE_PURPOSE] = latest
        for case_id, kind in session.execute(
            select(Assignment.case_id, Assignment.organisation_kind)
            .where(Assignment.case_id.in_(case_ids))
            .distinct()
        ):
            assigned = ASSIGNMENT_PURPOSES.get(kind)
            if assigned is None:
                continue
            purposes[assigned]["cases"] += 1
            expiries[assigned] = _latest([expiries.get(assigned), case_expiry.get(case_id)])
    for consent_purposes, expires_on in session.execute(
        select(Consent.purposes, Consent.expires_on).where(Consent.subject_id.in_(wanted))
    ):
        for consented in consent_purposes:
            purposes[consented]["consents"] += 1
            # A running consent has no expiry: it lasts until withdrawn or ended.
            expiries[consented] = (
                None
                if expires_on is None or expiries.get(consented, expires_on) is None
                else _latest([expiries.get(consented), expires_on])
            )
    known = {p.id: p for p in register.purposes}
    names = {c.id: c.name for c in register.categories}
    lines = []
    for purpose_id in sorted(purposes):
        purpose = known.get(purpose_id)
        counts = dict(purposes[purpose_id])
        categories = (
            list(purpose.categories)
            if purpose is not None and set(counts) - {"consents"}
            else list(CONSENT_CATEGORIES)
        )
        name = dict(purpose.name) if purpose else {"nl": purpose_id, "en": purpose_id}
        expires_on = expiries.get(purpose_id)
        lines.append(
            HeldData(
                purpose=purpose_id,
                purpose_name=name,
                legal_basis=list(purpose.legal_basis) if purpose else [],
                categories=categories,
                category_names={
                    language: [names[c].get(language, c) if c in names else c for c in categories]
                    for language in ("nl", "en")
                },
                items=counts,
                expires_on=expires_on,
                sentence_nl=(
                    f"Voor '{name.get('nl')}' bewaren we "
                    f"{', '.join(names[c].get('nl', c) if c in names else c for c in categories)}"
                    + (
                        f", tot {expires_on.strftime('%d-%m-%Y')}."
                        if expires_on
                        else ", zolang uw toestemming loopt."
                    )
                ),
                sentence_en=(
                    f"For '{name.get('en')}' we hold "
                    f"{', '.join(names[c].get('en', c) if c in names else c for c in categories)}"
                    + (
                        f", until {expires_on.isoformat()}."
                        if expires_on
                        else ", for as long as your consent runs."
                    )
                ),
            )
        )
    return lines


def _latest(days: Iterable[dt.date | None]) -> dt.date | None:
    present = [d for d in days if d is not None]
    return max(present) if present else None
