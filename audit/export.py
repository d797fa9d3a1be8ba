"""The export format the verifier reads: JSON Lines of entries and signed checkpoints.

Each line is either an entry (a JSON object with an integer ``leaf_index`` and a
``schema_version``), written as its canonical bytes, or ``{"checkpoint": "<signed note>"}``.
Entries come in leaf order 0, 1, 2, ...; a checkpoint line covers exactly the entries before
it (its tree size is their number) and the last line is always a checkpoint. Every line is
the RFC 8785 form of its object (:func:`audit.entry.canonical_bytes`). The broker writes its
checkpoint lines with :func:`checkpoint_line`; its entry lines are the leaf bytes as stored,
which it wrote in that same form when it appended them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from audit.entry import canonical_bytes

__all__ = ["checkpoint_line", "entry_line"]


def entry_line(entry: Mapping[str, Any]) -> bytes:
    """Return one export line for an entry: its RFC 8785 canonical bytes and a newline."""
    if type(entry.get("leaf_index")) is not int or "schema_version" not in entry:
        raise ValueError("an exported entry carries an integer leaf_index and a schema_version")
    return canonical_bytes(entry) + b"\n"


def checkpoint_line(note: str) -> bytes:
    """Return one export line for a signed checkpoint note: ``{"checkpoint":note}``."""
    return canonical_bytes({"checkpoint": note}) + b"\n"
