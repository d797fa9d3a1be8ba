"""Checking a register directory before it is activated.

:func:`check_register` returns every problem as ``file:line: problem``. It finds two kinds:

- **schema errors**: YAML that does not parse, duplicate keys, and anything that does not
  match ``schema/register.schema.json`` (a missing name, an unknown legal basis, ...);
- **logical errors**, which a schema cannot see:

  - an id defined twice (two purposes, rules, fields, ... with the same id);
  - a category listing a field that is not declared under ``fields``;
  - a purpose naming a category that does not exist;
  - a rule naming an unknown purpose, recipient kind, field or feedback code;
  - a rule that requires consent under a purpose whose legal basis is not consent
    (``eu-gdpr:A6-1-a``), or a rule under a consent-only purpose that does not require it;
  - a rule disclosing a field outside its purpose's data categories;
  - a rule showing a pseudonym field while its pseudonym form is ``none``;
  - a rule disclosing ``feedback.status`` without listing the feedback codes it may show;
  - an ``aggregate`` rule that is not ``aggregates_only``;
  - overlapping rules (same recipient kind, purpose and action) that disagree;
  - no ``register`` section, or more than one; an eligibility document that is missing or
    invalid.

Logical checks run only when the files are free of schema errors: they assume the shape
the schema guarantees.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from policies.intake import load_intake_policy
from policies.source import SECTIONS, Entry, SourceFile, entries, read_sources

SCHEMA = "register.schema.json"
CONSENT = "eu-gdpr:A6-1-a"
PSEUDONYM_FIELDS = frozenset({"subject_pseudonym", "household_pseudonym"})
_DISAGREEMENT_TERMS = (
    "fields",
    "consent_required",
    "pseudonym",
    "feedback_codes",
    "aggregates_only",
    "min_group_size",
)


@dataclass(frozen=True, order=True)
class Problem:
    """One mistake in a register, at a file and line."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


def check_register(directory: Path) -> list[Problem]:
    """Every schema and logical problem of the register in ``directory``, in file order.

    An empty list means the register may be activated.
    """
    return check_sources(directory, read_sources(directory))


def check_sources(directory: Path, sources: list[SourceFile]) -> list[Problem]:
    """Like :func:`check_register` for files already read (the loader uses this)."""
    if not sources:
        return [Problem(str(directory), 0, "no register files (*.yaml) in this directory")]
    problems = [problem for source in sources for problem in _schema_problems(source)]
    if not problems:
        problems = _logical_problems(directory, sources)
    return sorted(problems)


def eligibility_path(directory: Path, sources: list[SourceFile]) -> Path | None:
    """The intake document named by ``register.eligibility``, resolved against the directory."""
    for source in sources:
        if isinstance(source.data, dict) and isinstance(source.data.get("register"), dict):
            name = source.data["register"].get("eligibility")
            if isinstance(name, str):
                return (directory / name).resolve()
    return None


@cache
def register_schema() -> dict[str, Any]:
    """The JSON Schema every register file must match (shipped with the package)."""
    path = Path(__file__).parent / "schema" / SCHEMA
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


def _schema_problems(source: SourceFile) -> list[Problem]:
    file = str(source.path)
    if source.parse_error is not None:
        line, message = source.parse_error
        return [Problem(file, line, f"not valid YAML: {message}")]
    problems = [
        Problem(file, line, f"{_dotted(path)}: key appears more than once")
        for path, line in source.duplicate_keys
    ]
    validator = jsonschema.Draft202012Validator(register_schema())
    for error in validator.iter_errors(source.data):
        path = tuple(error.absolute_path)
        where = f"{_dotted(path)}: " if path else ""
        problems.append(Problem(file, source.line_of(path), f"{where}{error.message}"))
    return problems


def _logical_problems(directory: Path, sources: list[SourceFile]) -> list[Problem]:
    problems: list[Problem] = []

    def report(entry: Entry, message: str, *path: str | int) -> None:
        problems.append(Problem(str(entry.source.path), entry.line(*path), message))

    problems.extend(_register_section_problems(directory, sources))
    known: dict[str, dict[str, Entry]] = {}
    for section in SECTIONS:
        known[section] = {}
        for entry in entries(sources, section):
            ident = entry.item["id"]
            first = known[section].get(ident)
            if first is not None:
                report(entry, f"{section} id {ident!r} is already defined at {_at(first)}", "id")
            else:
                known[section][ident] = entry

    categories_of: dict[str, set[str]] = {}
    for entry in known["categories"].values():
        for index, name in enumerate(entry.item["fields"]):
            if name not in known["fields"]:
                report(
                    entry, f"category {entry.item['id']!r}: unknown field {name!r}", "fields", index
                )
            categories_of.setdefault(name, set()).add(entry.item["id"])

    for entry in known["purposes"].values():
        for index, name in enumerate(entry.item["categories"]):
            if name not in known["categories"]:
                report(
                    entry,
                    f"purpose {entry.item['id']!r}: unknown category {name!r}",
                    "categories",
                    index,
                )

    for entry in known["rules"].values():
        _rule_problems(entry, known, categories_of, report)
    _overlap_problems(known["rules"].values(), report)
    return problems


