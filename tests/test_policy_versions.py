"""The register in force: stored, activated, served, and deciding the next disclosure."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from exchange.cli import app as cli
from exchange.policy.models import PolicyVersion
from exchange.policy.service import PolicyRefused, activate
from exchange.signals.models import Signal
from policies.engine import load_register
from policies.source import default_register_dir
from tests.factories import signal_body


def copy_of_shipped_register(tmp_path: Path) -> Path:
    """The shipped register and the intake document it names, in the same layout."""
    shipped = default_register_dir()
    shutil.copytree(shipped, tmp_path / "register")
    shutil.copytree(shipped.parent / "documents", tmp_path / "documents")
    return tmp_path / "register"


def edit_rules(directory: Path, change: Any) -> None:
    path = directory / "rules.yaml"
    document = yaml.safe_load(path.read_text())
    change(document["rules"])
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def test_active_register_is_served_with_its_hash_and_legal_bases(
    client: TestClient, token_for: Any
) -> None:
    response = client.get("/v1/policies/active", headers=token_for("privacy_officer"))
    assert response.status_code == 200
    body = response.json()
    assert body["version"] == load_register().version_hash
    purposes = {p["id"]: p for p in body["purposes"]}
    assert purposes["early-signal"]["legal_basis"] == ["eu-gdpr:A6-1-c", "eu-gdpr:A6-1-e"]
    assert purposes["debt-service-referral"]["legal_basis"] == ["eu-gdpr:A6-1-a"]
    assert any(r["consent_required"] for r in body["rules"])
    # Every kind of organisation may read the register; nobody without a token.
    assert client.get("/v1/policies/active", headers=token_for("housing_corporation")).is_success
    assert client.get("/v1/policies/active").status_code == 401


def test_a_changed_rule_activated_decides_the_next_disclosure(
    client: TestClient, provider: dict[str, str], db_session: Any, tmp_path: Path
) -> None:
    first = client.post("/v1/signals", json=signal_body(), headers=provider)
    assert first.status_code == 201
    with db_session() as session:
        shipped_hash = session.get(Signal, _uuid(first.json()["id"])).policy_version
    assert shipped_hash == load_register().version_hash

    # The privacy officer withdraws the municipality's permission to receive signals.
    register = copy_of_shipped_register(tmp_path)
    edit_rules(
        register,
        lambda rules: rules.__setitem__(
            slice(None), [r for r in rules if r["id"] != "municipality.early-signal.receive"]
        ),
    )
    with db_session() as session:
        new_hash = activate(session, register).version_hash
    assert new_hash != shipped_hash

    active = client.get("/v1/policies/active", headers=provider).json()
    assert active["version"] == new_hash
    denied = client.post("/v1/signals", json=signal_body(), headers=provider)
    assert denied.status_code == 422
    assert denied.json()["type"].endswith("/disclosure-denied")

    # Back to the shipped register: the same version is found again, not stored twice.
    with db_session() as session:
        again = activate(session, default_register_dir())
        assert again.version_hash == shipped_hash
        assert len(session.scalars(select(PolicyVersion)).all()) == 2
    accepted = client.post("/v1/signals", json=signal_body(), headers=provider)
    assert accepted.status_code == 201


def test_a_register_with_problems_is_refused_and_the_active_one_stays(
    client: TestClient, provider: dict[str, str], db_session: Any, tmp_path: Path
) -> None:
    register = copy_of_shipped_register(tmp_path)
    edit_rules(register, lambda rules: rules[0]["fields"].append("person.shoe_size"))
    with db_session() as session:
        before = activate(session, default_register_dir()).version_hash
    with db_session() as session, pytest.raises(PolicyRefused) as refused:
        activate(session, register)
    assert any("rules.yaml:" in e.field for e in refused.value.errors)
    assert any("shoe_size" in e.message for e in refused.value.errors)
    assert client.get("/v1/policies/active", headers=provider).json()["version"] == before


def test_policy_commands_check_activate_and_show(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXCHANGE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("EXCHANGE_DATABASE_URL", raising=False)
    monkeypatch.delenv("EXCHANGE_KEYS_DIR", raising=False)
    runner = CliRunner()
    init = runner.invoke(cli, ["init"])
    assert init.exit_code == 0, init.output
    assert json.loads(init.stdout)["policy_version"] == load_register().version_hash

    clean = runner.invoke(cli, ["policy", "check"])
    assert clean.exit_code == 0
    assert clean.stdout.strip() == f"ok {load_register().version_hash}"

    register = copy_of_shipped_register(tmp_path / "edited")
    edit_rules(register, lambda rules: rules[0].__setitem__("recipient_kinds", ["bank"]))
    broken = runner.invoke(cli, ["policy", "check", str(register)])
    assert broken.exit_code == 1
    assert "rules.yaml:" in broken.stderr and "bank" in broken.stderr
    refused = runner.invoke(cli, ["policy", "activate", str(register)])
    assert refused.exit_code == 1

    edit_rules(register, lambda rules: rules[0].__setitem__("recipient_kinds", ["municipality"]))
    edit_rules(
        register,
        lambda rules: rules.__setitem__(
            slice(None), [r for r in rules if r["purpose"] != "statistics"]
        ),
    )
    activated = runner.invoke(cli, ["policy", "activate", str(register)])
    assert activated.exit_code == 0, activated.output
    new_hash = activated.stdout.strip()
    assert new_hash == load_register(register).version_hash

    shown = runner.invoke(cli, ["policy", "show"])
    assert shown.exit_code == 0
    assert "early-signal" in shown.stdout and "municipality.statistics" not in shown.stdout
    html = runner.invoke(cli, ["policy", "show", "--format", "html"])
    assert html.exit_code == 0 and html.stdout.lstrip().lower().startswith("<!doctype html")


def _uuid(value: str) -> Any:
    import uuid

    return uuid.UUID(value)


def test_policy_copy_writes_the_set_in_force_whole_to_edit_and_activate_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXCHANGE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("EXCHANGE_DATABASE_URL", raising=False)
    monkeypatch.delenv("EXCHANGE_KEYS_DIR", raising=False)
    runner = CliRunner()
    assert runner.invoke(cli, ["init"]).exit_code == 0
    shipped = load_register().version_hash

    # A register directory copied on its own misses the intake document it names, and the
    # check says how to get the whole set.
    alone = tmp_path / "alone"
    shutil.copytree(default_register_dir(), alone)
    lonely = runner.invoke(cli, ["policy", "check", str(alone)])
    assert lonely.exit_code == 1
    assert "exchange policy copy DIR" in lonely.stderr

    copied = runner.invoke(cli, ["policy", "copy", str(tmp_path / "mine")])
    assert copied.exit_code == 0, copied.output
    register = Path(copied.stdout.strip())
    assert register == tmp_path / "mine" / "register"
    assert (tmp_path / "mine" / "documents" / "intake.yaml").is_file()
    # Unedited, the copy is the version in force.
    assert load_register(register).version_hash == shipped
    assert runner.invoke(cli, ["policy", "check", str(register)]).exit_code == 0

    edit_rules(
        register,
        lambda rules: rules.__setitem__(
            slice(None), [r for r in rules if r["purpose"] != "statistics"]
        ),
    )
    activated = runner.invoke(cli, ["policy", "activate", str(register)])
    assert activated.exit_code == 0, activated.output
    edited = activated.stdout.strip()
    assert edited != shipped

    # The next copy is of the edited set, and a directory with files in it is left alone.
    again = runner.invoke(cli, ["policy", "copy", str(tmp_path / "again")])
    assert again.exit_code == 0, again.output
    assert load_register(Path(again.stdout.strip())).version_hash == edited
    refused = runner.invoke(cli, ["policy", "copy", str(tmp_path / "mine")])
    assert refused.exit_code == 1
    assert "not empty" in refused.stderr
