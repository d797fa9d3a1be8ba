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
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from sqlalchemy import and_, or_, select
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
from exchange.db import TupleInsert
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
        templates = [_canonical(_entry(record, timestamp, trace_id, span_id)) for record in records]
        head = session.scalars(
            select(AuditHead).where(AuditHead.id == HEAD_ID).with_for_update()
        ).one()
        frontier = _frontier(head)
        first = frontier.size
        # Rows go to the driver as tuples of values already converted by the columns' own
        # types (TupleInsert): SQLAlchemy's per-row parameter handling was most of an append.
        entries = TupleInsert(session, AuditEntry, _ENTRY_COLUMNS)
        nodes = TupleInsert(session, AuditNode, _NODE_COLUMNS)
        blob, node_blob = entries.converter("entry"), nodes.converter("hash")
        # Every entry of the append has the same timestamp and one of a few organisations:
        # each converted once rather than once per row. Actor and recipient are both
        # organisation ids, of one column type.
        recorded_at = entries.converter("recorded_at")(now)
        organisation = _Memo(entries.converter("actor_org_id"))
        entry_rows: list[tuple[Any, ...]] = []
        node_rows: list[tuple[Any, ...]] = []
        append_leaf = frontier.append
        index = first
        for template, record in zip(templates, records, strict=True):
            data = template.replace(_INDEX_PLACEHOLDER, b'"leaf_index":%d' % index, 1)
            leaf = leaf_hash(data)
            # append returns the leaf itself first (level 0, kept in the entry row), then
            # the subtrees this leaf completes.
            for level, position, digest in append_leaf(leaf)[1:]:
                node_rows.append((level, position, node_blob(digest)))
            entry_rows.append(
                (
                    index,
                    blob(data),
                    blob(leaf),
                    recorded_at,
                    record.action,
                    record.purpose,
                    record.decision,
                    organisation(record.actor_org),
                    organisation(record.recipient_org),
                    record.subject,
                    subject_key(record.subject) if record.subject is not None else None,
                )
            )
            index += 1
        entries.execute(entry_rows)
        nodes.execute(node_rows)
        head.tree_size = frontier.size
        head.frontier = frontier.to_json()
        head.updated_at = now
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
        head = session.get(AuditHead, HEAD_ID)
        assert head is not None
        latest = session.scalars(
            select(AuditCheckpoint)
            .where(AuditCheckpoint.key_id == self.key_id)
            .order_by(AuditCheckpoint.tree_size.desc(), AuditCheckpoint.created_at.desc())
            .limit(1)
        ).first()
        if latest is not None and latest.tree_size == head.tree_size:
            return latest
        return self._sign(session, head.tree_size, _frontier(head).root(), now)

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
        head = session.scalars(
            select(AuditHead).where(AuditHead.id == HEAD_ID).with_for_update()
        ).one()
        frontier = _frontier(head)
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


def _entry(record: AuditRecord, timestamp: str, trace_id: str, span_id: str) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "leaf_index": 0,  # replaced under the lock; see AuditTrail.append
        "timestamp": timestamp,
        "trace_id": trace_id,
        "span_id": span_id,
        "actor": {
            "organisation": str(record.actor_org) if record.actor_org else None,
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
        "recipient": str(record.recipient_org) if record.recipient_org else None,
        "subject": record.subject,
        "resources": dict(record.resources),
    }


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


def _frontier(head: AuditHead) -> Frontier:
    return Frontier.from_json(head.frontier) if head.frontier else Frontier.empty()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
