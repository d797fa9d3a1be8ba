"""One provider's failure in a shared intake transaction fails only that provider's requests.

The coalescer takes concurrent single signals of several providers in one transaction
(``exchange.intake.coalescer``). A fault that belongs to one provider's signals (a household
whose key-encryption key is gone from the vault, an organisation removed while its signal
waited) must not cost the others their signals: they are stored and answered 201, with
their audit entries in a contiguous, verifying log; the failed provider stores nothing and
leaves no audit entry. A lost race still runs the whole transaction again, once per
request answered.

To have several providers' signals in one transaction every time, the coalescer's first
transaction is held until the requests under test queue behind it, as on a busy broker;
they then go through the next transaction together, and each test checks that they did.
"""

from __future__ import annotations

import ast
import asyncio
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, distinct, func, select, text, update

from audit.verify import verify_export
from exchange.auditlog.models import AuditEntry
from exchange.auth.models import ApiClient
from exchange.demo import DemoOrganisation
from exchange.identity.models import Household, Subject
from exchange.intake import service
from exchange.organisations.models import Organisation
from exchange.signals.models import Signal
from tests.conftest import ISSUER
from tests.factories import PROBLEM_JSON, signal_body

EXCHANGE = Path(__file__).parents[1] / "exchange"
# The one place that ends a transaction, and the readiness probe, which rolls back its own
# probing transaction on a connection of its own (no session, no caller).
ENDS_TRANSACTIONS = {"db.py", "ops/health.py"}


