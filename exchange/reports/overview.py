"""The municipality's own overview: how many signals, how fast and how well it reaches people.

Counts only, decided by the register as ``aggregate`` for the purpose ``statistics``. A
count under the rule's minimum group size is suppressed, and so is a rate or a median
over fewer cases than that: a small group in one neighbourhood and month can point at a
household.

Breakdowns (by team, neighbourhood and result) are made only on fields the rule lists, and
their groups are suppressed so that no suppressed group can be worked out from a total the
overview shows (``_Suppression.groups``).
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from exchange.auditlog.service import AuditTrail
from exchange.cases.models import Assignment, Case, ContactAttempt
from exchange.cases.terms import AssignmentRole, CaseStatus
from exchange.clock import local_date
from exchange.disclosures import NOBODY, Ask, Disclosure, Disclosures, Party
from exchange.errors import Forbidden
from exchange.identity.models import Household
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
# Each breakdown and the register field it needs: one the rule does not list is not made.
BREAKDOWN_FIELDS = {"team": "case.assignments", "pc4": "pc4", "result": "case.result_code"}

K = TypeVar("K", bound=Hashable)


class OverviewReport(BaseModel):
    """What ``build_overview`` answers (documented for the API; built as a dict)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    gemeentecode: str = Field(pattern=r"^[0-9]{4}$")
    start: str = Field(alias="from")
    end: str = Field(alias="to")
    min_group_size: int = Field(ge=1)
    policy_version: str
    signals: dict[str, Any]
    cases: dict[str, Any]
    reach_rate: dict[str, Any]
    acceptance_rate: dict[str, Any]
    median_days_to_first_contact_attempt: dict[str, Any]
    share_overdue: dict[str, Any]
    channels_reached: list[dict[str, Any]]
    breakdowns: dict[str, Any]


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
    resources: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Figures over the signals the municipality received in the period (Dutch calendar
    days, both included) and the cases they belong to.

    A disclosure (``exchange.disclosures``) in the caller's transaction; a refused one
    raises ``Forbidden`` and stays on record. ``resources`` go into its audit record (an
    export says ``{"format": "csv"}``): the page, the export and the API are one disclosure.
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
                {
                    "gemeentecode": municipality.gemeentecode or "",
                    **period.as_resources(),
                    **(resources or {}),
                },
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
    case_ids = select(Signal.case_id).where(*in_period)
    cases = _case_figures(session, case_ids)

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
            # The groups add up to the total above, so they are suppressed together.
            "per_month_and_kind": [
                {"month": month, "kind": kind, **shown}
                for (month, kind), shown in sorted(suppress.groups(per_group).items())
            ],
        },
        "cases": suppress.count(len(cases)),
        "reach_rate": suppress.rate(len(reached), len(attempted)),
        "acceptance_rate": suppress.rate(len(accepted_help), len(closed_in_contact)),
        "median_days_to_first_contact_attempt": suppress.median(days_to_attempt),
        "share_overdue": suppress.rate(len(overdue), len(running)),
        # Attempts, not cases: no total of them is shown, so each is suppressed on its own.
        "channels_reached": [
            {"channel": channel, **suppress.count(count)}
            for channel, count in _reached_by_channel(session, case_ids)
        ],
        "breakdowns": _breakdowns(session, case_ids, cases, decision.fields, suppress),
    }


