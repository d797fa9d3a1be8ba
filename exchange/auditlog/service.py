"""Appending to the audit log, signing checkpoints, serving proofs and exports.

Every disclosure decision, consent event, policy activation and administrative action is
appended here inside the transaction of the action itself: if the append fails, the action
rolls back with it (fail closed). The entries are built and canonicalised before the head
row is locked, so the lock covers only numbering, hashing and the inserts.

The head row is one lock that every writing transaction takes, so it is taken last: an
append is *staged* on the session and written when the transaction commits, after the
transaction's other writes (:func:`_write_staged`). A transaction holding the head then
waits for no other lock, and two transactions cannot wait on each other through it: a
deadlock on the head is impossible by construction, whatever order the services write in
(``tests/test_audit_lock_order.py`` holds every test's transactions to it). A savepoint
rolled back takes its staged records with it.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import itertools
import operator
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from sqlalchemy import and_, bindparam, event, or_, select, update
from sqlalchemy.orm import Session, SessionTransaction

from audit.entry import SCHEMA_VERSION, canonical_bytes
from audit.export import checkpoint_line
from audit.merkle import (
    EMPTY_ROOT,
    Frontier,
    consistency_nodes,
    consistency_proof,
    inclusion_nodes,
    inclusion_proof,
    leaf_hash,
    root_from_nodes,
    root_nodes,
)
from audit.note import KEY_ROTATION, Checkpoint, NoteSigner, add_signature
from exchange.auditlog.models import AuditCheckpoint, AuditEntry, AuditHead, AuditNode, subject_key
from exchange.db import TupleInsert
from exchange.errors import FieldError, InvalidInput
from exchange.tracing import current_trace

HEAD_ID = 1
_ENTRY_COLUMNS = (
    "leaf_index",
    "entry",
    "leaf_hash",
    "recorded_at",
    "action",
    "purpose",
    "decision",
    "actor_org_id",
    "recipient_org_id",
    "subject",
    "subject_key",
)
_NODE_COLUMNS = ("level", "index", "hash")
# The PostgreSQL types of those columns, in that order, for binary COPY (see _copy).
_ENTRY_PG_TYPES = (
    "int8",
    "bytea",
    "bytea",
    "timestamptz",
    "varchar",
    "varchar",
    "varchar",
    "uuid",
    "uuid",
    "varchar",
    "int8",
)
_NODE_PG_TYPES = ("int4", "int8", "bytea")


def _as_given(value: Any) -> Any:
    return value


def _as_organisation(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


def _in_order(value: Sequence[str]) -> list[str]:
    return list(value)


def _as_set(value: Sequence[str]) -> list[str]:
    return sorted(value)


def _as_object(value: Mapping[str, str]) -> dict[str, str]:
    return dict(value)


_PLACE = "audit_entry"


def _in_entry(*path: str, form: Callable[[Any], Any] = _as_given) -> dict[str, Any]:
    """A record field's metadata: the member of the entry it goes to (a path of names, for
    a member of a nested object) and how its value is written there."""
    return {_PLACE: (path, form)}


@dataclass(frozen=True)
class AuditRecord:
    """What happened, to whom, under which rule: never a name, BSN, address or amount.

    Each field says where it goes in the log entry (``_in_entry``): the entry is built from
    these definitions, and so is the fast path that encodes it (``_entry_parts``). A field
    added here without a place in the entry makes every append refuse to run.
    """

    action: str = field(metadata=_in_entry("action"))
    decision: str = field(metadata=_in_entry("decision"))  # permit | deny | recorded
    actor_org: uuid.UUID | None = field(
        metadata=_in_entry("actor", "organisation", form=_as_organisation)
    )
    actor_client: str | None = field(default=None, metadata=_in_entry("actor", "client"))
    purpose: str | None = field(default=None, metadata=_in_entry("purpose"))
    legal_basis: tuple[str, ...] = field(
        default=(), metadata=_in_entry("legal_basis", form=_in_order)
    )
    policy_version: str | None = field(default=None, metadata=_in_entry("policy_version"))
    rule_id: str | None = field(default=None, metadata=_in_entry("rule_id"))
    fields: tuple[str, ...] = field(default=(), metadata=_in_entry("fields", form=_as_set))
    categories: tuple[str, ...] = field(default=(), metadata=_in_entry("categories", form=_as_set))
    recipient_org: uuid.UUID | None = field(
        default=None, metadata=_in_entry("recipient", form=_as_organisation)
    )
    subject: str | None = field(default=None, metadata=_in_entry("subject"))
    resources: Mapping[str, str] = field(
        default_factory=dict, metadata=_in_entry("resources", form=_as_object)
    )


class AuditSink(Protocol):
    """Where a service appends its audit records (the trail; a test's recorder)."""

    def append(
        self, session: Session, records: Sequence[AuditRecord], now: dt.datetime
    ) -> None: ...


# The head row is read and moved with plain statements, built once, never as an ORM object:
# an object in the session's identity map would keep the values it was first loaded with
# (another transaction's append, even another replica's, would not show), and flushing its
# change went through the unit of work, a sixth of a single-signal intake transaction.
_HEAD = select(AuditHead.tree_size, AuditHead.frontier).where(AuditHead.id == HEAD_ID)
_HEAD_FOR_UPDATE = _HEAD.with_for_update()
_MOVE_HEAD = (
    update(AuditHead)
    .where(AuditHead.id == HEAD_ID)
    .values(
        tree_size=bindparam("new_size"),
        frontier=bindparam("new_frontier", type_=AuditHead.__table__.c.frontier.type),
        updated_at=bindparam("moved_at", type_=AuditHead.__table__.c.updated_at.type),
    )
)


class AuditTrail:
    """The broker's view of its log: appends, checkpoints and proofs on one database."""

    def __init__(
        self, origin: str, signer: NoteSigner, key_id: str, checkpoint_every: int = 1024
    ) -> None:
        self.origin = origin
        self.signer = signer
        self.key_id = key_id
        # A checkpoint is signed in the appending transaction whenever the log crosses a
        # multiple of this size. An export carries them all, so an auditor's verifier can
        # say which stretch of at most this many entries was altered, not just that one was.
        self.checkpoint_every = checkpoint_every

    # Appending ---------------------------------------------------------------------------

    def append(self, session: Session, records: Sequence[AuditRecord], now: dt.datetime) -> None:
        """Append entries in this transaction: staged, and written when it commits, as its
        last write (the module's docstring says why)."""
        if records:
            _staged(session).add(self, records, now)

    def settle(self, session: Session) -> None:
        """Write what this transaction has staged now, for a caller that reads the log back
        before it commits (a backup's checkpoint). From here on the transaction holds the
        head: it may only read, or write the log."""
        _write_staged(session)

    def write(
        self, session: Session, records: Sequence[AuditRecord], now: dt.datetime
    ) -> list[int]:
        """Number, hash and insert entries now, under the head row's lock; returns their
        leaf indexes. The transaction holds the head from here on: services stage with
        :meth:`append` instead."""
        return self.write_runs(session, [(records, now)])

    def write_runs(
        self, session: Session, runs: Sequence[tuple[Sequence[AuditRecord], dt.datetime]]
    ) -> list[int]:
        """:meth:`write` for several appends of one transaction, each with its timestamp:
        one lock of the head, one insert per table (a coalesced intake transaction stages
        one append per provider)."""
        runs = [(records, now) for records, now in runs if records]
        if not runs:
            return []
        trace_id, span_id = current_trace()
        records = [record for appended, _ in runs for record in appended]
        parts: list[tuple[bytes, bytes]] = []
        for appended, now in runs:
            timestamp = now.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
            parts += _entry_parts(appended, timestamp, trace_id, span_id)
        connection = session.connection()
        frontier = _frontier(connection.execute(_HEAD_FOR_UPDATE).one().frontier)
        first = frontier.size
        # Rows go to the driver as tuples of values already converted by the columns' own
        # types (TupleInsert): SQLAlchemy's per-row parameter handling was most of an append.
        # On PostgreSQL the same tuples go by COPY (_copy).
        entries = TupleInsert(session, AuditEntry, _ENTRY_COLUMNS, _ENTRY_PG_TYPES)
        nodes = TupleInsert(session, AuditNode, _NODE_COLUMNS, _NODE_PG_TYPES)
        # Every entry of the append has the same timestamp and one of a few organisations:
        # each converted once rather than once per row. Actor and recipient are both
        # organisation ids, of one column type. Hashes and entry bytes go as bytes, not
        # through LargeBinary's converter: sqlite3 binds bytes as a BLOB itself (the
        # converter only wraps them in a memoryview, two objects per entry for nothing), and
        # on PostgreSQL they go by COPY, which takes bytes for bytea.
        as_recorded_at = entries.converter("recorded_at")
        recorded = [as_recorded_at(now) for _, now in runs]
        # The run each record is in, by position: where its timestamp changes.
        ends = list(itertools.accumulate(len(appended) for appended, _ in runs))
        organisation = _Memo(entries.converter("actor_org_id"))
        # The same subject often has several entries in one append (one per decision).
        key_of = _Memo(subject_key)
        entry_rows: list[tuple[Any, ...]] = []
        node_rows: list[tuple[int, int, bytes]] = []
        add_entry, add_node = entry_rows.append, node_rows.append
        append_leaf = frontier.append
        index = first
        join = b"".join
        current, recorded_at = 0, recorded[0]
        for position, ((before, after), record) in enumerate(zip(parts, records, strict=True)):
            if position == ends[current]:
                current += 1
                recorded_at = recorded[current]
            data = join((before, b"%d" % index, after))
            leaf = leaf_hash(data)
            # append returns the leaf itself first (level 0, kept in the entry row), then
            # the subtrees this leaf completes: none for every other leaf.
            completed = append_leaf(leaf)
            if len(completed) > 1:
                for node in completed[1:]:
                    add_node(node)
            add_entry(
                (
                    index,
                    data,
                    leaf,
                    recorded_at,
                    record.action,
                    record.purpose,
                    record.decision,
                    organisation(record.actor_org),
                    organisation(record.recipient_org),
                    record.subject,
                    key_of(record.subject),
                )
            )
            index += 1
        entries.execute(entry_rows)
        nodes.execute(node_rows)
        now = runs[-1][1]
        connection.execute(
            _MOVE_HEAD,
            {"new_size": frontier.size, "new_frontier": frontier.to_json(), "moved_at": now},
        )
        if first // self.checkpoint_every != frontier.size // self.checkpoint_every:
            self._sign(session, frontier.size, frontier.root(), now)
        session.flush()
        return list(range(first, frontier.size))

    # Checkpoints -------------------------------------------------------------------------

    def tree_size(self, session: Session) -> int:
        _write_staged(session)  # what this transaction appended, first
        size = session.scalar(select(AuditHead.tree_size).where(AuditHead.id == HEAD_ID))
        return int(size or 0)

    def latest_checkpoint(self, session: Session) -> AuditCheckpoint | None:
        """The largest checkpoint signed so far, by any key, without signing a new one (the
        privacy officer's page of the log's state only reads)."""
        _write_staged(session)  # what this transaction appended, first
        return session.scalars(
            select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size.desc()).limit(1)
        ).first()

    def checkpoint(self, session: Session, now: dt.datetime) -> AuditCheckpoint:
        """The newest checkpoint, signing a new one when the log has grown since."""
        _write_staged(session)  # what this transaction appended, first
        head = session.connection().execute(_HEAD).one()
        latest = session.scalars(
            select(AuditCheckpoint)
            .where(AuditCheckpoint.key_id == self.key_id)
            .order_by(AuditCheckpoint.tree_size.desc(), AuditCheckpoint.created_at.desc())
            .limit(1)
        ).first()
        if latest is not None and latest.tree_size == head.tree_size:
            return latest
        return self._sign(session, head.tree_size, _frontier(head.frontier).root(), now)

    def _sign(self, session: Session, size: int, root: bytes, now: dt.datetime) -> AuditCheckpoint:
        note = self.signer.sign(Checkpoint(self.origin, size, root).body())
        checkpoint = AuditCheckpoint(
            tree_size=size, root=root, note=note, key_id=self.key_id, created_at=now
        )
        session.add(checkpoint)
        session.flush()
        return checkpoint

    def verifier_key(self) -> str:
        return self.signer.verifier_key()

    def announce_key(
        self, session: Session, new_signer: NoteSigner, new_key_id: str, now: dt.datetime
    ) -> AuditCheckpoint:
        """Sign, with this trail's (old) key, a checkpoint at the current size that names the
        new checkpoint key in a ``key-rotation <verifier key>`` extension line, and co-sign
        it with the new key.

        An auditor's verifier that trusts the old key learns the new one from a statement the
        old key signed; one that already has the new key verifies the same checkpoint by it.
        Stored under the new key id: the new key's checkpoints start here, and every export
        after the rotation carries the announcement.
        """
        frontier = _frontier(session.connection().execute(_HEAD_FOR_UPDATE).one().frontier)
        body = Checkpoint(
            self.origin,
            frontier.size,
            frontier.root(),
            (f"{KEY_ROTATION} {new_signer.verifier_key()}",),
        ).body()
        note = add_signature(self.signer.sign(body), new_signer)
        checkpoint = AuditCheckpoint(
            tree_size=frontier.size,
            root=frontier.root(),
            note=note,
            key_id=new_key_id,
            created_at=now,
        )
        session.add(checkpoint)
        session.flush()
        return checkpoint

    # Proofs ------------------------------------------------------------------------------

    def inclusion(self, session: Session, leaf_index: int, tree_size: int) -> dict[str, Any]:
        _write_staged(session)  # what this transaction appended, first
        self._check_sizes(session, ("tree_size", tree_size))
        if not 0 <= leaf_index < tree_size:
            raise InvalidInput(
                "the leaf is not in a tree of that size",
                [FieldError("leaf_index", f"must be from 0 to {tree_size - 1}")],
            )
        nodes = self._nodes(session, [*inclusion_nodes(leaf_index, tree_size), (0, leaf_index)])
        root = self._root(session, tree_size)
        return {
            "leaf_index": leaf_index,
            "tree_size": tree_size,
            "leaf_hash": _b64(nodes[(0, leaf_index)]),
            "root_hash": _b64(root),
            "proof": [_b64(h) for h in inclusion_proof(leaf_index, tree_size, nodes)],
        }

    def consistency(self, session: Session, first: int, second: int) -> dict[str, Any]:
        _write_staged(session)  # what this transaction appended, first
        self._check_sizes(session, ("first", first), ("second", second))
        if not 0 < first <= second:
            raise InvalidInput(
                "a consistency proof runs from a smaller non-empty tree to a larger one",
                [FieldError("first", f"must be from 1 to {second}")],
            )
        nodes = self._nodes(session, consistency_nodes(first, second))
        return {
            "first": first,
            "second": second,
            "first_root_hash": _b64(self._root(session, first)),
            "second_root_hash": _b64(self._root(session, second)),
            "proof": [_b64(h) for h in consistency_proof(first, second, nodes)],
        }

    def entries(
        self, session: Session, start: int, stop: int, chunk: int = 5_000
    ) -> Iterator[bytes]:
        """The exact leaf bytes of entries ``start`` to ``stop - 1``, in leaf order."""
        position = start
        while position < stop:
            upper = min(stop, position + chunk)
            for (data,) in session.execute(
                select(AuditEntry.entry)
                .where(AuditEntry.leaf_index >= position, AuditEntry.leaf_index < upper)
                .order_by(AuditEntry.leaf_index)
            ):
                yield bytes(data)
            position = upper

    def export_lines(self, session: Session, final: AuditCheckpoint) -> Iterator[bytes]:
        """JSON Lines up to a checkpoint: every entry in leaf order, the checkpoints signed
        along the way (each just after the entries it covers), and last ``final``."""
        _write_staged(session)  # what this transaction appended, first
        # Checkpoints of every key the log was signed with: across a key rotation the
        # export carries the announcement of the new key, signed by the old one.
        along: dict[int, list[str]] = {}
        for c in session.scalars(
            select(AuditCheckpoint)
            .where(
                AuditCheckpoint.tree_size <= final.tree_size,
                AuditCheckpoint.tree_size > 0,
                AuditCheckpoint.id != final.id,
            )
            .order_by(AuditCheckpoint.created_at, AuditCheckpoint.id)
        ):
            notes = along.setdefault(c.tree_size, [])
            if c.note not in notes and c.note != final.note:
                notes.append(c.note)
        for position, data in enumerate(self.entries(session, 0, final.tree_size)):
            for note in along.get(position, ()):
                yield checkpoint_line(note)
            yield data + b"\n"
        for note in along.get(final.tree_size, ()):
            yield checkpoint_line(note)
        yield checkpoint_line(final.note)

    def _root(self, session: Session, size: int) -> bytes:
        if size == 0:
            return EMPTY_ROOT
        return root_from_nodes(size, self._nodes(session, root_nodes(size)))

    def _nodes(
        self, session: Session, addresses: Sequence[tuple[int, int]]
    ) -> dict[tuple[int, int], bytes]:
        by_level: dict[int, list[int]] = {}
        for level, index in set(addresses):
            by_level.setdefault(level, []).append(index)
        found: dict[tuple[int, int], bytes] = {}
        leaves = by_level.pop(0, [])
        if leaves:
            rows = session.execute(
                select(AuditEntry.leaf_index, AuditEntry.leaf_hash).where(
                    AuditEntry.leaf_index.in_(leaves)
                )
            )
            found.update(((0, index), bytes(digest)) for index, digest in rows)
        if not by_level:
            return found
        # One statement, one primary-key lookup per level: SQLite does not use the key for
        # a row-value IN over (level, index), which made a proof a table scan.
        condition = or_(
            *(
                and_(AuditNode.level == level, AuditNode.index.in_(indexes))
                for level, indexes in by_level.items()
            )
        )
        nodes = session.execute(
            select(AuditNode.level, AuditNode.index, AuditNode.hash).where(condition)
        )
        found.update(((level, index), bytes(digest)) for level, index, digest in nodes)
        return found

    def _check_sizes(self, session: Session, *sizes: tuple[str, int]) -> None:
        size = self.tree_size(session)
        for name, value in sizes:
            if not 0 < value <= size:
                raise InvalidInput(
                    f"the log has {size} entries",
                    [FieldError(name, f"must be from 1 to {size}")],
                )


