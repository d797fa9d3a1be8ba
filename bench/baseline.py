"""The floor for this stack: a bare FastAPI endpoint that validates a signal and stores it.

Same body shape as the broker's ``SignalIn`` (same nesting, field types, strictness and
length limits) but plain validation: no custom validators, no policy, no routing, no
pseudonyms, no encryption, no case linking, no authentication. Each request inserts the
body as JSON text plus a few columns into a SQLite file in WAL mode and commits, in a
``BEGIN IMMEDIATE`` transaction (as the broker's engine does) on a per-thread connection.
Served by uvicorn with the same settings as ``exchange serve``.

    python -m bench.baseline --port 8001 --db /tmp/baseline.sqlite3
"""

from __future__ import annotations

import argparse
import datetime as dt
import enum
import sqlite3
import threading
import uuid
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

SCHEMA = """
CREATE TABLE IF NOT EXISTS signals (
    id TEXT PRIMARY KEY,
    external_ref TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    amount_cents INTEGER NOT NULL,
    received_at TEXT NOT NULL,
    body TEXT NOT NULL
)
"""

Text = Annotated[str, Field(max_length=200)]


class SignalKind(enum.StrEnum):
    RENT = "rent"
    ENERGY = "energy"
    WATER = "water"
    HEALTH_INSURANCE = "health_insurance"
    MORTGAGE = "mortgage"
    TAX = "tax"
    BENEFITS_RECOVERY = "benefits_recovery"
    STUDENT_DEBT = "student_debt"
    OTHER = "other"


class _Plain(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class Person(_Plain):
    bsn: str | None = None
    initials: str | None = Field(default=None, max_length=20)
    surname_prefix: str | None = Field(default=None, max_length=20)
    surname: Text | None = None
    birth_date: dt.date | None = None


class Address(_Plain):
    postcode: str
    house_number: str
    house_number_addition: str | None = None
    street: Text | None = None
    city: Text | None = None


class Contact(_Plain):
    phone: str | None = None
    email: str | None = None


class Preconditions(_Plain):
    contact_attempted_on: dt.date | None = None
    debt_help_offered_on: dt.date | None = None
    reminder_sent_on: dt.date | None = None
    reminder_offered_transfer: StrictBool = False
    subject_refused: StrictBool = False


class SignalIn(_Plain):
    external_ref: str
    kind: SignalKind
    amount_cents: StrictInt
    arrears_since: dt.date
    crisis: StrictBool = False
    warm_handover: StrictBool = False
    person: Person
    address: Address
    contact: Contact | None = None
    preconditions: Preconditions = Preconditions()


class SignalOut(BaseModel):
    id: uuid.UUID
    external_ref: str
    kind: SignalKind
    status: str
    received_at: dt.datetime


def create_app(db_path: Path) -> FastAPI:
    local = threading.local()

    def connection() -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            local.conn = conn
        return conn

    connection().execute(SCHEMA)
    app = FastAPI(title="Baseline")

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/signals", status_code=201, response_model=SignalOut)
    def send_signal(signal: SignalIn) -> SignalOut:
        conn = connection()
        signal_id = uuid.uuid4()
        now = dt.datetime.now(dt.UTC)
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "INSERT INTO signals (id, external_ref, kind, amount_cents, received_at, body)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    str(signal_id),
                    signal.external_ref,
                    signal.kind.value,
                    signal.amount_cents,
                    now.isoformat(),
                    signal.model_dump_json(),
                ),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return SignalOut(
            id=signal_id,
            external_ref=signal.external_ref,
            kind=signal.kind,
            status="received",
            received_at=now,
        )

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", type=Path, required=True)
    args = parser.parse_args()

    import uvicorn

    # The same call as ``exchange serve``.
    uvicorn.run(
        create_app(args.db), host=args.host, port=args.port, log_config=None, proxy_headers=True
    )


if __name__ == "__main__":
    main()
