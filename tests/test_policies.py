"""The intake policy document and its engine, without a database."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import jsonschema
import pytest
import yaml

from policies.intake import IntakePolicy, SignalFacts, load_intake_policy

TODAY = dt.date(2026, 11, 25)
ALL_EVIDENCE = {
    "contact_attempted_on": dt.date(2026, 11, 1),
    "debt_help_offered_on": dt.date(2026, 11, 1),
    "reminder_sent_on": dt.date(2026, 10, 20),
    "reminder_offered_transfer": True,
    "subject_refused": False,
}


@pytest.fixture(scope="module")
def policy() -> IntakePolicy:
    return load_intake_policy()


def facts(kind: str = "rent", days: int = 45, **preconditions: object) -> SignalFacts:
    return SignalFacts(
        kind=kind,
        arrears_since=TODAY - dt.timedelta(days=days),
        preconditions={**ALL_EVIDENCE, **preconditions},
    )


def test_rent_signal_with_all_four_conditions_is_eligible(policy: IntakePolicy) -> None:
    decision = policy.decide(facts(), TODAY)
    assert decision.eligible
    assert decision.rule_id == "intake.rent"
    assert decision.policy_version == policy.version_hash


@pytest.mark.parametrize(
    ("missing", "value"),
    [
        ("contact_attempted_on", None),
        ("debt_help_offered_on", None),
        ("reminder_sent_on", None),
        ("reminder_offered_transfer", False),
    ],
)
def test_rent_signal_missing_one_condition_names_it(
    policy: IntakePolicy, missing: str, value: object
) -> None:
    decision = policy.decide(facts(**{missing: value}), TODAY)
    assert not decision.eligible
    assert [f.field for f in decision.failures] == [f"preconditions.{missing}"]


def test_thirty_days_in_arrears_is_the_threshold(policy: IntakePolicy) -> None:
    assert policy.decide(facts(days=30), TODAY).eligible
    too_early = policy.decide(facts(days=29), TODAY)
    assert not too_early.eligible
    assert too_early.failures[0].field == "arrears_since"
    assert "29 days" in too_early.failures[0].reason


def test_refusal_overrides_everything_for_every_kind(policy: IntakePolicy) -> None:
    for kind in ("rent", "energy", "water", "health_insurance", "other"):
        decision = policy.decide(facts(kind=kind, subject_refused=True), TODAY)
        assert not decision.eligible
        assert decision.refused
        assert decision.failures[0].field == "preconditions.subject_refused"


def test_energy_signal_needs_no_rent_evidence(policy: IntakePolicy) -> None:
    bare = SignalFacts(kind="energy", arrears_since=TODAY - dt.timedelta(days=40), preconditions={})
    decision = policy.decide(bare, TODAY)
    assert decision.eligible
    assert decision.rule_id == "intake.energy"


def test_amount_and_age_bands_are_coarse(policy: IntakePolicy) -> None:
    assert policy.amount_band(125_000) == "1000-2500"
    assert policy.amount_band(1) == "0-500"
    assert policy.amount_band(5_000_000) == "10000+"
    assert policy.age_band(dt.date(1985, 6, 15), TODAY) == "27-45"
    assert policy.age_band(dt.date(1959, 11, 26), TODAY) == "45-67"  # 66, birthday tomorrow
    assert policy.age_band(dt.date(1959, 11, 25), TODAY) == "67+"


def test_shipped_document_matches_its_schema() -> None:
    root = Path(__file__).parents[1] / "policies"
    document = yaml.safe_load((root / "documents" / "intake.yaml").read_text())
    schema = yaml.safe_load((root / "schema" / "intake.schema.json").read_text())
    jsonschema.validate(document, schema)


def test_a_document_with_an_unknown_evidence_field_is_refused(tmp_path: Path) -> None:
    root = Path(__file__).parents[1] / "policies" / "documents" / "intake.yaml"
    document = yaml.safe_load(root.read_text())
    document["signal_kinds"]["rent"]["required_evidence"].append(
        {"field": "asked_the_neighbours", "description": "not a Besluit condition"}
    )
    path = tmp_path / "intake.yaml"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(jsonschema.ValidationError):
        load_intake_policy(path)


def test_version_hash_changes_when_a_rule_changes(tmp_path: Path) -> None:
    root = Path(__file__).parents[1] / "policies" / "documents" / "intake.yaml"
    document = yaml.safe_load(root.read_text())
    document["signal_kinds"]["rent"]["min_days_in_arrears"] = 60
    path = tmp_path / "intake.yaml"
    path.write_text(yaml.safe_dump(document))
    changed = load_intake_policy(path)
    assert changed.version_hash != load_intake_policy().version_hash
    assert not changed.decide(facts(days=45), TODAY).eligible


def test_policies_package_never_imports_exchange() -> None:
    root = Path(__file__).parents[1]
    for package in ("policies", "audit"):
        for source in (root / package).rglob("*.py"):
            text = source.read_text()
            assert "import exchange" not in text and "from exchange" not in text, source
