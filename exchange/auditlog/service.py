"""Appending to the audit log, signing checkpoints, serving proofs and exports.

Every disclosure decision, consent event, policy activation and administrative action is
appended here inside the transaction of the action itself: if the append fails, the action
rolls back with it (fail closed). The entries are built and canonicalised before the head
row is locked, so the lock covers only numbering, hashing and the inserts.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, cast

import orjson
import psycopg
from sqlalchemy import Connection, Table, and_, bindparam, or_, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from audit.entry import SCHEMA_VERSION
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
from exchange.db import Base, TupleInsert
from exchange.errors import FieldError, InvalidInput
from exchange.tracing import current_trace

HEAD_ID = 1
_INDEX_PLACEHOLDER = b'"leaf_index":0'
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


@dataclass(frozen=True)
class AuditRecord:
    """What happened, to whom, under which rule: never a name, BSN, address or amount."""

    action: str
    decision: str  # permit | deny | recorded
    actor_org: uuid.UUID | None
    actor_client: str | None = None
    purpose: str | None = None
    legal_basis: tuple[str, ...] = ()
    policy_version: str | None = None
    rule_id: str | None = None
    fields: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    recipient_org: uuid.UUID | None = None
    subject: str | None = None
    resources: Mapping[str, str] = field(default_factory=dict)


class AuditSink(Protocol):
    """Where a service appends its audit records: the trail itself, or a buffer that appends
    them to the trail at the end of the transaction (``exchange.signals.intake``)."""

    def append(
        self, session: Session, records: Sequence[AuditRecord], now: dt.datetime
    ) -> list[int]: ...


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

    def append(
        self, session: Session, records: Sequence[AuditRecord], now: dt.datetime
    ) -> list[int]:
        """Append entries in this transaction; returns their leaf indexes."""
        if not records:
            return []
        trace_id, span_id = current_trace()
        timestamp = now.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
        parts = _entry_parts(records, timestamp, trace_id, span_id)
        connection = session.connection()
        frontier = _frontier(connection.execute(_HEAD_FOR_UPDATE).one().frontier)
        first = frontier.size
        # Rows go to the driver as tuples of values already converted by the columns' own
        # types (TupleInsert): SQLAlchemy's per-row parameter handling was most of an append.
        # On PostgreSQL the same tuples go by COPY (_copy).
        entries = TupleInsert(session, AuditEntry, _ENTRY_COLUMNS)
        nodes = TupleInsert(session, AuditNode, _NODE_COLUMNS)
        # Every entry of the append has the same timestamp and one of a few organisations:
        # each converted once rather than once per row. Actor and recipient are both
        # organisation ids, of one column type. Hashes and entry bytes go as bytes, not
        # through LargeBinary's converter: sqlite3 binds bytes as a BLOB itself (the
        # converter only wraps them in a memoryview, two objects per entry for nothing), and
        # on PostgreSQL they go by COPY, which takes bytes for bytea.
        recorded_at = entries.converter("recorded_at")(now)
        organisation = _Memo(entries.converter("actor_org_id"))
        # The same subject often has several entries in one append (one per decision).
        key_of = _Memo(subject_key)
        entry_rows: list[tuple[Any, ...]] = []
        node_rows: list[tuple[int, int, bytes]] = []
        add_entry, add_node = entry_rows.append, node_rows.append
        append_leaf = frontier.append
        index = first
        join = b"".join
        for (before, after), record in zip(parts, records, strict=True):
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
        if connection.dialect.name == "postgresql":
            _copy(connection, AuditEntry, _ENTRY_COLUMNS, _ENTRY_PG_TYPES, entry_rows)
            _copy(connection, AuditNode, _NODE_COLUMNS, _NODE_PG_TYPES, node_rows)
        else:
            entries.execute(entry_rows)
            nodes.execute(node_rows)
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
        size = session.scalar(select(AuditHead.tree_size).where(AuditHead.id == HEAD_ID))
        return int(size or 0)

    def checkpoint(self, session: Session, now: dt.datetime) -> AuditCheckpoint:
        """The newest checkpoint, signing a new one when the log has grown since."""
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
                yield orjson.dumps({"checkpoint": note}) + b"\n"
            yield data + b"\n"
        for note in along.get(final.tree_size, ()):
            yield orjson.dumps({"checkpoint": note}) + b"\n"
        yield orjson.dumps({"checkpoint": final.note}) + b"\n"

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


def _entry(
    record: AuditRecord,
    timestamp: str,
    trace_id: str,
    span_id: str,
    organisation: Callable[[uuid.UUID | None], str | None] = lambda o: str(o) if o else None,
) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "leaf_index": 0,  # the real one goes in under the lock; see AuditTrail.append
        "timestamp": timestamp,
        "trace_id": trace_id,
        "span_id": span_id,
        "actor": {
            "organisation": organisation(record.actor_org),
            "client": record.actor_client,
        },
        "action": record.action,
        "purpose": record.purpose,
        "legal_basis": list(record.legal_basis),
        "policy_version": record.policy_version,
        "rule_id": record.rule_id,
        "decision": record.decision,
        "fields": sorted(record.fields),
        "categories": sorted(record.categories),
        "recipient": organisation(record.recipient_org),
        "subject": record.subject,
        "resources": dict(record.resources),
    }


def _canonical_entries(
    records: Sequence[AuditRecord], timestamp: str, trace_id: str, span_id: str
) -> list[bytes]:
    """The RFC 8785 bytes of each record's entry, with leaf index 0 (as :func:`_entry`)."""
    return [
        before + b"0" + after
        for before, after in _entry_parts(records, timestamp, trace_id, span_id)
    ]


