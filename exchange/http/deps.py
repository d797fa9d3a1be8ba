"""What a request needs, for /v1 and /ui alike: the broker, one unit of work per request, and
the context of the case services (the active register, the casework policy, the feedback
announcements to providers), of the consent ledger and of a person's rights."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from exchange import clock
from exchange.broker import Broker
from exchange.cases import service as cases
from exchange.cases.models import Case
from exchange.consents import service as consents
from exchange.db import unit_of_work
from exchange.rights import service as rights
from exchange.webhooks.service import announce_feedback
from policies.casework import load_casework_policy


async def get_broker(request: Request) -> Broker:
    broker: Broker = request.app.state.broker
    return broker


def _session(request: Request) -> Iterator[Session]:
    broker: Broker = request.app.state.broker
    yield from unit_of_work(broker.sessions)


# Dependencies that do no I/O are async: a sync one costs a hop to the thread pool.
CurrentBroker = Annotated[Broker, Depends(get_broker)]
# scope="function": the commit happens before the response is sent, so a client never
# sees 201 for a signal whose transaction then failed.
DbSession = Annotated[Session, Depends(_session, scope="function")]


def case_context(broker: Broker, session: Session) -> cases.CaseContext:
    active = broker.policies.active(session)
    casework = load_casework_policy()
    now = clock.now()

    def announce(session: Session, case: Case) -> None:
        # Providers that subscribed hear of the new feedback code; queued in this
        # transaction, sent after it commits (exchange.webhooks).
        announce_feedback(session, broker.audit, active.register, case, now, casework=casework)

    return cases.CaseContext(
        keyring=broker.keyring,
        register=active.register,
        intake=active.intake,
        casework=casework,
        audit=broker.audit,
        today=clock.today(),
        now=now,
        on_feedback_change=announce,
    )


def ledger_context(broker: Broker, session: Session) -> consents.LedgerContext:
    return consents.LedgerContext(
        keyring=broker.keyring,
        register=broker.policies.active(session).register,
        audit=broker.audit,
        today=clock.today(),
        now=clock.now(),
    )


def rights_context(broker: Broker, session: Session) -> rights.RightsContext:
    return rights.RightsContext(
        keyring=broker.keyring,
        register=broker.policies.active(session).register,
        audit=broker.audit,
        today=clock.today(),
        now=clock.now(),
    )
