"""Reading a register directory: YAML files with line numbers, merged into one set.

A register is a directory of YAML files. Each file may hold any of the sections
``register``, ``recipient_kinds``, ``feedback_codes``, ``fields``, ``categories``,
``purposes`` and ``rules``; the broker merges the files, so how the entries are spread over
files, and in which order, carries no meaning. Every value keeps the file and line it came
from, so that the checker can point a privacy officer at the exact place of a mistake.

The canonical form (:func:`canonical_register`) is what the version hash covers:

- every section's entries sorted by their ``id``, whatever file they came from;
- inside an entry, mapping keys sorted and every list of plain values sorted (all such
  lists in a register are sets: recipient kinds, actions, fields, categories, legal bases,
  feedback codes);
- the version hash of the intake document named by ``register.eligibility`` added under
  ``eligibility_version``, so that a change to eligibility is a new register version;
- YAML comments, layout, key order and quoting are not part of the hash; text values are
  (a changed description is a changed register).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SECTIONS = (
    "recipient_kinds",
    "feedback_codes",
    "fields",
    "categories",
    "purposes",
    "rules",
)

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class SourceFile:
    """One YAML file of a register with the line of every value in it."""

    path: Path
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)
    duplicate_keys: tuple[tuple[Path_, int], ...] = ()
    parse_error: tuple[int, str] | None = None

    def line_of(self, path: Path_) -> int:
        """The line of the value at ``path``, or of its nearest enclosing value."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return 1


@dataclass(frozen=True)
class Entry:
    """One entry of a section (a purpose, a rule, ...) and where it was written."""

    section: str
    item: dict[str, Any]
    source: SourceFile
    index: int

    def line(self, *path: str | int) -> int:
        """The line of this entry, or of one of its values (``entry.line("fields", 2)``)."""
        return self.source.line_of((self.section, self.index, *path))


def default_register_dir() -> Path:
    """The register that ships with the package."""
    return Path(__file__).parent / "register"


def read_sources(directory: Path) -> list[SourceFile]:
    """Read every ``*.yaml`` file of a register directory, in name order, with line marks."""
    return [read_source(path) for path in sorted(directory.glob("*.yaml"))]


def read_source(path: Path) -> SourceFile:
    """Parse one YAML file, recording the line of every key and value (1-based)."""
    text = path.read_text(encoding="utf-8")
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else 1
        return SourceFile(path, None, parse_error=(line, str(error.problem or error)))
    finally:
        loader.dispose()
    lines: dict[Path_, int] = {}
    duplicates: list[tuple[Path_, int]] = []
    if node is not None:
        _mark_lines(node, (), lines, duplicates)
    return SourceFile(path, data, lines, tuple(duplicates))


def entries(sources: list[SourceFile], section: str) -> Iterator[Entry]:
    """Every entry of one section across all files, in file order."""
    for source in sources:
        if not isinstance(source.data, dict):
            continue
        items = source.data.get(section)
        if not isinstance(items, list):
            continue
        for index, item in enumerate(items):
            if isinstance(item, dict):
                yield Entry(section, item, source, index)


def canonical_register(sources: list[SourceFile], eligibility_version: str | None) -> Any:
    """The merged register in canonical form (see the module docstring)."""
    document: dict[str, Any] = {}
    for source in sources:
        if isinstance(source.data, dict) and "register" in source.data:
            document["register"] = _canonical(source.data["register"])
    for section in SECTIONS:
        merged = [_canonical(entry.item) for entry in entries(sources, section)]
        document[section] = sorted(merged, key=lambda item: str(item.get("id")))
    document["eligibility_version"] = eligibility_version
    return document


def version_hash(canonical: Any) -> str:
    """SHA-256 over the canonical JSON text of a register: ``sha256:<hex>``."""
    text = json.dumps(
        canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _canonical(item) for key, item in value.items()}
    if isinstance(value, list):
        items = [_canonical(item) for item in value]
        if all(not isinstance(item, dict | list) for item in items):
            return sorted(items, key=lambda item: (type(item).__name__, str(item)))
        return items
    return value


def _mark_lines(
    node: yaml.Node, path: Path_, lines: dict[Path_, int], duplicates: list[tuple[Path_, int]]
) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            key_line = key_node.start_mark.line + 1
            if key in seen:
                duplicates.append(((*path, key), key_line))
            seen.add(key)
            lines[(*path, key)] = key_line
            _mark_lines(value_node, (*path, key), lines, duplicates)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _mark_lines(item, (*path, index), lines, duplicates)
