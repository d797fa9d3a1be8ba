"""The purge: what has expired leaves, by crypto-shredding, with one audit entry per person.

A household goes when every one of its cases has expired (``exchange.cases.expiry``):
its data key is destroyed and its rows deleted (``exchange.retention.shred``). A consent
goes when its own expiry passed. A person goes when nothing is left under them, except
someone who objected or restricted processing: a bare pseudonym with that wish stays, so
that a later signal about them is refused as before.

Run by ``exchange purge`` and, every ``EXCHANGE_PURGE_INTERVAL_SECONDS``, by ``exchange
serve``. Several broker processes may run it at once: the households to go are locked.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from exchange.auditlog.service import AuditRecord, AuditTrail
from exchange.cases import expiry
from exchange.cases.models import Case
from exchange.consents.models import Consent
from exchange.db import CHUNK
from exchange.identity.models import Household, Subject
from exchange.retention import shred
from exchange.signals.models import Signal
from policies.engine import Register

ACTION = "retention.purge"


@dataclass
class PurgeReport:
    """What went (or, in a dry run, would go)."""

    dry_run: bool
    today: dt.date
    households: list[str] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)  # broker pseudonyms
    consents: list[str] = field(default_factory=list)
    removed: shred.Removed = field(default_factory=shred.Removed)

    def as_dict(self) -> dict[str, object]:
        return {
            "dry_run": self.dry_run,
            "today": self.today.isoformat(),
            "households": len(self.households),
            "household_ids": self.households,
            "subjects": len(self.subjects),
            "consents": len(self.consents),
            "removed": vars(self.removed),
        }


def purge(
    session: Session,
    register: Register,
    audit: AuditTrail,
    today: dt.date,
    now: dt.datetime,
    *,
    dry_run: bool = False,
) -> PurgeReport:
    """Remove what expired by ``today``; with ``dry_run`` only say what would go."""
    report = PurgeReport(dry_run=dry_run, today=today)
    held = expiry.case_expiries(session, register)
    expired = _expired_households(session, held, today)
    if expired and not dry_run:
        # Locked, then decided again: a signal linked meanwhile keeps its household.
        _lock(session, expired)
        held.update(expiry.case_expiries(session, register, _cases_of(session, expired)))
        expired = [h for h in _expired_households(session, held, today) if h in set(expired)]
    people = _people_of(session, expired)
    consent_expiry = expiry.consent_expiries(session, register, today)
    expired_consents = sorted(
        consent_id for consent_id, day in consent_expiry.items() if day is not None and day <= today
    )
    consent_people: dict[uuid.UUID, uuid.UUID] = {}
    for start in range(0, len(expired_consents), CHUNK):
        consent_people.update(
            session.execute(
                select(Consent.id, Consent.subject_id).where(
                    Consent.id.in_(expired_consents[start : start + CHUNK])
                )
            ).all()
        )
    touched = {p for group in people.values() for p in group} | set(consent_people.values())
    pseudonyms = _pseudonyms(session, touched)
    report.households = [str(h) for h in expired]
    report.consents = [str(c) for c in expired_consents]
    report.subjects = sorted(pseudonyms[s] for s in touched if s in pseudonyms)
    if dry_run:
        return report

    # Keep what stays up to date: a changed register changes the expiry shown to people.
    remaining = [(case_id, h.expires_on) for case_id, h in held.items()]
    for start in range(0, len(remaining), CHUNK):
        session.execute(
            update(Case),
            [{"id": c, "expires_on": day} for c, day in remaining[start : start + CHUNK]],
        )
    for consent_id, day in consent_expiry.items():
        if day is not None:
            session.execute(update(Consent).where(Consent.id == consent_id).values(expires_on=day))
    report.removed.add(shred.remove_households(session, expired))
    report.removed.consents += shred.remove_consents(session, expired_consents)
    report.removed.add(shred.remove_subjects(session, touched, keep_wishes=True))

    households_of_person: dict[uuid.UUID, list[str]] = defaultdict(list)
    for household_id, subject_ids in people.items():
        for subject_id in subject_ids:
            households_of_person[subject_id].append(str(household_id))
    consents_of_person: dict[uuid.UUID, list[str]] = defaultdict(list)
    for consent_id, subject_id in consent_people.items():
        consents_of_person[subject_id].append(str(consent_id))
    audit.append(
        session,
        [
            AuditRecord(
                action=ACTION,
                decision="recorded",
                actor_org=None,
                actor_client="exchange-retention",
                subject=pseudonyms.get(subject_id),
                resources={
                    key: value
                    for key, value in {
                        "households": ",".join(sorted(households_of_person[subject_id])),
                        "consents": ",".join(sorted(consents_of_person[subject_id])),
                        "expired_on_or_before": today.isoformat(),
                    }.items()
                    if value
                },
            )
            for subject_id in sorted(touched, key=lambda s: pseudonyms.get(s, ""))
        ],
        now,
    )
    return report


def _expired_households(
    session: Session, held: dict[uuid.UUID, expiry.HeldFor], today: dt.date
) -> list[uuid.UUID]:
    """Households all of whose cases expired by ``today``. One without any case has nothing
    that keeps it (what an erasure in a shared household can leave)."""
    keeps: set[uuid.UUID] = set()
    for case_id, household_id in session.execute(select(Case.id, Case.household_id)):
        held_for = held.get(case_id)
        if held_for is None or held_for.expires_on > today:
            keeps.add(household_id)
    return sorted(set(session.scalars(select(Household.id))) - keeps)


def _cases_of(session: Session, household_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    found: list[uuid.UUID] = []
    for start in range(0, len(household_ids), CHUNK):
        found.extend(
            session.scalars(
                select(Case.id).where(Case.household_id.in_(household_ids[start : start + CHUNK]))
            )
        )
    return found


def _people_of(session: Session, household_ids: list[uuid.UUID]) -> dict[uuid.UUID, set[uuid.UUID]]:
    found: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    for start in range(0, len(household_ids), CHUNK):
        for household_id, subject_id in session.execute(
            select(Signal.household_id, Signal.subject_id)
            .where(Signal.household_id.in_(household_ids[start : start + CHUNK]))
            .distinct()
        ):
            found[household_id].add(subject_id)
    return found


def _pseudonyms(session: Session, subject_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    wanted = sorted(subject_ids)
    found: dict[uuid.UUID, str] = {}
    for start in range(0, len(wanted), CHUNK):
        found.update(
            session.execute(
                select(Subject.id, Subject.pseudonym).where(
                    Subject.id.in_(wanted[start : start + CHUNK])
                )
            ).all()
        )
    return found


def _lock(session: Session, household_ids: list[uuid.UUID]) -> None:
    """PostgreSQL: no intake links a new signal to a household while it is being removed."""
    for start in range(0, len(household_ids), CHUNK):
        session.execute(
            select(Household.id)
            .where(Household.id.in_(household_ids[start : start + CHUNK]))
            .with_for_update()
        ).all()