@dataclass
class HeldFirstTransaction:
    """Holds the coalescer's first transaction until ``behind`` requests wait for the next.

    ``meanwhile`` runs once they wait, before the first transaction goes on: what happens
    to the world while requests queue. Every transaction's providers are recorded.
    """

    coalescer: Any
    behind: int
    meanwhile: Callable[[], None] = lambda: None
    started: threading.Event = field(default_factory=threading.Event)
    loop: asyncio.AbstractEventLoop | None = None  # whose queue the requests wait in
    transactions: list[list[uuid.UUID]] = field(default_factory=list)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        original = self.coalescer._transaction

        def held(taken: list[Any]) -> Any:
            if not self.started.is_set():
                self.started.set()
                self._wait_for_queue()
                self.meanwhile()
            self.transactions.append([w.principal.organisation_id for w in taken])
            return original(taken)

        monkeypatch.setattr(self.coalescer, "_transaction", held)

    def _wait_for_queue(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            queue = self.coalescer.queues.get(self.loop)
            if queue is not None and len(queue.waiting) >= self.behind:
                return
            time.sleep(0.005)
        raise AssertionError(f"{self.behind} requests did not queue behind the first")


def send_coalesced(
    client: TestClient,
    first: tuple[dict[str, Any], dict[str, str]],
    behind: list[tuple[dict[str, Any], dict[str, str]]],
    monkeypatch: pytest.MonkeyPatch,
    meanwhile: Callable[[], None] = lambda: None,
) -> tuple[list[httpx.Response], HeldFirstTransaction]:
    """Send ``first``, then ``behind`` at once while its transaction is held; all answers."""
    app: Any = client.app
    hold = HeldFirstTransaction(app.state.intake, len(behind), meanwhile)
    hold.install(monkeypatch)

    async def send_all() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as http:

            def post(body: dict[str, Any], headers: dict[str, str]) -> Any:
                return http.post("/v1/signals", json=body, headers=headers)

            hold.loop = asyncio.get_running_loop()
            held = asyncio.create_task(post(*first))
            assert await asyncio.to_thread(hold.started.wait, 30)
            answers = await asyncio.gather(*(post(*request) for request in behind))
            return [await held, *answers]

    return asyncio.run(send_all()), hold


@pytest.fixture
def orgs(world: dict[str, DemoOrganisation]) -> dict[str, uuid.UUID]:
    return {kind: uuid.UUID(o.id) for kind, o in world.items()}


@pytest.fixture
def headers(token_for: Callable[[str], dict[str, str]]) -> Callable[[str], dict[str, str]]:
    return token_for


def test_a_household_whose_key_is_gone_fails_only_its_providers_signal_in_a_shared_transaction(
    client: TestClient,
    headers: Callable[[str], dict[str, str]],
    orgs: dict[str, uuid.UUID],
    db_session: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    housing, energy = headers("housing_corporation"), headers("energy_supplier")
    damaged_address = {"postcode": "3031KL", "house_number": "7"}
    earlier = client.post("/v1/signals", json=signal_body(address=damaged_address), headers=housing)
    assert earlier.status_code == 201, earlier.text
    with db_session() as session:
        # The household's data key was wrapped with a key-encryption key the vault no longer
        # holds (retired before this household was re-wrapped): nobody can link to it.
        session.execute(update(Household).values(kek_id="kek-retired"))

    responses, hold = send_coalesced(
        client,
        (signal_body(), housing),
        [
            (signal_body(kind="energy", address=damaged_address), energy),
            (signal_body(address={"postcode": "3032KL", "house_number": "9"}), housing),
        ],
        monkeypatch,
    )

    blocker, failed, stored = responses
    assert shared(hold, orgs["energy_supplier"], orgs["housing_corporation"])
    assert (blocker.status_code, stored.status_code) == (201, 201), stored.text
    assert failed.status_code == 500
    assert failed.headers["content-type"].startswith(PROBLEM_JSON)
    with db_session() as session:
        assert signal_count(session, orgs["housing_corporation"]) == 3
        assert signal_count(session, orgs["energy_supplier"]) == 0
        # Nothing of the failed group stayed, not even the subject it wrote before failing.
        assert session.scalar(select(func.count(distinct(Subject.person_id)))) == 3
    assert_routed_once_each(db_session, orgs, {"housing_corporation": 3, "energy_supplier": 0})
    assert_audit_log_whole(client, headers, db_session)


def test_a_provider_removed_while_its_signal_waits_fails_alone_in_a_shared_transaction(
    client: TestClient,
    headers: Callable[[str], dict[str, str]],
    orgs: dict[str, uuid.UUID],
    db_session: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    housing, water = headers("housing_corporation"), headers("water_company")

    def remove_the_water_company() -> None:
        # As a restore from a backup older than its registration leaves the database: the
        # token stays valid and the guard found the organisation a moment ago, but its
        # signal now fails on the organisation's foreign key, an IntegrityError of its own.
        with db_session() as session:
            water_company = orgs["water_company"]
            session.execute(delete(ApiClient).where(ApiClient.organisation_id == water_company))
            session.execute(delete(Organisation).where(Organisation.id == water_company))

    responses, hold = send_coalesced(
        client,
        (signal_body(), housing),
        [(signal_body(kind="water"), water), (signal_body(), housing)],
        monkeypatch,
        meanwhile=remove_the_water_company,
    )

    blocker, failed, stored = responses
    assert shared(hold, orgs["water_company"], orgs["housing_corporation"])
    assert (blocker.status_code, stored.status_code) == (201, 201), stored.text
    assert failed.status_code == 500
    with db_session() as session:
        assert signal_count(session, orgs["housing_corporation"]) == 2
        assert signal_count(session, orgs["water_company"]) == 0
        assert session.scalar(select(func.count(distinct(Subject.person_id)))) == 2
    assert_routed_once_each(db_session, orgs, {"housing_corporation": 2, "water_company": 0})
    assert_audit_log_whole(client, headers, db_session)


def test_a_lost_race_reruns_the_whole_shared_transaction_and_a_fault_still_fails_alone(
    client: TestClient,
    headers: Callable[[str], dict[str, str]],
    orgs: dict[str, uuid.UUID],
    db_session: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    housing, energy, water = (
        headers(kind) for kind in ("housing_corporation", "energy_supplier", "water_company")
    )
    damaged_address = {"postcode": "3041KL", "house_number": "3"}
    earlier = client.post("/v1/signals", json=signal_body(address=damaged_address), headers=housing)
    assert earlier.status_code == 201, earlier.text
    with db_session() as session:
        session.execute(update(Household).values(kek_id="kek-retired"))
    raced = lose_the_first_race(monkeypatch, orgs["energy_supplier"])

    responses, hold = send_coalesced(
        client,
        (signal_body(), housing),
        [
            (signal_body(kind="energy"), energy),
            (signal_body(kind="water", address=damaged_address), water),
            (signal_body(), housing),
        ],
        monkeypatch,
    )

    blocker, energy_answer, failed, housing_answer = responses
    assert shared(hold, orgs["energy_supplier"], orgs["water_company"], orgs["housing_corporation"])
    assert raced == [1, 1]  # the energy supplier's signals: the lost race, then the rerun
    statuses = [r.status_code for r in (blocker, energy_answer, housing_answer)]
    assert statuses == [201, 201, 201], [r.text for r in responses]
    assert failed.status_code == 500
    with db_session() as session:
        assert signal_count(session, orgs["housing_corporation"]) == 3
        assert signal_count(session, orgs["energy_supplier"]) == 1
        assert signal_count(session, orgs["water_company"]) == 0
    assert_routed_once_each(
        db_session, orgs, {"housing_corporation": 3, "energy_supplier": 1, "water_company": 0}
    )
    assert_audit_log_whole(client, headers, db_session)


def test_a_lost_race_in_a_batch_reruns_it_and_stores_every_signal_once(
    client: TestClient,
    headers: Callable[[str], dict[str, str]],
    orgs: dict[str, uuid.UUID],
    db_session: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raced = lose_the_first_race(monkeypatch, orgs["housing_corporation"])
    batch = {"signals": [signal_body() for _ in range(5)]}

    response = client.post("/v1/signals/batch", json=batch, headers=headers("housing_corporation"))

    assert response.status_code == 200, response.text
    assert response.json()["summary"] == {"created": 5, "duplicate": 0, "rejected": 0}
    assert raced == [5, 5]
    with db_session() as session:
        assert signal_count(session, orgs["housing_corporation"]) == 5
    assert_routed_once_each(db_session, orgs, {"housing_corporation": 5})
    assert_audit_log_whole(client, headers, db_session)


def test_no_module_but_the_unit_of_work_commits_or_rolls_back_a_transaction() -> None:
    # The unit of work that opened the session (exchange.db) is the only place that ends its
    # transaction: a service that committed or rolled back would end its caller's work too.
    found = []
    for path in sorted(EXCHANGE.rglob("*.py")):
        name = path.relative_to(EXCHANGE).as_posix()
        if name in ENDS_TRANSACTIONS:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("commit", "rollback")
            ):
                found.append(f"{name}:{node.lineno} .{node.func.attr}()")
    assert found == []
    # And the walk reads real code: the unit of work itself is found by the same test.
    unit_of_work = (EXCHANGE / "db.py").read_text()
    assert "session.commit()" in unit_of_work and "session.rollback()" in unit_of_work


def lose_the_first_race(monkeypatch: pytest.MonkeyPatch, provider_id: uuid.UUID) -> list[int]:
    """The first time a provider's signals are inserted, a concurrent writer has stored them
    a moment before: the database refuses ours with a real unique violation. Returns the
    sizes of that provider's signal inserts."""
    original = service.insert_rows
    inserts: list[int] = []

    def racing(session: Any, model: Any, rows: Any) -> None:
        if model is Signal and rows and rows[0]["provider_id"] == provider_id:
            inserts.append(len(rows))
            if len(inserts) == 1:
                original(session, model, rows)  # the other writer's rows, the same refs
        original(session, model, rows)

    monkeypatch.setattr(service, "insert_rows", racing)
    return inserts


def shared(hold: HeldFirstTransaction, *providers: uuid.UUID) -> bool:
    """Whether the requests behind the held one went through one transaction together."""
    return sorted(hold.transactions[1]) == sorted(providers) and len(hold.transactions) == 2


def signal_count(session: Any, provider_id: uuid.UUID) -> int:
    return int(
        session.scalar(
            select(func.count()).select_from(Signal).where(Signal.provider_id == provider_id)
        )
    )


def assert_routed_once_each(
    db_session: Any, orgs: dict[str, uuid.UUID], expected: dict[str, int]
) -> None:
    """One routing decision in the audit log per stored signal of each provider: none for a
    failed group, none twice after a rerun."""
    with db_session() as session:
        for kind, count in expected.items():
            routed = session.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.action == "signal.route", AuditEntry.actor_org_id == orgs[kind])
            )
            assert routed == count, kind
        stored = session.scalars(select(Signal.id)).all()
        entries = session.scalars(
            select(AuditEntry.entry).where(AuditEntry.action == "signal.route")
        ).all()
        assert all(any(str(s).encode() in e for e in entries) for s in stored)


def assert_audit_log_whole(
    client: TestClient, headers: Callable[[str], dict[str, str]], db_session: Any
) -> None:
    """Contiguous (leaf indexes 0 to size - 1, one each) and verifying offline, strictly."""
    with db_session() as session:
        count, distinct, lowest, highest = session.execute(
            select(
                func.count(),
                func.count(AuditEntry.leaf_index.distinct()),
                func.min(AuditEntry.leaf_index),
                func.max(AuditEntry.leaf_index),
            )
        ).one()
        size = session.scalar(text("SELECT tree_size FROM audit_head WHERE id = 1"))
    assert count == distinct == size
    assert (lowest, highest) == (0, size - 1)
    officer = headers("privacy_officer")
    export = client.get("/v1/audit/export", headers=officer)
    key = client.get("/v1/audit/verifier-key", headers=officer)
    assert export.status_code == 200, export.text
    report = verify_export(export.content.splitlines(keepends=True), key.text.strip(), strict=True)
    assert report.ok, report.message
    assert report.size >= size
