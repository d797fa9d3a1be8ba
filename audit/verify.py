"""The offline verifier: check an exported audit log with only the broker's public key.

What it proves, when it says OK:

- every entry line, re-encoded canonically (RFC 8785), hashes into the Merkle tree whose
  root each checkpoint line states for its size, and each checkpoint carries a valid
  Ed25519 signature by the given key: no entry was altered, removed, added or moved;
- entries carry ``leaf_index`` 0, 1, 2, ... in order, and a checkpoint after the last of
  them covers them all;
- if you kept an earlier checkpoint, the exported log extends it: the root recomputed at
  its size equals its root, which, with every leaf in hand, is the consistency proof.

Key rotation: a checkpoint signed by a trusted key may announce the broker's next
checkpoint key in an extension line ``key-rotation <verifier key>``; from there on
checkpoints signed by that key are trusted as well (and its co-signature on the announcement
must verify). An auditor keeps verifying with the key they first trusted. One who has only a
newer key can verify too: checkpoints before the first one that key signed are left out (that
checkpoint's root covers every earlier entry, so only the finer location of an alteration is
lost).

Nothing is left out silently. A checkpoint no trusted key signed, wherever it stands, is not
used, and the report warns about it by line; so it does about every other line or part of a
line the verifier reads but does not use (a signature by an untrusted key, an unknown
checkpoint extension, an entry not in its canonical bytes, a blank line). Strict
verification makes each warning a problem. A checkpoint whose signature by a trusted key
does not verify is always a problem, and so are entries that no trusted checkpoint covers.

What it cannot prove: that nothing was appended after the last checkpoint in the export
(ask the broker for a newer checkpoint and verify again), or which single entry changed
inside a window between two checkpoints (the signatures cover windows, not entries).

The verifier stops at the first problem, since everything after a break in the sequence
would only repeat it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from audit.entry import canonical_bytes
from audit.merkle import EMPTY_ROOT
from audit.note import (
    KEY_ROTATION,
    Checkpoint,
    MissingSignature,
    NoteError,
    announced_keys,
    note_signatures,
    open_checkpoint,
    open_note,
    parse_verifier_key,
)

__all__ = ["Problem", "VerificationReport", "verify_export"]

PROGRESS_EVERY = 8192
"""``progress`` is called after every this many entries (and once at the end)."""

MAX_WARNINGS = 1000
"""At most this many warnings are listed; the rest are counted (a file of a million blank
lines should not cost a million messages)."""


@dataclass(frozen=True)
class Problem:
    """One thing that does not verify, or a line that is not used, with where it was found.

    For a problem, ``kind`` is one of: ``malformed`` (a line that is not a well-formed entry
    or checkpoint), ``missing`` (leaf indices absent: entries deleted), ``reordered`` (a leaf
    index repeated or out of order: entries moved, duplicated or inserted), ``altered`` (a
    checkpoint's root does not match the entries it covers), ``signature`` (a checkpoint
    without a valid signature by the key), ``unsigned`` (entries after the last checkpoint,
    or no checkpoint at all), ``origin`` (a checkpoint of another log), ``inconsistent``
    (the earlier checkpoint is not a prefix of this log), ``rolled-back`` (the log is shorter
    than the earlier checkpoint).

    For a warning (something in the export the verifier read but did not use), ``kind`` is
    one of: ``unknown-key`` (a checkpoint signed by no trusted key, left out),
    ``unknown-signature`` (a signature by an untrusted key on a checkpoint that verifies, not
    checked), ``extension`` (a checkpoint extension line other than ``key-rotation``, not
    used), ``non-canonical`` (an entry line that is not the canonical bytes the broker
    writes: only its parsed content is verified), ``blank`` (a blank line). Warnings name a
    line, not a leaf: the entries themselves verify.
    """

    kind: str
    message: str
    line: int | None = None
    leaf_index: int | None = None

    def __str__(self) -> str:
        """The message, for printing."""
        return self.message


@dataclass
class VerificationReport:
    """The outcome of :func:`verify_export`.

    ``size`` is the number of entries read in order before any problem, ``root`` the root
    hash recomputed over them. ``verified_size`` is the size covered by the last checkpoint
    that verified. ``first_bad_leaf_index`` is the first leaf this verifier cannot vouch for
    (None when everything verifies or the problem is not tied to a leaf); ``window`` is the
    leaf range ``[start, end)`` an altered entry must lie in, when that is all that is known.

    ``warnings`` name every line (or part of one) the verifier read but did not use, in file
    order; they do not change ``ok``, unless the verification was strict, where they are
    problems instead (and ``warnings`` is empty). Only the first ``MAX_WARNINGS`` are listed;
    ``warnings_not_listed`` counts the rest.
    """

    ok: bool
    size: int
    root: bytes
    problems: list[Problem] = field(default_factory=list)
    first_bad_leaf_index: int | None = None
    message: str = ""
    verified_size: int = 0
    checkpoints: int = 0
    origin: str | None = None
    window: tuple[int, int] | None = None
    warnings: list[Problem] = field(default_factory=list)
    warnings_not_listed: int = 0


class _Stop(Exception):
    """Internal: the first problem of the export was found."""

    def __init__(self, problem: Problem, window: tuple[int, int] | None = None) -> None:
        super().__init__(problem.message)
        self.problem = problem
        self.window = window


def verify_export(
    lines: Iterable[bytes],
    verifier_key: str,
    earlier_checkpoint: str | None = None,
    progress: Callable[[int], None] | None = None,
    *,
    strict: bool = False,
) -> VerificationReport:
    """Verify an exported audit log (JSON Lines, see :mod:`audit.export`) against a key.

    ``lines`` are the export's lines as bytes (a binary file object will do),
    ``verifier_key`` the broker's verifier key text, ``earlier_checkpoint`` a signed
    checkpoint note you kept from before (it must be a prefix of this log), ``progress``
    a callback receiving the number of entries read so far. Raises NoteError when
    ``verifier_key`` itself is malformed; everything else is reported, never raised.

    Every line the verifier reads but does not use is a warning in the report (a checkpoint
    no trusted key signed, an untrusted co-signature, an unknown checkpoint extension, an
    entry not in canonical form, a blank line). With ``strict`` each of them is a problem
    instead: the report is not ok, although the entries may all verify. An export the broker
    wrote, verified with its current key or a key it announced since, has none.
    """
    key_name = parse_verifier_key(verifier_key)[0]
    problems: list[Problem] = []
    earlier: Checkpoint | None = None
    if earlier_checkpoint is not None:
        try:
            earlier = open_checkpoint(earlier_checkpoint, verifier_key)
        except NoteError as exc:
            problems.append(Problem("signature", f"the earlier checkpoint does not verify: {exc}"))
    state = _Scan(verifier_key, earlier, progress)
    window: tuple[int, int] | None = None
    try:
        state.run(iter(lines))
    except _Stop as stop:
        problems.append(stop.problem)
        window = stop.window
    root = state.root()
    if not problems and earlier is not None:
        problem = _compare_earlier(earlier, state)
        if problem is not None:
            problems.append(problem)
    # A line that is itself the problem (a checkpoint by an unknown key where the tail needed
    # one) is named once, as the problem.
    lines_at_fault = {p.line for p in problems if p.line is not None}
    warnings = [w for w in state.warnings if w.line not in lines_at_fault]
    not_listed = state.warnings_not_listed
    unused = len(warnings) + not_listed
    first_bad = next((p.leaf_index for p in problems if p.leaf_index is not None), None)
    if problems:
        message = problems[0].message
    elif strict and warnings:
        message = (
            f"strict verification: {_lines(unused)} of the export not used, although the "
            f"entries verify; the first: {warnings[0].message}"
        )
    else:
        message = (
            f"verified: {state.size} entries of log {state.origin!r}, root "
            f"{base64.b64encode(root).decode('ascii')}, {state.checkpoints} checkpoints "
            f"signed by {key_name}"
        )
        if earlier is not None:
            message += f"; consistent with the earlier checkpoint at size {earlier.size}"
        if warnings:
            message += f"; {_lines(unused)} not used (see the warnings)"
    if strict:
        problems.extend(warnings)
        warnings = []
    return VerificationReport(
        ok=not problems,
        size=state.size,
        root=root,
        problems=problems,
        first_bad_leaf_index=first_bad,
        message=message,
        verified_size=state.verified_size,
        checkpoints=state.checkpoints,
        origin=state.origin,
        window=window,
        warnings=warnings,
        warnings_not_listed=not_listed,
    )


def _lines(n: int) -> str:
    return f"{n} line" if n == 1 else f"{n} lines"


def _compare_earlier(earlier: Checkpoint, state: _Scan) -> Problem | None:
    """Check that the verified export extends the earlier checkpoint the auditor kept."""
    if earlier.origin != state.origin:
        return Problem(
            "origin",
            f"the earlier checkpoint is of log {earlier.origin!r}, this export of log "
            f"{state.origin!r}",
        )
    if earlier.size > state.size:
        return Problem(
            "rolled-back",
            f"the earlier checkpoint covers {earlier.size} entries but this export holds only "
            f"{state.size}: the log was truncated or rolled back since",
            leaf_index=state.size,
        )
    if state.earlier_root != earlier.root:
        # With every leaf in hand, recomputing the root at the old size is the consistency
        # proof (RFC 9162 §2.1.4): a mismatch means the first `earlier.size` leaves differ.
        return Problem(
            "inconsistent",
            f"the earlier checkpoint (size {earlier.size}) is not consistent with this log: "
            f"the root recomputed at that size differs. The log was rewritten after that "
            f"checkpoint was signed, or the checkpoint is of another log with the same name "
            f"and key; which leaf differs cannot be told from a root alone",
        )
    return None


class _Scan:
    """One pass over the export, keeping the tree's frontier and the last good checkpoint."""

    def __init__(
        self,
        verifier_key: str,
        earlier: Checkpoint | None,
        progress: Callable[[int], None] | None,
    ) -> None:
        self.verifier_keys = [verifier_key]
        name, kid, _ = parse_verifier_key(verifier_key)
        self.trusted = {(name, kid)}  # (key name, key ID) of every key in verifier_keys
        self.skipped: Problem | None = None  # the first checkpoint no trusted key signed
        self.last_skipped: tuple[int, MissingSignature] | None = None  # the last one
        self.warnings: list[Problem] = []
        self.warnings_not_listed = 0
        self.earlier = earlier
        self.progress = progress
        self.size = 0
        self.hashes: list[bytes] = []  # the frontier: see audit.merkle.Frontier
        self.line_of_leaf = array("q")
        self.verified_size = 0
        self.verified_line = 0
        self.checkpoints = 0
        self.origin: str | None = None
        self.earlier_root: bytes | None = None

    def root(self) -> bytes:
        """The root hash over the entries read so far."""
        hashes = self.hashes
        if not hashes:
            return EMPTY_ROOT
        r = hashes[-1]
        for h in reversed(hashes[:-1]):
            r = hashlib.sha256(b"\x01" + h + r).digest()
        return r

    def run(self, lines: Iterator[bytes]) -> None:
        """Read every line; raise _Stop at the first problem."""
        decode = _FAST_DECODER.decode
        strict_decode = _DECODER.decode
        dumps = _ENCODER.encode
        sha = hashlib.sha256
        hashes = self.hashes
        line_of_leaf = self.line_of_leaf
        progress = self.progress
        size = self.size
        line_no = 0
        seen_any = False
        self._check_earlier(size)
        for raw in lines:
            line_no += 1
            if len(raw) < 3 and not raw.strip():
                self._warn(Problem("blank", f"line {line_no}: a blank line, not used", line_no))
                continue
            seen_any = True
            data = b""
            line = raw[:-1] if raw.endswith(b"\n") else raw
            try:
                obj = decode(raw.decode("utf-8"))
                if type(obj) is dict and "checkpoint" not in obj:
                    # The fast decoder keeps the last of duplicate keys; when the line is not
                    # byte-for-byte canonical, parse it again refusing them.
                    text = dumps(obj)
                    if text.isascii() and line == text.encode("ascii"):
                        data = line
                    else:
                        obj = strict_decode(raw.decode("utf-8"))
            except (ValueError, RecursionError) as exc:
                self.size = size
                raise _Stop(
                    self._malformed(line_no, size, f"not a valid JSON object: {exc}")
                ) from None
            if type(obj) is not dict:
                self.size = size
                raise _Stop(self._malformed(line_no, size, "not a JSON object"))
            if "checkpoint" in obj:
                self.size = size
                self._checkpoint(obj, line_no)
                continue
            index = obj.get("leaf_index")
            if type(index) is not int or type(obj.get("schema_version")) is not int:
                self.size = size
                raise _Stop(
                    self._malformed(
                        line_no, size, "an entry needs an integer leaf_index and schema_version"
                    )
                )
            if index != size:
                self.size = size
                raise _Stop(self._out_of_sequence(line_no, index, lines))
            if not data:
                try:
                    data = canonical_bytes(obj)
                except ValueError as exc:
                    self.size = size
                    raise _Stop(self._malformed(line_no, size, str(exc))) from None
                if data != line:
                    self._warn(
                        Problem(
                            "non-canonical",
                            f"line {line_no}: entry {size} is not written as the broker writes "
                            f"entries (RFC 8785 canonical JSON): its whitespace, key order or "
                            f"escapes differ; it is verified by its parsed content, the rest of "
                            f"its bytes is not used",
                            line_no,
                        )
                    )
            h = sha(b"\x00" + data).digest()
            carry = size
            while carry & 1:
                h = sha(b"\x01" + hashes.pop() + h).digest()
                carry >>= 1
            hashes.append(h)
            size += 1
            line_of_leaf.append(line_no)
            if self.earlier is not None and size == self.earlier.size:
                self.size = size
                self._check_earlier(size)
            if progress is not None and not size % PROGRESS_EVERY:
                progress(size)
        self.size = size
        if progress is not None:
            progress(size)
        if not seen_any:
            raise _Stop(Problem("unsigned", "the export is empty: no entries, no checkpoint"))
        if self.skipped is not None and not self.checkpoints:
            raise _Stop(self.skipped)
        if self.verified_size != size:
            start = self.verified_size
            if self.last_skipped is not None and self.last_skipped[0] > line_of_leaf[size - 1]:
                # A checkpoint by an unknown key stands where the one covering the tail should.
                skipped_line, missing = self.last_skipped
                raise _Stop(
                    Problem(
                        "signature",
                        f"line {skipped_line}: the checkpoint does not verify ({missing}); leaves "
                        f"{start}..{size - 1} are not verified",
                        skipped_line,
                        start,
                    ),
                    (start, size),
                )
            where = f" (lines {line_of_leaf[start]}–{line_of_leaf[size - 1]})" if size else ""
            raise _Stop(
                Problem(
                    "unsigned",
                    f"the export does not end with a checkpoint: leaves {start}..{size - 1}"
                    f"{where} are not covered by any signature (the file was cut short or "
                    f"its last checkpoint removed)",
                    leaf_index=start,
                ),
                (start, size),
            )

    def _checkpoint(self, obj: dict[str, Any], line_no: int) -> None:
        """Verify one checkpoint line against the entries read so far."""
        size = self.size
        start = self.verified_size
        note = obj.get("checkpoint")
        if len(obj) != 1 or not isinstance(note, str):
            raise _Stop(
                self._malformed(line_no, size, 'a checkpoint line is {"checkpoint": "<note>"}')
            )
        try:
            checkpoint = self._open(note)
        except MissingSignature as exc:
            self._skip(note, line_no, exc)
            return
        except NoteError as exc:
            unverified = f"leaves {start}..{size - 1} are not verified" if size > start else ""
            raise _Stop(
                Problem(
                    "signature",
                    f"line {line_no}: the checkpoint does not verify ({exc})"
                    + (f"; {unverified}" if unverified else ""),
                    line_no,
                    start if size > start else None,
                ),
                (start, size) if size > start else None,
            ) from None
        if self.origin is None:
            self.origin = checkpoint.origin
        elif checkpoint.origin != self.origin:
            raise _Stop(
                Problem(
                    "origin",
                    f"line {line_no}: checkpoint of log {checkpoint.origin!r}, but this export "
                    f"is of log {self.origin!r}",
                    line_no,
                    start if size > start else None,
                )
            )
        if checkpoint.size > size:
            raise _Stop(
                Problem(
                    "missing",
                    f"line {line_no}: the checkpoint covers {checkpoint.size} entries but only "
                    f"{size} precede it: leaves {size}..{checkpoint.size - 1} are missing "
                    f"(deleted)",
                    line_no,
                    size,
                )
            )
        if checkpoint.size < size:
            first = checkpoint.size
            raise _Stop(
                Problem(
                    "reordered",
                    f"line {line_no}: the checkpoint covers {checkpoint.size} entries but "
                    f"{size} precede it: the entries from line {self.line_of_leaf[first]} "
                    f"(leaf_index {first}) on were inserted",
                    line_no,
                    max(first, start),
                )
            )
        if self.root() != checkpoint.root:
            lines = (
                f" (lines {self.line_of_leaf[start]}–{self.line_of_leaf[size - 1]})"
                if size > start
                else ""
            )
            base = (
                f"the last checkpoint that verifies (line {self.verified_line}) covers "
                f"leaves 0..{start - 1}"
                if start
                else "no earlier checkpoint verifies"
            )
            raise _Stop(
                Problem(
                    "altered",
                    f"line {line_no}: the checkpoint at size {size} does not match the "
                    f"entries: an entry among leaves {start}..{size - 1}{lines} was altered "
                    f"(or the checkpoint was replaced). {base}. The signatures cover windows, "
                    f"not single entries, so first_bad_leaf_index is the first leaf of the "
                    f"window, not necessarily the altered one",
                    line_no,
                    start,
                ),
                (start, size),
            )
        self.verified_size = size
        self.verified_line = line_no
        self.checkpoints += 1
        self._learn_keys(checkpoint, note, line_no)

    def _open(self, note: str) -> Checkpoint:
        """The checkpoint, when a trusted key signed it and every trusted key's signature on
        it verifies; else the error of a key whose signature is there but does not verify,
        or (MissingSignature) of the first key when no trusted key signed it."""
        opened: Checkpoint | None = None
        errors: list[NoteError] = []
        for key in self.verifier_keys:
            try:
                checkpoint = open_checkpoint(note, key)
            except NoteError as exc:
                errors.append(exc)
            else:
                opened = opened or checkpoint
        broken = [e for e in errors if not isinstance(e, MissingSignature)]
        if broken:
            raise broken[0]
        if opened is None:
            raise errors[0]
        return opened

    def _skip(self, note: str, line_no: int, exc: MissingSignature) -> None:
        """Leave out a checkpoint no trusted key signed, and say so.

        Signed by a key older than the one given (the auditor has only the newer key), or by
        a key nobody announced: either way the trusted checkpoints around it still cover its
        entries (only the finer location of an alteration is lost), and a tail that no
        trusted checkpoint covers is refused at the end.
        """
        signers = ", ".join(f"{name} (key ID {kid.hex()})" for name, kid in note_signatures(note))
        covered = (
            "the first checkpoint that verifies covers its entries too"
            if not self.checkpoints
            else "its entries are vouched for only by the next checkpoint that verifies"
        )
        self._warn(
            Problem(
                "unknown-key",
                f"line {line_no}: checkpoint not used: {exc}; it is signed only by {signers}, "
                f"a key neither given to the verifier nor announced by a trusted checkpoint; "
                f"{covered}",
                line_no,
            )
        )
        self.skipped = self.skipped or Problem(
            "signature", f"line {line_no}: the checkpoint does not verify ({exc})", line_no
        )
        self.last_skipped = (line_no, exc)

    def _learn_keys(self, checkpoint: Checkpoint, note: str, line_no: int) -> None:
        """Trust the keys a verified checkpoint announces; name what of it goes unused.

        The new key's own signature on its announcement is checked too (the broker co-signs
        it, so that an auditor holding only the new key can start there); a signature by any
        other key, and an extension line other than ``key-rotation``, is not used: a warning.
        """
        size = self.size
        announced: list[str] = []
        prefix = KEY_ROTATION + " "
        for extension in checkpoint.extensions:
            if not extension.startswith(prefix):
                self._warn(
                    Problem(
                        "extension",
                        f"line {line_no}: the checkpoint's extension line {extension[:80]!r} is "
                        f"not one this verifier knows (only {KEY_ROTATION}); it is signed but "
                        f"not used",
                        line_no,
                    )
                )
        for key in announced_keys(checkpoint):
            try:
                name, kid, _ = parse_verifier_key(key)
            except NoteError as exc:
                raise _Stop(
                    self._malformed(line_no, size, f"the announced key is not usable: {exc}")
                ) from None
            if key not in self.verifier_keys:
                self.verifier_keys.append(key)
                self.trusted.add((name, kid))
                announced.append(key)
        for name, kid in note_signatures(note):
            if (name, kid) not in self.trusted:
                self._warn(
                    Problem(
                        "unknown-signature",
                        f"line {line_no}: the checkpoint also carries a signature by {name} "
                        f"(key ID {kid.hex()}), a key neither given to the verifier nor "
                        f"announced by a trusted checkpoint; that signature is not checked",
                        line_no,
                    )
                )
        for key in announced:
            try:
                open_note(note, key)
            except MissingSignature:
                continue  # announced without co-signing: its own checkpoints come later
            except NoteError as exc:
                raise _Stop(
                    Problem(
                        "signature",
                        f"line {line_no}: the checkpoint announces a key whose own signature "
                        f"on it does not verify ({exc})",
                        line_no,
                    )
                ) from None

    def _warn(self, problem: Problem) -> None:
        """Note a line (or part of one) that is not used; the first MAX_WARNINGS are kept."""
        if len(self.warnings) < MAX_WARNINGS:
            self.warnings.append(problem)
        else:
            self.warnings_not_listed += 1

    def _check_earlier(self, size: int) -> None:
        """Keep the root at the earlier checkpoint's size, to compare once the export verifies."""
        if self.earlier is not None and size == self.earlier.size:
            self.earlier_root = self.root()

    def _malformed(self, line_no: int, size: int, why: str) -> Problem:
        return Problem("malformed", f"line {line_no}: {why}", line_no, size)

    def _out_of_sequence(self, line_no: int, index: int, rest: Iterator[bytes]) -> Problem:
        """Tell a gap (deleted entries) from a repeat or a move (reordered, inserted)."""
        expected = self.size
        if index < expected:
            first_line = self.line_of_leaf[index] if index >= 0 else None
            # The earlier copy is only vouched for when a verified checkpoint covers it.
            bad = index if index >= self.verified_size else expected
            return Problem(
                "reordered",
                f"line {line_no}: leaf_index {index} comes again (first at line {first_line}) "
                f"where {expected} was expected: entries were reordered or an entry inserted",
                line_no,
                bad,
            )
        later = _find_leaf(rest, expected, line_no)
        if later is not None:
            return Problem(
                "reordered",
                f"line {line_no}: leaf_index {index} where {expected} was expected; "
                f"leaf_index {expected} comes later, at line {later}: entries were reordered "
                f"or an entry inserted",
                line_no,
                expected,
            )
        missing = f"{expected}" if index == expected + 1 else f"{expected}..{index - 1}"
        return Problem(
            "missing",
            f"line {line_no}: leaf_index {index} where {expected} was expected: leaf "
            f"{missing} is missing (deleted)",
            line_no,
            expected,
        )


