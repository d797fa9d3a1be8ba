"""Linking the identifiers of people signalled before identifiers were linked.

A signal from before this had one subject row, by BSN when it had one, else by name and
birth date, and its kind was not kept. ``link_stored`` reads each such signal's sealed
person once (opened here, never shown or logged), gives the row its kind, and links the
BSN and the name it carried by the rules of ``exchange.identity.service``, as intake does
for a new signal. Run by ``exchange init`` after the migrations; a second run finds nothing
left to do.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from exchange.auditlog.links import link_records
from exchange.auditlog.service import AuditTrail
from exchange.identity.models import Subject
from exchange.identity.pseudonyms import identifiers
from exchange.identity.sealed import household_keys, open_identity
from exchange.identity.service import ensure_subjects, link
from exchange.identity.terms import UNKNOWN
from exchange.signals.models import Signal
from exchange.vault.keyring import Keyring

BATCH = 1000


def link_stored(
    session: Session, keyring: Keyring, audit: AuditTrail, now: dt.datetime, *, limit: int = BATCH
) -> int:
    """Give up to ``limit`` more rows without a kind their kind and links; the number done.
    Call until it returns 0 (each call is one transaction's worth)."""
    rows = session.execute(
        select(Subject.id, Subject.pseudonym)
        .where(Subject.kind.is_(None))
        .order_by(Subject.id)
        .limit(limit)
    ).all()
    if not rows:
        return 0
    pseudonym_of = dict(rows)
    signals = session.execute(
        select(Signal.id, Signal.household_id, Signal.sealed_identity).where(
            Signal.subject_id.in_(list(pseudonym_of))
        )
    ).all()
    keys = household_keys(session, keyring, {s.household_id for s in signals})
    kinds: dict[str, str] = {}
    pairs: set[tuple[str, str]] = set()
    for signal_id, household_id, sealed in signals:
        person = open_identity(keys[household_id], signal_id, sealed).get("person") or {}
        carried = identifiers(keyring.pseudonym_keys, person)
        kinds.update(carried.current)
        if carried.pair:
            pairs.add(carried.pair)
    ensure_subjects(session, keyring, kinds, now, together=pairs)
    for subject_id, pseudonym in rows:
        # A row no signal tells the kind of (an objection made before any signal): a BSN
        # row learns it when a signal or a request links it (``link``); until then it is
        # counted as neither, which never merges two BSNs (it is never the name of a pair).
        kind = kinds.get(pseudonym)
        session.execute(
            update(Subject)
            .where(Subject.id == subject_id)
            .values(kind=kind or UNKNOWN)
            .execution_options(synchronize_session=False)
        )
    linked = link_records(link(session, pairs), "exchange-cli")
    if linked:
        audit.append(session, linked, now)
    return len(rows)
