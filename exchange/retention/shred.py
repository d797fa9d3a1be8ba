"""Crypto-shredding: making a household's or a person's stored data unreadable, then gone.

Everything personal about a household is sealed under that household's data key, and the
only copy of that key is the ``households`` row, wrapped by the key-encryption key. Deleting
the row destroys the key: a ciphertext that survives somewhere (a backup, a WAL segment, a
page not yet vacuumed) can no longer be opened, whoever holds the key-encryption key.

One person in a household of several cannot be shredded by destroying the household key
without destroying the others' data too. So the household gets a fresh data key: the
other people's signals and the case notes are opened with the old key and sealed again
under the new one, the person's own signals are deleted, and the old key is overwritten.
Any copy of the person's ciphertext left elsewhere was sealed under the old key, which no
longer exists.

The audit log is never touched: it holds pseudonyms, ids and rule names, no content, and
its leaves must stay as they are for the log to verify.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from sqlalchemy import delete, exists, select, update
from sqlalchemy.orm import Session

from exchange.cases.models import Assignment, Case, CaseEvent, ContactAttempt, Escalation
from exchange.consents.models import Consent, ConsentEvent, Objection, Restriction
from exchange.db import CHUNK
from exchange.identity.models import Household, Subject
from exchange.signals.models import Signal
from exchange.vault import envelope
from exchange.vault.keyring import Keyring


@dataclass
class Removed:
    """What a shredding step removed, for reports and audit resources."""

    households: int = 0
    households_resealed: int = 0
    cases: int = 0
    signals: int = 0
    contact_attempts: int = 0
    consents: int = 0
    subjects: int = 0

    def add(self, other: Removed) -> None:
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_resources(self) -> dict[str, str]:
        return {name: str(value) for name, value in vars(self).items() if value}


def remove_households(session: Session, household_ids: Collection[uuid.UUID]) -> Removed:
    """Destroy the data keys of these households and delete everything stored under them."""
    removed = Removed()
    wanted = sorted(household_ids)
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        # Overwritten before the delete: the key must not outlive the row in a page that a
        # later statement of this transaction could still read.
        session.execute(
            update(Household)
            .where(Household.id.in_(chunk))
            .values(wrapped_data_key=b"", kek_id="shredded")
        )
        case_ids = list(session.scalars(select(Case.id).where(Case.household_id.in_(chunk))))
        removed.add(_remove_cases(session, case_ids))
        removed.signals += _count_deleted(
            session.execute(delete(Signal).where(Signal.household_id.in_(chunk)))
        )
        removed.households += _count_deleted(
            session.execute(delete(Household).where(Household.id.in_(chunk)))
        )
    return removed


def remove_person_from_household(
    session: Session, keyring: Keyring, household_id: uuid.UUID, subject_ids: Collection[uuid.UUID]
) -> Removed:
    """Delete these people's signals from a household that others share, under a new key.

    The case notes stay with the case of the others (they are the record of the help
    offered to the household), sealed again under the new key.
    """
    household = session.get(Household, household_id, with_for_update=True)
    assert household is not None
    old_key = envelope.unwrap_data_key(
        keyring.kek.get(household.kek_id), household.wrapped_data_key, household.id.bytes
    )
    new_key = envelope.new_data_key()
    removed = Removed(households_resealed=1)
    removed.signals = _count_deleted(
        session.execute(
            delete(Signal).where(
                Signal.household_id == household_id, Signal.subject_id.in_(list(subject_ids))
            )
        )
    )
    for signal in session.scalars(select(Signal).where(Signal.household_id == household_id)):
        plain = envelope.open_sealed(old_key, signal.sealed_identity, signal.id.bytes)
        signal.sealed_identity = envelope.seal(new_key, plain, signal.id.bytes)
    case_ids = list(session.scalars(select(Case.id).where(Case.household_id == household_id)))
    reseal_notes(session, case_ids, old_key, new_key)
    household.wrapped_data_key = envelope.wrap_data_key(
        keyring.kek.active, new_key, household.id.bytes
    )
    household.kek_id = keyring.kek.active_id
    session.flush()
    # A case that was only about the person goes with them.
    empty = list(
        session.scalars(
            select(Case.id).where(
                Case.household_id == household_id,
                ~exists().where(Signal.case_id == Case.id),
            )
        )
    )
    removed.add(_remove_cases(session, empty))
    return removed


def reseal_notes(
    session: Session, case_ids: Collection[uuid.UUID], old_key: bytes, new_key: bytes
) -> None:
    """Seal the workers' notes of these cases again under another household data key."""
    for attempt in session.scalars(
        select(ContactAttempt).where(
            ContactAttempt.case_id.in_(sorted(case_ids)), ContactAttempt.sealed_note.is_not(None)
        )
    ):
        assert attempt.sealed_note is not None
        aad = b"note:" + attempt.id.bytes
        note = envelope.open_sealed(old_key, attempt.sealed_note, aad)
        attempt.sealed_note = envelope.seal(new_key, note, aad)


