"""``/v1/signals``: providers push early signals and read back their own."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import structlog
from fastapi import APIRouter, Request, Response
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from exchange.auth.guards import CurrentPrincipal, requires
from exchange.auth.scopes import SIGNALS_READ, SIGNALS_WRITE
from exchange.auth.tokens import Principal
from exchange.broker import Broker
from exchange.errors import FieldError, InvalidInput
from exchange.http.bodies import JsonRoute, json_body
from exchange.http.deps import CurrentBroker, DbSession
from exchange.http.problems import invalid_input, problem_response
from exchange.intake import service
from exchange.intake.coalescer import IntakeCoalescer, receive
from exchange.organisations.terms import PROVIDER_KINDS
from exchange.signals.schemas import (
    BatchResult,
    FeedbackOut,
    SignalIn,
    SignalOut,
    SignalWithFeedback,
)
from exchange.signals.terms import SignalKind

router = APIRouter(prefix="/signals", tags=["signals"], route_class=JsonRoute)
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
async def send_signal(signal: SignalIn, request: Request) -> Any:
    # Concurrent single signals share a transaction (see exchange.intake.coalescer); the
    # answer comes after that transaction has committed. The principal is the one the
    # router's guard (``authorize``) checked and left in the request state: on the busiest
    # route, without a dependency of its own to resolve per request.
    principal: Principal = request.state.principal
    coalescer: IntakeCoalescer = request.app.state.intake
    outcome = await coalescer.submit(principal, signal)
    if outcome.problem is not None:
        return problem_response(outcome.problem, request)
    assert outcome.signal is not None
    # The document as SignalOut has it, without FastAPI validating the model it was built
    # from once more (the batch answers the same way).
    return Response(
        orjson.dumps(_signal_document(outcome.signal)),
        status_code=outcome.status,
        media_type="application/json",
        headers={"Location": f"/v1/signals/{outcome.signal.id}"},
    )


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
async def send_batch(
    request: Request, principal: CurrentPrincipal, broker: CurrentBroker
) -> Response:
    # Parsed by json_body (strict: a key twice is refused) and answered without
    # response-model validation: for 10,000 items validating the answer was a good part of a
    # batch's time. The work itself runs in the thread pool, in
    # its own transaction (``receive`` opens and commits it), committed before the answer
    # is sent.
    raw = await request.body()
    if not raw.strip():
        raise InvalidInput("the request has no body", [FieldError("body", "is required")])
    body = json_body(raw, request.headers.get("content-type"))
    result = await run_in_threadpool(_take_batch, broker, principal, body)
    return Response(orjson.dumps(result), media_type="application/json")


def _take_batch(broker: Broker, principal: Principal, body: Any) -> dict[str, Any]:
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

    results: dict[int, dict[str, Any]] = {}
    valid: list[tuple[int, SignalIn]] = []
    for index, raw in enumerate(raw_items):
        try:
            valid.append((index, _SIGNAL.validate_python(raw)))
        except ValidationError as error:
            problem = invalid_input(error, root=f"signals[{index}]")
            ref = raw.get("external_ref") if isinstance(raw, dict) else None
            results[index] = _item(
                index,
                ref if isinstance(ref, str) else None,
                "rejected",
                problem.status,
                None,
                problem.as_problem(),
            )
    outcomes = receive(broker, principal, valid)
    for outcome in outcomes:
        results[outcome.index] = _item(
            outcome.index,
            outcome.external_ref,
            outcome.outcome,
            outcome.status,
            _signal_document(outcome.signal) if outcome.signal is not None else None,
            outcome.problem.as_problem() if outcome.problem is not None else None,
        )
    ordered = [results[index] for index in range(len(raw_items))]
    summary = {
        kind: sum(r["outcome"] == kind for r in ordered)
        for kind in ("created", "duplicate", "rejected")
    }
    log.info("signal.batch_received", provider_id=str(principal.organisation_id), **summary)
    return {"summary": summary, "results": ordered}


def _item(
    index: int,
    external_ref: str | None,
    outcome: str,
    status: int,
    signal: dict[str, Any] | None,
    problem: dict[str, Any] | None,
) -> dict[str, Any]:
    """One batch result, shaped as ``BatchItemResult`` (the OpenAPI schema says so)."""
    return {
        "index": index,
        "external_ref": external_ref,
        "outcome": outcome,
        "status": status,
        "signal": signal,
        "problem": problem,
    }


def _signal_document(signal: service.StoredSignal) -> dict[str, Any]:
    return {
        "id": str(signal.id),
        "external_ref": signal.external_ref,
        "kind": signal.kind,
        "status": signal.status,
        "case_id": str(signal.case_id),
        "received_at": signal.received_at.isoformat().replace("+00:00", "Z"),
    }


@router.get(
    "/{signal_id}",
    response_model=SignalWithFeedback,
    summary="Read one of your own signals, with the feedback your rule permits",
)
@requires(SIGNALS_READ, PROVIDER_KINDS)
def read_signal(
    signal_id: uuid.UUID, principal: CurrentPrincipal, broker: CurrentBroker, session: DbSession
) -> SignalWithFeedback:
    signal, feedback = service.read_signal(broker.disclosures(session), principal, signal_id)
    return SignalWithFeedback(
        **_out(signal).model_dump(),
        feedback=FeedbackOut.model_validate(feedback) if feedback is not None else None,
    )


def _out(signal: service.StoredSignal) -> SignalOut:
    return SignalOut(
        id=signal.id,
        external_ref=signal.external_ref,
        kind=SignalKind(signal.kind),
        status=signal.status,
        case_id=signal.case_id,
        received_at=signal.received_at,
    )