# Encoding entries ------------------------------------------------------------------------
#
# The reference for an entry's bytes is audit.entry.canonical_bytes of the entry _entry builds.
# The appends use _entry_parts, which gives the same bytes faster; tests/test_audit_perf_storage.py
# compares the two byte for byte over generated records.

_CONTEXT = ("schema_version", "leaf_index", "timestamp", "trace_id", "span_id")
"""Members of every entry that come from the append, not from the record."""
_PER_RECORD = ("subject", "resources")
"""The fields the fast path encodes for each record: they differ between the records of one
append (one per decision about a person, one per signal), where the other fields repeat."""


def _entry(
    record: AuditRecord, timestamp: str, trace_id: str, span_id: str, leaf_index: Any = 0
) -> dict[str, Any]:
    """The log entry of ``record``: the JSON object whose RFC 8785 bytes are the leaf."""
    entry: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "leaf_index": leaf_index,
        "timestamp": timestamp,
        "trace_id": trace_id,
        "span_id": span_id,
    }
    for place in _layout(type(record)).places:
        _put(entry, place.path, place.form(getattr(record, place.field)))
    return entry


def _entry_parts(
    records: Sequence[AuditRecord], timestamp: str, trace_id: str, span_id: str
) -> list[tuple[bytes, bytes]]:
    """The RFC 8785 bytes of each record's entry up to its leaf index and after it.

    The index is known only under the head row's lock; there it goes in between, in one join.

    The entries of one append differ mostly in their subject and resources: the rest (action,
    rule, fields, organisations, ...) repeats across records, and across appends. So the
    entry of each distinct rest (a *shape*: the values of every field but those two) is
    encoded once, by the reference encoder, with a marker in place of each value that varies
    (the leaf index, the append's timestamp and trace ids, the subject and the resources),
    and kept cut around the markers (:func:`_template`). A record's bytes are then that
    template with its own values encoded in between, by orjson: building and encoding the
    whole entry took about 6 µs per record, most of the Python work of an append; this takes
    under 1 µs.

    The splice is exact. Every marker's bytes occur once in the template (checked), and a
    JSON value encodes on its own as it does nested in RFC 8785, which sorts member names and
    adds no whitespace. orjson writes a string, ``null`` and an object of strings as RFC 8785
    does, except that it orders member names by code point, not by UTF-16 code units; those
    orders differ only for a name with a character beyond U+FFFF. So the fast path takes a
    record whose subject is a string or None and whose resources are a dict of strings, and
    the whole-entry path, through the reference encoder, every other: resources with such a
    name, a value of another type (a float, which the reference refuses, or a number beyond
    2**53), text with no UTF-8 form (which the reference refuses with the ValueError it
    always raised).
    """
    context = {
        "timestamp": _text(timestamp),
        "trace_id": _text(trace_id),
        "span_id": _text(span_id),
    }
    dumps, sort_keys, join = orjson.dumps, orjson.OPT_SORT_KEYS, b"".join
    folded_by_kind: dict[type[AuditRecord], dict[Any, tuple[bytes, ...] | None]] = {}
    kind: type[AuditRecord] | None = None
    encoded: list[tuple[bytes, bytes]] = []
    for record in records:
        if type(record) is not kind:  # the layout looked up once per run of one class
            kind = type(record)
            shape_of = _layout(kind).shape
            folded = folded_by_kind.setdefault(kind, {})
        try:
            shape = shape_of(record)
            try:
                parts = folded[shape]
            except KeyError:
                parts = folded[shape] = _fold(_template(kind, shape, record), context)
            subject, resources = record.subject, record.resources
            if (
                parts is not None
                and type(resources) is dict
                and (subject is None or isinstance(subject, str))
            ):
                for value in resources.values():
                    # A str subclass (a StrEnum) is written as its text, by both encoders.
                    if type(value) is not str and not isinstance(value, str):
                        break
                else:
                    objects = dumps(resources, option=sort_keys)
                    if objects.isascii() or not _orders_apart(resources):
                        before, head, middle, tail = parts
                        after = join((head, objects, middle, dumps(subject), tail))
                        encoded.append((before, after))
                        continue
        except (TypeError, ValueError):  # orjson.JSONEncodeError is a TypeError
            pass
        encoded.append(_whole(record, timestamp, trace_id, span_id))
    return encoded


