"""Casework a team can work in: case numbers, the history of acts, hand-overs, saved views.

Revision ID: 20261202_1000
Revises: 20261202_0900
Create Date: 2026-12-02 10:00

Existing cases get their numbers in the order they opened, per municipality and year, and
the counters continue from there. The history (``case_events``) is filled from what the
tables already say: each assignment and its end, each contact attempt and each result, by
organisation (who in it was not recorded before). Assignments so far were all the lead.
"""

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision: str = "20261202_1000"
down_revision: str | None = "20261202_0900"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_number_counters",
        sa.Column("municipality_id", sa.Uuid(), nullable=False),
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["municipality_id"], ["organisations.id"]),
        sa.PrimaryKeyConstraint("municipality_id", "year"),
    )
    op.create_table(
        "case_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("act", sa.String(length=32), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=True),
        sa.Column("client", sa.String(length=160), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_case_events_case", "case_events", ["case_id", "at"])
    op.create_table(
        "ui_saved_views",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("query", sa.String(length=2000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "name", name="uq_ui_saved_views_name"),
    )
    op.create_index("ix_ui_saved_views_user_id", "ui_saved_views", ["user_id"])
    # Plain ALTER TABLE ADD COLUMN and a unique index: on SQLite a constraint would make
    # batch mode copy the table, and the tables that point at cases forbid dropping it.
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("number", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("reopened_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("case_assignments") as batch:
        batch.add_column(
            sa.Column("role", sa.String(length=16), nullable=False, server_default="lead")
        )
        batch.add_column(sa.Column("ended_reason", sa.String(length=16), nullable=True))
    with op.batch_alter_table("contact_attempts") as batch:
        batch.add_column(sa.Column("recorded_by_client", sa.String(length=160), nullable=True))
    _number_existing_cases()
    op.create_index("uq_cases_number", "cases", ["number"], unique=True)
    _history_of_existing_cases()


def _number_existing_cases() -> None:
    connection = op.get_bind()
    rows = connection.execute(
        sa.text(
            "SELECT c.id, c.municipality_id, c.opened_at, o.gemeentecode FROM cases c "
            "JOIN organisations o ON o.id = c.municipality_id ORDER BY c.opened_at, c.id"
        )
    ).all()
    last: dict[tuple[Any, int], int] = defaultdict(int)
    updates = []
    for case_id, municipality_id, opened_at, gemeentecode in rows:
        year = _dutch_year(opened_at)
        last[(municipality_id, year)] += 1
        number = f"{gemeentecode}-{year}-{last[(municipality_id, year)]:06d}"
        updates.append({"id": case_id, "number": number})
    if updates:
        connection.execute(sa.text("UPDATE cases SET number = :number WHERE id = :id"), updates)
    counters = [
        {"municipality_id": municipality_id, "year": year, "last_number": n}
        for (municipality_id, year), n in last.items()
    ]
    if counters:
        connection.execute(
            sa.text(
                "INSERT INTO case_number_counters (municipality_id, year, last_number) "
                "VALUES (:municipality_id, :year, :last_number)"
            ),
            counters,
        )


def _dutch_year(opened_at: Any) -> int:
    """The year on the Dutch calendar, as intake gives it: 31 December 23:30 UTC is
    already the next year in Amsterdam."""
    moment = (
        opened_at
        if isinstance(opened_at, dt.datetime)
        else dt.datetime.fromisoformat(str(opened_at))
    )
    if moment.tzinfo is None:  # SQLite keeps UTC without the zone
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(ZoneInfo("Europe/Amsterdam")).year


def _history_of_existing_cases() -> None:
    connection = op.get_bind()
    table = sa.table(
        "case_events",
        sa.column("id", sa.Uuid()),
        sa.column("case_id", sa.Uuid()),
        sa.column("act", sa.String()),
        sa.column("organisation_id", sa.Uuid()),
        sa.column("client", sa.String()),
        sa.column("at", sa.DateTime(timezone=True)),
        sa.column("details", sa.JSON()),
    )
    events: list[dict[str, Any]] = []

    def event(case_id: Any, act: str, actor: Any, at: Any, **details: str) -> None:
        events.append(
            {
                "id": uuid.uuid4(),
                "case_id": case_id,
                "act": act,
                "organisation_id": actor,
                "client": None,
                "at": at,
                "details": details,
            }
        )

    # Read through typed columns, so that ids and times come back as the insert wants them
    # on both backends (SQLite keeps a UUID as hex text and a time as text).
    when = sa.DateTime(timezone=True)
    assignments = sa.table(
        "case_assignments",
        sa.column("case_id", sa.Uuid()),
        sa.column("organisation_id", sa.Uuid()),
        sa.column("assigned_by_id", sa.Uuid()),
        sa.column("assigned_at", when),
        sa.column("ended_at", when),
    )
    attempts = sa.table(
        "contact_attempts",
        sa.column("id", sa.Uuid()),
        sa.column("case_id", sa.Uuid()),
        sa.column("recorded_by_id", sa.Uuid()),
        sa.column("recorded_at", when),
    )
    cases = sa.table(
        "cases",
        sa.column("id", sa.Uuid()),
        sa.column("closed_at", when),
        sa.column("result_code", sa.String()),
    )
    for case_id, assignee, assigner, assigned_at, ended_at in connection.execute(
        sa.select(
            assignments.c.case_id,
            assignments.c.organisation_id,
            assignments.c.assigned_by_id,
            assignments.c.assigned_at,
            assignments.c.ended_at,
        )
    ):
        event(case_id, "assigned", assigner, assigned_at, organisation=str(assignee))
        if ended_at is not None:
            event(case_id, "assignment_ended", assigner, ended_at, organisation=str(assignee))
    for attempt_id, case_id, recorder, recorded_at in connection.execute(
        sa.select(
            attempts.c.id, attempts.c.case_id, attempts.c.recorded_by_id, attempts.c.recorded_at
        )
    ):
        event(case_id, "attempt", recorder, recorded_at, attempt=str(attempt_id))
    for case_id, closed_at, result in connection.execute(
        sa.select(cases.c.id, cases.c.closed_at, cases.c.result_code).where(
            cases.c.closed_at.is_not(None)
        )
    ):
        event(case_id, "closed", None, closed_at, result=str(result))
    if events:
        connection.execute(sa.insert(table), events)


def downgrade() -> None:
    with op.batch_alter_table("contact_attempts") as batch:
        batch.drop_column("recorded_by_client")
    with op.batch_alter_table("case_assignments") as batch:
        batch.drop_column("ended_reason")
        batch.drop_column("role")
    op.drop_index("uq_cases_number", table_name="cases")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("reopened_at")
        batch.drop_column("number")
    op.drop_index("ix_ui_saved_views_user_id", table_name="ui_saved_views")
    op.drop_table("ui_saved_views")
    op.drop_index("ix_case_events_case", table_name="case_events")
    op.drop_table("case_events")
    op.drop_table("case_number_counters")
