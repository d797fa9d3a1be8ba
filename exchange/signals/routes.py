"""``/v1/signals``: providers push early signals and read back their own."""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from fastapi import APIRouter, Body, Request, Response
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select

from exchange import clock
from exchange.api.deps import CurrentBroker, DbSession
from exchange.api.problems import invalid_input, problem_response
from exchange.auditlog.service import AuditRecord
from exchange.auth.guards import CurrentPrincipal, requires
from exchange.auth.scopes import SIGNALS_READ, SIGNALS_WRITE
from exchange.errors import FieldError, Forbidden, InvalidInput
from exchange.identity.models import Subject
from exchange.organisations.models import PROVIDER_KINDS
from exchange.policy.service import categories_of
from exchange.signals import service
from exchange.signals.intake import IntakeCoalescer, receive
from exchange.signals.models import Signal, SignalKind
from exchange.signals.schemas import (
    BatchItemResult,
    BatchResult,
    BatchSummary,
    SignalIn,
    SignalOut,
)
from policies.engine import DecisionRequest

router = APIRouter(prefix="/signals", tags=["signals"])
FEEDBACK_PURPOSE = "provider-feedback"
log = structlog.get_logger("exchange.signals")
_SIGNAL = TypeAdapter(SignalIn)


@router.post(
    "",
    status_code=201,
    response_model=SignalOut,
    responses={200: {"model": SignalOut, "description": "The same signal was sent before"}},
    summary="Send one early signal",
)
@requires(SIGNALS_WRITE, PROVIDER_KINDS)
async def send_signal(
    signal: SignalIn,
    principal: CurrentPrincipal,
    broker: CurrentBroker,
    request: Request,
    response: Response,
) -> Any:
    # Concurrent single signals share a transaction (see exchange.signals.intake); the
    # answer comes after that transaction has committed.
    coalescer: IntakeCoalescer = request.app.state.intake
    outcome = await coalescer.submit(principal, signal)
    if outcome.problem is not None:
        return problem_response(outcome.problem, request)
    assert outcome.signal is not None
    response.status_code = outcome.status
    response.headers["Location"] = f"/v1/signals/{outcome.signal.id}"
    return _out(outcome.signal)


@router.post(
    "/batch",
    response_model=BatchResult,
    summary="Send up to 10,000 early signals; each gets its own result",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["signals"],
                        "properties": {
                            "signals": {
                                "type": "array",
                                "maxItems": 10_000,
                                "items": {"$ref": "#/components/schemas/SignalIn"},
                            }
                        },
                    }
                }
            },
        }
    },
)
@requires(SIGNALS_WRITE, PROVIDER_KINDS)
def send_batch(
    principal: CurrentPrincipal,
    broker: CurrentBroker,
    session: DbSession,
    body: Any = Body(...),
) -> BatchResult:
    raw_items = body.get("signals") if isinstance(body, dict) else body
    if not isinstance(raw_items, list):
        raise InvalidInput(
            "the body is an object with a list of signals",
            [FieldError("signals", "must be a list of signals")],
        )
    limit = broker.settings.max_batch_items
    if len(raw_items) > limit:
        raise InvalidInput(
            f"a batch holds at most {limit} signals; this one has {len(raw_items)}",
            [FieldError("signals", f"at most {limit} signals per batch; split the batch")],
        )

    results: dict[int, BatchItemResult] = {}
    valid: list[tuple[int, SignalIn]] = []
    for index, raw in enumerate(raw_items):
        try:
            valid.append((index, _SIGNAL.validate_python(raw)))
        except ValidationError as error:
            problem = invalid_input(error, root=f"signals[{index}]")
            ref = raw.get("external_ref") if isinstance(raw, dict) else None
            results[index] = BatchItemResult(
                index=index,
                external_ref=ref if isinstance(ref, str) else None,
                outcome="rejected",
                status=problem.status,
                problem=problem.as_problem(),
            )
    for outcome in receive(broker, session, principal, valid):
        results[outcome.index] = BatchItemResult(
            index=outcome.index,
            external_ref=outcome.external_ref,
            outcome=outcome.outcome,
            status=outcome.status,
            signal=_out(outcome.signal) if outcome.signal is not None else None,
            problem=outcome.problem.as_problem() if outcome.problem is not None else None,
        )
    ordered = [results[index] for index in range(len(raw_items))]
    summary = BatchSummary(
        created=sum(r.outcome == "created" for r in ordered),
        duplicate=sum(r.outcome == "duplicate" for r in ordered),
        rejected=sum(r.outcome == "rejected" for r in ordered),
    )
    log.info(
        "signal.batch_received", provider_id=str(principal.organisation_id), **summary.model_dump()
    )
    return BatchResult(summary=summary, results=ordered)


@router.get("/{signal_id}", response_model=SignalOut, summary="Read one of your own signals")
@requires(SIGNALS_READ, PROVIDER_KINDS)
def read_signal(
    signal_id: uuid.UUID, principal: CurrentPrincipal, broker: CurrentBroker, session: DbSession
) -> SignalOut:
    signal = service.get_signal(session, principal.organisation_id, signal_id)
    # Telling a provider the status of its signal is feedback: a disclosure like any other,
    # decided by the register and logged.
    register = broker.policies.active(session).register
    decision = register.decide(
        DecisionRequest(
            actor_org=str(principal.organisation_id),
            actor_kind=principal.organisation_kind.value,
            action="read",
            purpose=FEEDBACK_PURPOSE,
            today=clock.today(),
        )
    )
    subject = session.scalar(select(Subject.pseudonym).where(Subject.id == signal.subject_id))
    broker.audit.append(
        session,
        [
            AuditRecord(
                action="signal.read",
                decision="permit" if decision.permitted else "deny",
                actor_org=principal.organisation_id,
                actor_client=principal.client_id,
                purpose=FEEDBACK_PURPOSE,
                legal_basis=register.purpose(FEEDBACK_PURPOSE).legal_basis,
                policy_version=decision.policy_version,
                rule_id=decision.rule_id,
                fields=tuple(sorted(decision.fields)),
                categories=categories_of(register, decision.fields),
                recipient_org=principal.organisation_id,
                subject=subject,
                resources={"signal": str(signal.id)},
            )
        ],
        clock.now(),
    )
    if not decision.permitted:
        raise Forbidden(f"the register does not permit this feedback: {decision.reason}")
    return _out(signal)


def _out(signal: Signal | service.StoredSignal) -> SignalOut:
    return SignalOut(
        id=signal.id,
        external_ref=signal.external_ref,
        kind=SignalKind(signal.kind),
        status=signal.status,
        case_id=signal.case_id,
        received_at=signal.received_at,
    )
