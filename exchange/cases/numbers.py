"""Case numbers people can say on the phone: ``0599-2026-000123``.

The gemeentecode, the year the case opened (Dutch calendar) and a running number per
municipality and year. One counter row per municipality and year, raised by the number of
cases a batch opens in one statement (insert, or add to the row that is there), so two
intakes at once never give out one number twice: on PostgreSQL the second waits for the
first's row lock, on SQLite there is one writer.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from exchange.cases.models import CaseNumberCounter
from exchange.organisations.models import Organisation

WIDTH = 6  # 999,999 cases a year in one municipality; Amsterdam opens some thousands


def case_number(gemeentecode: str, year: int, running: int) -> str:
    return f"{gemeentecode}-{year}-{running:0{WIDTH}d}"


def give_numbers(
    session: Session, municipalities: Iterable[uuid.UUID], year: int
) -> dict[uuid.UUID, list[str]]:
    """New numbers, in order, for one new case per item of ``municipalities`` (a municipality
    appears once per case it opens)."""
    wanted = Counter(municipalities)
    if not wanted:
        return {}
    codes: dict[uuid.UUID, str | None] = {
        row.id: row.gemeentecode
        for row in session.execute(
            select(Organisation.id, Organisation.gemeentecode).where(
                Organisation.id.in_(list(wanted))
            )
        )
    }
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    numbers: dict[uuid.UUID, list[str]] = {}
    # Sorted, so two batches for the same municipalities take the row locks in one order.
    for municipality_id in sorted(wanted):
        count = wanted[municipality_id]
        values = insert(CaseNumberCounter).values(
            municipality_id=municipality_id, year=year, last_number=count
        )
        statement = values.on_conflict_do_update(
            index_elements=["municipality_id", "year"],
            set_={"last_number": CaseNumberCounter.last_number + values.excluded.last_number},
        ).returning(CaseNumberCounter.last_number)
        last = session.execute(statement).scalar_one()
        code = codes.get(municipality_id) or "0000"
        numbers[municipality_id] = [
            case_number(code, year, running) for running in range(last - count + 1, last + 1)
        ]
    return numbers
