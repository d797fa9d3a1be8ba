"""Running intake in a transaction, and taking concurrent single signals in together.

Each single-signal request alone would pay for a whole transaction: a dozen statements,
the audit head lock and a commit. ``IntakeCoalescer`` lets the requests that arrive while a
transaction is running wait for the next one and go through it together, by the batch path.
Nobody waits for a timer: a request arriving at an idle broker starts a transaction at once.
Each request still gets its own outcome, and its answer is sent only after the commit.
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from exchange import clock
from exchange.auth.tokens import Principal
from exchange.broker import Broker
from exchange.db import is_retryable, run_in_transaction, spend_retries
from exchange.intake import service
from exchange.signals.schemas import SignalIn

log = structlog.get_logger("exchange.signals")
MAX_COALESCED = 500


def take_in(
    broker: Broker,
    session: Session,
    principal: Principal,
    items: Sequence[tuple[int, SignalIn]],
) -> list[service.Outcome]:
    """One provider's signals in this transaction, once; their audit entries are written
    when it commits, as every append is (``exchange.auditlog.service``)."""
    active = broker.policies.active(session)
    context = service.IntakeContext(
        keyring=broker.keyring,
        policy=active.intake,
        register=active.register,
        audit=broker.audit,
        routing=broker.routing,
        actor_client=principal.client_id,
        today=clock.today(),
        now=clock.now(),
    )
    return service.receive_signals(session, context, principal.organisation_id, items)


def receive(
    broker: Broker, principal: Principal, items: Sequence[tuple[int, SignalIn]]
) -> list[service.Outcome]:
    """Take one provider's signals in a transaction of their own, committed on return.

    A lost race or a deadlock runs the whole transaction again (``run_in_transaction``),
    which then finds what the other writer stored and answers as for a resend.
    """

    def attempt(session: Session, last_attempt: bool) -> list[service.Outcome]:
        return take_in(broker, session, principal, items)

    return run_in_transaction(broker.sessions, attempt)


@dataclass
class _Waiting:
    principal: Principal
    item: SignalIn
    future: asyncio.Future[service.Outcome]


@dataclass
class _Queue:
    waiting: list[_Waiting] = field(default_factory=list)
    running: bool = False


class IntakeCoalescer:
    """One transaction at a time per event loop for single signals; arrivals join the next.

    A server process has one event loop; the state is kept per loop all the same, because
    asyncio futures belong to the loop that made them (test clients each run their own).

    The signals in a transaction are taken in by group, one group per client that sent
    them. When there are several groups, each runs in a savepoint of its own: a failure that
    belongs to one group (an unexpected error while taking in its signals, an
    ``IntegrityError`` of its rows) undoes that group's writes and audit records only, its
    requests get the error, and the others' signals commit. The savepoint costs two
    statements per group (BENCHMARKS.md), so a transaction with one group, the usual case,
    goes without one: its failure is the whole transaction's anyway.
    """

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Queue] = (
            weakref.WeakKeyDictionary()
        )

    async def submit(self, principal: Principal, item: SignalIn) -> service.Outcome:
        loop = asyncio.get_running_loop()
        queue = self.queues.setdefault(loop, _Queue())
        future: asyncio.Future[service.Outcome] = loop.create_future()
        queue.waiting.append(_Waiting(principal, item, future))
        if not queue.running:
            queue.running = True
            try:
                while queue.waiting:
                    taken = queue.waiting[:MAX_COALESCED]
                    queue.waiting = queue.waiting[MAX_COALESCED:]
                    await self._take_in(taken)
            finally:
                queue.running = False
        return await future

    async def _take_in(self, taken: list[_Waiting]) -> None:
        try:
            results = await run_in_threadpool(self._transaction, taken)
        except Exception as error:  # the transaction failed as a whole: every request with it
            for waiting in taken:
                if not waiting.future.done():
                    waiting.future.set_exception(error)
            return
        for waiting, result in zip(taken, results, strict=True):
            if waiting.future.done():
                continue
            if isinstance(result, Exception):
                waiting.future.set_exception(result)
            else:
                waiting.future.set_result(result)

    def _transaction(self, taken: list[_Waiting]) -> list[service.Outcome | Exception]:
        """All waiting signals in one transaction, grouped by the client that sent them.

        A lost race or a deadlock reruns the whole transaction, every group in it: rolling
        back only the group that met it would leave the others' locks held, and the race
        may be lost again. On the last attempt it counts as that group's own failure.
        """
        groups: dict[tuple[uuid.UUID, str], list[int]] = defaultdict(list)
        for position, waiting in enumerate(taken):
            key = (waiting.principal.organisation_id, waiting.principal.client_id)
            groups[key].append(position)

        def attempt(session: Session, last_attempt: bool) -> list[service.Outcome | Exception]:
            results: list[service.Outcome | Exception | None] = [None] * len(taken)
            for positions in groups.values():
                principal = taken[positions[0]].principal
                items = [(position, taken[position].item) for position in positions]
                if len(groups) == 1:
                    outcomes: list[service.Outcome] | Exception = take_in(
                        self.broker, session, principal, items
                    )
                else:
                    outcomes = self._take_in_apart(session, principal, items, last_attempt)
                if isinstance(outcomes, Exception):
                    for position in positions:
                        results[position] = outcomes
                    continue
                for outcome in outcomes:
                    results[outcome.index] = outcome
            return [result for result in results if result is not None]

        return run_in_transaction(self.broker.sessions, attempt)

    def _take_in_apart(
        self,
        session: Session,
        principal: Principal,
        items: Sequence[tuple[int, SignalIn]],
        last_attempt: bool,
    ) -> list[service.Outcome] | Exception:
        """One group's signals in a savepoint: if they fail, their writes and audit records
        are undone (the savepoint's rollback takes their staged audit records back too) and
        the error is returned, and the transaction goes on without them."""
        try:
            with session.begin_nested():
                return take_in(self.broker, session, principal, items)
        except Exception as error:
            if not last_attempt and isinstance(error, DBAPIError) and is_retryable(error):
                raise
            spend_retries(error)  # this group's own failure now, whatever it was
            log.warning(
                "signal.intake_group_failed",
                provider_id=str(principal.organisation_id),
                signals=len(items),
                error_type=type(error).__name__,
            )
            return error
