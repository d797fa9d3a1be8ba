from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import signal_body


def test_provider_sends_a_signal_and_reads_it_back(
    client: TestClient, provider: dict[str, str]
) -> None:
    created = client.post("/v1/signals", json=signal_body(), headers=provider)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "received"
    read = client.get(f"/v1/signals/{body['id']}", headers=provider)
    assert read.status_code == 200
    assert read.json()["case_id"] == body["case_id"]
