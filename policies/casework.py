"""Casework terms: deadlines after a signal, result codes, and feedback to providers.

Read from ``documents/casework.yaml`` (checked against ``schema/casework.schema.json``) and
compiled once. Everything here is a pure function of its arguments: the broker passes the
dates, so a deadline computed today is the same deadline computed in a year.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from policies.calendar import add_working_days

DOCUMENT = "casework.yaml"
SCHEMA = "casework.schema.json"


class ResultCode(enum.StrEnum):
    """How a case ended: the national list (DDAS ``EnumEindresultaat``/``EnumSignaalstatus``)."""

    ALREADY_KNOWN_TO_DEBT_HELP = "already_known_to_debt_help"
    OTHER_TRAJECTORY_RUNNING = "other_trajectory_running"
    NO_CONTACT_POSSIBLE = "no_contact_possible"
    NO_REPLY_AFTER_CONTACT = "no_reply_after_contact"
    NO_HELP_NEEDED = "no_help_needed"
    PAID_OR_ARRANGED = "paid_or_arranged"
    BUDGET_ADVICE_OR_QUICK_FIX = "budget_advice_or_quick_fix"
    FOLLOW_UP_FINANCIAL = "follow_up_financial"
    REFERRAL_WITHOUT_CONTACT = "referral_without_contact"
    FOLLOW_UP_NON_FINANCIAL = "follow_up_non_financial"
    NOT_PICKED_UP_REPEAT_SIGNAL = "not_picked_up_repeat_signal"
    NOT_PICKED_UP_WRONGFUL_SIGNAL = "not_picked_up_wrongful_signal"
    NOT_PICKED_UP_DECEASED = "not_picked_up_deceased"
    NOT_PICKED_UP_NOT_RESIDENT = "not_picked_up_not_resident"
    NOT_PICKED_UP_OTHER = "not_picked_up_other"

    @property
    def picked_up(self) -> bool:
        """False for the codes that say the municipality did not take the signal up."""
        return not self.value.startswith("not_picked_up_")


class FeedbackCode(enum.StrEnum):
    """What a provider may hear about its own signal: where the case stands, never why."""

    RECEIVED = "received"
    IN_CONTACT = "in_contact"
    HELP_ACCEPTED = "help_accepted"
    NOT_PICKED_UP = "not_picked_up"
    CLOSED = "closed"


class DeadlineKind(enum.StrEnum):
    FIRST_CONTACT_ATTEMPT = "first_contact_attempt"
    FIRST_CONVERSATION = "first_conversation"


@dataclass(frozen=True)
class Term:
    days: int
    basis: str


@dataclass(frozen=True)
class Deadlines:
    """The two legal terms of one case, as dates (the last day on which they are met)."""

    first_contact_attempt: dt.date
    first_conversation: dt.date

    def next_open(
        self, first_attempt_on: dt.date | None, first_reached_on: dt.date | None
    ) -> tuple[DeadlineKind, dt.date] | None:
        """The earliest term not yet met, or None when both are."""
        if first_attempt_on is None:
            return DeadlineKind.FIRST_CONTACT_ATTEMPT, self.first_contact_attempt
        if first_reached_on is None:
            return DeadlineKind.FIRST_CONVERSATION, self.first_conversation
        return None


@dataclass(frozen=True)
class ResultRequirement:
    """What a case must show before it closes with one result code."""

    attempts: int = 0  # contact attempts recorded
    reached: bool = False  # the person was reached at least once
    basis: str = ""

    def unmet(self, attempts: int, reached: bool) -> bool:
        return attempts < self.attempts or (self.reached and not reached)


@dataclass(frozen=True)
class CaseworkPolicy:
    version: str
    version_hash: str
    first_contact_attempt: Term
    first_conversation: Term
    crisis_first_contact_working_days: int
    crisis_basis: str
    result_feedback: Mapping[ResultCode, FeedbackCode]
    referral_feedback: FeedbackCode
    collection_pause_days: Mapping[FeedbackCode, int]
    result_requirements: Mapping[ResultCode, ResultRequirement] = field(default_factory=dict)
    reopen_within: Term | None = None

    def deadlines(self, first_signal_on: dt.date, crisis_on: dt.date | None) -> Deadlines:
        """The terms for a case opened on ``first_signal_on``; a crisis signal received on
        ``crisis_on`` can only bring the first contact attempt forward, never push it back."""
        contact = first_signal_on + dt.timedelta(days=self.first_contact_attempt.days)
        if crisis_on is not None:
            contact = min(
                contact, add_working_days(crisis_on, self.crisis_first_contact_working_days)
            )
        conversation = first_signal_on + dt.timedelta(days=self.first_conversation.days)
        return Deadlines(contact, max(conversation, contact))

    def feedback_for_result(self, result: ResultCode) -> FeedbackCode:
        return self.result_feedback[result]

    def collection_paused_until(self, code: FeedbackCode, since: dt.date) -> dt.date | None:
        days = self.collection_pause_days.get(code)
        return since + dt.timedelta(days=days) if days else None


@cache
def load_casework_policy(path: Path | None = None) -> CaseworkPolicy:
    """Read, validate and compile the casework document (the shipped one by default)."""
    if path is None:
        text = resources.files("policies").joinpath("documents", DOCUMENT).read_text()
    else:
        text = path.read_text()
    document: dict[str, Any] = yaml.safe_load(text)
    schema = json.loads(resources.files("policies").joinpath("schema", SCHEMA).read_text())
    jsonschema.validate(document, schema)
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    deadlines = document["deadlines"]
    crisis = deadlines["crisis"]["first_contact_attempt"]
    feedback = document["feedback"]
    results = {ResultCode(code): FeedbackCode(fb) for code, fb in feedback["results"].items()}
    missing = set(ResultCode) - set(results)
    if missing:  # the schema asks for all fifteen; say which one is gone
        raise ValueError(f"casework document lacks feedback for {sorted(missing)}")
    return CaseworkPolicy(
        version=document["version"],
        version_hash="sha256:" + hashlib.sha256(canonical.encode()).hexdigest(),
        first_contact_attempt=Term(**deadlines["first_contact_attempt"]),
        first_conversation=Term(**deadlines["first_conversation"]),
        crisis_first_contact_working_days=crisis["working_days"],
        crisis_basis=crisis["basis"],
        result_feedback=results,
        referral_feedback=FeedbackCode(feedback["referral_to_debt_service"]),
        collection_pause_days={
            FeedbackCode(code): days for code, days in feedback["collection_pause_days"].items()
        },
        result_requirements={
            ResultCode(code): ResultRequirement(**needs)
            for code, needs in document.get("results", {}).get("requires", {}).items()
        },
        reopen_within=(
            Term(**document["results"]["reopen_within"])
            if "reopen_within" in document.get("results", {})
            else None
        ),
    )
