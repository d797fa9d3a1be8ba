"""Intake rules: is an early signal eligible, and how are signals linked into cases.

The rules are read from ``documents/intake.yaml``, checked against
``schema/intake.schema.json`` and compiled once into lookup tables. ``IntakePolicy.decide``
is a pure function: no I/O, same answer for the same facts.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

DOCUMENT = "intake.yaml"
SCHEMA = "intake.schema.json"


@dataclass(frozen=True)
class Evidence:
    field: str
    description: str


@dataclass(frozen=True)
class IntakeRule:
    id: str
    min_days_in_arrears: int
    basis: str
    required_evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True)
class Failure:
    """One reason a signal is not eligible, naming the field of the signal at fault."""

    field: str
    reason: str


@dataclass(frozen=True)
class IntakeDecision:
    """The outcome for one signal: eligible or not, the rule that decided, and why."""

    eligible: bool
    rule_id: str
    policy_version: str
    refused: bool = False
    failures: tuple[Failure, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class SignalFacts:
    """What the intake rules look at; the caller copies these from the validated signal."""

    kind: str
    arrears_since: dt.date
    preconditions: Mapping[str, object]


@dataclass(frozen=True)
class IntakePolicy:
    version: str
    version_hash: str
    link_window: dt.timedelta
    repeat_window: dt.timedelta
    refusal_blocks_every_kind: bool
    default_rule: IntakeRule
    rules: Mapping[str, IntakeRule]
    amount_bands_cents: tuple[int, ...]
    age_bands_years: tuple[int, ...]

    def rule_for(self, kind: str) -> IntakeRule:
        return self.rules.get(kind, self.default_rule)

    def decide(self, facts: SignalFacts, today: dt.date) -> IntakeDecision:
        """Decide whether a signal may be sent. A refusal overrides everything else."""
        rule = self.rule_for(facts.kind)
        if self.refusal_blocks_every_kind and facts.preconditions.get("subject_refused") is True:
            return IntakeDecision(
                eligible=False,
                rule_id=rule.id,
                policy_version=self.version_hash,
                refused=True,
                failures=(
                    Failure(
                        "preconditions.subject_refused",
                        "the person refused to have the details passed on; do not signal",
                    ),
                ),
            )
        failures: list[Failure] = []
        days = (today - facts.arrears_since).days
        if days < rule.min_days_in_arrears:
            failures.append(
                Failure(
                    "arrears_since",
                    f"{days} days in arrears; {_article(facts.kind)} {facts.kind} signal "
                    f"needs at least {rule.min_days_in_arrears}",
                )
            )
        for evidence in rule.required_evidence:
            value = facts.preconditions.get(evidence.field)
            if value is None or value is False:
                failures.append(
                    Failure(
                        f"preconditions.{evidence.field}",
                        f"required for {_article(facts.kind)} {facts.kind} signal: "
                        f"{evidence.description}",
                    )
                )
        return IntakeDecision(
            eligible=not failures,
            rule_id=rule.id,
            policy_version=self.version_hash,
            failures=tuple(failures),
        )

    def amount_band(self, amount_cents: int) -> str:
        """The band an amount falls in, e.g. ``500-1000`` (euros), for queues and figures."""
        return _band(self.amount_bands_cents, amount_cents, scale=100)

    def age_band(self, birth_date: dt.date, today: dt.date) -> str:
        years = (
            today.year
            - birth_date.year
            - ((today.month, today.day) < (birth_date.month, birth_date.day))
        )
        return _band(self.age_bands_years, years, scale=1, below="under")


@cache
def load_intake_policy(path: Path | None = None) -> IntakePolicy:
    """Read, validate and compile the intake document (the shipped one by default)."""
    if path is None:
        text = resources.files("policies").joinpath("documents", DOCUMENT).read_text()
    else:
        text = path.read_text()
    document: dict[str, Any] = yaml.safe_load(text)
    schema = json.loads(resources.files("policies").joinpath("schema", SCHEMA).read_text())
    jsonschema.validate(document, schema)
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return IntakePolicy(
        version=document["version"],
        version_hash="sha256:" + hashlib.sha256(canonical.encode()).hexdigest(),
        link_window=dt.timedelta(days=document["linking"]["link_window_days"]),
        repeat_window=dt.timedelta(days=document["linking"]["repeat_window_days"]),
        refusal_blocks_every_kind=document["refusal_blocks_every_kind"],
        default_rule=_rule(document["default_rule"]),
        rules={kind: _rule(rule) for kind, rule in document["signal_kinds"].items()},
        amount_bands_cents=tuple(document["bands"]["amount_cents"]),
        age_bands_years=tuple(document["bands"]["age_years"]),
    )


def _rule(raw: Mapping[str, Any]) -> IntakeRule:
    return IntakeRule(
        id=raw["id"],
        min_days_in_arrears=raw["min_days_in_arrears"],
        basis=raw["basis"],
        required_evidence=tuple(
            Evidence(item["field"], item["description"])
            for item in raw.get("required_evidence", [])
        ),
    )


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _band(bounds: tuple[int, ...], value: int, *, scale: int, below: str = "0") -> str:
    position = bisect.bisect_right(bounds, value)
    if position == 0:
        return f"{below}-{bounds[0] // scale}"
    if position == len(bounds):
        return f"{bounds[-1] // scale}+"
    return f"{bounds[position - 1] // scale}-{bounds[position] // scale}"
