"""Request dependencies: the broker and one unit of work per request."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from exchange.broker import Broker
from exchange.db import unit_of_work


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