def _breakdowns(
    session: Session,
    case_ids: Any,
    cases: list[_CaseFigures],
    fields: frozenset[str],
    suppress: _Suppression,
) -> dict[str, list[dict[str, Any]]]:
    """The cases by team, by neighbourhood and by result: each breakdown counts every case
    once (a case with no team or no result yet is a group of its own), so its groups add
    up to ``cases``. Only the breakdowns whose field the rule lists."""
    wanted = {name for name, field in BREAKDOWN_FIELDS.items() if field in fields}
    made: dict[str, list[dict[str, Any]]] = {}
    if "team" in wanted:
        teams = _teams(session, case_ids)
        per_team = Counter(teams.get(c.id, (None, None, None)) for c in cases)
        made["team"] = [
            {"organisation_id": org_id, "name": name, "kind": kind, **shown}
            for (org_id, name, kind), shown in sorted(
                suppress.groups(per_team).items(), key=lambda item: _last_if_none(item[0][1])
            )
        ]
    if "pc4" in wanted:
        per_pc4 = Counter(_pc4s(session, case_ids).get(c.id) for c in cases)
        made["pc4"] = [
            {"pc4": pc4, **shown}
            for pc4, shown in sorted(
                suppress.groups(per_pc4).items(), key=lambda item: _last_if_none(item[0])
            )
        ]
    if "result" in wanted:
        per_result = Counter(c.result_code for c in cases)
        order = {code.value: index for index, code in enumerate(ResultCode)}
        made["result"] = [
            {"result_code": code, **shown}
            for code, shown in sorted(
                suppress.groups(per_result).items(),
                key=lambda item: order.get(item[0] or "", len(order)),
            )
        ]
    return made


def _last_if_none(value: str | None) -> tuple[bool, str]:
    return (value is None, value or "")


def _teams(session: Session, case_ids: Any) -> dict[Any, tuple[str, str, str]]:
    """Per case, the organisation that has it now: its live lead assignment (the latest,
    should there be two). A case with none is with the municipality itself."""
    rows = session.execute(
        select(Assignment.case_id, Organisation.id, Organisation.name, Organisation.kind)
        .join(Organisation, Organisation.id == Assignment.organisation_id)
        .where(
            Assignment.case_id.in_(case_ids),
            Assignment.ended_at.is_(None),
            Assignment.role == AssignmentRole.LEAD.value,
        )
        .order_by(Assignment.assigned_at, Assignment.id)
    )
    return {case_id: (str(org_id), name, kind) for case_id, org_id, name, kind in rows}


def _pc4s(session: Session, case_ids: Any) -> dict[Any, str]:
    """Per case, the four digits of its household's postcode."""
    rows = session.execute(
        select(Case.id, Household.pc4)
        .join(Household, Household.id == Case.household_id)
        .where(Case.id.in_(case_ids))
    )
    return {case_id: f"{pc4:04d}" for case_id, pc4 in rows}


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
    id: Any
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
            Case.id,
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
            id=row.id,
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

    def groups(self, counts: Mapping[K, int]) -> dict[K, dict[str, Any]]:
        """The groups of a breakdown whose groups add up to a total that is shown.

        A group under the minimum is suppressed (primary suppression). Then, as long as
        fewer than two groups are suppressed, or the suppressed ones together count fewer
        than the minimum, the smallest group still shown is suppressed too (secondary
        suppression). Why: the total minus the shown groups is what the suppressed groups
        count together. With one suppressed group that is its exact count; with two groups
        of 1 and 2 it is a small number that still points at a household or two. This way
        what can be worked out is always a sum over two or more groups and never a small
        number. We chose this over showing no total: the totals are the overview's
        headline figures, and every breakdown adds up to one of them.
        """
        suppressed = {key for key, value in counts.items() if value < self.minimum}
        # Smallest first; ties by the group's name, so that the same figures give the same
        # cells every time.
        shown = sorted(
            (k for k in counts if k not in suppressed), key=lambda k: (counts[k], str(k))
        )
        while (
            suppressed
            and shown
            and (len(suppressed) < 2 or sum(counts[k] for k in suppressed) < self.minimum)
        ):
            suppressed.add(shown.pop(0))
        return {
            key: {"count": None, "suppressed": True}
            if key in suppressed
            else {"count": value, "suppressed": False}
            for key, value in counts.items()
        }

    def median(self, values: list[int]) -> dict[str, Any]:
        if len(values) < self.minimum:
            return {"days": None, "cases": None, "suppressed": True}
        return {"days": statistics.median(values), "cases": len(values), "suppressed": False}
