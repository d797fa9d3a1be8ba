"""RFC 9162 (and RFC 6962) Merkle tree hashing, proofs and their verification.

Vocabulary, as in RFC 9162 §2.1 and Trillian:

- *leaf data*: the bytes of one log entry (here: its RFC 8785 canonical JSON);
- *leaf hash*: ``SHA-256(0x00 || leaf data)``;
- *node hash*: ``SHA-256(0x01 || left || right)``;
- *root hash* of a tree of size n: MTH(D[n]), with ``SHA-256("")`` for the empty tree and the
  split at the largest power of two k < n.

Storage addresses a node as ``(level, index)``: the hash of the *perfect* subtree over the
leaves ``[index * 2**level, (index + 1) * 2**level)``; level 0 holds the leaf hashes. Such a
node never changes once its last leaf is appended, so storage keeps every node once, as it
completes (:meth:`Frontier.append` reports them). The subtrees on the right-hand edge of a
tree whose size is not a power of two are not perfect; every function below hashes them
from the perfect nodes they decompose into, so a root, an inclusion proof or a consistency
proof needs O(log n) stored nodes, all known up front (``*_nodes``) and fetched in one query.

This module is pure: no I/O, no imports from the broker.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "Frontier",
    "consistency_nodes",
    "consistency_proof",
    "inclusion_nodes",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "range_nodes",
    "root_from_nodes",
    "root_nodes",
    "root_of_leaf_hashes",
    "root_of_leaves",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT: bytes = hashlib.sha256(b"").digest()
"""MTH({}) = SHA-256() : the root hash of the empty tree (RFC 9162 §2.1.1)."""

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_sha256 = hashlib.sha256

Node = tuple[int, int]
"""A stored node's address: (level, index)."""


