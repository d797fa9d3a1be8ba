"""Properties of the engine that must hold for every request, not only the examples."""

from __future__ import annotations

import datetime as dt
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from policies.engine import (
    ACTIONS,
    Consent,
    DecisionRequest,
    Objection,
    SubjectState,
    load_register,
)

POLICIES = Path(__file__).parents[1] / "policies"
REGISTER = load_register()
KINDS = [kind.id for kind in REGISTER.recipient_kinds] + ["stranger"]
PURPOSES = [purpose.id for purpose in REGISTER.purposes] + ["marketing"]
ALL_FIELDS = [*sorted(f.id for f in REGISTER.fields), "made.up", "person.shoe_size"]
LISTED = frozenset().union(*(rule.fields for rule in REGISTER.rules))
ORGS = ["org-a", "org-b", "org-c"]
BASE = dt.date(2026, 1, 1)

days = st.integers(min_value=0, max_value=400).map(lambda n: BASE + dt.timedelta(days=n))
consents = st.builds(
    Consent,
    purpose=st.sampled_from(PURPOSES),
    recipient_org=st.sampled_from(ORGS),
    given_on=days,
    valid_until=st.none() | days,
    withdrawn_on=st.none() | days,
)
subjects = st.builds(
    SubjectState,
    consents=st.lists(consents, max_size=4).map(tuple),
    objections=st.lists(st.builds(Objection, st.sampled_from(PURPOSES), days), max_size=2).map(
        tuple
    ),
    refused=st.booleans(),
)
requests = st.builds(
    DecisionRequest,
    actor_org=st.sampled_from(ORGS),
    actor_kind=st.sampled_from(KINDS),
    action=st.sampled_from([*ACTIONS, "delete"]),
    purpose=st.sampled_from(PURPOSES),
    today=days,
    subject=subjects,
    fields=st.none() | st.frozensets(st.sampled_from(ALL_FIELDS), max_size=8),
)
SETTINGS = settings(max_examples=200, deadline=None)


@SETTINGS
@given(requests)
def test_no_decision_permits_a_field_no_rule_lists(request: DecisionRequest) -> None:
    decision = REGISTER.decide(request)
    assert decision.fields <= LISTED
    if decision.permitted:
        rule = REGISTER.rule_for(request.actor_kind, request.purpose, request.action)
        assert rule is not None and rule.id == decision.rule_id
        assert decision.fields <= rule.fields
        if request.fields is not None:
            assert decision.fields <= request.fields
    else:
        assert decision.fields == frozenset()
    assert decision.policy_version == REGISTER.version_hash


@SETTINGS
@given(requests, days, st.integers(min_value=0, max_value=200))
def test_an_objection_denies_every_later_decision_for_its_purpose(
    request: DecisionRequest, made_on: dt.date, later: int
) -> None:
    subject = SubjectState(
        request.subject.consents,
        (*request.subject.objections, Objection(request.purpose, made_on)),
        request.subject.refused,
    )
    today = made_on + dt.timedelta(days=later)
    decision = REGISTER.decide(
        DecisionRequest(
            request.actor_org,
            request.actor_kind,
            request.action,
            request.purpose,
            today,
            subject,
            request.fields,
        )
    )
    assert not decision.permitted


@SETTINGS
@given(requests, days, st.integers(min_value=0, max_value=200))
def test_a_withdrawal_denies_every_later_decision_for_its_purpose(
    request: DecisionRequest, withdrawn_on: dt.date, later: int
) -> None:
    # Consent for the purpose given again after the withdrawal is a new consent; leave it out.
    earlier = tuple(
        c
        for c in request.subject.consents
        if c.purpose != request.purpose or c.given_on <= withdrawn_on
    )
    withdrawal = Consent(
        request.purpose, request.actor_org, withdrawn_on - dt.timedelta(days=30), None, withdrawn_on
    )
    subject = SubjectState(
        (*earlier, withdrawal), request.subject.objections, request.subject.refused
    )
    today = withdrawn_on + dt.timedelta(days=later)
    decision = REGISTER.decide(
        DecisionRequest(
            request.actor_org,
            request.actor_kind,
            request.action,
            request.purpose,
            today,
            subject,
            request.fields,
        )
    )
    assert not decision.permitted


def _shuffled(value: Any, rng: random.Random) -> Any:
    if isinstance(value, dict):
        items = [(key, _shuffled(item, rng)) for key, item in value.items()]
        rng.shuffle(items)
        return dict(items)
    if isinstance(value, list):
        items = [_shuffled(item, rng) for item in value]
        rng.shuffle(items)
        return items
    return value


@settings(max_examples=15, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(min_value=1, max_value=4))
def test_version_hash_is_stable_under_reordering(rng: random.Random, files: int) -> None:
    """Shuffle keys, entries and set-like lists, and spread the entries over other files."""
    documents = [
        yaml.safe_load(path.read_text()) for path in sorted((POLICIES / "register").glob("*.yaml"))
    ]
    pieces: list[dict[str, Any]] = [{} for _ in range(files)]
    for document in documents:
        for section, content in document.items():
            if section == "register":
                pieces[rng.randrange(files)]["register"] = _shuffled(content, rng)
                continue
            for entry in content:
                target = pieces[rng.randrange(files)]
                target.setdefault(section, []).append(_shuffled(entry, rng))
    for piece in pieces:
        for content in piece.values():
            if isinstance(content, list):
                rng.shuffle(content)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copytree(POLICIES / "documents", root / "documents")
        (root / "register").mkdir()
        for index, piece in enumerate(pieces):
            if piece:
                (root / "register" / f"part-{index}.yaml").write_text(
                    yaml.safe_dump(_shuffled(piece, rng), sort_keys=False, allow_unicode=True)
                )
        assert load_register(root / "register").version_hash == REGISTER.version_hash


def test_version_hash_changes_when_a_rule_changes(tmp_path: Path) -> None:
    shutil.copytree(POLICIES / "register", tmp_path / "register")
    shutil.copytree(POLICIES / "documents", tmp_path / "documents")
    rules = tmp_path / "register" / "rules.yaml"
    rules.write_text(
        rules.read_text().replace(
            "fields: [subject_pseudonym, household_pseudonym]", "fields: [subject_pseudonym]"
        )
    )
    changed = load_register(tmp_path / "register")
    assert changed.version_hash != REGISTER.version_hash
