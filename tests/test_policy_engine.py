"""The disclosure engine against the shipped register: each rule, deny by default, overrides."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from policies.engine import (
    Consent,
    Decision,
    DecisionRequest,
    Objection,
    Register,
    SubjectState,
    decide,
    load_register,
)
from policies.render import render_html, render_markdown

TODAY = dt.date(2026, 11, 25)
POLICIES = Path(__file__).parents[1] / "policies"
REFERRAL = "debt-service-referral"
PROVIDERS = (
    "housing_corporation",
    "energy_supplier",
    "water_company",
    "health_insurer",
    "other_creditor",
)


@pytest.fixture(scope="module")
def register() -> Register:
    return load_register()


def consent(
    org: str = "org-debt",
    purpose: str = REFERRAL,
    given: int = 10,
    until: int | None = None,
    withdrawn: int | None = None,
) -> Consent:
    """A consent given ``given`` days ago; ``until``/``withdrawn`` in days from today."""
    return Consent(
        purpose,
        org,
        TODAY - dt.timedelta(days=given),
        None if until is None else TODAY + dt.timedelta(days=until),
        None if withdrawn is None else TODAY + dt.timedelta(days=withdrawn),
    )


def referral(register: Register, *consents: Consent, org: str = "org-debt") -> Decision:
    return register.decide(
        DecisionRequest(org, "debt_service", "receive", REFERRAL, TODAY, SubjectState(consents))
    )


# One test per rule of the shipped set --------------------------------------------------


@pytest.mark.parametrize("action", ["receive", "read"])
def test_municipality_receives_the_full_early_signal(register: Register, action: str) -> None:
    decision = register.decide(
        DecisionRequest("org-gem", "municipality", action, "early-signal", TODAY)
    )
    assert decision.permitted
    assert decision.rule_id == "municipality.early-signal.receive"
    assert {"person.bsn", "amount_cents", "contact.phone", "address.street"} <= decision.fields
    assert "preconditions.subject_refused" not in decision.fields
    # The municipality runs the case, so it reads its workers' and its teams' notes.
    assert {"case.notes", "case.contact_attempts", "case.deadline"} <= decision.fields
    assert decision.pseudonym == "recipient"
    assert decision.policy_version == register.version_hash


def test_municipality_records_outreach_on_the_case(register: Register) -> None:
    decision = register.decide(
        DecisionRequest("g", "municipality", "record", "early-signal", TODAY)
    )
    assert decision.permitted
    assert decision.rule_id == "municipality.early-signal.record"
    assert decision.fields == {"case.contact_attempts", "case.result_code", "case.notes"}


@pytest.mark.parametrize("action", ["receive", "read"])
def test_neighbourhood_team_gets_a_minimised_outreach_assignment(
    register: Register, action: str
) -> None:
    decision = register.decide(
        DecisionRequest("wt", "neighbourhood_team", action, "outreach", TODAY)
    )
    assert decision.permitted
    assert decision.rule_id == "neighbourhood-team.outreach.receive"
    assert {"person.surname", "address.street", "contact.phone", "amount_band"} <= decision.fields
    for exact in (
        "person.bsn",
        "person.birth_date",
        "amount_cents",
        "arrears_since",
        "external_ref",
    ):
        assert exact not in decision.fields


def test_neighbourhood_team_records_contact_attempts(register: Register) -> None:
    decision = register.decide(
        DecisionRequest("wt", "neighbourhood_team", "record", "outreach", TODAY)
    )
    assert decision.permitted
    assert decision.rule_id == "neighbourhood-team.outreach.record"
    assert "case.contact_attempts" in decision.fields


def test_referral_to_a_debt_service_with_valid_consent(register: Register) -> None:
    decision = referral(register, consent())
    assert decision.permitted
    assert decision.rule_id == "debt-service.referral.receive"
    assert "amount_cents" in decision.fields
    assert "person.bsn" not in decision.fields


@pytest.mark.parametrize("kind", PROVIDERS)
def test_provider_hears_back_a_status_code_only(register: Register, kind: str) -> None:
    decision = register.decide(DecisionRequest("p", kind, "read", "provider-feedback", TODAY))
    assert decision.permitted
    assert decision.rule_id == "provider.feedback.read"
    assert decision.fields == {
        "external_ref",
        "feedback.status",
        "feedback.collection_paused_until",
    }
    assert decision.feedback_codes == {
        "received",
        "in_contact",
        "help_accepted",
        "not_picked_up",
        "closed",
    }
    assert decision.pseudonym == "none"


def test_statistics_are_aggregates_only(register: Register) -> None:
    decision = register.decide(
        DecisionRequest("g", "municipality", "aggregate", "statistics", TODAY)
    )
    assert decision.permitted
    assert decision.rule_id == "municipality.statistics.aggregate"
    assert decision.aggregates_only
    assert decision.min_group_size == 10
    assert not decision.fields & {
        "person.bsn",
        "person.surname",
        "subject_pseudonym",
        "amount_cents",
    }
    denied = register.decide(DecisionRequest("g", "municipality", "read", "statistics", TODAY))
    assert not denied.permitted


def test_privacy_officer_sees_broker_pseudonyms_only(register: Register) -> None:
    decision = register.decide(
        DecisionRequest("fg", "privacy_officer", "read", "privacy-oversight", TODAY)
    )
    assert decision.permitted
    assert decision.rule_id == "privacy-officer.oversight.read"
    assert decision.fields == {"subject_pseudonym", "household_pseudonym"}
    assert decision.pseudonym == "broker"


# Deny by default ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "action", "purpose"),
    [
        ("neighbourhood_team", "receive", "early-signal"),
        ("housing_corporation", "read", "early-signal"),
        ("housing_corporation", "read", "outreach"),
        ("debt_service", "read", "early-signal"),
        ("privacy_officer", "receive", "early-signal"),
        ("privacy_officer", "read", "privacy_oversight"),
        ("municipality", "read", "debt-service-referral"),
        ("neighbourhood_team", "aggregate", "statistics"),
        ("stranger", "read", "outreach"),
        ("municipality", "delete", "early-signal"),
    ],
)
def test_anything_no_rule_covers_is_denied(
    register: Register, kind: str, action: str, purpose: str
) -> None:
    decision = register.decide(DecisionRequest("x", kind, action, purpose, TODAY))
    assert not decision.permitted
    assert decision.fields == frozenset()
    assert decision.rule_id == "deny.default"
    assert decision.outcome == "no_rule"
    assert decision.policy_version == register.version_hash
    assert decision.reason


# Objection and refusal override -----------------------------------------------------------


def test_an_objection_overrides_the_rule_from_the_day_it_is_made(register: Register) -> None:
    objected = SubjectState(objections=(Objection("outreach", TODAY),))
    decision = register.decide(
        DecisionRequest("wt", "neighbourhood_team", "receive", "outreach", TODAY, objected)
    )
    assert not decision.permitted
    assert decision.outcome == "objected"
    assert decision.rule_id == "neighbourhood-team.outreach.receive"
    assert "art. 21" in decision.reason
    yesterday = TODAY - dt.timedelta(days=1)
    before = register.decide(
        DecisionRequest("wt", "neighbourhood_team", "receive", "outreach", yesterday, objected)
    )
    assert before.permitted


def test_an_objection_to_one_purpose_leaves_the_others(register: Register) -> None:
    objected = SubjectState(objections=(Objection("statistics", TODAY),))
    decision = register.decide(
        DecisionRequest("wt", "neighbourhood_team", "receive", "outreach", TODAY, objected)
    )
    assert decision.permitted


def test_an_objection_overrides_even_a_valid_consent(register: Register) -> None:
    subject = SubjectState((consent(),), (Objection(REFERRAL, TODAY),))
    decision = register.decide(
        DecisionRequest("org-debt", "debt_service", "receive", REFERRAL, TODAY, subject)
    )
    assert not decision.permitted
    assert decision.outcome == "objected"


@pytest.mark.parametrize(
    ("kind", "action", "purpose"),
    [
        ("municipality", "receive", "early-signal"),
        ("neighbourhood_team", "receive", "outreach"),
        ("debt_service", "receive", REFERRAL),
        ("housing_corporation", "read", "provider-feedback"),
        ("municipality", "aggregate", "statistics"),
        ("privacy_officer", "read", "privacy-oversight"),
    ],
)
def test_a_refusal_overrides_every_rule(
    register: Register, kind: str, action: str, purpose: str
) -> None:
    refused = SubjectState(consents=(consent(),), refused=True)
    decision = register.decide(DecisionRequest("org-debt", kind, action, purpose, TODAY, refused))
    assert not decision.permitted
    assert decision.outcome == "refused"
    assert decision.fields == frozenset()


# Consent for the referral -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ((), "no consent at all"),
        ((consent(org="org-other"),), "consent for another debt service"),
        ((consent(purpose="outreach"),), "consent for another purpose"),
        ((consent(until=-1),), "expired yesterday"),
        ((consent(given=-1),), "given tomorrow"),
        ((consent(withdrawn=0),), "withdrawn today"),
        ((consent(given=30, withdrawn=-5),), "withdrawn five days ago"),
    ],
)
def test_referral_without_a_valid_consent_is_denied(
    register: Register, given: tuple[Consent, ...], reason: str
) -> None:
    decision = referral(register, *given)
    assert not decision.permitted, reason
    assert decision.outcome in {"no_consent", "withdrawn"}


def test_consent_is_valid_through_its_last_day(register: Register) -> None:
    assert referral(register, consent(until=0)).permitted
    assert referral(register, consent(withdrawn=1)).permitted


def test_a_withdrawal_stops_the_purpose_for_every_debt_service(register: Register) -> None:
    decision = referral(
        register, consent(org="org-other", given=30, withdrawn=-3), consent(given=20)
    )
    assert not decision.permitted
    assert decision.outcome == "withdrawn"


def test_consent_given_again_after_a_withdrawal_counts(register: Register) -> None:
    decision = referral(register, consent(given=30, withdrawn=-5), consent(given=2))
    assert decision.permitted


# Minimisation and the shape of a decision -------------------------------------------------


def test_only_requested_fields_the_rule_lists_are_returned(register: Register) -> None:
    wanted = frozenset({"person.surname", "amount_band", "person.bsn", "amount_cents"})
    decision = register.decide(
        DecisionRequest("wt", "neighbourhood_team", "read", "outreach", TODAY, fields=wanted)
    )
    assert decision.permitted
    assert decision.fields == {"person.surname", "amount_band"}
    assert decision.withheld == {"person.bsn", "amount_cents"}


def test_asking_only_for_fields_the_rule_does_not_list_is_denied(register: Register) -> None:
    decision = register.decide(
        DecisionRequest(
            "wt", "neighbourhood_team", "read", "outreach", TODAY, fields=frozenset({"person.bsn"})
        )
    )
    assert not decision.permitted
    assert decision.outcome == "no_fields"


def test_decisions_are_deterministic_and_name_the_version(register: Register) -> None:
    request = DecisionRequest(
        "org-debt", "debt_service", "receive", REFERRAL, TODAY, SubjectState((consent(),))
    )
    assert register.decide(request) == register.decide(request) == decide(request)
    assert decide(request).policy_version.startswith("sha256:")


def test_the_register_is_compiled_once_per_version(register: Register) -> None:
    assert load_register() is register


def test_purposes_have_uris_and_both_languages(register: Register) -> None:
    ids = {purpose.id for purpose in register.purposes}
    assert {
        "early-signal",
        "outreach",
        REFERRAL,
        "provider-feedback",
        "statistics",
        "privacy-oversight",
    } <= ids
    for purpose in register.purposes:
        assert purpose.uri == register.uri_base + purpose.id
        assert purpose.name["nl"] and purpose.name["en"]
        assert purpose.retention_period.startswith("P")
    assert register.purpose(REFERRAL).consent_based
    assert register.purpose("early-signal").national_basis


# Rendering for the privacy officer --------------------------------------------------------


def test_markdown_lists_every_purpose_and_rule(register: Register) -> None:
    text = render_markdown(register)
    for purpose in register.purposes:
        assert purpose.uri in text
    for rule in register.rules:
        assert rule.id in text
    assert register.version_hash in text


def test_html_is_escaped(tmp_path: Path) -> None:
    shutil.copytree(POLICIES / "register", tmp_path / "register")
    shutil.copytree(POLICIES / "documents", tmp_path / "documents")
    purposes = tmp_path / "register" / "purposes.yaml"
    purposes.write_text(
        purposes.read_text().replace(
            "Outreach by the neighbourhood team", "Outreach <script>alert(1)</script> & more"
        )
    )
    page = render_html(load_register(tmp_path / "register"))
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page
    assert page.startswith("<!DOCTYPE html>")
