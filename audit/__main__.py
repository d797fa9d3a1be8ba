"""``python -m audit verify EXPORT --public-key KEY [--checkpoint OLD] [--strict]``: the
auditor's tool.

Exit status: 0 when everything verifies, 1 when something does not (the first problem is
named), 2 on usage errors (unreadable file, malformed key). A line of the export the verifier
does not use (a checkpoint signed by a key it was not given and saw no announcement of, a
blank line, ...) is printed as a warning, naming the line and why; it leaves the status at 0,
unless ``--strict``, which makes every such line a problem (status 1).
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import time
from collections.abc import Iterator, Sequence
from typing import BinaryIO, TextIO

from audit.note import NoteError, parse_verifier_key
from audit.verify import VerificationReport, verify_export

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m audit",
        description="Verify an exported audit log of the signal exchange, offline.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser(
        "verify",
        help="verify an export (JSON Lines of entries and signed checkpoints)",
        description="Recompute every leaf and root of an exported audit log and check its "
        "signed checkpoints with the broker's public key.",
    )
    verify.add_argument("export", metavar="EXPORT", help="the export file, or - for stdin")
    verify.add_argument(
        "--public-key",
        required=True,
        metavar="KEY",
        help="the broker's verifier key (name+id+base64), or a file holding it",
    )
    verify.add_argument(
        "--checkpoint",
        metavar="OLD",
        help="a signed checkpoint you kept earlier; the log must extend it",
    )
    verify.add_argument(
        "--strict",
        action="store_true",
        help="fail (exit 1) on any line the verifier does not use, which otherwise is only "
        "a warning: a checkpoint signed by a key neither given nor announced, a signature by "
        "such a key, an unknown checkpoint extension, an entry not in canonical form, a "
        "blank line",
    )
    args = parser.parse_args(argv)
    return _verify(args.export, args.public_key, args.checkpoint, strict=args.strict)


def _verify(export: str, key_arg: str, old_path: str | None, *, strict: bool = False) -> int:
    """Verify one export and print a summary; return the exit status."""
    try:
        verifier_key = _read_key(key_arg)
        parse_verifier_key(verifier_key)
    except (OSError, NoteError) as exc:
        return _usage(f"--public-key: {exc}")
    earlier: str | None = None
    if old_path is not None:
        try:
            with open(old_path, encoding="utf-8") as f:
                earlier = f.read()
        except (OSError, UnicodeDecodeError) as exc:
            return _usage(f"--checkpoint: {exc}")
    try:
        stream: BinaryIO = sys.stdin.buffer if export == "-" else open(export, "rb")  # noqa: SIM115
    except OSError as exc:
        return _usage(f"EXPORT: {exc}")
    total = None if export == "-" else _file_size(stream)
    bar = _ProgressBar(sys.stderr, total) if sys.stderr.isatty() else None
    counted = _CountingLines(stream)
    try:
        report = verify_export(
            counted,
            verifier_key,
            earlier_checkpoint=earlier,
            progress=(lambda n: bar.update(n, counted.bytes_read)) if bar else None,
            strict=strict,
        )
    except OSError as exc:
        return _usage(f"EXPORT: {exc}")
    finally:
        if bar is not None:
            bar.close()
        if stream is not sys.stdin.buffer:
            stream.close()
    _print_report(report, sys.stdout)
    return EXIT_OK if report.ok else EXIT_PROBLEM


def _read_key(arg: str) -> str:
    """KEY is the verifier key text itself, or the path of a file that holds it."""
    if os.path.isfile(arg):
        with open(arg, encoding="utf-8") as f:
            return f.read().strip()
    return arg.strip()


def _print_report(report: VerificationReport, out: TextIO) -> None:
    """A plain summary: OK or FAILED, then the facts an auditor writes down (the warnings
    among them: which lines were not used, and why)."""
    root = base64.b64encode(report.root).decode("ascii")
    if report.ok:
        print(f"OK: {report.message}", file=out)
        print(f"entries: {report.size}", file=out)
        print(f"root: {root}", file=out)
        _print_warnings(report, out)
        return
    print(f"FAILED: {report.message}", file=out)
    for problem in report.problems[1:]:
        print(f"also: {problem.message}", file=out)
    _print_warnings(report, out)
    if report.first_bad_leaf_index is not None:
        print(f"first bad leaf index: {report.first_bad_leaf_index}", file=out)
    if report.window is not None:
        start, end = report.window
        print(f"window: leaves {start}..{end - 1}", file=out)
    print(
        f"verified: leaves 0..{report.verified_size - 1} (by {report.checkpoints} checkpoints)"
        if report.verified_size
        else "verified: nothing",
        file=out,
    )


def _print_warnings(report: VerificationReport, out: TextIO) -> None:
    for warning in report.warnings:
        print(f"warning: {warning.message}", file=out)
    if report.warnings_not_listed:
        print(f"warning: and {report.warnings_not_listed} more lines not used", file=out)


def _usage(message: str) -> int:
    print(f"python -m audit: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _file_size(stream: BinaryIO) -> int | None:
    try:
        return os.fstat(stream.fileno()).st_size
    except (OSError, ValueError):
        return None


class _CountingLines:
    """Iterate a binary stream's lines, counting the bytes read (for the progress bar)."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.bytes_read = 0

    def __iter__(self) -> Iterator[bytes]:
        for line in self._stream:
            self.bytes_read += len(line)
            yield line


class _ProgressBar:
    """A one-line progress bar on a terminal: entries read and, for files, the share done."""

    def __init__(self, out: TextIO, total_bytes: int | None) -> None:
        self._out = out
        self._total = total_bytes
        self._last = 0.0
        self._shown = False

    def update(self, entries: int, bytes_read: int) -> None:
        now = time.monotonic()
        if now - self._last < 0.1:
            return
        self._last = now
        if self._total:
            share = min(1.0, bytes_read / self._total)
            filled = int(share * 30)
            line = f"\r[{'#' * filled}{'.' * (30 - filled)}] {share:6.1%} {entries:,} entries"
        else:
            line = f"\r{entries:,} entries"
        self._out.write(line)
        self._out.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            self._out.write("\r\x1b[K")
            self._out.flush()


if __name__ == "__main__":
    sys.exit(main())