@dataclass(frozen=True)
class _Place:
    """Where one field of a record goes in its entry, and in which form."""

    field: str
    path: tuple[str, ...]
    form: Callable[[Any], Any]


@dataclass(frozen=True)
class _Layout:
    """A record class's entry, read from its field definitions."""

    places: tuple[_Place, ...]
    shape: Callable[[AuditRecord], Any]
    """The values of every field but :data:`_PER_RECORD`: records of one shape share a
    template."""


def _layout(kind: type[AuditRecord]) -> _Layout:
    """The entry layout of a record class, read once; TypeError for a field without a place
    in the entry, two fields in one place, or a record whose subject or resources are not
    the top-level members the export format has them as."""
    try:
        return _LAYOUTS[kind]
    except KeyError:
        layout = _LAYOUTS[kind] = _read_layout(kind)
        return layout


def _read_layout(kind: type[AuditRecord]) -> _Layout:
    places = []
    for definition in dataclasses.fields(kind):
        try:
            path, form = definition.metadata[_PLACE]
        except KeyError:
            raise TypeError(
                f"{kind.__qualname__}.{definition.name} has no place in the audit entry: "
                "declare it with field(metadata=_in_entry(...))"
            ) from None
        places.append(_Place(definition.name, tuple(path), form))
    taken: list[tuple[str, ...]] = [(name,) for name in _CONTEXT]
    for place in places:
        if not place.path or any(_overlap(p, place.path) for p in taken):
            raise TypeError(
                f"{kind.__qualname__}.{place.field} goes to {'.'.join(place.path)!r}, "
                f"which another member of the entry takes"
            )
        taken.append(place.path)
    by_name = {place.field: place for place in places}
    for name in _PER_RECORD:
        if name not in by_name or by_name[name].path != (name,):
            raise TypeError(f"{kind.__qualname__} must have {name} as the entry's {name!r}")
    shape = operator.attrgetter(*(p.field for p in places if p.field not in _PER_RECORD))
    return _Layout(tuple(places), shape)