def _entry_parts(
    records: Sequence[AuditRecord], timestamp: str, trace_id: str, span_id: str
) -> list[tuple[bytes, bytes]]:
    """The RFC 8785 bytes of each record's entry up to its leaf index and after it.

    The index is known only under the head row's lock; there it goes in between, in one
    join (replacing a placeholder copied every entry once more, for nothing).

    The entries of one append differ mostly in their subject and resources: the rest (action,
    rule, fields, organisations, ...) repeats across records. So each distinct rest is encoded
    once, as :func:`_canonical` of the entry with no subject and no resources, and cut around
    those two values; a record's bytes are that template with its own two values encoded in
    between. Building and encoding the whole entry took about 6 µs per record, most of the
    Python work of an append; this takes under 1 µs.

    The cut is exact. Keys are sorted, and ``"resources":`` and ``,"subject":`` can only be
    the top-level keys: a key of the nested ``actor`` object is ``client`` or
    ``organisation``, and inside a JSON string every quote is escaped, so no string value can
    contain either byte sequence. The two values encode on their own as they do nested (orjson
    writes compact JSON, sorting the keys of ``resources`` the same way). Any record the
    shortcut does not fit (a value that is not hashable, text with no UTF-8 form) takes the
    whole-entry path, which also raises what it always raised.
    tests/test_audit_append_storage.py compares both paths on arbitrary records.
    """
    organisation = _Memo(str)  # each organisation's UUID text made once per append
    templates: dict[tuple[Any, ...], tuple[bytes, bytes, bytes, bytes]] = {}
    dumps, sort_keys = orjson.dumps, orjson.OPT_SORT_KEYS
    encoded: list[tuple[bytes, bytes]] = []
    for record in records:
        try:
            shape = (
                record.action,
                record.decision,
                record.actor_org,
                record.actor_client,
                record.purpose,
                record.legal_basis,
                record.policy_version,
                record.rule_id,
                record.fields,
                record.categories,
                record.recipient_org,
            )
            try:
                before, head, middle, tail = templates[shape]
            except KeyError:
                before, head, middle, tail = templates[shape] = _template(
                    record, timestamp, trace_id, span_id, organisation
                )
            after = b"".join(
                (
                    head,
                    dumps(dict(record.resources), option=sort_keys),
                    middle,
                    dumps(record.subject),
                    tail,
                )
            )
            encoded.append((before, after))
        except (TypeError, ValueError):  # orjson.JSONEncodeError is a TypeError
            whole = _canonical(_entry(record, timestamp, trace_id, span_id, organisation))
            encoded.append(_cut_index(whole))
    return encoded


