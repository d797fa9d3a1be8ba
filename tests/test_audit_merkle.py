"""The Merkle tree of the audit log against RFC 9162, written out here independently.

The reference functions below follow the RFC's recursive definitions word for word (MTH,
PATH, PROOF/SUBPROOF, §2.1.1–§2.1.4) and share no code with ``audit.merkle``; the tests
check that the storage-friendly functions give the same bytes at many tree sizes, and
that the verifiers accept those proofs and refuse altered ones.
"""

from __future__ import annotations

import hashlib
import random

import pytest

from audit import merkle
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
    root_of_leaf_hashes,
    root_of_leaves,
    verify_consistency,
    verify_inclusion,
)

# -- the reference, from RFC 9162 §2.1 ------------------------------------------------------


def ref_hash(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def ref_k(n: int) -> int:
    """The largest power of two smaller than n."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: list[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return ref_hash(b"")
    if n == 1:
        return ref_hash(b"\x00" + d[0])
    k = ref_k(n)
    return ref_hash(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:]))


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = ref_k(n)
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_proof(m: int, d: list[bytes]) -> list[bytes]:
    return ref_subproof(m, d, True)


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = ref_k(n)
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


# -- fixtures -------------------------------------------------------------------------------

MAX = 1030


def data(i: int) -> bytes:
    return f"entry {i}".encode()


DATA = [data(i) for i in range(MAX)]

# Every node of the tree at MAX, as storage would keep it (from Frontier.append).
NODES: dict[tuple[int, int], bytes] = {}
ROOTS: list[bytes] = []  # ROOTS[n] = Frontier root at size n
_frontier = Frontier.empty()
ROOTS.append(_frontier.root())
for _d in DATA:
    for _level, _index, _h in _frontier.append(leaf_hash(_d)):
        NODES[(_level, _index)] = _h
    ROOTS.append(_frontier.root())

SMALL = list(range(1, 34))
EDGES = sorted({s for p in (64, 128, 256, 512, 1024) for s in (p - 1, p, p + 1)} | {1000, 1025})
SIZES = SMALL + EDGES


_ref_roots: dict[int, bytes] = {}


def ref_root(n: int) -> bytes:
    if n not in _ref_roots:
        _ref_roots[n] = ref_mth(DATA[:n])
    return _ref_roots[n]


def sample_indices(n: int, rng: random.Random, k: int = 12) -> list[int]:
    if n <= 33:
        return list(range(n))
    picks = {0, 1, n // 2, n - 2, n - 1, *(rng.randrange(n) for _ in range(k))}
    return sorted(picks)


# -- hashing --------------------------------------------------------------------------------


def test_hashes_have_the_rfc_domain_separation() -> None:
    assert hashlib.sha256(b"").digest() == EMPTY_ROOT
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert (
        merkle.node_hash(b"a" * 32, b"b" * 32)
        == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()
    )


def test_rfc6962_known_roots_of_the_eight_leaf_tree() -> None:
    """The test vectors of Certificate Transparency / transparency-dev/merkle."""
    leaves = [
        bytes.fromhex(h)
        for h in (
            *("", "00", "10", "2021", "3031", "40414243", "5051525354555657"),
            "606162636465666768696a6b6c6d6e6f",
        )
    ]
    roots = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]
    nodes: dict[tuple[int, int], bytes] = {}
    frontier = Frontier.empty()
    for n, leaf in enumerate(leaves, start=1):
        for level, index, h in frontier.append(leaf_hash(leaf)):
            nodes[(level, index)] = h
        assert frontier.root().hex() == roots[n - 1]
        assert root_from_nodes(n, nodes).hex() == roots[n - 1]
        assert root_of_leaves(leaves[:n]).hex() == roots[n - 1]

    def hexes(proof: list[bytes]) -> list[str]:
        return [p.hex() for p in proof]

    # (leaf index, size) -> audit path
    assert hexes(inclusion_proof(0, 8, nodes)) == [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ]
    assert hexes(inclusion_proof(5, 8, nodes)) == [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ]
    assert hexes(inclusion_proof(2, 3, nodes)) == [
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"
    ]
    assert hexes(inclusion_proof(1, 5, nodes)) == [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ]
    # (first, second) -> consistency proof
    assert hexes(consistency_proof(1, 8, nodes)) == [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ]
    assert hexes(consistency_proof(6, 8, nodes)) == [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ]
    assert hexes(consistency_proof(2, 5, nodes)) == [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ]
    assert hexes(consistency_proof(6, 7, nodes)) == [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ]
    assert consistency_proof(1, 1, nodes) == []


# -- roots ----------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, *SIZES])
def test_roots_equal_the_rfc_mth(size: int) -> None:
    want = ref_root(size)
    assert ROOTS[size] == want
    assert root_from_nodes(size, NODES) == want
    assert root_of_leaves(DATA[:size]) == want
    assert root_of_leaf_hashes(leaf_hash(d) for d in DATA[:size]) == want


@pytest.mark.parametrize("size", SIZES)
def test_root_needs_only_its_listed_nodes(size: int) -> None:
    wanted = root_nodes(size)
    assert len(wanted) == size.bit_count()
    only = {a: NODES[a] for a in wanted}
    assert root_from_nodes(size, only) == ref_root(size)


def test_frontier_reports_every_node_once_as_it_completes() -> None:
    frontier = Frontier.empty()
    seen: dict[tuple[int, int], bytes] = {}
    for i in range(300):
        completed = frontier.append(leaf_hash(DATA[i]))
        assert completed[0] == (0, i, leaf_hash(DATA[i]))
        for level, index, h in completed:
            assert (level, index) not in seen
            # A completed node covers leaves [index * 2**level, (index + 1) * 2**level).
            assert (index + 1) << level == i + 1
            assert h == ref_mth(DATA[index << level : (index + 1) << level])
            seen[(level, index)] = h
    # 300 leaves complete 299 interior nodes in a binary tree... plus the leaves.
    assert len(seen) == sum(300 >> level for level in range(10))


def test_frontier_round_trips_through_json() -> None:
    frontier = Frontier.empty()
    for i in range(77):
        frontier.append(leaf_hash(DATA[i]))
        again = Frontier.from_json(frontier.to_json())
        assert again == frontier
        assert again.root() == frontier.root()
    again.append(leaf_hash(DATA[77]))
    frontier.append(leaf_hash(DATA[77]))
    assert again.root() == frontier.root() == ref_root(78)
    assert [(lv, ix) for lv, ix, _ in frontier.nodes()] == root_nodes(78)


@pytest.mark.parametrize(
    "bad",
    [
        {"size": 3, "hashes": []},
        {"size": -1, "hashes": []},
        {"size": 1, "hashes": ["not base64!"]},
        {"size": 1, "hashes": ["AAAA"]},
        {"size": "1", "hashes": []},
    ],
)
def test_frontier_refuses_malformed_json(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Frontier.from_json(bad)


# -- inclusion proofs -----------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_inclusion_proofs_equal_the_rfc_path_and_verify(size: int) -> None:
    rng = random.Random(size)
    root = ref_root(size)
    for index in sample_indices(size, rng):
        want = ref_path(index, DATA[:size])
        wanted_nodes = inclusion_nodes(index, size)
        assert len(wanted_nodes) == len(set(wanted_nodes))
        only = {a: NODES[a] for a in wanted_nodes}
        proof = inclusion_proof(index, size, only)
        assert proof == want
        leaf = leaf_hash(DATA[index])
        assert verify_inclusion(leaf, index, size, proof, root)
        assert_inclusion_refuses_tampering(leaf, index, size, proof, root)


def assert_inclusion_refuses_tampering(
    leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes
) -> None:
    assert not verify_inclusion(leaf_hash(b"other"), index, size, proof, root)
    assert not verify_inclusion(leaf, index, size, proof, EMPTY_ROOT)
    for wrong_index in {index - 1, index + 1, index ^ 2} - {index}:
        assert not verify_inclusion(leaf, wrong_index, size, proof, root)
    for wrong_size in (size * 2, size // 2):
        if wrong_size > index:
            assert not verify_inclusion(leaf, index, wrong_size, proof, root)
    for i in range(len(proof)):
        bent = list(proof)
        bent[i] = bytes([bent[i][0] ^ 8]) + bent[i][1:]
        assert not verify_inclusion(leaf, index, size, bent, root)
    assert not verify_inclusion(leaf, index, size, [*proof, root], root)
    assert not verify_inclusion(leaf, index, size, [root, *proof], root)
    if proof:
        assert not verify_inclusion(leaf, index, size, proof[:-1], root)


def test_inclusion_refuses_impossible_arguments() -> None:
    leaf = leaf_hash(DATA[0])
    assert not verify_inclusion(leaf, 0, 0, [], EMPTY_ROOT)
    assert not verify_inclusion(leaf, 1, 1, [], leaf)
    assert not verify_inclusion(leaf, -1, 1, [], leaf)
    assert verify_inclusion(leaf, 0, 1, [], leaf)
    assert not verify_inclusion(b"", 0, 1, [], b"")
    with pytest.raises(ValueError):
        inclusion_nodes(5, 5)


# -- consistency proofs ---------------------------------------------------------------------


def consistency_pairs(rng: random.Random) -> list[tuple[int, int]]:
    pairs = [(m, n) for n in range(1, 34) for m in range(1, n + 1)]
    for n in EDGES:
        firsts = {1, 2, 3, n // 2, n - 1, n, *(rng.randrange(1, n + 1) for _ in range(6))}
        firsts |= {s for s in EDGES if s <= n}
        pairs.extend((m, n) for m in sorted(firsts))
    return pairs


@pytest.mark.parametrize("pair", consistency_pairs(random.Random(9162)), ids=str)
def test_consistency_proofs_equal_the_rfc_proof_and_verify(pair: tuple[int, int]) -> None:
    first, second = pair
    want = ref_proof(first, DATA[:second])
    only = {a: NODES[a] for a in consistency_nodes(first, second)}
    proof = consistency_proof(first, second, only)
    assert proof == want
    r1, r2 = ref_root(first), ref_root(second)
    assert verify_consistency(first, second, r1, r2, proof)
    if first == second:
        assert not verify_consistency(first, second, r1, ROOTS[second - 1], proof)
        return
    assert not verify_consistency(first, second, r2, r1, proof)
    assert not verify_consistency(first, second, ROOTS[first - 1], r2, proof)
    assert not verify_consistency(first, second, r1, ROOTS[second - 1], proof)
    assert not verify_consistency(first, second, r1, r2, [])
    assert not verify_consistency(first, second, r1, r2, [*proof, r1])
    assert not verify_consistency(first, second, r1, r2, [r2, *proof])
    assert not verify_consistency(first, second, r1, r2, proof[:-1])
    for i in range(len(proof)):
        bent = list(proof)
        bent[i] = bytes([bent[i][0] ^ 16]) + bent[i][1:]
        assert not verify_consistency(first, second, r1, r2, bent)
    if first > 1:
        assert not verify_consistency(first - 1, second, r1, r2, proof)
    assert not verify_consistency(first + 1, second, r1, r2, proof) or first + 1 == second


def test_consistency_edge_cases() -> None:
    r = ref_root(5)
    assert verify_consistency(0, 5, EMPTY_ROOT, r, [])
    assert not verify_consistency(0, 5, r, r, [])
    assert not verify_consistency(0, 5, EMPTY_ROOT, r, [r])
    assert verify_consistency(5, 5, r, r, [])
    assert not verify_consistency(5, 5, r, r, [r])
    assert not verify_consistency(6, 5, r, r, [])
    assert consistency_proof(0, 5, NODES) == []
    assert consistency_nodes(5, 5) == []
    with pytest.raises(ValueError):
        consistency_nodes(6, 5)


def test_proofs_at_a_million_leaves_need_few_nodes() -> None:
    size = 1_000_000
    assert len(root_nodes(size)) == size.bit_count()
    assert len(inclusion_nodes(123_456, size)) <= 2 * size.bit_length()
    assert len(consistency_nodes(654_321, size)) <= 2 * size.bit_length()
