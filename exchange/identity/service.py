"""Finding, creating and linking subjects: one person, known by every identifier given.

A signal names a person by BSN when the creditor holds it, and otherwise by initials, surname
and birth date. Each identifier has its own keyed pseudonym and its own subject row; rows
that belong to one person share a ``person_id``. The rules, also in DESIGN.md ("One person,
every identifier"):

1. A BSN is one person. Two different BSNs are never linked.
2. A name and birth date that comes in one signal (or one rights request) with a BSN is
   linked to that BSN's person, with every identifier already linked to either.
3. A name and birth date already linked to one BSN that comes with a second BSN is
   *ambiguous*: it leaves the first person, links to neither, and stays apart for good.
   Its own records (signals that came by that name alone) stay with it; a request by that
   name alone is answered with what the name alone holds, and says that it is ambiguous.
   What comes by that name alone is weighed against the objections and restrictions of
   every BSN person it may be (deny rather than guess); their consents do not count for it.
4. Nothing is ever unlinked otherwise: a link is only made from what one provider or the
   person said in one message.

Every link and every ambiguity is written to the audit log by the caller, pseudonyms only
(``subject.linked``, ``subject.ambiguous``), in the transaction that made it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from exchange.db import CHUNK, insert_ignoring_conflicts, new_id, one_of
from exchange.identity.models import Subject
from exchange.identity.pseudonyms import Identifiers, identifiers
from exchange.identity.schemas import Person
from exchange.identity.terms import BSN, KINDS, NAME
from exchange.vault.keyring import Keyring

# Built once (see exchange.db on hot paths): every intake transaction runs them.
_SUBJECT_IDS = select(Subject.pseudonym, Subject.id).where(one_of(Subject.pseudonym, "pseudonyms"))
_ROWS = select(
    Subject.id, Subject.pseudonym, Subject.person_id, Subject.kind, Subject.ambiguous
).where(one_of(Subject.pseudonym, "pseudonyms"))
_ROWS_LOCKED = _ROWS.with_for_update()
_BSNS_OF = select(Subject.person_id, Subject.pseudonym).where(
    one_of(Subject.person_id, "people"), Subject.kind == BSN
)
_MEMBERS = select(Subject.id, Subject.pseudonym, Subject.person_id).where(
    one_of(Subject.person_id, "people")
)


@dataclass(frozen=True, slots=True)
class Link:
    """A link made (``subject.linked``) or refused (``subject.ambiguous``) between a BSN's
    pseudonym and a name's: what the audit log records of it."""

    action: str
    bsn: str
    name: str


@dataclass(frozen=True, slots=True)
class _Row:
    id: uuid.UUID
    pseudonym: str
    person_id: uuid.UUID
    kind: str | None
    ambiguous: bool


def ensure_subjects(
    session: Session,
    keyring: Keyring,
    kinds: Mapping[str, str],
    now: dt.datetime,
    together: Iterable[tuple[str, str]] = (),
) -> dict[str, uuid.UUID]:
    """The subject id of each pseudonym (``{pseudonym: kind}``), creating the ones not yet
    known.

    ``together``: (BSN, name) pairs that came in one message. A new row of a pair joins its
    partner's person right away when that needs no rule weighed (both new, or a new name
    with a BSN); any other pair is for :func:`link`. A row on its own is a person of its own.
    """
    wanted = sorted(kinds)
    existing = _rows(session, set(wanted))
    person_of = {p: r.person_id for p, r in existing.items()}
    for bsn, name in sorted(set(together)):
        if bsn in person_of and name in person_of:
            continue
        if bsn not in person_of:
            if name in person_of:
                continue  # a known name meets a new BSN: the rules decide (``link``)
            person_of[bsn] = new_id()
        person_of.setdefault(name, person_of[bsn])
    rows = []
    for pseudonym in wanted:
        if pseudonym in existing:
            continue
        subject_id = new_id()
        rows.append(
            {
                "id": subject_id,
                "pseudonym": pseudonym,
                "pseudonym_key_id": keyring.pseudonym.active_id,
                "created_at": now,
                "person_id": person_of.get(pseudonym, subject_id),
                "kind": kinds[pseudonym],
                "ambiguous": False,
            }
        )
    if rows:
        insert_ignoring_conflicts(session, Subject, rows, ["pseudonym"])
    found = {p: r.id for p, r in existing.items()}
    missing = [p for p in wanted if p not in found]
    connection = session.connection()
    for start in range(0, len(missing), CHUNK):
        found.update(
            connection.execute(_SUBJECT_IDS, {"pseudonyms": missing[start : start + CHUNK]}).all()
        )
    return found


