"""The municipality's own overview: how many signals, how fast and how well it reaches people.

Counts only, decided by the register as ``aggregate`` for the purpose ``statistics``. A
count under the rule's minimum group size is suppressed, and so is a rate or a median
over fewer cases than that: a small group in one neighbourhood and month can point at a
household.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from exchange.auditlog.service import AuditTrail
from exchange.cases.models import Case, ContactAttempt
from exchange.cases.terms import CaseStatus
from exchange.clock import local_date
from exchange.disclosures import NOBODY, Ask, Disclosure, Disclosures, Party
from exchange.errors import Forbidden
from exchange.organisations.models import Organisation
from exchange.organisations.terms import OrganisationKind
from exchange.reports.period import Period
from exchange.signals.models import Signal
from policies.casework import CaseworkPolicy, FeedbackCode, ResultCode, load_casework_policy
from policies.engine import Register

PURPOSE = "statistics"
ACTION = "aggregate"
AUDIT_ACTION = "report.overview"
# Used when a rule permits aggregates without naming a minimum: never show a group of one.
DEFAULT_MIN_GROUP_SIZE = 10


def build_overview(
    session: Session,
    register: Register,
    municipality: Organisation,
    start: dt.date,
    end: dt.date,
    now: dt.datetime,
    *,
    audit: AuditTrail,
    actor_client: str | None = None,
    casework: CaseworkPolicy | None = None,
) -> dict[str, Any]:
    """Figures over the signals the municipality received in the period (Dutch calendar
    days, both included) and the cases they belong to.

    A disclosure (``exchange.disclosures``) in the caller's transaction; a refused one
    raises ``Forbidden`` and stays on record.
    """
    period = Period(start, end)
    today = local_date(now)
    recipient = Party(municipality.id, OrganisationKind.MUNICIPALITY.value, actor_client)
    [decided] = Disclosures(session, register, audit, now, today).disclose(
        Disclosure(recipient, PURPOSE, ACTION, AUDIT_ACTION),
        [
            Ask(
                NOBODY,
                recipient,
                None,
                {"gemeentecode": municipality.gemeentecode or "", **period.as_resources()},
            )
        ],
        refuse=lambda reasons: Forbidden(
            f"the register does not permit this overview: {'; '.join(reasons)}"
        ),
    )
    decision = decided.decision

    policy = casework or load_casework_policy()
    accepted = {
        code
        for code in ResultCode
        if policy.feedback_for_result(code) is FeedbackCode.HELP_ACCEPTED
    }
    minimum = decision.min_group_size or DEFAULT_MIN_GROUP_SIZE
    suppress = _Suppression(minimum)

    in_period = (
        Signal.municipality_id == municipality.id,
        Signal.received_at >= period.first_instant,
        Signal.received_at < period.after_last_instant,
    )
    per_group: Counter[tuple[str, str]] = Counter()
    for kind, received_at in session.execute(
        select(Signal.kind, Signal.received_at).where(*in_period)
    ):
        per_group[(local_date(received_at).strftime("%Y-%m"), kind)] += 1
    cases = _case_figures(session, select(Signal.case_id).where(*in_period))

    attempted = [c for c in cases if c.first_attempt_on is not None]
    reached = [c for c in attempted if c.reached]
    closed_in_contact = [c for c in cases if c.status == CaseStatus.CLOSED and c.reached]
    accepted_help = [c for c in closed_in_contact if c.result_code in accepted]
    running = [c for c in cases if c.status != CaseStatus.CLOSED]
    overdue = [c for c in running if c.deadline_on is not None and c.deadline_on < today]
    days_to_attempt = [
        (c.first_attempt_on - c.opened_on).days for c in attempted if c.first_attempt_on
    ]

    return {
        "gemeentecode": municipality.gemeentecode,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "min_group_size": minimum,
        "policy_version": decision.policy_version,
        "signals": {
            **suppress.count(sum(per_group.values())),
            "per_month_and_kind": [
                {"month": month, "kind": kind, **suppress.count(count)}
                for (month, kind), count in sorted(per_group.items())
            ],
        },
        "cases": suppress.count(len(cases)),
        "reach_rate": suppress.rate(len(reached), len(attempted)),
        "acceptance_rate": suppress.rate(len(accepted_help), len(closed_in_contact)),
        "median_days_to_first_contact_attempt": suppress.median(days_to_attempt),
        "share_overdue": suppress.rate(len(overdue), len(running)),
        "channels_reached": [
            {"channel": channel, **suppress.count(count)}
            for channel, count in _reached_by_channel(
                session, select(Signal.case_id).where(*in_period)
            )
        ],
    }


def _reached_by_channel(session: Session, case_ids: Any) -> list[tuple[str, int]]:
    """Which contact channels reached people: attempts that reached someone, per channel."""
    rows = session.execute(
        select(ContactAttempt.channel, func.count())
        .where(ContactAttempt.case_id.in_(case_ids), ContactAttempt.reached.is_(True))
        .group_by(ContactAttempt.channel)
        .order_by(ContactAttempt.channel)
    )
    return [(channel, int(count)) for channel, count in rows]


@dataclass(frozen=True)
class _CaseFigures:
    status: str
    opened_on: dt.date
    deadline_on: dt.date | None
    result_code: str | None
    first_attempt_on: dt.date | None
    reached: bool


def _case_figures(session: Session, case_ids: Any) -> list[_CaseFigures]:
    """Per case: its state and, from its contact attempts, the first one and whether any
    reached the person (the attempts themselves, not columns kept beside them)."""
    attempts = (
        select(
            ContactAttempt.case_id,
            func.min(ContactAttempt.attempted_on).label("first_attempt_on"),
            func.max(case((ContactAttempt.reached, 1), else_=0)).label("reached"),
        )
        .group_by(ContactAttempt.case_id)
        .subquery()
    )
    rows = session.execute(
        select(
            Case.status,
            Case.opened_at,
            Case.deadline_on,
            Case.result_code,
            Case.first_reached_on,
            attempts.c.first_attempt_on.label("attempted_on"),
            attempts.c.reached,
        )
        .outerjoin(attempts, attempts.c.case_id == Case.id)
        .where(Case.id.in_(case_ids))
    )
    return [
        _CaseFigures(
            status=row.status,
            opened_on=local_date(row.opened_at),
            deadline_on=row.deadline_on,
            result_code=row.result_code,
            first_attempt_on=row.attempted_on,
            reached=bool(row.reached) or row.first_reached_on is not None,
        )
        for row in rows
    ]


@dataclass(frozen=True)
class _Suppression:
    """Small numbers are shown as null with ``"suppressed": true``."""

    minimum: int

    def count(self, value: int) -> dict[str, Any]:
        if value < self.minimum:
            return {"count": None, "suppressed": True}
        return {"count": value, "suppressed": False}

    def rate(self, numerator: int, denominator: int) -> dict[str, Any]:
        if denominator < self.minimum:
            return {"rate": None, "denominator": None, "suppressed": True}
        return {
            "rate": round(numerator / denominator, 3),
            "denominator": denominator,
            "suppressed": False,
        }

    def median(self, values: list[int]) -> dict[str, Any]:
        if len(values) < self.minimum:
            return {"days": None, "cases": None, "suppressed": True}
        return {"days": statistics.median(values), "cases": len(values), "suppressed": False}
