"""Key rotation: each family rotates without losing data, tokens or verifiability.

These tests rotate a copy of the keys, never the session's shared key directory, and run
two brokers side by side where it matters: one started before the rotation (a replica not
yet restarted) and one after.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from audit.verify import verify_export
from exchange.api.app import create_app
from exchange.broker import Broker, audit_trail
from exchange.clock import now
from exchange.config import Settings
from exchange.db import unit_of_work
from exchange.demo import DemoOrganisation, seed_demo
from exchange.identity.models import Household, Subject
from exchange.ops import rotation
from exchange.vault.keyring import EnvironmentKeySource, FileKeySource, Keyring
from tests.conftest import ISSUER, Database, _empty_all_tables
from tests.factories import signal_body


@pytest.fixture
def rotating(database: Database, keys_dir: Path, tmp_path: Path) -> Iterator[Settings]:
    own_keys = tmp_path / "keys"
    shutil.copytree(keys_dir, own_keys)
    settings = Settings(
        data_dir=tmp_path,
        database_url=database.url,
        keys_dir=own_keys,
        issuer=ISSUER,
        log_format="json",
    )
    yield settings
    broker = Broker.start(settings)
    try:
        _empty_all_tables(broker)
    finally:
        broker.engine.dispose()


class Running:
    """A broker process with its HTTP client and the demo organisations' clients."""

    def __init__(self, settings: Settings, world: list[DemoOrganisation] | None = None) -> None:
        self.broker = Broker.start(settings)
        if world is None:
            for session in unit_of_work(self.broker.sessions):
                world = seed_demo(session)
        assert world is not None
        self.world = {o.kind: o for o in world}
        self.client = TestClient(create_app(broker=self.broker), base_url=ISSUER)

    def token(self, kind: str) -> str:
        organisation = self.world[kind]
        response = self.client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(organisation.client_id, organisation.client_secret),
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def headers(self, kind: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(kind)}"}

    def close(self) -> None:
        self.client.close()
        self.broker.engine.dispose()


def rotate(settings: Settings, which: str, moment: dt.datetime | None = None) -> rotation.Rotated:
    """What ``exchange keys rotate`` does, in-process."""
    source = FileKeySource(settings.resolved_keys_dir)
    old = Broker.start(settings)
    moment = moment or now()
    try:
        rotated = rotation.add_key(source, which, moment, settings.token_lifetime_seconds)
        keyring = Keyring.load(source)
        new_trail = audit_trail(settings, keyring)
        if which == "audit":
            for session in unit_of_work(old.sessions):
                rotation.record_rotation(session, old.audit, rotated, moment)
                old.audit.announce_key(session, new_trail.signer, rotated.new_key_id, moment)
        step = {"kek": rotation.rewrap, "pseudonym": rotation.relink}.get(which)
        while step is not None:
            count = 0
            for session in unit_of_work(old.sessions):
                count = step(session, keyring, limit=2)  # small batches: several transactions
            if not count:
                break
    finally:
        old.engine.dispose()
    return rotated


def verified_export(running: Running, key: str) -> Any:
    officer = running.headers("privacy_officer")
    export = running.client.get("/v1/audit/export", headers=officer)
    assert export.status_code == 200
    return verify_export(export.content.splitlines(keepends=True), key)


def test_kek_rotation_rewraps_every_data_key_and_old_data_stays_readable(
    rotating: Settings,
) -> None:
    before = Running(rotating)
    try:
        signals = [
            before.client.post(
                "/v1/signals", json=signal_body(), headers=before.headers("housing_corporation")
            ).json()
            for _ in range(5)
        ]
        rotated = rotate(rotating, "kek")
        # A replica that has not restarted reads rows re-wrapped with a key it never loaded.
        municipality = before.headers("municipality")
        for signal in signals:
            case = before.client.get(f"/v1/cases/{signal['case_id']}", headers=municipality)
            assert case.status_code == 200, case.text
            assert case.json()["signals"][0]["person"]["bsn"]
        after = Running(rotating, list(before.world.values()))
        try:
            with after.broker.sessions() as session:
                assert set(session.scalars(select(Household.kek_id))) == {rotated.new_key_id}
            for signal in signals:
                case = after.client.get(
                    f"/v1/cases/{signal['case_id']}", headers=after.headers("municipality")
                )
                assert case.status_code == 200
            fresh = after.client.post(
                "/v1/signals", json=signal_body(), headers=after.headers("housing_corporation")
            )
            assert fresh.status_code == 201
        finally:
            after.close()
    finally:
        before.close()


