"""What a provider may hear about its own signal: a status code and a collection pause.

The case's ``feedback_status`` and ``feedback_since`` columns are kept by the case service
on every move (``policies/documents/casework.yaml`` says which result maps to which code).
What a provider is then shown is cut down to its feedback rule: a code the rule does not
list falls back to ``received`` while the case is running and ``closed`` once it ended,
and the pause date only when the rule lists ``feedback.collection_paused_until``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from exchange.cases.models import Case
from exchange.cases.terms import CaseStatus
from policies.casework import CaseworkPolicy, FeedbackCode
from policies.engine import Decision

# The register's purpose under which a provider hears of its signals: read back
# (exchange.intake.service.read_signal) or announced (exchange.webhooks.service).
FEEDBACK_PURPOSE = "provider-feedback"
STATUS_FIELD = "feedback.status"
PAUSE_FIELD = "feedback.collection_paused_until"


def provider_feedback(
    policy: CaseworkPolicy, decision: Decision, case: Case | None
) -> dict[str, Any] | None:
    """The ``feedback`` object for one signal, or None when the rule permits no feedback."""
    if not decision.permitted or STATUS_FIELD not in decision.fields:
        return None
    status = FeedbackCode(case.feedback_status) if case is not None else FeedbackCode.RECEIVED
    since = case.feedback_since if case is not None else None
    closed = case is not None and case.status == CaseStatus.CLOSED
    shown = _permitted_code(status, closed, decision.feedback_codes)
    if shown is None:
        return None
    feedback: dict[str, Any] = {"status": shown.value}
    if PAUSE_FIELD in decision.fields:
        paused: dt.date | None = None
        if shown is status and since is not None:
            paused = policy.collection_paused_until(status, since)
        feedback["collection_paused_until"] = paused.isoformat() if paused else None
    return feedback


def _permitted_code(
    status: FeedbackCode, closed: bool, permitted: frozenset[str]
) -> FeedbackCode | None:
    if status.value in permitted:
        return status
    fallback = FeedbackCode.CLOSED if closed else FeedbackCode.RECEIVED
    return fallback if fallback.value in permitted else None