def _rule_problems(
    entry: Entry,
    known: dict[str, dict[str, Entry]],
    categories_of: dict[str, set[str]],
    report: Callable[..., None],
) -> None:
    rule = entry.item
    label = f"rule {rule['id']!r}"
    for index, kind in enumerate(rule["recipient_kinds"]):
        if kind not in known["recipient_kinds"]:
            report(entry, f"{label}: unknown recipient kind {kind!r}", "recipient_kinds", index)
    for index, code in enumerate(rule.get("feedback_codes", [])):
        if code not in known["feedback_codes"]:
            report(entry, f"{label}: unknown feedback code {code!r}", "feedback_codes", index)
    if "feedback.status" in rule["fields"] and not rule.get("feedback_codes"):
        report(entry, f"{label}: discloses feedback.status but lists no feedback_codes", "fields")
    if "aggregate" in rule["actions"] and not rule.get("aggregates_only", False):
        report(entry, f"{label}: the aggregate action needs aggregates_only: true", "actions")
    if rule["pseudonym"] == "none":
        for index, name in enumerate(rule["fields"]):
            if name in PSEUDONYM_FIELDS:
                report(
                    entry,
                    f"{label}: pseudonym is none but the rule lists {name!r}",
                    "fields",
                    index,
                )

    purpose_entry = known["purposes"].get(rule["purpose"])
    if purpose_entry is None:
        report(entry, f"{label}: unknown purpose {rule['purpose']!r}", "purpose")
        purpose: dict[str, Any] = {}
    else:
        purpose = purpose_entry.item
    bases = set(purpose.get("legal_basis", []))
    if purpose and rule["consent_required"] and CONSENT not in bases:
        report(
            entry,
            f"{label}: requires consent, but purpose {rule['purpose']!r} has no consent legal "
            f"basis ({CONSENT})",
            "consent_required",
        )
    if purpose and not rule["consent_required"] and bases == {CONSENT}:
        report(
            entry,
            f"{label}: purpose {rule['purpose']!r} rests on consent only, so the rule must set "
            "consent_required: true",
            "consent_required",
        )
    allowed = set(purpose.get("categories", []))
    for index, name in enumerate(rule["fields"]):
        if name not in known["fields"]:
            report(entry, f"{label}: unknown field {name!r}", "fields", index)
        elif purpose and not categories_of.get(name, set()) & allowed:
            report(
                entry,
                f"{label}: discloses {name!r}, which is in no category of purpose "
                f"{rule['purpose']!r} ({', '.join(sorted(categories_of.get(name, set())))})",
                "fields",
                index,
            )


def _overlap_problems(rules: Iterable[Entry], report: Callable[..., None]) -> None:
    seen: dict[tuple[str, str, str], Entry] = {}
    for entry in rules:
        rule = entry.item
        for kind in rule["recipient_kinds"]:
            for action in rule["actions"]:
                key = (kind, rule["purpose"], action)
                other = seen.get(key)
                if other is None:
                    seen[key] = entry
                    continue
                differences = [
                    term
                    for term in _DISAGREEMENT_TERMS
                    if _term(rule, term) != _term(other.item, term)
                ]
                if differences:
                    report(
                        entry,
                        f"rule {rule['id']!r} overlaps rule {other.item['id']!r} ({_at(other)}) "
                        f"for {kind} / {rule['purpose']} / {action} and disagrees on "
                        f"{', '.join(differences)}",
                    )


def _register_section_problems(directory: Path, sources: list[SourceFile]) -> list[Problem]:
    found = [s for s in sources if isinstance(s.data, dict) and "register" in s.data]
    if not found:
        return [Problem(str(sources[0].path), 1, "no register section (version, title, ...)")]
    problems = [
        Problem(str(s.path), s.line_of(("register",)), "a second register section")
        for s in found[1:]
    ]
    path = eligibility_path(directory, sources)
    if path is not None:
        line = found[0].line_of(("register", "eligibility"))
        if not path.is_file():
            problems.append(
                Problem(
                    str(found[0].path),
                    line,
                    f"eligibility document {path} does not exist (a register directory copied "
                    "on its own leaves it behind: `exchange policy copy DIR` writes the whole set)",
                )
            )
        else:
            try:
                load_intake_policy(path)
            except (jsonschema.ValidationError, ValueError, KeyError, TypeError) as error:
                message = getattr(error, "message", str(error))
                problems.append(
                    Problem(str(found[0].path), line, f"eligibility document {path}: {message}")
                )
    return problems


def _term(rule: dict[str, Any], term: str) -> Any:
    value = rule.get(term)
    if term == "aggregates_only":
        return bool(value)
    return frozenset(value) if isinstance(value, list) else value


def _at(entry: Entry) -> str:
    return f"{entry.source.path}:{entry.line()}"


def _dotted(path: tuple[Any, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(document)"
