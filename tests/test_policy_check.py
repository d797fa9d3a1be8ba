"""The register checker: every mistake is reported as ``file:line: problem``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from policies.check import check_register
from policies.engine import RegisterError, load_register
from policies.source import default_register_dir

POLICIES = Path(__file__).parents[1] / "policies"


@pytest.fixture
def register_dir(tmp_path: Path) -> Path:
    shutil.copytree(POLICIES / "register", tmp_path / "register")
    shutil.copytree(POLICIES / "documents", tmp_path / "documents")
    return tmp_path / "register"


def edit(directory: Path, name: str, old: str, new: str) -> tuple[Path, int]:
    """Replace ``old`` (which must occur once) and return the file and the line of the edit."""
    path = directory / name
    text = path.read_text()
    assert text.count(old) == 1, old
    before = text[: text.index(old)]
    path.write_text(text.replace(old, new))
    return path, before.count("\n") + 1 + new[: len(new) - len(new.lstrip("\n"))].count("\n")


def problems_at(directory: Path, path: Path, line: int) -> list[str]:
    found = [str(problem) for problem in check_register(directory)]
    assert found, "expected at least one problem"
    return [text for text in found if text.startswith(f"{path}:{line}: ")]


def test_the_shipped_register_is_clean() -> None:
    assert check_register(default_register_dir()) == []


def test_a_copy_of_the_shipped_register_is_clean(register_dir: Path) -> None:
    assert check_register(register_dir) == []


def test_a_schema_error_names_file_and_line(register_dir: Path) -> None:
    path, line = edit(
        register_dir,
        "purposes.yaml",
        'legal_basis: [eu-gdpr:A6-1-e]\n    national_basis: "Wgs art. 3 lid 2"',
        'legal_basis: [eu-gdpr:A6-1-z]\n    national_basis: "Wgs art. 3 lid 2"',
    )
    found = problems_at(register_dir, path, line)
    assert any("legal_basis" in text and "A6-1-z" in text for text in found), found


def test_a_missing_required_key_is_a_schema_error(register_dir: Path) -> None:
    path, _ = edit(register_dir, "rules.yaml", "    pseudonym: broker\n", "")
    found = [str(p) for p in check_register(register_dir)]
    assert any(
        text.startswith(f"{path}:") and "'pseudonym' is a required property" in text
        for text in found
    )


def test_yaml_that_does_not_parse_names_the_line(register_dir: Path) -> None:
    path, _ = edit(
        register_dir, "rules.yaml", "    pseudonym: broker\n", "    pseudonym: [broker\n"
    )
    found = [str(p) for p in check_register(register_dir)]
    assert len(found) == 1
    assert found[0].startswith(f"{path}:")
    assert "not valid YAML" in found[0]


def test_a_duplicate_key_is_reported(register_dir: Path) -> None:
    path, line = edit(
        register_dir,
        "rules.yaml",
        "    pseudonym: broker\n",
        "    pseudonym: broker\n    pseudonym: none\n",
    )
    assert any("appears more than once" in t for t in problems_at(register_dir, path, line + 1))


def test_an_unknown_field_in_a_rule(register_dir: Path) -> None:
    path, line = edit(
        register_dir,
        "rules.yaml",
        "fields: [subject_pseudonym, household_pseudonym]",
        "fields: [subject_pseudonym, household_pseudonym, person.shoe_size]",
    )
    assert any(
        "unknown field 'person.shoe_size'" in t for t in problems_at(register_dir, path, line)
    )


def test_an_unknown_field_in_a_category(register_dir: Path) -> None:
    path, line = edit(
        register_dir,
        "categories.yaml",
        "fields: [contact.phone, contact.email]",
        "fields: [contact.phone, contact.email, contact.fax]",
    )
    assert any("unknown field 'contact.fax'" in t for t in problems_at(register_dir, path, line))


def test_an_unknown_recipient_kind(register_dir: Path) -> None:
    path, line = edit(
        register_dir,
        "rules.yaml",
        "recipient_kinds: [privacy_officer]",
        "recipient_kinds: [journalist]",
    )
    assert any(
        "unknown recipient kind 'journalist'" in t for t in problems_at(register_dir, path, line)
    )


def test_an_unknown_purpose(register_dir: Path) -> None:
    path, line = edit(
        register_dir, "rules.yaml", "purpose: privacy-oversight", "purpose: marketing"
    )
    assert any("unknown purpose 'marketing'" in t for t in problems_at(register_dir, path, line))


def test_a_consent_rule_without_a_consent_purpose(register_dir: Path) -> None:
    rules = register_dir / "rules.yaml"
    text = rules.read_text()
    marker = (
        "  - id: neighbourhood-team.outreach.record\n    purpose: outreach\n"
        "    recipient_kinds: [neighbourhood_team]\n    actions: [record]\n"
        "    consent_required: false"
    )
    assert marker in text
    rules.write_text(
        text.replace(marker, marker.replace("consent_required: false", "consent_required: true"))
    )
    line = text[: text.index(marker)].count("\n") + 5
    found = problems_at(register_dir, rules, line)
    assert any(
        "requires consent, but purpose 'outreach' has no consent legal basis" in t for t in found
    )


def test_a_rule_under_a_consent_purpose_must_require_consent(register_dir: Path) -> None:
    rules = register_dir / "rules.yaml"
    text = rules.read_text()
    marker = (
        "    purpose: debt-service-referral\n    recipient_kinds: [debt_service]\n"
        "    actions: [receive, read]\n    consent_required: true"
    )
    assert marker in text
    rules.write_text(text.replace(marker, marker.replace("true", "false")))
    line = text[: text.index(marker)].count("\n") + 4
    assert any("rests on consent only" in t for t in problems_at(register_dir, rules, line))


def test_a_rule_disclosing_more_than_its_purpose_categories(register_dir: Path) -> None:
    path, line = edit(
        register_dir,
        "rules.yaml",
        "fields: [subject_pseudonym, household_pseudonym]",
        "fields: [subject_pseudonym, household_pseudonym, person.bsn]",
    )
    found = problems_at(register_dir, path, line)
    assert any("discloses 'person.bsn'" in t and "privacy-oversight" in t for t in found), found


def test_overlapping_rules_that_disagree(register_dir: Path) -> None:
    extra = register_dir / "s-extra-rules.yaml"
    extra.write_text(
        "# a second rule for the neighbourhood team, with the exact amount\n"
        "rules:\n"
        "  - id: neighbourhood-team.outreach.read-more\n"
        "    purpose: outreach\n"
        "    recipient_kinds: [neighbourhood_team]\n"
        "    actions: [read]\n"
        "    consent_required: false\n"
        "    pseudonym: recipient\n"
        "    fields: [person.surname]\n"
    )
    found = problems_at(register_dir, extra, 3)
    assert any(
        "overlaps rule 'neighbourhood-team.outreach.receive'" in t and "disagrees on fields" in t
        for t in found
    ), found


def test_overlapping_rules_that_agree_are_accepted(register_dir: Path) -> None:
    extra = register_dir / "s-extra-rules.yaml"
    extra.write_text(
        "rules:\n"
        "  - id: zz.oversight.copy\n"
        "    purpose: privacy-oversight\n"
        "    recipient_kinds: [privacy_officer]\n"
        "    actions: [read]\n"
        "    consent_required: false\n"
        "    pseudonym: broker\n"
        "    fields: [household_pseudonym, subject_pseudonym]\n"
    )
    assert check_register(register_dir) == []


def test_a_duplicate_id_across_files(register_dir: Path) -> None:
    extra = register_dir / "zz-more.yaml"
    extra.write_text("feedback_codes:\n  - id: closed\n    name: {nl: Dicht, en: Closed again}\n")
    found = problems_at(register_dir, extra, 2)
    assert any("feedback_codes id 'closed' is already defined at" in t for t in found)


def test_a_missing_eligibility_document(register_dir: Path) -> None:
    path, line = edit(
        register_dir,
        "register.yaml",
        'eligibility: "../documents/intake.yaml"',
        'eligibility: "../documents/nowhere.yaml"',
    )
    assert any("does not exist" in t for t in problems_at(register_dir, path, line))


def test_load_register_refuses_a_register_with_problems(register_dir: Path) -> None:
    edit(
        register_dir,
        "rules.yaml",
        "recipient_kinds: [privacy_officer]",
        "recipient_kinds: [journalist]",
    )
    with pytest.raises(RegisterError) as raised:
        load_register(register_dir)
    assert raised.value.problems
    assert "journalist" in str(raised.value)


def test_an_empty_directory_is_a_problem(tmp_path: Path) -> None:
    assert "no register files" in str(check_register(tmp_path)[0])
