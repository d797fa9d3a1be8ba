"""No plaintext identifier reaches the database or the logs.

Signals with distinctive (fake) identifiers go through every intake path, accepted and
rejected; then the raw database (the SQLite file and its write-ahead log, or every
PostgreSQL row as text) and every captured log line are searched for them.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from fastapi.testclient import TestClient
from sqlalchemy import text

from exchange.broker import Broker
from exchange.logs import scrub_personal_data
from exchange.storage.models import metadata
from tests.conftest import Database
from tests.factories import generated_bsn, signal_body

IDENTITY = {
    "person": {
        "bsn": "",
        "initials": "X.Z.",
        "surname_prefix": "van der",
        "surname": "Zwaluwstaart",
        "birth_date": "1967-02-28",
    },
    "address": {
        "postcode": "3047 QZ",
        "house_number": "4321",
        "house_number_addition": "bis",
        "street": "Kwikstaartsingel",
        "city": "Proefdorp aan Zee",
    },
    "contact": {"phone": "+31611122233", "email": "zwaluw.staart@example.test"},
    "amount_cents": 7654321,
}


def secrets_of(bsn: str) -> list[str]:
    person, address, contact = IDENTITY["person"], IDENTITY["address"], IDENTITY["contact"]
    return [
        bsn,
        person["surname"],
        "zwaluwstaart",
        person["birth_date"],
        "1967-02-28",
        address["street"],
        address["city"],
        "3047QZ",
        "3047 QZ",
        "4321bis",
        contact["phone"],
        "611122233",
        contact["email"],
        "7654321",
    ]


@pytest.fixture
def captured_logs(client: TestClient) -> Iterator[io.StringIO]:
    """Every log line as the broker writes it: through its own formatter and scrubber."""
    root = logging.getLogger()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(root.handlers[0].formatter)
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_no_plaintext_identifier_in_database_or_logs(
    client: TestClient,
    provider: dict[str, str],
    broker: Broker,
    database: Database,
    captured_logs: io.StringIO,
    token_for: Any,
    world: Any,
) -> None:
    bsn = generated_bsn()
    accepted = signal_body(**{**IDENTITY, "person": {**IDENTITY["person"], "bsn": bsn}})
    assert client.post("/v1/signals", json=accepted, headers=provider).status_code == 201
    assert client.post("/v1/signals", json=accepted, headers=provider).status_code == 200
    batch = [
        signal_body(**{**IDENTITY, "person": {**IDENTITY["person"], "bsn": bsn}}),
        {**accepted, "amount_cents": 1},  # conflict: same ref, other content
        signal_body(**IDENTITY, preconditions={"subject_refused": True}),
        {**signal_body(**IDENTITY), "person": {**IDENTITY["person"], "bsn": bsn[:-1] + "0"}},
    ]
    batch[2]["person"]["bsn"] = bsn
    assert (
        client.post("/v1/signals/batch", json={"signals": batch}, headers=provider).status_code
        == 200
    )
    refused = signal_body(**IDENTITY, preconditions={"subject_refused": True})
    refused["person"]["bsn"] = bsn
    assert client.post("/v1/signals", json=refused, headers=provider).status_code == 422
    bad = {**accepted, "external_ref": "BAD-1", "crisis": "maybe"}
    assert client.post("/v1/signals", json=bad, headers=provider).status_code == 422
    # The consent ledger takes the identity too; it must keep only the pseudonym.
    ledger = token_for("municipality")
    person = {
        k: IDENTITY["person"][k] for k in ("initials", "surname_prefix", "surname", "birth_date")
    }
    consent = {
        "person": {**person, "bsn": bsn},
        "purposes": ["debt-service-referral"],
        "recipients": [world["debt_service"].id],
        "collection_method": "phone",
        "notice_version": "2026-01",
    }
    assert client.post("/v1/consents", json=consent, headers=ledger).status_code == 201
    assert (
        client.post("/v1/consents", json=consent | {"purposes": ["x"]}, headers=ledger).status_code
        == 422
    )
    objection = {
        "person": person,
        "purposes": ["outreach"],
        "reason": f"Mevrouw {IDENTITY['person']['surname']} belt zelf wel",
    }
    assert client.post("/v1/objections", json=objection, headers=ledger).status_code == 201
    assert (
        client.post(
            "/v1/consents/search", json={"person": {"bsn": bsn}}, headers=ledger
        ).status_code
        == 200
    )

    log_text = captured_logs.getvalue()
    assert "signal.received" in log_text  # the logs were captured at all
    database_text = _raw_database(broker, database)
    assert database_text  # and the database was read
    for secret in secrets_of(bsn):
        assert secret.lower() not in log_text.lower(), f"{secret!r} found in the logs"
        assert secret.lower() not in database_text.lower(), f"{secret!r} in the database"


def test_scrubber_removes_personal_fields_and_masks_lookalikes() -> None:
    event = {
        "event": "oops for 999990019 at 3011 AB, mail a.b@example.org, call +31612345678",
        "bsn": "999990019",
        "details": {"surname": "Dijk", "signal_id": "5d0c"},
        "signal_id": "7731aff5-6a2e-40aa-816f-78c5f5d4c748",
    }
    scrubbed = scrub_personal_data(None, "info", dict(event))
    assert scrubbed["bsn"] == "[removed]"
    assert scrubbed["details"] == {"surname": "[removed]", "signal_id": "5d0c"}
    for leak in ("999990019", "3011 AB", "a.b@example.org", "+31612345678"):
        assert leak not in scrubbed["event"]
    assert scrubbed["signal_id"] == event["signal_id"]


def test_a_careless_log_call_is_scrubbed_on_its_way_out(captured_logs: io.StringIO) -> None:
    structlog.get_logger("careless").info("looked up", bsn="999990019", note="999990019 x")
    logging.getLogger("library").warning("library says 999990019 lives at 3011AB")
    output = captured_logs.getvalue()
    assert "looked up" in output and "library says" in output
    assert "999990019" not in output and "3011AB" not in output


def _raw_database(broker: Broker, database: Database) -> str:
    if database.backend == "sqlite":
        path = Path(database.url.split("///", 1)[1])
        raw = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
        return raw.decode("latin-1")
    chunks: list[str] = []
    with broker.engine.connect() as connection:
        for table in metadata.sorted_tables:
            rows: Any = connection.execute(text(f'SELECT t::text FROM "{table.name}" t'))
            chunks.extend(row[0] for row in rows)
    return "\n".join(chunks)