def _cut_index(data: bytes) -> tuple[bytes, bytes]:
    """Canonical entry bytes with leaf index 0, cut around that 0 (the first such key, as
    the only one: no string value can hold the quotes of ``"leaf_index":``)."""
    at = data.index(_INDEX_PLACEHOLDER) + len(_INDEX_PLACEHOLDER) - 1
    return data[:at], data[at + 1 :]


_RESOURCES = b'"resources":{}'
_SUBJECT = b',"subject":null,'


def _template(
    record: AuditRecord,
    timestamp: str,
    trace_id: str,
    span_id: str,
    organisation: Callable[[uuid.UUID | None], str | None],
) -> tuple[bytes, bytes, bytes, bytes]:
    """The canonical bytes of ``record``'s entry without resources and subject, cut into what
    comes before the leaf index, from there to the resources, between the resources and the
    subject, and after the subject."""
    bare = _canonical(
        _entry(
            replace(record, subject=None, resources={}), timestamp, trace_id, span_id, organisation
        )
    )
    resources = bare.index(_RESOURCES) + len(b'"resources":')
    subject = bare.index(_SUBJECT, resources) + len(b',"subject":')
    before, head = _cut_index(bare[:resources])
    return before, head, bare[resources + 2 : subject], bare[subject + 4 :]


def _canonical(entry: dict[str, Any]) -> bytes:
    """The RFC 8785 bytes of an entry built by :func:`_entry`.

    Such an entry holds only str, None, small ints, lists of str and dicts whose keys are
    ASCII: for those, compact JSON with sorted keys and no escaping beyond what JSON requires
    is RFC 8785, and orjson writes it about six times faster than the json module
    (``audit.entry.canonical_bytes_of_native``). tests/test_audit_perf_storage.py checks the
    bytes against that function and the rfc8785 package, every character included.
    """
    try:
        return orjson.dumps(entry, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError as error:  # a lone surrogate: no UTF-8 form
        raise ValueError(f"an audit entry has no RFC 8785 form: {error}") from None


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


def _copy(
    connection: Connection,
    model: type[Base],
    columns: Sequence[str],
    types: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
) -> None:
    """Insert rows on PostgreSQL by ``COPY … FROM STDIN`` in binary format.

    executemany sends one INSERT per row through psycopg's pipeline; COPY streams the rows as
    one statement, and in binary the hashes and entry bytes go as they are, not as hex text.
    The values are those the TupleInsert converters give (bytes, aware datetimes, UUIDs), in
    the order of ``columns``; ``types`` are the columns' PostgreSQL types, which binary COPY
    needs exactly. An error comes out as SQLAlchemy's (IntegrityError and so on), as the
    executemany would have raised it, so that retries and the session's rollback still work.
    """
    if not rows:
        return
    table = cast(Table, model.__table__)
    quote = connection.dialect.identifier_preparer.quote
    # Only names from the table definition, quoted by the dialect; the rows go as data.
    statement = (
        f"COPY {quote(table.name)} ({', '.join(quote(name) for name in columns)}) "
        "FROM STDIN (FORMAT BINARY)"
    )
    driver = connection.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            copy.set_types(list(types))
            write = copy.write_row
            for row in rows:
                write(row)
    except psycopg.Error as error:
        raise DBAPIError.instance(statement, None, error, psycopg.Error) from error


def _frontier(stored: dict[str, object] | None) -> Frontier:
    return Frontier.from_json(stored) if stored else Frontier.empty()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
