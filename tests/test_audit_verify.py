"""The offline verifier: an intact export verifies; each kind of tampering is named and placed;
every line it does not use is a warning naming the line, and an error when strict.

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
from audit.note import KEY_ROTATION, Checkpoint, NoteSigner, add_signature
from audit.verify import MAX_WARNINGS, VerificationReport, verify_export

ORIGIN = "exchange.example/audit"
SIGNER = NoteSigner(ORIGIN, Ed25519PrivateKey.from_private_bytes(b"\x01" * 32))
KEY = SIGNER.verifier_key()
OTHER = NoteSigner(ORIGIN, Ed25519PrivateKey.from_private_bytes(b"\x02" * 32))
NEXT = NoteSigner(ORIGIN, Ed25519PrivateKey.from_private_bytes(b"\x03" * 32))  # after rotation


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


def root_at(size: int, entries: Sequence[dict[str, Any]] = ENTRIES) -> bytes:
    return root_of_leaves([canonical_bytes(e) for e in entries[:size]])


def signed_checkpoint(size: int, signer: NoteSigner = SIGNER, *extensions: str) -> bytes:
    """A checkpoint line over the first ``size`` of ENTRIES, as ``signer`` would sign it."""
    return checkpoint_line(signer.sign(Checkpoint(ORIGIN, size, root_at(size), extensions).body()))


def assert_clean(report: VerificationReport) -> None:
    assert report.ok, report.message
    assert report.warnings == [], [w.message for w in report.warnings]


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
    assert report.warnings == []
    assert "not used" not in report.message
    assert_clean(verify_export(export, KEY, strict=True))


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
    # Verified by its parsed content; the bytes as written are not what the broker wrote.
    [warning] = report.warnings
    assert (warning.kind, warning.line) == ("non-canonical", pos + 1)
    assert warning.message.startswith(f"line {pos + 1}: entry 12 is not written as the broker")
    strict = verify_export(export, KEY, strict=True)
    assert not strict.ok
    assert [p.kind for p in strict.problems] == ["non-canonical"]


def test_non_ascii_entries_verify() -> None:
    entries = [
        make_entry(i, note="Dïjk, van — €", **{"\U0001f600": 1, "\ufb01": 2}) for i in range(12)
    ]
    lines, _ = build_export(entries, every=5)
    assert_clean(verify_export(lines, KEY))


def test_blank_lines_verify_with_a_warning_each(export: list[bytes]) -> None:
    export.insert(3, b"\n")
    export.insert(8, b"\r\n")
    export.append(b"\n")
    report = verify_export(export, KEY)
    assert report.ok, report.message
    assert [(w.kind, w.line) for w in report.warnings] == [
        ("blank", 4),
        ("blank", 9),
        ("blank", len(export)),
    ]
    assert report.warnings[0].message == "line 4: a blank line, not used"
    assert "3 lines not used" in report.message
    strict = verify_export(export, KEY, strict=True)
    assert not strict.ok
    assert strict.warnings == []
    assert [p.line for p in strict.problems] == [4, 9, len(export)]
    assert strict.message.startswith("strict verification: 3 lines of the export not used")
    assert strict.first_bad_leaf_index is None  # every entry verifies
    assert strict.verified_size == 45


def test_warnings_beyond_the_limit_are_counted_not_listed(export: list[bytes]) -> None:
    export[1:1] = [b"\n"] * (MAX_WARNINGS + 5)
    report = verify_export(export, KEY)
    assert report.ok
    assert len(report.warnings) == MAX_WARNINGS
    assert report.warnings_not_listed == 5
    assert f"{MAX_WARNINGS + 5} lines not used" in report.message


# -- lines the verifier does not use: checkpoints and signatures of other keys ---------------


@pytest.mark.parametrize(
    ("where", "size"),
    [
        ("before the first genuine checkpoint", 5),
        ("between two genuine checkpoints", 25),
        ("after the final checkpoint", 45),
    ],
)
def test_a_checkpoint_by_an_unknown_key_is_a_warning_naming_its_line(
    export: list[bytes], where: str, size: int
) -> None:
    # Its size and root are right: only the key is one the auditor was not given.
    pos = len(export) if size == 45 else line_of(export, size - 1) + 1
    export.insert(pos, signed_checkpoint(size, OTHER))
    report = verify_export(export, KEY)
    assert report.ok, report.message
    assert report.checkpoints == 5  # the genuine ones, all used
    assert report.verified_size == 45
    [warning] = report.warnings
    assert (warning.kind, warning.line) == ("unknown-key", pos + 1)
    assert warning.message.startswith(f"line {pos + 1}: checkpoint not used: no signature by")
    assert f"signed only by {ORIGIN} (key ID {OTHER.key_id:08x})" in warning.message
    assert "1 line not used" in report.message

    strict = verify_export(export, KEY, strict=True)
    assert not strict.ok, where
    [problem] = strict.problems
    assert (problem.kind, problem.line) == ("unknown-key", pos + 1)
    assert strict.message.startswith("strict verification: 1 line of the export not used")
    assert f"line {pos + 1}: checkpoint not used" in strict.message


def test_only_checkpoints_by_unknown_keys_verify_nothing() -> None:
    lines, _ = build_export(ENTRIES, signer=OTHER)
    first, *others = (pos + 1 for pos in checkpoint_positions(lines))
    report = verify_export(lines, KEY)
    assert not report.ok
    [problem] = report.problems
    assert (problem.kind, problem.line) == ("signature", first)
    assert report.checkpoints == 0
    assert report.verified_size == 0
    # The first of them is the problem; the others are named as not used.
    assert [(w.kind, w.line) for w in report.warnings] == [("unknown-key", n) for n in others]


def test_a_co_signature_by_an_unknown_key_is_a_warning(export: list[bytes]) -> None:
    [_, second, *_] = checkpoint_positions(export)
    note = json.loads(export[second])["checkpoint"]
    export[second] = checkpoint_line(add_signature(note, OTHER))
    report = verify_export(export, KEY)
    assert report.ok, report.message
    [warning] = report.warnings
    assert (warning.kind, warning.line) == ("unknown-signature", second + 1)
    assert f"a signature by {ORIGIN} (key ID {OTHER.key_id:08x})" in warning.message
    assert "not checked" in warning.message
    assert not verify_export(export, KEY, strict=True).ok


def test_an_unknown_checkpoint_extension_is_a_warning(export: list[bytes]) -> None:
    [first, *_] = checkpoint_positions(export)
    export[first] = signed_checkpoint(10, SIGNER, "witness-time 1700000000")
    report = verify_export(export, KEY)
    assert report.ok, report.message
    [warning] = report.warnings
    assert (warning.kind, warning.line) == ("extension", first + 1)
    assert "'witness-time 1700000000'" in warning.message
    assert not verify_export(export, KEY, strict=True).ok


def rotated_export(cosigned: bytes | None = None) -> list[bytes]:
    """ENTRIES signed by SIGNER up to 20, where SIGNER announces NEXT (co-signed by NEXT, as
    the broker does), then by NEXT alone."""
    lines, _ = build_export(ENTRIES)
    [_, at_20, at_30, at_40, final] = checkpoint_positions(lines)
    body = Checkpoint(ORIGIN, 20, root_at(20), (f"{KEY_ROTATION} {NEXT.verifier_key()}",)).body()
    lines[at_20] = cosigned or checkpoint_line(add_signature(SIGNER.sign(body), NEXT))
    for pos, size in ((at_30, 30), (at_40, 40), (final, 45)):
        lines[pos] = signed_checkpoint(size, NEXT)
    return lines


def test_a_rotated_export_verified_with_the_first_key_is_clean() -> None:
    assert_clean(verify_export(rotated_export(), KEY, strict=True))


def test_a_rotated_export_verified_with_only_the_new_key_names_what_it_cannot_check() -> None:
    lines = rotated_export()
    first, at_20 = checkpoint_positions(lines)[:2]
    report = verify_export(lines, NEXT.verifier_key())
    assert report.ok, report.message
    assert [(w.kind, w.line) for w in report.warnings] == [
        ("unknown-key", first + 1),  # signed by the old key only
        ("unknown-signature", at_20 + 1),  # the old key's signature on the announcement
    ]
    assert "the first checkpoint that verifies covers its entries too" in (
        report.warnings[0].message
    )
    assert not verify_export(lines, NEXT.verifier_key(), strict=True).ok


def test_an_announced_keys_broken_signature_on_its_announcement_is_refused() -> None:
    body = Checkpoint(ORIGIN, 20, root_at(20), (f"{KEY_ROTATION} {NEXT.verifier_key()}",)).body()
    # NEXT's signature over other text: the note names NEXT but NEXT did not sign it.
    forged = SIGNER.sign(body) + NEXT.sign("another text\n").splitlines(keepends=True)[-1]
    lines = rotated_export(checkpoint_line(forged))
    report = verify_export(lines, KEY)
    assert not report.ok
    assert report.problems[0].kind == "signature"
    assert "announces a key whose own signature on it does not verify" in report.message


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
    assert report.first_bad_leaf_index == 40
    assert report.window == (40, 45)
    assert report.warnings == []  # the line is the problem, named once


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


def test_cli_warns_about_lines_it_does_not_use_and_strict_fails_on_them(
    tmp_path: Path, export: list[bytes]
) -> None:
    good = tmp_path / "export.jsonl"
    good.write_bytes(b"".join(export))
    clean = run_cli("verify", str(good), "--public-key", KEY, "--strict")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "warning" not in clean.stdout + clean.stderr

    pos = line_of(export, 4) + 1  # before the first genuine checkpoint
    export.insert(pos, signed_checkpoint(5, OTHER))
    foreign = tmp_path / "foreign.jsonl"
    foreign.write_bytes(b"".join(export))

    warned = run_cli("verify", str(foreign), "--public-key", KEY)
    assert warned.returncode == 0, warned.stdout + warned.stderr
    assert warned.stdout.startswith("OK: verified: 45 entries")
    assert f"\nwarning: line {pos + 1}: checkpoint not used: no signature by" in warned.stdout

    strict = run_cli("verify", str(foreign), "--public-key", KEY, "--strict")
    assert strict.returncode == 1, strict.stdout + strict.stderr
    assert strict.stdout.startswith(
        f"FAILED: strict verification: 1 line of the export not used, although the entries "
        f"verify; the first: line {pos + 1}: checkpoint not used"
    )
    assert "--strict" in run_cli("verify", "--help").stdout
