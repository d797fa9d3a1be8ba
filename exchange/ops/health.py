"""``/healthz`` (the process answers) and ``/readyz`` (this replica can do its work).

Liveness says nothing about the database on purpose: an orchestrator restarts a process
whose liveness fails, and restarting every replica because PostgreSQL is away helps no one.
Readiness takes a replica out of the load balancer until the four things every request
needs hold again: the database answers, its schema is the one this code migrates to, the
keys are loaded, and the audit log can be appended to (no audit record, no disclosure).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Connection, select, text

from audit.merkle import Frontier
from exchange.auditlog.models import AuditHead
from exchange.auditlog.service import HEAD_ID
from exchange.broker import Broker
from exchange.db import alembic_config

router = APIRouter(tags=["operations"])

# Readiness waits this long for the audit head row. An append holds it from the audit
# append of its transaction to the commit: well under a second even for 10,000 signals.
AUDIT_LOCK_TIMEOUT_MS = 3000


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@router.get("/healthz", summary="Liveness: the process answers", include_in_schema=False)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: database, schema, keys, audit log",
    include_in_schema=False,
)
def readyz(request: Request) -> JSONResponse:
    broker: Broker = request.app.state.broker
    checks = readiness(broker)
    ready = all(check.ok for check in checks)
    return JSONResponse(
        {
            "status": "ready" if ready else "not ready",
            "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in checks},
        },
        status_code=200 if ready else 503,
    )


def readiness(broker: Broker) -> list[Check]:
    """Every readiness check, in order; a check that cannot run counts as failed."""
    checks = [_run("keys", lambda: _keys_loaded(broker))]
    try:
        with broker.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            checks.append(Check("database", True, "reachable"))
            checks.append(_run("migrations", lambda: _migrations_at_head(broker, connection)))
            connection.rollback()
            checks.append(_run("audit_log", lambda: _audit_appendable(connection)))
    except Exception as error:
        # The class name only: a driver's message can carry the connection string.
        checks.append(Check("database", False, type(error).__name__))
    return checks


def _run(name: str, check: Callable[[], str]) -> Check:
    try:
        return Check(name, True, check())
    except Exception as error:
        return Check(name, False, f"{type(error).__name__}: {_first_line(error)}")


def _keys_loaded(broker: Broker) -> str:
    keyring = broker.keyring
    # Each family's active key must be present: .active raises when the id has no key.
    for family in (keyring.pseudonym, keyring.kek, keyring.digest, keyring.checkpoint):
        family.active  # noqa: B018
    keyring.signing_key()
    keyring.checkpoint_key()
    return "token signing, pseudonym, key encryption, digest and checkpoint keys"


def _migrations_at_head(broker: Broker, connection: Connection) -> str:
    current = set(MigrationContext.configure(connection).get_current_heads())
    heads, known = _script_revisions(broker.settings.resolved_database_url)
    if current == heads:
        return ", ".join(sorted(current))
    if current and not current <= known:
        # A revision this code does not know was written by a newer release's migration
        # (a rolling update: the Job ran, older replicas still serve). Migrations are kept
        # backward compatible for one release, so the older code stays in service.
        return f"schema at {', '.join(sorted(current))}, newer than this code"
    raise RuntimeError(
        f"schema at {', '.join(sorted(current)) or 'nothing'}, "
        f"code expects {', '.join(sorted(heads))}; run 'exchange init' (the migration job)"
    )


@cache
def _script_revisions(url: str) -> tuple[frozenset[str], frozenset[str]]:
    """The heads and every revision of the migration scripts (they ship with the code)."""
    script = ScriptDirectory.from_config(alembic_config(url))
    known = frozenset(revision.revision for revision in script.walk_revisions())
    return frozenset(script.get_heads()), known


def _audit_appendable(connection: Connection) -> str:
    """Lock the audit head row as an append does, check it, and roll back: nothing written."""
    with connection.begin() as transaction:
        if connection.dialect.name == "postgresql":
            connection.execute(text(f"SET LOCAL lock_timeout = {AUDIT_LOCK_TIMEOUT_MS}"))
        # On SQLite the engine's BEGIN IMMEDIATE has taken the writer lock already.
        row = connection.execute(
            select(AuditHead.tree_size, AuditHead.frontier)
            .where(AuditHead.id == HEAD_ID)
            .with_for_update()
        ).one_or_none()
        transaction.rollback()
    if row is None:
        raise RuntimeError("the audit head row is missing")
    tree_size, frontier = row
    size = Frontier.from_json(frontier).size if frontier else 0
    if size != tree_size:
        raise RuntimeError(f"the audit head says {tree_size} entries, its frontier {size}")
    return f"head lockable, {tree_size} entries"


def _first_line(error: BaseException) -> str:
    return (str(error).splitlines() or [""])[0][:200]