def _find_leaf(lines: Iterator[bytes], wanted: int, line_no: int) -> int | None:
    """The line number of the first later entry with leaf_index ``wanted``, if any."""
    for raw in lines:
        line_no += 1
        try:
            obj = json.loads(raw)
        except ValueError:
            continue
        if type(obj) is dict and obj.get("leaf_index") == wanted:
            return line_no
    return None


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Build a JSON object, refusing duplicate keys (they would hide one value)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate object key")
    return obj


def _refuse_float(text: str) -> Any:
    raise ValueError(f"floats are not allowed in audit entries ({text})")


def _refuse_constant(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")


_INT_MAX = 2**53 - 1


def _exact_int(text: str) -> int:
    value = int(text)
    if not -_INT_MAX <= value <= _INT_MAX:
        raise ValueError(f"integer {text} is outside the exact range of JSON numbers")
    return value


# Objects are built by the C decoder (fast); duplicate keys are caught by comparing the line
# with its canonical form and, when that differs, by decoding again with _DECODER.
_FAST_DECODER = json.JSONDecoder(
    parse_float=_refuse_float,
    parse_int=_exact_int,
    parse_constant=_refuse_constant,
)
_DECODER = json.JSONDecoder(
    object_pairs_hook=_object,
    parse_float=_refuse_float,
    parse_int=_exact_int,
    parse_constant=_refuse_constant,
)
# Compact, sorted keys, no ASCII escaping: for a value the decoder above accepted, this is
# exactly RFC 8785 whenever the result is pure ASCII (key order cannot differ in UTF-16).
# (A parsed value has no cycles, so the encoder need not look for them.)
_ENCODER = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":"), check_circular=False
)
