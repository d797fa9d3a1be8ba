"""Running intake in a transaction, and taking concurrent single signals in together.

Each single-signal request alone would pay for a whole transaction: a dozen statements,
the audit head lock and a commit. ``IntakeCoalescer`` lets the requests that arrive while a
transaction is running wait for the next one and go through it together, by the batch path.
Nobody waits for a timer: a request arriving at an idle broker starts a transaction at once.
Each request still gets its own outcome, and its answer is sent only after the commit.
"""

from __future__ import annotations

import asyncio
import datetime as dt
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
from exchange.auditlog.service import AuditRecord, AuditTrail
from exchange.auth.tokens import Principal
from exchange.broker import Broker
from exchange.db import is_retryable, unit_of_work
from exchange.signals import service
from exchange.signals.schemas import SignalIn

log = structlog.get_logger("exchange.signals")
# A concurrent writer may store the same external_ref or household first; the retry then
# finds it and answers as for any resend.
ATTEMPTS = 3
MAX_COALESCED = 500


class DeferredAudit:
    """The audit entries of one transaction, appended once, as its last write.

    The audit head row is one lock that every writing transaction takes. Taken last, it is
    never held while the transaction waits for another lock (a household row another replica
    is linking), so two transactions cannot wait on each other through it (a deadlock).
    """

    def __init__(self, trail: AuditTrail) -> None:
        self.trail = trail
        self.pending: list[AuditRecord] = []
        self.now: dt.datetime | None = None

    def append(
        self, session: Session, records: Sequence[AuditRecord], now: dt.datetime
    ) -> list[int]:
        self.pending.extend(records)
        self.now = now
        return []

    def flush(self, session: Session) -> None:
        if self.pending and self.now is not None:
            self.trail.append(session, self.pending, self.now)
        self.pending = []


def take_in(
    broker: Broker,
    session: Session,
    principal: Principal,
    items: Sequence[tuple[int, SignalIn]],
    audit: DeferredAudit,
) -> list[service.Outcome]:
    """One provider's signals in this transaction, once; the audit entries wait in ``audit``."""
    active = broker.policies.active(session)
    context = service.IntakeContext(
        keyring=broker.keyring,
        policy=active.intake,
        register=active.register,
        audit=audit,
        actor_client=principal.client_id,
        today=clock.today(),
        now=clock.now(),
    )
    return service.receive_signals(session, context, principal.organisation_id, items)


def receive(
    broker: Broker, session: Session, principal: Principal, items: Sequence[tuple[int, SignalIn]]
) -> list[service.Outcome]:
    """Take one provider's signals in this session's transaction, retrying lost races.

    The session must hold nothing else: a retry rolls the whole transaction back.
    """
    for attempt in range(1, ATTEMPTS + 1):
        audit = DeferredAudit(broker.audit)
        try:
            outcomes = take_in(broker, session, principal, items, audit)
            audit.flush(session)
            session.flush()
        except DBAPIError as error:
            session.rollback()
            if attempt == ATTEMPTS or not is_retryable(error):
                raise
            log.info("signal.intake_retried", attempt=attempt, error_type=type(error).__name__)
            continue
        return outcomes
    raise AssertionError("unreachable")


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
            outcomes = await run_in_threadpool(self._transaction, taken)
        except Exception as error:  # every request of a failed transaction fails with it
            for waiting in taken:
                if not waiting.future.done():
                    waiting.future.set_exception(error)
            return
        for waiting, outcome in zip(taken, outcomes, strict=True):
            if not waiting.future.done():
                waiting.future.set_result(outcome)

    def _transaction(self, taken: list[_Waiting]) -> list[service.Outcome]:
        """All waiting signals in one transaction, grouped by the client that sent them."""
        groups: dict[tuple[uuid.UUID, str], list[int]] = defaultdict(list)
        for position, waiting in enumerate(taken):
            key = (waiting.principal.organisation_id, waiting.principal.client_id)
            groups[key].append(position)
        # A lost race or a deadlock reruns the whole transaction, every group in it: rolling
        # back inside it would also undo the groups already taken in, whose requests would
        # then be told 201 for signals that were never stored.
        for attempt in range(1, ATTEMPTS + 1):
            results: list[service.Outcome | None] = [None] * len(taken)
            try:
                for session in unit_of_work(self.broker.sessions):
                    audit = DeferredAudit(self.broker.audit)
                    for positions in groups.values():
                        principal = taken[positions[0]].principal
                        items = [(position, taken[position].item) for position in positions]
                        for outcome in take_in(self.broker, session, principal, items, audit):
                            results[outcome.index] = outcome
                    audit.flush(session)
            except DBAPIError as error:
                if attempt == ATTEMPTS or not is_retryable(error):
                    raise
                log.info("signal.intake_retried", attempt=attempt, error_type=type(error).__name__)
                continue
            return [outcome for outcome in results if outcome is not None]
        raise AssertionError("unreachable")
