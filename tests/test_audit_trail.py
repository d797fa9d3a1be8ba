"""The broker's audit trail: what is logged, append-only, fail closed, proofs, reports."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from audit.entry import canonical_bytes
from audit.merkle import leaf_hash, root_of_leaves, verify_consistency, verify_inclusion
from audit.note import open_checkpoint
from exchange import clock
from exchange.auditlog.models import AuditEntry, AuditHead
from exchange.broker import Broker
from exchange.signals.models import Signal
from tests.conftest import Database
from tests.factories import generated_bsn, signal_body

Headers = Callable[[str], dict[str, str]]


def entries(db_session: Any, **where: Any) -> list[dict[str, Any]]:
    with db_session() as session:
        query = select(AuditEntry.entry).order_by(AuditEntry.leaf_index)
        for name, value in where.items():
            query = query.where(getattr(AuditEntry, name) == value)
        return [orjson.loads(data) for (data,) in session.execute(query)]


def test_each_routed_signal_is_one_permit_entry_naming_rule_purpose_and_basis(
    client: TestClient, provider: dict[str, str], world: Any, db_session: Any
) -> None:
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    created = client.post(
        "/v1/signals", json=signal_body(), headers=provider | {"traceparent": traceparent}
    )
    assert created.status_code == 201
    returned = created.headers["traceparent"]
    assert returned.startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")
    [entry] = entries(db_session, action="signal.route")
    assert entry["decision"] == "permit"
    assert entry["purpose"] == "early-signal"
    assert entry["legal_basis"] == ["eu-gdpr:A6-1-c", "eu-gdpr:A6-1-e"]
    assert entry["rule_id"] == "municipality.early-signal.receive"
    assert entry["recipient"] == world["municipality"].id
    assert entry["actor"]["organisation"] == world["housing_corporation"].id
    assert entry["actor"]["client"] == world["housing_corporation"].client_id
    assert entry["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert entry["span_id"] == returned.split("-")[2]
    assert entry["resources"] == {"signal": created.json()["id"]}
    assert "person.bsn" in entry["fields"] and "identifier" in entry["categories"]
    assert len(entry["subject"]) == 64
    with db_session() as session:
        signal = session.get(Signal, uuid.UUID(created.json()["id"]))
        assert signal.disclosure_rule_id == entry["rule_id"]
        assert signal.policy_version == entry["policy_version"]


def test_a_batch_writes_one_entry_per_person_and_leaf_bytes_are_canonical(
    client: TestClient, provider: dict[str, str], db_session: Any
) -> None:
    batch = [signal_body() for _ in range(25)]
    assert (
        client.post("/v1/signals/batch", json={"signals": batch}, headers=provider).status_code
        == 200
    )
    with db_session() as session:
        rows = session.execute(
            select(AuditEntry.leaf_index, AuditEntry.entry).order_by(AuditEntry.leaf_index)
        ).all()
        leaves = {
            index: bytes(h)
            for index, h in session.execute(select(AuditEntry.leaf_index, AuditEntry.leaf_hash))
        }
        head = session.get(AuditHead, 1)
        assert head is not None and head.tree_size == len(rows)
    routed = [orjson.loads(data) for _, data in rows if b'"signal.route"' in data]
    assert len(routed) == 25
    assert len({e["subject"] for e in routed}) == 25
    for index, data in rows:
        assert canonical_bytes(orjson.loads(data)) == bytes(data)
        assert leaf_hash(bytes(data)) == leaves[index]


def test_an_objection_denial_is_logged_as_deny_without_a_signal(
    client: TestClient, token_for: Headers, db_session: Any
) -> None:
    bsn = generated_bsn()
    client.post(
        "/v1/objections",
        json={"person": {"bsn": bsn}, "purposes": ["early-signal"]},
        headers=token_for("privacy_officer"),
    )
    refused = client.post(
        "/v1/signals",
        json=signal_body(person={"bsn": bsn}),
        headers=token_for("housing_corporation"),
    )
    assert refused.status_code == 422
    [denial] = entries(db_session, action="signal.route")
    assert denial["decision"] == "deny"
    assert denial["fields"] == [] and denial["resources"] == {}
    [objection] = entries(db_session, action="objection.record")
    assert objection["subject"] == denial["subject"]


def test_the_log_refuses_update_and_delete(
    broker: Broker, client: TestClient, provider: dict[str, str]
) -> None:
    batch = {"signals": [signal_body() for _ in range(4)]}  # four leaves: subtree nodes too
    assert client.post("/v1/signals/batch", json=batch, headers=provider).status_code == 200
    for statement in (
        "UPDATE audit_entries SET action = 'nothing'",
        "DELETE FROM audit_entries",
        "UPDATE audit_nodes SET hash = hash",
        "DELETE FROM audit_nodes",
    ):
        with pytest.raises(DBAPIError, match="append-only"), broker.engine.begin() as conn:
            conn.execute(text(statement))
    if broker.engine.dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"), broker.engine.begin() as conn:
            conn.execute(text("TRUNCATE audit_entries CASCADE"))


def test_a_failing_audit_write_blocks_the_disclosure(
    client: TestClient,
    provider: dict[str, str],
    broker: Broker,
    db_session: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*_: Any, **__: Any) -> list[int]:
        raise RuntimeError("audit storage unavailable")

    monkeypatch.setattr(broker.audit, "append", broken)
    with TestClient(
        client.app, base_url=str(client.base_url), raise_server_exceptions=False
    ) as failing:
        response = failing.post("/v1/signals", json=signal_body(), headers=provider)
    assert response.status_code == 500
    with db_session() as session:
        assert session.scalar(select(func.count()).select_from(Signal)) == 0


def test_checkpoint_and_proofs_verify_with_only_the_public_key(
    client: TestClient, token_for: Headers
) -> None:
    provider, officer = token_for("housing_corporation"), token_for("privacy_officer")
    for _ in range(3):
        client.post(
            "/v1/signals/batch",
            json={"signals": [signal_body() for _ in range(7)]},
            headers=provider,
        )
    key = client.get("/v1/audit/verifier-key", headers=officer)
    assert key.status_code == 200 and key.headers["content-type"].startswith("text/plain")
    first_note = client.get("/v1/audit/checkpoint", headers=officer).text
    first = open_checkpoint(first_note, key.text.strip())
    client.post(
        "/v1/signals/batch", json={"signals": [signal_body() for _ in range(5)]}, headers=provider
    )
    second = open_checkpoint(
        client.get("/v1/audit/checkpoint", headers=officer).text, key.text.strip()
    )
    assert second.size > first.size

    consistency = client.get(
        "/v1/audit/proofs/consistency",
        headers=officer,
        params={"first": first.size, "second": second.size},
    ).json()
    proof = [base64.b64decode(h) for h in consistency["proof"]]
    assert verify_consistency(first.size, second.size, first.root, second.root, proof)

    for index in (0, first.size - 1, second.size - 1):
        inclusion = client.get(
            "/v1/audit/proofs/inclusion",
            headers=officer,
            params={"leaf_index": index, "tree_size": second.size},
        ).json()
        assert verify_inclusion(
            base64.b64decode(inclusion["leaf_hash"]),
            index,
            second.size,
            [base64.b64decode(h) for h in inclusion["proof"]],
            second.root,
        )
    too_big = client.get(
        "/v1/audit/proofs/inclusion",
        headers=officer,
        params={"leaf_index": 0, "tree_size": second.size + 1000},
    )
    assert too_big.status_code == 422
    assert too_big.json()["errors"][0]["field"] == "tree_size"


def test_export_holds_every_entry_and_ends_with_a_signed_checkpoint(
    client: TestClient, token_for: Headers, db_session: Any
) -> None:
    officer = token_for("privacy_officer")
    client.post(
        "/v1/signals/batch",
        json={"signals": [signal_body() for _ in range(10)]},
        headers=token_for("housing_corporation"),
    )
    key = client.get("/v1/audit/verifier-key", headers=officer).text.strip()
    response = client.get("/v1/audit/export", headers=officer)
    assert response.status_code == 200
    lines = response.content.splitlines()
    final = open_checkpoint(orjson.loads(lines[-1])["checkpoint"], key)
    leaves = [line for line in lines if not line.startswith(b'{"checkpoint"')]
    assert len(leaves) == final.size
    assert [orjson.loads(line)["leaf_index"] for line in leaves] == list(range(final.size))
    assert root_of_leaves(leaves) == final.root
    # The export itself was read: the log says so.
    assert entries(db_session, action="audit.export")


def test_access_report_lists_each_recipient_in_plain_language(
    client: TestClient, token_for: Headers, world: Any, db_session: Any
) -> None:
    bsn = generated_bsn()
    client.post(
        "/v1/signals",
        json=signal_body(person={"bsn": bsn}),
        headers=token_for("housing_corporation"),
    )
    client.post(
        "/v1/signals",
        json=signal_body(kind="energy", person={"bsn": bsn}),
        headers=token_for("energy_supplier"),
    )
    client.post("/v1/signals", json=signal_body(), headers=token_for("housing_corporation"))
    officer = token_for("privacy_officer")
    report = client.post("/v1/audit/access-report", json={"person": {"bsn": bsn}}, headers=officer)
    assert report.status_code == 200, report.text
    body = report.json()
    assert len(body["disclosures"]) == 2
    first = body["disclosures"][0]
    assert first["recipient"] == "Gemeente Rotterdam"
    assert first["purpose"] == "early-signal"
    assert "legal obligation" in first["legal_basis_text"][0]
    assert "Gemeente Rotterdam" in first["sentence_nl"] and "wettelijke" in first["sentence_nl"]
    assert "2 keer" in body["summary_nl"]
    assert bsn not in report.text
    [read] = entries(db_session, action="audit.access_report")
    assert read["subject"] == body["subject"]
    assert read["actor"]["organisation"] == world["privacy_officer"].id


def test_only_privacy_officers_read_the_log(client: TestClient, token_for: Headers) -> None:
    for kind in ("housing_corporation", "municipality", "neighbourhood_team"):
        response = client.get("/v1/audit/entries", headers=token_for(kind))
        assert response.status_code == 403


def test_entries_search_filters_and_pages(
    client: TestClient, token_for: Headers, world: Any
) -> None:
    client.post(
        "/v1/signals/batch",
        json={"signals": [signal_body() for _ in range(5)]},
        headers=token_for("housing_corporation"),
    )
    officer = token_for("privacy_officer")
    page = client.get(
        "/v1/audit/entries", headers=officer, params={"action": "signal.route", "limit": 3}
    ).json()
    assert [e["action"] for e in page["entries"]] == ["signal.route"] * 3
    rest = client.get(
        "/v1/audit/entries",
        headers=officer,
        params={"action": "signal.route", "after": page["next_after"]},
    ).json()
    assert len(rest["entries"]) == 2
    by_org = client.get(
        "/v1/audit/entries", headers=officer, params={"organisation": world["energy_supplier"].id}
    ).json()
    assert by_org["entries"] == []


def test_several_processes_append_to_postgresql_in_one_order(
    database: Database, keys_dir: Path, broker: Broker, db_session: Any
) -> None:
    if database.backend != "postgresql":
        pytest.skip("the concurrent-writers test is about PostgreSQL's row lock")
    writers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.audit_writer",
                database.url,
                str(keys_dir),
                str(number),
                "15",
                "8",
            ],
            cwd=Path(__file__).parents[1],
            env=os.environ.copy(),
        )
        for number in range(3)
    ]
    assert [w.wait(timeout=120) for w in writers] == [0, 0, 0]
    with db_session() as session:
        rows = session.execute(
            select(AuditEntry.leaf_index, AuditEntry.entry).order_by(AuditEntry.leaf_index)
        ).all()
        head = session.get(AuditHead, 1)
        assert head is not None
    assert [index for index, _ in rows] == list(range(3 * 15 * 8))
    assert head.tree_size == len(rows)
    written = {
        (e["resources"]["writer"], e["resources"]["transaction"], e["resources"]["item"])
        for e in (orjson.loads(data) for _, data in rows)
    }
    assert len(written) == len(rows)
    with db_session() as session:
        checkpoint = broker.audit.checkpoint(session, clock.now())
    assert checkpoint.root == root_of_leaves([bytes(data) for _, data in rows])


def test_a_provider_reading_its_signal_is_logged_as_feedback(
    client: TestClient, provider: dict[str, str], db_session: Any
) -> None:
    created = client.post("/v1/signals", json=signal_body(), headers=provider).json()
    assert client.get(f"/v1/signals/{created['id']}", headers=provider).status_code == 200
    [read] = entries(db_session, action="signal.read")
    assert read["purpose"] == "provider-feedback"
    assert read["rule_id"] == "provider.feedback.read"
    assert read["fields"] == [
        "external_ref",
        "feedback.collection_paused_until",
        "feedback.status",
    ]
    [route] = entries(db_session, action="signal.route")
    assert read["subject"] == route["subject"]


def test_audit_commands_print_checkpoint_key_and_a_verifiable_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from exchange.cli import app as cli

    monkeypatch.setenv("EXCHANGE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("EXCHANGE_DATABASE_URL", raising=False)
    monkeypatch.delenv("EXCHANGE_KEYS_DIR", raising=False)
    runner = CliRunner()
    assert runner.invoke(cli, ["init"]).exit_code == 0
    assert runner.invoke(cli, ["demo", "--json"]).exit_code == 0
    key = runner.invoke(cli, ["audit", "verifier-key"]).stdout.strip()
    note = runner.invoke(cli, ["audit", "checkpoint"]).stdout
    checkpoint = open_checkpoint(note, key)
    assert checkpoint.size >= 2  # the policy activation and the demo seeding
    export = tmp_path / "audit.jsonl"
    result = runner.invoke(cli, ["audit", "export", "--output", str(export)])
    assert result.exit_code == 0, result.output
    lines = export.read_bytes().splitlines()
    final = open_checkpoint(orjson.loads(lines[-1])["checkpoint"], key)
    leaves = [line for line in lines if not line.startswith(b'{"checkpoint"')]
    assert final.size == len(leaves) >= checkpoint.size
    assert root_of_leaves(leaves) == final.root
    actions = [orjson.loads(line)["action"] for line in leaves]
    assert actions[:2] == ["policy.activate", "demo.seed"]


def _tamper(broker: Broker, statement: str, **params: Any) -> None:
    """An operator with database access edits the log behind the broker's back."""
    from exchange.auditlog import triggers as audit_triggers

    with broker.engine.begin() as connection:
        audit_triggers.drop(connection)
        connection.execute(text(statement), params)
        audit_triggers.create(connection)