_LAYOUTS: dict[type[AuditRecord], _Layout] = {}


def _overlap(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Whether two members' paths collide: one is the other or holds it."""
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def _put(entry: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    target = entry
    for name in path[:-1]:
        target = target.setdefault(name, {})
    target[path[-1]] = value


# Markers for the values a template leaves open: strings no record holds, since they carry a
# random token of this process. Their encoded bytes are what _template cuts around.
_TOKEN = uuid.uuid4().hex
_MARKERS = {name: f"{_TOKEN}:{name}" for name in (*_CONTEXT[1:], *_PER_RECORD)}
_MARKED = {name: b'"%s"' % marker.encode() for name, marker in _MARKERS.items()}
# Templates by record class and shape, kept across appends; emptied when this full (one
# shape per action, rule and pair of organisations: a few hundred in a real register).
_Template = tuple[tuple[bytes, ...], tuple[str, ...]]
_TEMPLATES: dict[tuple[type[AuditRecord], Any], _Template | None] = {}
_TEMPLATES_KEPT = 4096


def _template(kind: type[AuditRecord], shape: Any, record: AuditRecord) -> _Template | None:
    """The reference bytes of the entry of records of ``shape``, cut around the markers:
    the pieces, and the names of the values that go between them, in order.

    None when records of this shape must take the whole-entry path: a value in the shape of
    a type for which equal values could encode differently (``1 == 1.0 == True``), or that
    the reference encoder refuses (which it then says for each record).
    """
    key = (kind, shape)
    try:
        return _TEMPLATES[key]
    except KeyError:
        pass
    template = None
    layout = _layout(kind)
    if all(
        _encodes_as_equal(getattr(record, p.field))
        for p in layout.places
        if p.field not in _PER_RECORD
    ):
        markers = _MARKERS
        entry = _entry(
            record,
            markers["timestamp"],
            markers["trace_id"],
            markers["span_id"],
            leaf_index=markers["leaf_index"],
        )
        for name in _PER_RECORD:
            entry[name] = markers[name]
        try:
            template = _cut(canonical_bytes(entry))
        except ValueError:
            template = None
    if len(_TEMPLATES) >= _TEMPLATES_KEPT:
        _TEMPLATES.clear()
    _TEMPLATES[key] = template
    return template


def _fold(template: _Template | None, context: Mapping[str, bytes]) -> tuple[bytes, ...] | None:
    """A template with this append's timestamp and trace ids put in: the four pieces around
    the leaf index, the resources and the subject (in the order RFC 8785 sorts them)."""
    if template is None:
        return None
    # The three left open follow from their names, which the export format fixes and _layout
    # checks: "leaf_index" < "resources" < "subject", all top-level.
    pieces, names = template
    folded = [pieces[0]]
    for name, piece in zip(names, pieces[1:], strict=True):
        if name in context:
            folded[-1] += context[name] + piece
        else:
            folded.append(piece)
    return tuple(folded)


def _whole(record: AuditRecord, timestamp: str, trace_id: str, span_id: str) -> tuple[bytes, bytes]:
    """A record's reference bytes, encoded whole, cut where its leaf index goes: the one byte
    in which its encodings with leaf index 0 and with leaf index 1 differ (no marker, which
    a record taking this path might hold)."""
    zero = canonical_bytes(_entry(record, timestamp, trace_id, span_id, leaf_index=0))
    one = canonical_bytes(_entry(record, timestamp, trace_id, span_id, leaf_index=1))
    at = next(i for i, (a, b) in enumerate(zip(zero, one, strict=True)) if a != b)
    return zero[:at], zero[at + 1 :]


def _cut(data: bytes) -> _Template:
    """Encoded bytes cut around the markers: the pieces, and the names of the values that go
    between them, in the order their markers occur."""
    at = []
    for name in _MARKED:
        marked = _MARKED[name]
        position = data.find(marked)
        if position < 0 or data.find(marked, position + 1) >= 0:
            raise ValueError(f"the entry does not hold the marker of its {name} once")
        at.append((position, name))
    at.sort()
    pieces, start = [], 0
    for position, name in at:
        pieces.append(data[start:position])
        start = position + len(_MARKED[name])
    pieces.append(data[start:])
    return tuple(pieces), tuple(name for _, name in at)


def _encodes_as_equal(value: Any) -> bool:
    """Whether every value equal to this one has its encoding: a string (a StrEnum too),
    None, a UUID, or a tuple of strings."""
    if value is None or isinstance(value, str) or type(value) is uuid.UUID:
        return True
    return type(value) is tuple and all(isinstance(item, str) for item in value)


def _orders_apart(resources: Mapping[str, str]) -> bool:
    """Whether RFC 8785's order of these names (by UTF-16 code units) may differ from
    orjson's (by code point): only when a name has a character beyond U+FFFF."""
    return any(name and max(name) > "\uffff" for name in resources)


def _text(value: str) -> bytes:
    """A string of the append's own as JSON: the timestamp and the trace ids."""
    if type(value) is not str:
        raise TypeError(f"{value!r} is not a string")
    return orjson.dumps(value)


class _Memo:
    """A conversion remembered per value: for the few distinct values of a large append."""

    def __init__(self, convert: Callable[[Any], Any]) -> None:
        self._convert = convert
        self._done: dict[Any, Any] = {None: None}

    def __call__(self, value: Any) -> Any:
        try:
            return self._done[value]
        except KeyError:
            converted = self._done[value] = self._convert(value)
            return converted


def _frontier(stored: dict[str, object] | None) -> Frontier:
    return Frontier.from_json(stored) if stored else Frontier.empty()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# Staged appends ---------------------------------------------------------------------------

_STAGED = "exchange.auditlog.staged"


class _Staging:
    """The records a transaction has appended and not yet written, in runs of one trail and
    one timestamp (an append's entries share its timestamp)."""

    __slots__ = ("runs", "savepoints")

    def __init__(self) -> None:
        self.runs: list[tuple[AuditTrail, dt.datetime, list[AuditRecord]]] = []
        # Where each open savepoint began: the number of runs and the last run's length.
        self.savepoints: dict[SessionTransaction, tuple[int, int]] = {}

    def add(self, trail: AuditTrail, records: Sequence[AuditRecord], now: dt.datetime) -> None:
        if self.runs:
            last_trail, last_now, last = self.runs[-1]
            if last_trail is trail and last_now == now:
                last.extend(records)
                return
        self.runs.append((trail, now, list(records)))

    def mark(self) -> tuple[int, int]:
        return (len(self.runs), len(self.runs[-1][2]) if self.runs else 0)

    def take_back(self, mark: tuple[int, int]) -> None:
        runs, length = mark
        del self.runs[runs:]
        if runs:
            del self.runs[-1][2][length:]


def _staged(session: Session) -> _Staging:
    staging = session.info.get(_STAGED)
    if staging is None:
        # The records belong to the transaction: begun here if nothing has begun it yet,
        # so that its rollback (or its end, closed) takes them away.
        session.connection()
        staging = session.info[_STAGED] = _Staging()
        # A savepoint opened before the first append began with nothing staged.
        transaction = session.get_nested_transaction()
        while transaction is not None and transaction.nested:
            staging.savepoints[transaction] = (0, 0)
            transaction = transaction.parent
    return staging


@event.listens_for(Session, "before_commit")
def _write_staged(session: Session) -> None:
    """Write the staged records: the transaction's other writes first (flushed), then the
    entries under the head's lock. A savepoint's release writes nothing: its records wait for
    the transaction's commit."""
    staging: _Staging | None = session.info.get(_STAGED)
    if staging is None or not staging.runs or session.in_nested_transaction():
        return
    session.flush()
    runs, staging.runs = staging.runs, []
    by_trail: dict[AuditTrail, list[tuple[Sequence[AuditRecord], dt.datetime]]] = {}
    for trail, now, records in runs:
        by_trail.setdefault(trail, []).append((records, now))
    for trail, appends in by_trail.items():
        trail.write_runs(session, appends)


@event.listens_for(Session, "after_transaction_create")
def _savepoint_began(session: Session, transaction: SessionTransaction) -> None:
    staging: _Staging | None = session.info.get(_STAGED)
    if staging is not None and transaction.nested:
        staging.savepoints[transaction] = staging.mark()


@event.listens_for(Session, "after_soft_rollback")
def _rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    """A savepoint rolled back takes back what was staged in it; the transaction rolled back,
    everything."""
    staging: _Staging | None = session.info.get(_STAGED)
    if staging is None:
        return
    if previous_transaction.nested:
        mark = staging.savepoints.pop(previous_transaction, None)
        if mark is not None:
            staging.take_back(mark)
    elif previous_transaction.parent is None:
        session.info.pop(_STAGED, None)


@event.listens_for(Session, "after_transaction_end")
def _transaction_ended(session: Session, transaction: SessionTransaction) -> None:
    """Committed, rolled back or closed: nothing staged outlives its transaction. (A
    savepoint's mark stays until then: this runs before ``after_soft_rollback`` needs it.)"""
    if transaction.parent is None:
        session.info.pop(_STAGED, None)
