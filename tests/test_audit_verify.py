"""The offline verifier: an intact export verifies; each kind of tampering is named and placed.

Exports are built here from scratch (entries -> canonical bytes -> Frontier -> checkpoints
signed every N entries and at the end), then tampered with line by line.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from audit.entry import SCHEMA_VERSION, canonical_bytes
from audit.export import checkpoint_line, entry_line
from audit.merkle import EMPTY_ROOT, Frontier, leaf_hash, root_of_leaves
from audit.note import Checkpoint, NoteSigner
from audit.verify import verify_export

ORIGIN = "exchange.example/audit"
SIGNER = NoteSigner(ORIGIN, Ed25519PrivateKey.from_private_bytes(b"\x01" * 32))
KEY = SIGNER.verifier_key()
OTHER = NoteSigner(ORIGIN, Ed25519PrivateKey.from_private_bytes(b"\x02" * 32))


def make_entry(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "leaf_index": i,
        "event": "disclosure",
        "decision": "allow" if i % 3 else "deny",
        "purpose": "early-signal",
        "recipient": f"org-{i % 5}",
        "subject": f"psn-{i:06x}",
        **extra,
    }


def build_export(
    entries: Sequence[dict[str, Any]],
    every: int = 10,
    signer: NoteSigner = SIGNER,
    origin: str = ORIGIN,
) -> tuple[list[bytes], list[str]]:
    """Return the export lines and the checkpoint notes signed along the way."""
    lines: list[bytes] = []
    notes: list[str] = []
    frontier = Frontier.empty()
    for entry in entries:
        line = entry_line(entry)
        lines.append(line)
        frontier.append(leaf_hash(canonical_bytes(entry)))
        if frontier.size % every == 0 and frontier.size < len(entries):
            notes.append(signer.sign(Checkpoint(origin, frontier.size, frontier.root()).body()))
            lines.append(checkpoint_line(notes[-1]))
    notes.append(signer.sign(Checkpoint(origin, frontier.size, frontier.root()).body()))
    lines.append(checkpoint_line(notes[-1]))
    return lines, notes


ENTRIES = [make_entry(i) for i in range(45)]


@pytest.fixture
def export() -> list[bytes]:
    # Lines: entries 0..9, checkpoint, 10..19, checkpoint, ..., 40..44, final checkpoint.
    return build_export(ENTRIES)[0]


def line_of(lines: list[bytes], leaf_index: int) -> int:
    """The position (0-based) in ``lines`` of the entry with this leaf index."""
    for pos, line in enumerate(lines):
        obj = json.loads(line)
        if obj.get("leaf_index") == leaf_index:
            return pos
    raise LookupError(leaf_index)


def checkpoint_positions(lines: list[bytes]) -> list[int]:
    return [pos for pos, line in enumerate(lines) if b'"checkpoint"' in line]


# -- intact exports -------------------------------------------------------------------------


def test_an_intact_export_verifies(export: list[bytes]) -> None:
    seen: list[int] = []
    report = verify_export(export, KEY, progress=seen.append)
    assert report.ok, report.message
    assert report.size == 45
    assert report.root == root_of_leaves([canonical_bytes(e) for e in ENTRIES])
    assert report.checkpoints == 5
    assert report.verified_size == 45
    assert report.first_bad_leaf_index is None
    assert report.problems == []
    assert report.origin == ORIGIN
    assert "verified: 45 entries" in report.message
    assert seen[-1] == 45


def test_an_empty_log_with_its_checkpoint_verifies() -> None:
    note = SIGNER.sign(Checkpoint(ORIGIN, 0, EMPTY_ROOT).body())
    report = verify_export([checkpoint_line(note)], KEY)
    assert report.ok, report.message
    assert report.size == 0


def test_whitespace_and_key_order_do_not_matter_only_the_parsed_entry(
    export: list[bytes],
) -> None:
    pos = line_of(export, 12)
    obj = json.loads(export[pos])
    export[pos] = (
        json.dumps(dict(reversed(list(obj.items()))), indent=1).replace("\n", " ").encode()
        + b"\r\n"
    )
    report = verify_export(export, KEY)
    assert report.ok, report.message


def test_non_ascii_entries_verify() -> None:
    entries = [
        make_entry(i, note="Dïjk, van — €", **{"\U0001f600": 1, "\ufb01": 2}) for i in range(12)
    ]
    lines, _ = build_export(entries, every=5)
    report = verify_export(lines, KEY)
    assert report.ok, report.message


def test_blank_lines_are_ignored(export: list[bytes]) -> None:
    export.insert(3, b"\n")
    export.append(b"\n")
    assert verify_export(export, KEY).ok


# -- tampering ------------------------------------------------------------------------------


def test_an_altered_entry_is_placed_in_its_checkpoint_window(export: list[bytes]) -> None:
    pos = line_of(export, 23)
    export[pos] = export[pos].replace(b'"decision":"allow"', b'"decision":"deny"')
    report = verify_export(export, KEY)
    assert not report.ok
    [problem] = report.problems
    assert problem.kind == "altered"
    assert report.first_bad_leaf_index == 20
    assert report.window == (20, 30)
    assert report.verified_size == 20
    assert report.checkpoints == 2
    assert "leaves 20..29" in report.message
    assert "first leaf of the window" in report.message


def test_an_altered_entry_before_the_first_checkpoint(export: list[bytes]) -> None:
    pos = line_of(export, 4)
    export[pos] = export[pos].replace(b"psn-000004", b"psn-00000X")
    report = verify_export(export, KEY)
    assert report.problems[0].kind == "altered"
    assert report.first_bad_leaf_index == 0
    assert report.window == (0, 10)


def test_a_deleted_entry_is_named(export: list[bytes]) -> None:
    pos = line_of(export, 23)
    del export[pos]
    report = verify_export(export, KEY)
    [problem] = report.problems
    assert problem.kind == "missing"
    assert report.first_bad_leaf_index == 23
    assert problem.line == pos + 1  # the line that now holds leaf 24
    assert "leaf 23 is missing" in report.message


def test_a_deleted_entry_just_before_a_checkpoint_is_named(export: list[bytes]) -> None:
    del export[line_of(export, 29)]
    report = verify_export(export, KEY)
    assert report.problems[0].kind == "missing"
    assert report.first_bad_leaf_index == 29
    assert "29..29 are missing" in report.message


def test_swapped_entries_are_named_as_reordered(export: list[bytes]) -> None:
    a, b = line_of(export, 23), line_of(export, 24)
    export[a], export[b] = export[b], export[a]
    report = verify_export(export, KEY)
    [problem] = report.problems
    assert problem.kind == "reordered"
    assert report.first_bad_leaf_index == 23
    assert problem.line == a + 1
    assert f"comes later, at line {b + 1}" in report.message


def test_a_repeated_entry_is_named_as_inserted(export: list[bytes]) -> None:
    pos = line_of(export, 23)
    export.insert(pos + 1, export[pos])
    report = verify_export(export, KEY)
    [problem] = report.problems
    assert problem.kind == "reordered"
    assert report.first_bad_leaf_index == 23
    assert problem.line == pos + 2
    assert "leaf_index 23 comes again" in report.message


def test_a_forged_entry_inserted_in_sequence_is_found(export: list[bytes]) -> None:
    pos = line_of(export, 23)
    export.insert(pos, entry_line(make_entry(23, decision="allow", forged=True)))
    report = verify_export(export, KEY)
    assert report.problems[0].kind == "reordered"
    assert report.first_bad_leaf_index == 23


def test_renumbered_entries_after_an_insert_are_caught_by_the_checkpoint(
    export: list[bytes],
) -> None:
    # The forger renumbers every later entry in the window; the checkpoint counts them.
    pos = line_of(export, 23)
    renumbered = [entry_line(make_entry(23, forged=True))]
    for i in range(23, 30):
        obj = json.loads(export[line_of(export, i)])
        obj["leaf_index"] = i + 1
        renumbered.append(entry_line(obj))
    end = line_of(export, 29) + 1
    export[pos:end] = renumbered
    report = verify_export(export, KEY)
    assert report.problems[0].kind == "reordered"
    assert report.first_bad_leaf_index == 30
    assert "covers 30 entries but 31 precede it" in report.message


def test_a_dropped_final_checkpoint_leaves_the_tail_unsigned(export: list[bytes]) -> None:
    export.pop()
    report = verify_export(export, KEY)
    [problem] = report.problems
    assert problem.kind == "unsigned"
    assert report.first_bad_leaf_index == 40
    assert report.window == (40, 45)
    assert report.verified_size == 40
    assert "does not end with a checkpoint" in report.message


def test_an_export_without_any_checkpoint_is_unsigned() -> None:
    lines = [entry_line(e) for e in ENTRIES[:5]]
    report = verify_export(lines, KEY)
    assert report.problems[0].kind == "unsigned"
    assert report.first_bad_leaf_index == 0
    assert not verify_export([], KEY).ok


def test_an_altered_final_checkpoint_is_refused(export: list[bytes]) -> None:
    note = json.loads(export[-1])["checkpoint"]
    export[-1] = checkpoint_line(note.replace("\n45\n", "\n44\n"))
    report = verify_export(export, KEY)
    [problem] = report.problems
    assert problem.kind == "signature"
    assert report.first_bad_leaf_index == 40
    assert report.window == (40, 45)


def test_a_checkpoint_by_another_key_is_refused(export: list[bytes]) -> None:
    frontier = Frontier.empty()
    for e in ENTRIES:
        frontier.append(leaf_hash(canonical_bytes(e)))
    export[-1] = checkpoint_line(OTHER.sign(Checkpoint(ORIGIN, 45, frontier.root()).body()))
    report = verify_export(export, KEY)
    assert report.problems[0].kind == "signature"
    assert "no signature" in report.message


def test_a_checkpoint_of_another_origin_is_refused(export: list[bytes]) -> None:
    frontier = Frontier.empty()
    for e in ENTRIES:
        frontier.append(leaf_hash(canonical_bytes(e)))
    export[-1] = checkpoint_line(SIGNER.sign(Checkpoint("other.log", 45, frontier.root()).body()))
    report = verify_export(export, KEY)
    assert report.problems[0].kind == "origin"


@pytest.mark.parametrize(
    ("line", "why"),
    [
        (b'{"schema_version":1,"leaf_index":23,"amount":12.5}\n', "floats"),
        (b'{"schema_version":1,"leaf_index":23,"leaf_index":23}\n', "duplicate"),
        (b'{"schema_version":1,"leaf_index":23,"n":9007199254740993}\n', "exact range"),
        (b'{"schema_version":1,"leaf_index":"23"}\n', "integer leaf_index"),
        (b'{"leaf_index":23}\n', "schema_version"),
        (b"[1, 2]\n", "not a JSON object"),
        (b"{not json\n", "not a valid JSON"),
        (b'{"schema_version":1,"leaf_index":23,"n":NaN}\n', "NaN"),
        (b'{"checkpoint": 5}\n', "checkpoint line"),
        (b'\xff{"schema_version":1}\n', "not a valid JSON"),
    ],
)
def test_malformed_lines_are_named(export: list[bytes], line: bytes, why: str) -> None:
    pos = line_of(export, 23)
    export[pos] = line
    report = verify_export(export, KEY)
    [problem] = report.problems
    assert problem.kind == "malformed"
    assert problem.line == pos + 1
    assert report.first_bad_leaf_index == 23
    assert why in report.message


# -- the earlier checkpoint an auditor kept -------------------------------------------------


def test_an_earlier_checkpoint_of_this_log_is_consistent(export: list[bytes]) -> None:
    frontier = Frontier.empty()
    for e in ENTRIES[:17]:
        frontier.append(leaf_hash(canonical_bytes(e)))
    old = SIGNER.sign(Checkpoint(ORIGIN, 17, frontier.root()).body())
    report = verify_export(export, KEY, earlier_checkpoint=old)
    assert report.ok, report.message
    assert "consistent with the earlier checkpoint at size 17" in report.message
    _, notes = build_export(ENTRIES)
    assert verify_export(export, KEY, earlier_checkpoint=notes[-1]).ok
    empty = SIGNER.sign(Checkpoint(ORIGIN, 0, EMPTY_ROOT).body())
    assert verify_export(export, KEY, earlier_checkpoint=empty).ok


def test_a_checkpoint_of_a_different_log_is_inconsistent(export: list[bytes]) -> None:
    forked = [make_entry(i, forked=True) for i in range(30)]
    _, notes = build_export(forked)
    report = verify_export(export, KEY, earlier_checkpoint=notes[-1])
    [problem] = report.problems
    assert problem.kind == "inconsistent"
    assert report.first_bad_leaf_index is None
    assert "not consistent" in report.message
    assert report.verified_size == 45  # the export itself is intact


def test_a_checkpoint_of_a_log_with_another_origin_is_refused(export: list[bytes]) -> None:
    _, notes = build_export(ENTRIES[:20], origin="other.example/log")
    report = verify_export(export, KEY, earlier_checkpoint=notes[-1])
    assert report.problems[0].kind == "origin"


def test_a_log_shorter_than_the_earlier_checkpoint_was_rolled_back(export: list[bytes]) -> None:
    _, notes = build_export([*ENTRIES, make_entry(45), make_entry(46)])
    report = verify_export(export, KEY, earlier_checkpoint=notes[-1])
    [problem] = report.problems
    assert problem.kind == "rolled-back"
    assert report.first_bad_leaf_index == 45


def test_an_earlier_checkpoint_by_another_key_is_reported(export: list[bytes]) -> None:
    _, notes = build_export(ENTRIES[:20], signer=OTHER)
    report = verify_export(export, KEY, earlier_checkpoint=notes[-1])
    assert not report.ok
    assert report.problems[0].kind == "signature"
    assert "earlier checkpoint" in report.message


# -- canonical entry bytes ------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(st.text(), json_values, max_size=6))
def test_canonical_bytes_are_rfc_8785(entry: dict[str, Any]) -> None:
    try:
        want = rfc8785.dumps(entry)
    except (UnicodeEncodeError, rfc8785.CanonicalizationError):
        with pytest.raises(ValueError):
            canonical_bytes(entry)
        return
    assert canonical_bytes(entry) == want


def test_canonical_bytes_refuse_floats_anywhere() -> None:
    for bad in ({"a": 1.0}, {"a": [1, {"b": 0.5}]}, {"a": float("nan")}):
        with pytest.raises(ValueError, match="float"):
            canonical_bytes(bad)
    with pytest.raises(ValueError):
        canonical_bytes({"a": 2**53})
    with pytest.raises(ValueError):
        canonical_bytes({1: "a"})  # type: ignore[dict-item]


def test_keys_beyond_the_bmp_sort_by_utf16_code_units() -> None:
    entry = {"\U0001f600": 1, "\ufb01": 2}  # Python's order puts U+FB01 first; UTF-16 not
    assert canonical_bytes(entry) == rfc8785.dumps(entry)
    assert canonical_bytes(entry).index("\U0001f600".encode()) < canonical_bytes(entry).index(
        "\ufb01".encode()
    )


# -- the command line -----------------------------------------------------------------------


def run_cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "audit", *args],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_exit_codes(tmp_path: Path, export: list[bytes]) -> None:
    good = tmp_path / "export.jsonl"
    good.write_bytes(b"".join(export))
    key_file = tmp_path / "broker.pub"
    key_file.write_text(KEY + "\n")

    ok = run_cli("verify", str(good), "--public-key", KEY)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith("OK: verified: 45 entries")
    assert "\r" not in ok.stderr  # no progress bar when not on a terminal

    assert run_cli("verify", str(good), "--public-key", str(key_file)).returncode == 0
    piped = run_cli("verify", "-", "--public-key", KEY, stdin=b"".join(export))
    assert piped.returncode == 0, piped.stdout + piped.stderr

    bad = tmp_path / "altered.jsonl"
    pos = line_of(export, 23)
    altered = list(export)
    altered[pos] = altered[pos].replace(b"psn-000017", b"psn-000018")
    bad.write_bytes(b"".join(altered))
    failed = run_cli("verify", str(bad), "--public-key", KEY)
    assert failed.returncode == 1
    assert failed.stdout.startswith("FAILED: line")
    assert "first bad leaf index: 20" in failed.stdout
    assert "window: leaves 20..29" in failed.stdout

    old = tmp_path / "old.note"
    old.write_text(build_export([make_entry(i, forked=True) for i in range(5)])[1][-1])
    inconsistent = run_cli("verify", str(good), "--public-key", KEY, "--checkpoint", str(old))
    assert inconsistent.returncode == 1
    assert "not consistent" in inconsistent.stdout

    assert run_cli("verify", str(good), "--public-key", "not-a-key").returncode == 2
    assert run_cli("verify", str(tmp_path / "nope"), "--public-key", KEY).returncode == 2
    missing_old = run_cli(
        "verify", str(good), "--public-key", KEY, "--checkpoint", str(tmp_path / "nope")
    )
    assert missing_old.returncode == 2
    assert run_cli("verify", str(good)).returncode == 2
    assert run_cli().returncode == 2