def test_token_rotation_keeps_old_tokens_valid_until_they_expire(rotating: Settings) -> None:
    before = Running(rotating)
    try:
        old_token = before.token("housing_corporation")
        old_kid = before.broker.keyring.token_signing_active_id
        moment = now()
        rotated = rotate(rotating, "token", moment)
        after = Running(rotating, list(before.world.values()))
        try:
            old_headers = {"Authorization": f"Bearer {old_token}"}
            # The restarted broker still accepts the old token, and publishes both keys.
            sent = after.client.post("/v1/signals", json=signal_body(), headers=old_headers)
            assert sent.status_code == 201, sent.text
            kids = {k["kid"] for k in after.client.get("/.well-known/jwks.json").json()["keys"]}
            assert kids == {old_kid, rotated.new_key_id}
            # New tokens are signed with the new key; the replica not yet restarted accepts them.
            new_token = after.token("housing_corporation")
            assert new_token != old_token
            new_headers = {"Authorization": f"Bearer {new_token}"}
            assert (
                before.client.post(
                    "/v1/signals", json=signal_body(), headers=new_headers
                ).status_code
                == 201
            )
            # Once the old key's last token has expired, it leaves the JWKS.
            later = moment + dt.timedelta(seconds=rotating.token_lifetime_seconds + 31)
            published = {k["kid"] for k in after.broker.keyring.public_jwks(later)["keys"]}
            assert published == {rotated.new_key_id}
        finally:
            after.close()
    finally:
        before.close()


def test_audit_key_rotation_is_announced_and_the_log_verifies_across_it(
    rotating: Settings,
) -> None:
    before = Running(rotating)
    try:
        provider = before.headers("housing_corporation")
        for _ in range(3):
            before.client.post("/v1/signals", json=signal_body(), headers=provider)
        officer = before.headers("privacy_officer")
        old_key = before.client.get("/v1/audit/verifier-key", headers=officer).text.strip()
        kept = before.client.get("/v1/audit/checkpoint", headers=officer).text
        rotate(rotating, "audit")
    finally:
        before.close()
    after = Running(rotating, list(before.world.values()))
    try:
        for _ in range(3):
            after.client.post(
                "/v1/signals", json=signal_body(), headers=after.headers("housing_corporation")
            )
        officer = after.headers("privacy_officer")
        new_key = after.client.get("/v1/audit/verifier-key", headers=officer).text.strip()
        assert new_key != old_key
        # The auditor who trusted the old key follows the announcement to the new one.
        with_old = verified_export(after, old_key)
        assert with_old.ok, with_old.message
        export = after.client.get("/v1/audit/export", headers=officer)
        assert b"key-rotation " in export.content
        again = verify_export(export.content.splitlines(keepends=True), old_key, kept)
        assert again.ok, again.message
        # One who has only the new key verifies from the announcement on.
        with_new = verified_export(after, new_key)
        assert with_new.ok, with_new.message
        assert with_new.size > with_old.size  # each export is itself logged
    finally:
        after.close()


def test_pseudonym_rotation_relinks_households_without_opening_identities(
    rotating: Settings,
) -> None:
    before = Running(rotating)
    try:
        first = signal_body()
        sent = before.client.post(
            "/v1/signals", json=first, headers=before.headers("housing_corporation")
        ).json()
        with before.broker.sessions() as session:
            old_pseudonyms = set(session.scalars(select(Subject.pseudonym))) | set(
                session.scalars(select(Household.pseudonym))
            )
    finally:
        before.close()
    rotated = rotate(rotating, "pseudonym")
    after = Running(rotating, list(before.world.values()))
    try:
        with after.broker.sessions() as session:
            subjects = session.scalars(select(Subject)).all()
            households = session.scalars(select(Household)).all()
        assert {s.pseudonym_key_id for s in subjects} == {rotated.new_key_id}
        assert {h.pseudonym_key_id for h in households} == {rotated.new_key_id}
        assert not old_pseudonyms & {s.pseudonym for s in subjects}
        # The same person at the same address, sent after the rotation, joins the same case.
        again = signal_body(kind="energy", person=first["person"], address=first["address"])
        joined = after.client.post(
            "/v1/signals", json=again, headers=after.headers("energy_supplier")
        )
        assert joined.status_code == 201, joined.text
        assert joined.json()["case_id"] == sent["case_id"]
        with after.broker.sessions() as session:
            # One person, known by BSN and by name and birth date: two identifiers.
            assert len({s.person_id for s in session.scalars(select(Subject))}) == 1
        # The access report still finds the disclosures logged under the old pseudonym.
        report = after.client.post(
            "/v1/audit/access-report",
            json={"person": {"bsn": first["person"]["bsn"]}},
            headers=after.headers("privacy_officer"),
        ).json()
        assert len(report["disclosures"]) >= 2
    finally:
        after.close()


def test_keys_can_come_from_the_environment(keys_dir: Path) -> None:
    source = FileKeySource(keys_dir)
    environ = {
        f"EXCHANGE_KEY_{family.upper().replace('-', '_')}": (
            keys_dir / f"{family}.json"
        ).read_text()
        for family in ("pseudonym", "kek", "digest", "token-signing", "checkpoint")
    }
    from_env = Keyring.load(EnvironmentKeySource(environ))
    from_files = Keyring.load(source)
    assert from_env.kek.active == from_files.kek.active
    assert from_env.pseudonym_keys == from_files.pseudonym_keys
    with pytest.raises(RuntimeError, match="EXCHANGE_KEY_KEK"):
        rotation.add_key(EnvironmentKeySource(environ), "kek", now())