def remove_subjects(
    session: Session, subject_ids: Iterable[uuid.UUID], *, keep_wishes: bool
) -> Removed:
    """Delete people with nothing left under them: consents and, unless ``keep_wishes``,
    their objections and restrictions. A person whose signals remain elsewhere stays.

    A person is every subject row linked to these (``exchange.identity.service``): the
    rows go together, or stay together while any of them still has a signal, so that an
    identifier without signals of its own (a name that came with a BSN) is neither left
    behind nor cut off from the person while they are still signalled.

    ``keep_wishes`` is for the purge: someone who objected or asked for restriction keeps a
    bare pseudonym with that wish, so that a later signal about them is still refused.
    Erasure removes the wishes too: the person asked for everything to go.
    """
    removed = Removed()
    people: dict[uuid.UUID, set[uuid.UUID]] = {}
    wanted = sorted(set(subject_ids))
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        for subject_id, person_id in session.execute(
            select(Subject.id, Subject.person_id).where(
                Subject.person_id.in_(select(Subject.person_id).where(Subject.id.in_(chunk)))
            )
        ):
            people.setdefault(person_id, set()).add(subject_id)
    for person_id in sorted(people):
        rows = sorted(people[person_id])
        if session.scalar(select(Signal.id).where(Signal.subject_id.in_(rows)).limit(1)):
            continue
        wishes = session.scalar(
            select(Objection.id).where(Objection.subject_id.in_(rows)).limit(1)
        ) or session.scalar(
            select(Restriction.id)
            .where(Restriction.subject_id.in_(rows), Restriction.lifted_at.is_(None))
            .limit(1)
        )
        if keep_wishes and wishes:
            continue
        consent_ids = list(session.scalars(select(Consent.id).where(Consent.subject_id.in_(rows))))
        if consent_ids:
            session.execute(delete(ConsentEvent).where(ConsentEvent.consent_id.in_(consent_ids)))
            removed.consents += _count_deleted(
                session.execute(delete(Consent).where(Consent.id.in_(consent_ids)))
            )
        session.execute(delete(Objection).where(Objection.subject_id.in_(rows)))
        session.execute(delete(Restriction).where(Restriction.subject_id.in_(rows)))
        removed.subjects += _count_deleted(
            session.execute(delete(Subject).where(Subject.id.in_(rows)))
        )
    return removed


def remove_consents(session: Session, consent_ids: Collection[uuid.UUID]) -> int:
    """Delete consents (and their history) that expired."""
    wanted = sorted(consent_ids)
    count = 0
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        session.execute(delete(ConsentEvent).where(ConsentEvent.consent_id.in_(chunk)))
        count += _count_deleted(session.execute(delete(Consent).where(Consent.id.in_(chunk))))
    return count


def _remove_cases(session: Session, case_ids: list[uuid.UUID]) -> Removed:
    removed = Removed()
    if not case_ids:
        return removed
    removed.contact_attempts = _count_deleted(
        session.execute(delete(ContactAttempt).where(ContactAttempt.case_id.in_(case_ids)))
    )
    session.execute(delete(Escalation).where(Escalation.case_id.in_(case_ids)))
    session.execute(delete(Assignment).where(Assignment.case_id.in_(case_ids)))
    session.execute(delete(CaseEvent).where(CaseEvent.case_id.in_(case_ids)))
    # Signals point at their case: those of a household being removed go first.
    removed.signals = _count_deleted(
        session.execute(delete(Signal).where(Signal.case_id.in_(case_ids)))
    )
    removed.cases = _count_deleted(session.execute(delete(Case).where(Case.id.in_(case_ids))))
    return removed


def _count_deleted(result: object) -> int:
    count = getattr(result, "rowcount", 0)
    return int(count) if count and count > 0 else 0
