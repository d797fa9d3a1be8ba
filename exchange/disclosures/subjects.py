"""What the register weighs about each person: consents, objections and restrictions.

Read in bulk, in the transaction of the decision, so that a withdrawal, an objection or a
restriction recorded a moment ago counts for the very next disclosure. Keyed by the
person's broker pseudonym: intake decides before a new person's subject row exists.

A wish recorded under any identifier of the person counts for all of them: a pseudonym
reads the records of every subject row linked to its own (``exchange.identity.service``).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session, aliased

from exchange.consents.models import Consent, ConsentEvent, Objection, Restriction
from exchange.consents.terms import ConsentStatus
from exchange.db import CHUNK, one_of
from exchange.identity.models import Subject
from policies import engine

# Built once: the objections and restrictions run in every intake transaction (see
# exchange.db on hot paths). ``Subject`` is the row asked about, ``_Linked`` every row of the
# same person, its own included; the records hang on those.
_Linked = aliased(Subject)
_OBJECTIONS_OF = (
    select(Subject.pseudonym, Objection.purposes, Objection.made_on)
    .join(_Linked, _Linked.person_id == Subject.person_id)
    .join(Objection, Objection.subject_id == _Linked.id)
    .where(one_of(Subject.pseudonym, "pseudonyms"))
)
_RESTRICTED_AMONG = (
    select(Subject.pseudonym)
    .join(_Linked, _Linked.person_id == Subject.person_id)
    .join(Restriction, Restriction.subject_id == _Linked.id)
    .where(
        one_of(Subject.pseudonym, "pseudonyms"),
        Restriction.lifted_at.is_(None),
    )
)
_AMBIGUOUS_AMONG = select(Subject.pseudonym, Subject.ambiguous_with).where(
    one_of(Subject.pseudonym, "pseudonyms"), Subject.ambiguous.is_(True)
)
_CONSENTS_OF = (
    select(
        Subject.pseudonym,
        Consent.id,
        Consent.purposes,
        Consent.recipients,
        Consent.valid_from,
        Consent.valid_until,
        Consent.status,
    )
    .join(_Linked, _Linked.person_id == Subject.person_id)
    .join(Consent, Consent.subject_id == _Linked.id)
    .where(one_of(Subject.pseudonym, "pseudonyms"))
    .order_by(Consent.created_at, Consent.id)
)
_WITHDRAWN_ON = (
    select(ConsentEvent.consent_id, func.max(ConsentEvent.effective_on))
    .where(
        one_of(ConsentEvent.consent_id, "consents"),
        ConsentEvent.event == ConsentStatus.WITHDRAWN.value,
    )
    .group_by(ConsentEvent.consent_id)
)


def subject_states(
    session: Session, pseudonyms: Iterable[str], *, with_consents: bool
) -> dict[str, engine.SubjectState]:
    """The state of each person, by broker pseudonym; a person without any is left out
    (``engine.SubjectState()`` is the state of nobody having decided anything).

    Consents are read only when ``with_consents``: only a consent-based rule weighs them,
    and routing a signal, the busiest decision, has none.
    """
    wanted = sorted(set(pseudonyms))
    if not wanted:
        return {}
    objections = _objections(session, wanted)
    restricted = set(_restricted(session, wanted))
    _weigh_candidates(session, wanted, objections, restricted)
    consents = _consents(session, wanted) if with_consents else {}
    return {
        pseudonym: engine.SubjectState(
            consents=consents.get(pseudonym, ()),
            objections=objections.get(pseudonym, ()),
            restricted=pseudonym in restricted,
        )
        for pseudonym in wanted
        if pseudonym in objections or pseudonym in restricted or pseudonym in consents
    }


def _weigh_candidates(
    session: Session,
    wanted: list[str],
    objections: dict[str, tuple[engine.Objection, ...]],
    restricted: set[str],
) -> None:
    """An ambiguous name weighs the objections and restrictions of every BSN person it may
    be (``exchange.identity.service``, rule 3): a wish to stop is never lost to a guess.
    Their consents do not count for it: a consent must be the person's own."""
    connection = session.connection()
    candidates: dict[str, set[str]] = defaultdict(set)
    for start in range(0, len(wanted), CHUNK):
        chunk = {"pseudonyms": wanted[start : start + CHUNK]}
        for pseudonym, ids in connection.execute(_AMBIGUOUS_AMONG, chunk):
            for row_id in ids or ():
                candidates[pseudonym].add(row_id)
    if not candidates:
        return
    row_ids = sorted({uuid.UUID(i) for found in candidates.values() for i in found})
    pseudonym_of = dict(
        session.execute(select(Subject.id, Subject.pseudonym).where(Subject.id.in_(row_ids))).all()
    )
    theirs = sorted(set(pseudonym_of.values()))
    their_objections = _objections(session, theirs)
    their_restricted = _restricted(session, theirs)
    for name, found in candidates.items():
        for row_id in found:
            bsn = pseudonym_of.get(uuid.UUID(row_id))
            if bsn is None:
                continue  # erased since
            if bsn in their_objections:
                objections[name] = objections.get(name, ()) + their_objections[bsn]
            if bsn in their_restricted:
                restricted.add(name)


def _objections(session: Session, wanted: list[str]) -> dict[str, tuple[engine.Objection, ...]]:
    found: dict[str, list[engine.Objection]] = defaultdict(list)
    connection = session.connection()
    for start in range(0, len(wanted), CHUNK):
        rows = connection.execute(_OBJECTIONS_OF, {"pseudonyms": wanted[start : start + CHUNK]})
        for pseudonym, purposes, made_on in rows:
            found[pseudonym].extend(engine.Objection(p, made_on) for p in purposes)
    return {pseudonym: tuple(items) for pseudonym, items in found.items()}


def _restricted(session: Session, wanted: list[str]) -> frozenset[str]:
    found: set[str] = set()
    connection = session.connection()
    for start in range(0, len(wanted), CHUNK):
        chunk = {"pseudonyms": wanted[start : start + CHUNK]}
        found.update(connection.execute(_RESTRICTED_AMONG, chunk).scalars())
    return frozenset(found)


def _consents(session: Session, wanted: list[str]) -> dict[str, tuple[engine.Consent, ...]]:
    connection = session.connection()
    rows: list[Row[Any]] = []
    for start in range(0, len(wanted), CHUNK):
        rows.extend(connection.execute(_CONSENTS_OF, {"pseudonyms": wanted[start : start + CHUNK]}))
    withdrawn = [row.id for row in rows if row.status == ConsentStatus.WITHDRAWN.value]
    withdrawn_on = {}
    for start in range(0, len(withdrawn), CHUNK):
        chunk = {"consents": withdrawn[start : start + CHUNK]}
        withdrawn_on.update({row[0]: row[1] for row in connection.execute(_WITHDRAWN_ON, chunk)})
    found: dict[str, list[engine.Consent]] = defaultdict(list)
    for row in rows:
        found[row.pseudonym].extend(
            engine.Consent(
                purpose=purpose,
                recipient_org=recipient,
                given_on=row.valid_from,
                valid_until=row.valid_until,
                withdrawn_on=withdrawn_on.get(row.id),
            )
            for purpose in row.purposes
            for recipient in row.recipients
        )
    return {pseudonym: tuple(items) for pseudonym, items in found.items()}
