"""The ``exchange`` command line, run as a newcomer or an operator would run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from exchange.cli import app

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EXCHANGE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("EXCHANGE_DATABASE_URL", raising=False)
    monkeypatch.delenv("EXCHANGE_KEYS_DIR", raising=False)
    return tmp_path / "var"


def run(*args: str) -> Any:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_init_creates_keys_and_schema_and_is_safe_to_run_again(env: Path) -> None:
    first = run("init")
    assert sorted(first["keys_created"]) == [
        "checkpoint",
        "digest",
        "kek",
        "pseudonym",
        "token-signing",
    ]
    keys_before = {p.name: p.read_bytes() for p in (env / "keys").iterdir()}
    second = run("init")
    assert second["keys_created"] == []
    assert {p.name: p.read_bytes() for p in (env / "keys").iterdir()} == keys_before
    assert all(oct(p.stat().st_mode)[-3:] == "600" for p in (env / "keys").iterdir())
    assert (env / "exchange.sqlite3").exists()


def test_org_and_client_add_print_json_with_ids(env: Path) -> None:
    run("init")
    municipality = run(
        "org",
        "add",
        "--kind",
        "municipality",
        "--name",
        "Gemeente Utrecht",
        "--gemeentecode",
        "0344",
        "--postcodes",
        "3500-3585,3600",
    )
    team = run(
        "org",
        "add",
        "--kind",
        "neighbourhood_team",
        "--name",
        "Wijkteam Oost",
        "--parent",
        municipality["id"],
    )
    assert team["kind"] == "neighbourhood_team"
    client = run("client", "add", "--org", municipality["id"])
    assert client["client_id"].startswith("sx_")
    assert len(client["client_secret"]) >= 40
    assert client["scopes"] == "cases:read cases:write consents:read consents:write"


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--kind", "bank", "--name", "X"], "kind"),
        (["--kind", "municipality", "--name", "X", "--postcodes", "1000-1099"], "gemeentecode"),
        (
            [
                "--kind",
                "municipality",
                "--name",
                "X",
                "--gemeentecode",
                "0344",
                "--postcodes",
                "35x",
            ],
            "postcodes",
        ),
        (["--kind", "neighbourhood_team", "--name", "X"], "parent"),
        (
            ["--kind", "housing_corporation", "--name", "X", "--gemeentecode", "0344"],
            "gemeentecode",
        ),
    ],
)
def test_org_add_refuses_bad_input_naming_the_field(env: Path, args: list[str], field: str) -> None:
    run("init")
    result = runner.invoke(app, ["org", "add", *args])
    assert result.exit_code == 2
    problem = json.loads(result.stderr)
    assert problem["errors"][0]["field"] == field


def test_overlapping_postcode_ranges_are_refused(env: Path) -> None:
    run("init")
    run(
        "org",
        "add",
        "--kind",
        "municipality",
        "--name",
        "A",
        "--gemeentecode",
        "0001",
        "--postcodes",
        "3000-3099",
    )
    result = runner.invoke(
        app,
        [
            "org",
            "add",
            "--kind",
            "municipality",
            "--name",
            "B",
            "--gemeentecode",
            "0002",
            "--postcodes",
            "3050-3150",
        ],
    )
    assert result.exit_code == 2
    assert "already covered by municipality 0001" in result.stderr


def test_demo_seeds_the_world_and_prints_clients_for_every_kind(env: Path) -> None:
    run("init")
    demo = run("demo", "--json")
    kinds = sorted(o["kind"] for o in demo["organisations"])
    assert kinds == sorted(
        [
            "municipality",
            "housing_corporation",
            "energy_supplier",
            "water_company",
            "neighbourhood_team",
            "debt_service",
            "privacy_officer",
        ]
    )
    assert all(o["client_id"] and o["client_secret"] for o in demo["organisations"])
    assert sorted(p["username"] for p in demo["people"]) == [
        "fg",
        "gemeente",
        "schuldhulp",
        "wijkteam",
    ]
    again = run("demo", "--json")
    assert again == demo  # make run twice shows the same credentials


def test_every_command_has_help() -> None:
    for command in (
        ["--help"],
        ["init", "--help"],
        ["serve", "--help"],
        ["demo", "--help"],
        ["org", "add", "--help"],
        ["client", "add", "--help"],
    ):
        result = runner.invoke(app, command)
        assert result.exit_code == 0, command
        assert "Usage" in result.output


def test_the_installed_entry_point_runs(env: Path) -> None:
    exchange = Path(sys.executable).parent / "exchange"
    result = subprocess.run(
        [str(exchange), "init"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["migrated"] is True