@pytest.mark.parametrize("edit", ["alter", "delete"])
def test_an_edit_to_the_stored_log_is_caught_by_the_offline_verifier(
    client: TestClient, token_for: Headers, broker: Broker, tmp_path: Path, edit: str
) -> None:
    from audit.verify import verify_export

    broker.audit.checkpoint_every = 1  # a checkpoint per append: the verifier can be exact
    provider, officer = token_for("housing_corporation"), token_for("privacy_officer")
    for _ in range(6):
        client.post("/v1/signals", json=signal_body(), headers=provider)
    key = client.get("/v1/audit/verifier-key", headers=officer).text.strip()
    kept = client.get("/v1/audit/checkpoint", headers=officer).text  # the auditor keeps this
    clean = client.get("/v1/audit/export", headers=officer).content
    assert verify_export(clean.splitlines(), key, kept).ok
    (tmp_path / "key.txt").write_text(key)
    (tmp_path / "clean.jsonl").write_bytes(clean)
    (tmp_path / "kept.note").write_text(kept)
    cli = [
        sys.executable,
        "-m",
        "audit",
        "verify",
        "--public-key",
        str(tmp_path / "key.txt"),
        "--checkpoint",
        str(tmp_path / "kept.note"),
    ]
    assert (
        subprocess.run(
            [*cli[:4], str(tmp_path / "clean.jsonl"), *cli[4:]], capture_output=True, check=False
        ).returncode
        == 0
    )

    victim = 3
    if edit == "alter":
        with broker.engine.connect() as connection:
            original = bytes(
                connection.execute(
                    text("SELECT entry FROM audit_entries WHERE leaf_index = :i"), {"i": victim}
                ).scalar_one()
            )
        altered = original.replace(b'"decision":"permit"', b'"decision":"deny"')
        assert altered != original
        _tamper(
            broker, "UPDATE audit_entries SET entry = :e WHERE leaf_index = :i", e=altered, i=victim
        )
    else:
        _tamper(broker, "DELETE FROM audit_entries WHERE leaf_index = :i", i=victim)

    exported = client.get("/v1/audit/export", headers=officer).content
    report = verify_export(exported.splitlines(), key, kept)
    assert not report.ok
    assert report.first_bad_leaf_index == victim
    (tmp_path / "tampered.jsonl").write_bytes(exported)
    run = subprocess.run(
        [*cli[:4], str(tmp_path / "tampered.jsonl"), *cli[4:]],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 1
    assert str(victim) in run.stdout + run.stderr