def joinable(session: Session, pairs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """Of these (BSN pseudonym, name pseudonym) pairs, the ones whose name is another person
    yet and would be linked to the BSN's by :func:`link` (rule 2): read only, for weighing
    what was recorded under the name before the signal is stored."""
    wanted = list(pairs)
    rows = _rows(session, {p for pair in wanted for p in pair})
    bsns = _bsns_of(session, {r.person_id for r in rows.values()})
    found = set()
    for bsn, name in wanted:
        named, by_bsn = rows.get(name), rows.get(bsn)
        if named is None or (by_bsn is not None and by_bsn.person_id == named.person_id):
            continue  # nothing recorded under the name yet, or already the BSN's person
        if _refused(by_bsn, named, bsns) is None:
            found.add((bsn, name))
    return found


def link(session: Session, pairs: Iterable[tuple[str, str]]) -> list[Link]:
    """Link each (BSN pseudonym, name pseudonym) that came together, by the rules above.

    Both rows exist (:func:`ensure_subjects`). The rows are locked until commit, so that two
    replicas linking the same person do so one after the other (PostgreSQL); a pair already
    of one person (most of them) costs no write.
    """
    wanted = sorted(set(pairs))
    if not wanted:
        return []
    rows = _rows(session, {p for pair in wanted for p in pair}, lock=True)
    for pseudonym, kind in sorted({(b, BSN) for b, _ in wanted} | {(n, NAME) for _, n in wanted}):
        row = rows[pseudonym]
        if row.kind not in KINDS:
            # A row from before kinds were kept (with no signal for ``exchange init`` to read
            # it from) learns its kind here, before the rules count BSNs.
            _set(session, row.id, kind=kind)
            rows[pseudonym] = _Row(row.id, row.pseudonym, row.person_id, kind, row.ambiguous)
    bsns = _bsns_of(session, {r.person_id for r in rows.values()})
    links: list[Link] = []
    for bsn, name in wanted:
        by_bsn, named = rows[bsn], rows[name]
        if by_bsn.person_id == named.person_id:
            continue
        if named.ambiguous:
            _may_be(session, named.id, [by_bsn.id])
            continue
        if _refused(by_bsn, named, bsns) is not None:
            apart = new_id()
            earlier = session.scalars(
                select(Subject.id).where(Subject.person_id == named.person_id, Subject.kind == BSN)
            ).all()
            _set(session, named.id, ambiguous=True, person_id=apart)
            _may_be(session, named.id, [*earlier, by_bsn.id])
            rows[name] = _Row(named.id, name, apart, named.kind, True)
            links.append(Link("subject.ambiguous", bsn, name))
            continue
        # The name's person, with every identifier linked to it, joins the BSN's person.
        session.execute(
            update(Subject)
            .where(Subject.person_id == named.person_id)
            .values(person_id=by_bsn.person_id)
            .execution_options(synchronize_session=False)
        )
        bsns.setdefault(by_bsn.person_id, set()).update(bsns.pop(named.person_id, set()))
        for pseudonym, row in list(rows.items()):
            if row.person_id == named.person_id:
                rows[pseudonym] = _Row(row.id, pseudonym, by_bsn.person_id, row.kind, row.ambiguous)
        links.append(Link("subject.linked", bsn, name))
    return links


def _may_be(session: Session, name_id: uuid.UUID, bsn_ids: Iterable[uuid.UUID]) -> None:
    """Add BSN rows to the people an ambiguous name may be (rule 3): their wishes count for
    what comes by the name alone."""
    known = session.scalar(select(Subject.ambiguous_with).where(Subject.id == name_id)) or []
    wanted = sorted({*known, *(str(i) for i in bsn_ids)})
    if wanted != sorted(known):
        _set(session, name_id, ambiguous_with=wanted)


def _set(session: Session, subject_id: uuid.UUID, **values: object) -> None:
    session.execute(
        update(Subject)
        .where(Subject.id == subject_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def _refused(by_bsn: _Row | None, named: _Row, bsns: Mapping[uuid.UUID, set[str]]) -> str | None:
    """Why the name may not join the BSN's person, or None when it may."""
    if named.ambiguous:
        return "ambiguous"
    if by_bsn is not None and by_bsn.person_id == named.person_id:
        return None
    others = bsns.get(named.person_id, set()) - ({by_bsn.pseudonym} if by_bsn else set())
    return "ambiguous" if others else None


def _rows(session: Session, pseudonyms: set[str], *, lock: bool = False) -> dict[str, _Row]:
    wanted = sorted(pseudonyms)
    found: dict[str, _Row] = {}
    # Core rows on the session's connection: the ORM's result machinery is not needed for
    # plain columns and cost more than the query on a batch of 10,000.
    connection = session.connection()
    query = _ROWS_LOCKED if lock else _ROWS
    for start in range(0, len(wanted), CHUNK):
        for row in connection.execute(query, {"pseudonyms": wanted[start : start + CHUNK]}):
            found[row.pseudonym] = _Row(*row)
    return found


def _bsns_of(session: Session, people: set[uuid.UUID]) -> dict[uuid.UUID, set[str]]:
    wanted = sorted(people)
    found: dict[uuid.UUID, set[str]] = {}
    connection = session.connection()
    for start in range(0, len(wanted), CHUNK):
        for person_id, pseudonym in connection.execute(
            _BSNS_OF, {"people": wanted[start : start + CHUNK]}
        ):
            found.setdefault(person_id, set()).add(pseudonym)
    return found


@dataclass(frozen=True)
class Identified:
    """Whom a request names, and every subject row of theirs.

    ``given``: the pseudonyms of the identifiers in the request, every key stage.
    ``pseudonyms``: those and the current pseudonym of every linked row, which is what the
    audit log's entries about the person hold (older stages of the linked identifiers are
    added by ``exchange.rights.report.log_pseudonyms``, which may open their signals).
    ``ambiguous``: a name given is shared by more than one BSN (rule 3); what it reaches is
    only what came by that name alone.
    """

    given: Identifiers
    subject_ids: frozenset[uuid.UUID]
    pseudonyms: tuple[str, ...]
    ambiguous: bool

    @property
    def primary(self) -> str:
        """The pseudonym a rights request is recorded under: the BSN's when given."""
        return self.given.primary

    @property
    def searched(self) -> tuple[str, ...]:
        """Which identifiers the request gave (``bsn``, ``name``), for the answer to say."""
        return self.given.kinds


def identify(session: Session, keyring: Keyring, person: Person) -> Identified:
    """Every subject row of the person the request names, by any identifier it gives; finds
    nothing new and changes nothing."""
    given = identifiers(keyring.pseudonym_keys, person)
    rows = _rows(session, set(given.every_stage))
    ambiguous = any(r.ambiguous for p, r in rows.items() if p in given.name)
    members = _members(session, {r.person_id for r in rows.values()})
    pseudonyms = dict.fromkeys(given.every_stage)
    pseudonyms.update(dict.fromkeys(sorted(members.values())))
    return Identified(given, frozenset(members), tuple(pseudonyms), ambiguous)


def attach(
    session: Session, keyring: Keyring, person: Person, now: dt.datetime
) -> tuple[uuid.UUID, list[Link]]:
    """The subject row a new record about the person goes on (an objection, a restriction,
    a consent), creating it when the person is not yet known; a BSN and a name given
    together are linked as a signal would link them."""
    given = identifiers(keyring.pseudonym_keys, person)
    ids = ensure_subjects(session, keyring, given.current, now)
    links = link(session, [given.pair]) if given.pair else []
    return ids[given.primary], links


def adopt_names(
    session: Session,
    keyring: Keyring,
    corrected: Iterable[tuple[uuid.UUID, Mapping[str, Any]]],
    now: dt.datetime,
) -> list[Link]:
    """A person's corrected name and birth date (a rectification) become identifiers of
    theirs: ``corrected`` holds (subject row of a signal, its corrected sealed person).

    With a BSN in the signal the rules above decide, as for a signal that brings both. A
    name without one joins the signal's person only when nobody is known by it yet: an
    existing name row may be someone else's, and a guess never links two people.
    """
    links: list[Link] = []
    for subject_id, person in corrected:
        given = identifiers(keyring.pseudonym_keys, person)
        if not given.name:
            continue
        if given.pair:
            ensure_subjects(session, keyring, given.current, now, together=[given.pair])
            links.extend(link(session, [given.pair]))
            continue
        name = given.name[-1]
        if _rows(session, {name}):
            continue
        person_id = session.scalar(select(Subject.person_id).where(Subject.id == subject_id))
        ids = ensure_subjects(session, keyring, {name: NAME}, now)
        _set(session, ids[name], person_id=person_id)
    return links


def person_rows(session: Session, subject_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Every row (id: pseudonym) of the people these rows belong to."""
    wanted = sorted(set(subject_ids))
    people: set[uuid.UUID] = set()
    for start in range(0, len(wanted), CHUNK):
        people.update(
            session.scalars(
                select(Subject.person_id).where(Subject.id.in_(wanted[start : start + CHUNK]))
            )
        )
    return _members(session, people)


def _members(session: Session, people: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    wanted = sorted(people)
    found: dict[uuid.UUID, str] = {}
    for start in range(0, len(wanted), CHUNK):
        for subject_id, pseudonym, _ in session.execute(
            _MEMBERS, {"people": wanted[start : start + CHUNK]}
        ):
            found[subject_id] = pseudonym
    return found