def leaf_hash(data: bytes) -> bytes:
    """Return the leaf hash of one entry: ``SHA-256(0x00 || data)`` (RFC 9162 §2.1.1)."""
    return _sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the hash of an interior node: ``SHA-256(0x01 || left || right)``."""
    return _sha256(_NODE_PREFIX + left + right).digest()


class Frontier:
    """The right-hand edge of a Merkle tree: enough to append leaves and compute the root.

    It holds one hash per set bit of ``size``: the perfect subtrees that the leaves
    ``[0, size)`` decompose into, largest (leftmost) first, like a compact range. The broker
    keeps it in the log-head row; appending n leaves costs O(n + log size) hashes.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self, size: int = 0, hashes: Iterable[bytes] = ()) -> None:
        """Build a frontier from its size and the hashes of ``root_nodes(size)``, in order."""
        hashes = [bytes(h) for h in hashes]
        if size < 0:
            raise ValueError("tree size must not be negative")
        if len(hashes) != size.bit_count():
            raise ValueError(
                f"a frontier of size {size} has {size.bit_count()} hashes, not {len(hashes)}"
            )
        if any(len(h) != HASH_SIZE for h in hashes):
            raise ValueError("frontier hashes must be 32 bytes")
        self._size = size
        self._hashes = hashes

    @classmethod
    def empty(cls) -> Frontier:
        """Return the frontier of the empty tree."""
        return cls()

    @property
    def size(self) -> int:
        """The number of leaves appended so far (the tree size)."""
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """The frontier hashes, in the order of :func:`root_nodes` ``(size)``."""
        return tuple(self._hashes)

    def nodes(self) -> list[tuple[int, int, bytes]]:
        """Return the frontier as ``(level, index, hash)``, the addresses of ``root_nodes``."""
        return [
            (level, index, h)
            for (level, index), h in zip(root_nodes(self._size), self._hashes, strict=True)
        ]

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Append one *leaf hash* and return every node completed by it.

        The list starts with ``(0, i, leaf)`` for the new leaf index i and continues upwards
        with each perfect subtree that this leaf closes, as ``(level, index, hash)``. Storing
        all of them keeps every complete node of the tree.
        """
        if len(leaf) != HASH_SIZE:
            raise ValueError("a leaf hash is 32 bytes")
        index = self._size
        completed = [(0, index, leaf)]
        hashes = self._hashes
        h = leaf
        level = 0
        # Each trailing one bit of the old size is a perfect subtree of the same height that
        # the new node now completes: merge them, like a binary carry.
        while index & 1:
            h = _sha256(_NODE_PREFIX + hashes.pop() + h).digest()
            index >>= 1
            level += 1
            completed.append((level, index, h))
        hashes.append(h)
        self._size += 1
        return completed

    def extend(self, leaves: Iterable[bytes]) -> None:
        """Append many leaf hashes without reporting the completed nodes (the verifier's path)."""
        hashes = self._hashes
        size = self._size
        prefix = _NODE_PREFIX
        sha = _sha256
        for h in leaves:
            if len(h) != HASH_SIZE:
                raise ValueError("a leaf hash is 32 bytes")
            carry = size
            while carry & 1:
                h = sha(prefix + hashes.pop() + h).digest()
                carry >>= 1
            hashes.append(h)
            size += 1
        self._size = size

    def root(self) -> bytes:
        """Return the root hash MTH(D[size]) of the tree so far."""
        hashes = self._hashes
        if not hashes:
            return EMPTY_ROOT
        r = hashes[-1]
        for h in reversed(hashes[:-1]):
            r = _sha256(_NODE_PREFIX + h + r).digest()
        return r

    def copy(self) -> Frontier:
        """Return an independent copy."""
        return Frontier(self._size, self._hashes)

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict ``{"size": n, "hashes": [base64, ...]}`` to store in one row."""
        return {
            "size": self._size,
            "hashes": [base64.b64encode(h).decode("ascii") for h in self._hashes],
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Frontier:
        """Rebuild a frontier from :meth:`to_json` output; raises ValueError when malformed."""
        size = d.get("size")
        hashes = d.get("hashes")
        if type(size) is not int or not isinstance(hashes, list):
            raise ValueError("a frontier needs an integer 'size' and a list 'hashes'")
        try:
            decoded = [base64.b64decode(h, validate=True) for h in hashes]
        except (TypeError, ValueError) as exc:
            raise ValueError(f"frontier hash is not base64: {exc}") from None
        return cls(size, decoded)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Frontier):
            return NotImplemented
        return self._size == other._size and self._hashes == other._hashes

    def __hash__(self) -> int:
        return hash((self._size, tuple(self._hashes)))

    def __repr__(self) -> str:
        return f"Frontier(size={self._size})"


# -- roots from stored nodes ---------------------------------------------------------------


def range_nodes(start: int, end: int) -> list[Node]:
    """Return the perfect nodes that the leaf range ``[start, end)`` decomposes into, left first.

    Greedy from the left: at each step the largest aligned perfect subtree that fits. For the
    ranges the RFC's recursion produces (``start`` a multiple of a power of two ≥ the range's
    length), folding these hashes from the right gives MTH(D[start:end]).
    """
    if not 0 <= start <= end:
        raise ValueError(f"bad leaf range [{start}, {end})")
    nodes: list[Node] = []
    while start < end:
        # Largest level allowed by the alignment of start, then shrink to fit before end.
        level = (start & -start).bit_length() - 1 if start else (end - start).bit_length()
        while (1 << level) > end - start:
            level -= 1
        nodes.append((level, start >> level))
        start += 1 << level
    return nodes


def root_nodes(size: int) -> list[Node]:
    """Return the stored nodes needed for the root hash at ``size`` (one per set bit of size).

    These are the same nodes a :class:`Frontier` of that size holds, in the same order.
    """
    if size < 0:
        raise ValueError("tree size must not be negative")
    return range_nodes(0, size)


def root_from_nodes(size: int, nodes: Mapping[Node, bytes]) -> bytes:
    """Return the root hash at ``size`` from stored nodes holding at least ``root_nodes(size)``."""
    return _subtree_hash(0, size, nodes)


# -- inclusion proofs (RFC 9162 §2.1.3.1) --------------------------------------------------


def inclusion_nodes(index: int, size: int) -> list[Node]:
    """Return the stored nodes needed for the inclusion proof of leaf ``index`` at ``size``."""
    return _nodes_of_ranges(_inclusion_ranges(index, size))


def inclusion_proof(index: int, size: int, nodes: Mapping[Node, bytes]) -> list[bytes]:
    """Return PATH(index, D[size]), the audit path from the leaf up, as RFC 9162 §2.1.3.1.

    ``nodes`` must hold at least ``inclusion_nodes(index, size)``.
    """
    return [_subtree_hash(a, b, nodes) for a, b in _inclusion_ranges(index, size)]


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose subtree hashes make up PATH(index, D[size]), leaf upwards."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is not in a tree of size {size}")
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, size
    # Walk the RFC's recursion from the root down; each step adds the sibling subtree, which
    # belongs after the deeper elements in PATH, so reverse at the end.
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo = lo + k
    ranges.reverse()
    return ranges


# -- consistency proofs (RFC 9162 §2.1.4.1) ------------------------------------------------


def consistency_nodes(first: int, second: int) -> list[Node]:
    """Return the stored nodes needed for the consistency proof from ``first`` to ``second``."""
    return _nodes_of_ranges(_consistency_ranges(first, second))


def consistency_proof(first: int, second: int, nodes: Mapping[Node, bytes]) -> list[bytes]:
    """Return PROOF(first, D[second]) as RFC 9162 §2.1.4.1 (empty when first is 0 or second).

    ``nodes`` must hold at least ``consistency_nodes(first, second)``.
    """
    return [_subtree_hash(a, b, nodes) for a, b in _consistency_ranges(first, second)]


def _consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """The leaf ranges whose subtree hashes make up PROOF(first, D[second]), in proof order."""
    if not 0 <= first <= second:
        raise ValueError(f"no consistency proof from size {first} to size {second}")
    if first == 0 or first == second:
        return []
    ranges: list[tuple[int, int]] = []
    lo, hi, m = 0, second, first
    complete = True  # the RFC's boolean b: is the old tree (so far) a complete subtree?
    # SUBPROOF(m, D[lo:hi], b), unrolled; like PATH, outer elements come last.
    while True:
        n = hi - lo
        if m == n:
            if not complete:
                ranges.append((lo, hi))
            break
        k = _split(n)
        if m <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo, m, complete = lo + k, m - k, False
    ranges.reverse()
    return ranges


# -- verification (RFC 9162 §2.1.3.2 and §2.1.4.2) -----------------------------------------


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Check that *leaf hash* ``leaf`` is leaf ``index`` of the tree of ``size`` with ``root``.

    ``leaf`` is the leaf hash (:func:`leaf_hash` of the entry bytes), ``proof`` the audit path
    from the leaf up. This is the algorithm of RFC 9162 §2.1.3.2; it also refuses hashes that
    are not 32 bytes long.
    """
    if index < 0 or index >= size:
        return False
    if len(leaf) != HASH_SIZE or len(root) != HASH_SIZE:
        return False
    if any(len(p) != HASH_SIZE for p in proof):
        return False
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Check that the tree of size ``first`` with ``first_root`` is a prefix of ``second``'s.

    The algorithm of RFC 9162 §2.1.4.2, with its edge cases made explicit: ``first > second``
    fails; equal sizes need an empty proof and equal roots; ``first == 0`` needs an empty
    proof and ``first_root`` equal to the empty tree's root. Hashes must be 32 bytes.
    """
    if first < 0 or first > second:
        return False
    if len(first_root) != HASH_SIZE or len(second_root) != HASH_SIZE:
        return False
    if any(len(p) != HASH_SIZE for p in proof):
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof and first_root == EMPTY_ROOT
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # first is an exact power of two
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


# -- direct computation, for the verifier --------------------------------------------------


def root_of_leaves(leaves: Iterable[bytes]) -> bytes:
    """Return MTH(D[n]) of the given *leaf data* (entry bytes, hashed here with leaf_hash).

    Streams: it keeps only a :class:`Frontier`, so memory is O(log n) and time O(n).
    """
    sha = _sha256
    prefix = _LEAF_PREFIX
    frontier = Frontier()
    frontier.extend(sha(prefix + data).digest() for data in leaves)
    return frontier.root()


def root_of_leaf_hashes(hashes: Iterable[bytes]) -> bytes:
    """Return the root hash of the tree whose leaf hashes are ``hashes`` (already hashed)."""
    frontier = Frontier()
    frontier.extend(hashes)
    return frontier.root()


# -- helpers -------------------------------------------------------------------------------


def _split(n: int) -> int:
    """The largest power of two strictly smaller than n (n ≥ 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _subtree_hash(start: int, end: int, nodes: Mapping[Node, bytes]) -> bytes:
    """MTH(D[start:end]) from stored perfect nodes (a range from the RFC's recursion)."""
    addresses = range_nodes(start, end)
    if not addresses:
        return EMPTY_ROOT
    try:
        hashes = [nodes[a] for a in addresses]
    except KeyError as exc:
        raise KeyError(f"stored node {exc.args[0]} is missing") from None
    r = hashes[-1]
    for h in reversed(hashes[:-1]):
        r = node_hash(h, r)
    return r


def _nodes_of_ranges(ranges: Iterable[tuple[int, int]]) -> list[Node]:
    """The distinct perfect nodes of all ranges, in first-use order."""
    seen: dict[Node, None] = {}
    for a, b in ranges:
        for node in range_nodes(a, b):
            seen.setdefault(node, None)
    return list(seen)
