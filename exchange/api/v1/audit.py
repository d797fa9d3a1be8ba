"""``/v1/audit``: the privacy officer's window on the log, and what an auditor verifies with.

Every read of the log is itself appended to the log.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Sequence
from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.responses import PlainTextResponse, Response, StreamingResponse
from sqlalchemy.orm import Session

from exchange import clock
from exchange.auditlog.schemas import (
    AccessLetterIn,
    AccessReport,
    AccessReportIn,
    ConsistencyProof,
    Decision,
    EntryPage,
    EntrySearch,
    InclusionProof,
    Order,
)
from exchange.auth.guards import CurrentPrincipal, requires
from exchange.auth.scopes import AUDIT_READ
from exchange.auth.tokens import Principal
from exchange.broker import Broker
from exchange.disclosures import Party
from exchange.disclosures.oversight import record_review
from exchange.errors import FieldError, HttpProblem, InvalidInput
from exchange.fields import Cursor, Instant, LeafIndex, Text, TreeSize
from exchange.http.bodies import JsonRoute
from exchange.http.deps import CurrentBroker, DbSession
from exchange.organisations.terms import OrganisationKind
from exchange.rights import letter, report

router = APIRouter(prefix="/audit", tags=["audit"], route_class=JsonRoute)
OVERSIGHT = {OrganisationKind.PRIVACY_OFFICER}


@router.get("/entries", response_model=EntryPage, summary="Search the log (pseudonyms only)")
@requires(AUDIT_READ, OVERSIGHT)
def list_entries(
    principal: CurrentPrincipal,
    broker: CurrentBroker,
    session: DbSession,
    subject: Annotated[Text | None, Query(description="A broker pseudonym")] = None,
    organisation: Annotated[uuid.UUID | None, Query(description="Actor or recipient")] = None,
    purpose: Text | None = None,
    action: Text | None = None,
    decision: Decision | None = None,
    since: Instant | None = None,
    until: Instant | None = None,
    order: Annotated[Order, Query(description="oldest first (the default) or newest")] = "oldest",
    after: Annotated[Cursor | None, Query(description="order=oldest: leaf index cursor")] = None,
    before: Annotated[
        LeafIndex | None, Query(description="order=newest: leaf index cursor")
    ] = None,
    limit: int = Query(default=100, ge=1, le=1000),
) -> EntryPage:
    return _searched(
        session,
        broker,
        principal,
        subject=subject,
        organisation=organisation,
        purpose=purpose,
        action=action,
        decision=decision,
        since=since,
        until=until,
        order=order,
        after=after,
        before=before,
        limit=limit,
    )


@router.post(
    "/entries/search",
    response_model=EntryPage,
    summary="Search the log for one person (the identity goes in the body)",
)
@requires(AUDIT_READ, OVERSIGHT)
def search_entries(
    body: EntrySearch, principal: CurrentPrincipal, broker: CurrentBroker, session: DbSession
) -> EntryPage:
    return _searched(
        session,
        broker,
        principal,
        subject=report.in_log(session, broker.keyring, body.person)[1],
        organisation=body.organisation,
        purpose=body.purpose,
        action=body.action,
        decision=body.decision,
        since=body.since,
        until=body.until,
        order=body.order,
        after=body.after,
        before=body.before,
        limit=body.limit,
    )


@router.post(
    "/access-report",
    response_model=AccessReport,
    summary="The GDPR art. 15 report: every disclosure about one person",
)
@requires(AUDIT_READ, OVERSIGHT)
def access_report(
    body: AccessReportIn, principal: CurrentPrincipal, broker: CurrentBroker, session: DbSession
) -> AccessReport:
    pseudonym, result = _access_report_of(session, broker, body)
    _reviewed(session, broker, principal, "audit.access_report", [pseudonym])
    return result


LETTER_TYPES = {"application/pdf": "pdf", "text/html": "html"}


@router.post(
    "/access-report/letter",
    summary="The GDPR art. 15 report as a letter to the person: PDF or printable HTML",
    response_class=Response,
    responses={
        200: {
            "description": "The letter, as an attachment",
            "content": {
                "application/pdf": {
                    "schema": {"type": "string", "contentMediaType": "application/pdf"}
                },
                "text/html": {"schema": {"type": "string"}},
            },
        },
        406: {"description": "Neither application/pdf nor text/html is acceptable"},
    },
)
@requires(AUDIT_READ, OVERSIGHT)
def access_letter(
    body: AccessLetterIn,
    principal: CurrentPrincipal,
    broker: CurrentBroker,
    session: DbSession,
    accept: Annotated[str | None, Header(max_length=1000)] = None,
) -> Response:
    """The ``format`` field chooses; without it the ``Accept`` header does (PDF when it
    allows both, or anything)."""
    format = body.format or _letter_format(accept)
    pseudonym, result = _access_report_of(session, broker, body)
    record_review(
        broker.disclosures(session),
        Party.of(principal),
        "audit.access_letter",
        [pseudonym],
        resources={"format": format, "language": body.lang},
    )
    made = letter.letter_file(result, body.person, body.lang, format)
    return Response(made.content, media_type=made.media_type, headers=made.headers)


def _letter_format(accept: str | None) -> str:
    """The letter's format the ``Accept`` header prefers (by its q-values; PDF for none)."""
    if not accept:
        return "pdf"
    ranked: list[tuple[float, int, str]] = []
    for order, part in enumerate(accept.split(",")):
        media_type, *parameters = (p.strip().lower() for p in part.split(";"))
        weight = 1.0
        for parameter in parameters:
            if parameter.startswith("q="):
                try:
                    weight = float(parameter[2:])
                except ValueError:
                    weight = 0.0
        if weight > 0:
            ranked.append((-weight, order, media_type))
    for _, _, media_type in sorted(ranked):
        if media_type in LETTER_TYPES:
            return LETTER_TYPES[media_type]
        if media_type in ("*/*", "application/*"):
            return "pdf"
        if media_type == "text/*":
            return "html"
    raise HttpProblem(406, "Not Acceptable: the letter is application/pdf or text/html")


def _access_report_of(
    session: Session, broker: Broker, body: AccessReportIn
) -> tuple[str, AccessReport]:
    person, result = report.report_for(
        session,
        broker.keyring,
        broker.audit,
        broker.policies.active(session).register,
        body.person,
        clock.now(),
    )
    return person.primary, result


_TEXT = {"text/plain": {"schema": {"type": "string"}}}


@router.get(
    "/checkpoint",
    response_class=PlainTextResponse,
    summary="The latest signed checkpoint (C2SP signed note)",
    responses={200: {"description": "A C2SP tlog-checkpoint in a signed note", "content": _TEXT}},
)
@requires(AUDIT_READ, OVERSIGHT)
def checkpoint(principal: CurrentPrincipal, broker: CurrentBroker, session: DbSession) -> str:
    note = broker.audit.checkpoint(session, clock.now()).note
    _reviewed(session, broker, principal, "audit.checkpoint", [None])
    return note


@router.get(
    "/verifier-key",
    response_class=PlainTextResponse,
    summary="The checkpoint key as a C2SP note verifier key",
    responses={200: {"description": "name+hash+base64 key, one line", "content": _TEXT}},
)
@requires(AUDIT_READ, OVERSIGHT)
def verifier_key(broker: CurrentBroker) -> str:
    return broker.audit.verifier_key() + "\n"


@router.get(
    "/proofs/inclusion",
    summary="RFC 9162 inclusion proof of one leaf",
    response_model=None,
    responses={200: {"model": InclusionProof, "description": "The proof"}},
)
@requires(AUDIT_READ, OVERSIGHT)
def inclusion_proof(
    principal: CurrentPrincipal,
    broker: CurrentBroker,
    session: DbSession,
    leaf_index: LeafIndex,
    tree_size: TreeSize,
) -> dict[str, object]:
    proof = broker.audit.inclusion(session, leaf_index, tree_size)
    _reviewed(session, broker, principal, "audit.proof", [None])
    return proof


@router.get(
    "/proofs/consistency",
    summary="RFC 9162 consistency proof between two sizes",
    response_model=None,
    responses={200: {"model": ConsistencyProof, "description": "The proof"}},
)
@requires(AUDIT_READ, OVERSIGHT)
def consistency_proof(
    principal: CurrentPrincipal,
    broker: CurrentBroker,
    session: DbSession,
    first: TreeSize,
    second: TreeSize,
) -> dict[str, object]:
    proof = broker.audit.consistency(session, first, second)
    _reviewed(session, broker, principal, "audit.proof", [None])
    return proof


@router.get(
    "/export",
    summary="The whole log as JSON Lines, ending with a signed checkpoint",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "One JSON object per line: the entries in leaf order, then the "
            "checkpoint they add up to",
            "content": {
                # One JSON object per line; OpenAPI 3.1 has no schema per line (3.2's
                # itemSchema), so the body is documented as text.
                "application/jsonl": {"schema": {"type": "string"}}
            },
        }
    },
)
@requires(AUDIT_READ, OVERSIGHT)
def export(
    principal: CurrentPrincipal, broker: CurrentBroker, session: DbSession
) -> StreamingResponse:
    final = broker.audit.checkpoint(session, clock.now())
    _reviewed(session, broker, principal, "audit.export", [None])

    def lines() -> Iterator[bytes]:
        # Its own read-only session: the request's transaction has committed by now.
        with broker.sessions() as reading:
            yield from broker.audit.export_lines(reading, final)

    return StreamingResponse(lines(), media_type="application/jsonl")


def _searched(
    session: Session,
    broker: Broker,
    principal: Principal,
    *,
    subject: str | Sequence[str] | None,
    organisation: uuid.UUID | None,
    purpose: str | None,
    action: str | None,
    decision: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    order: str,
    after: int | None,
    before: int | None,
    limit: int,
) -> EntryPage:
    filters = report.Filters(subject, organisation, purpose, action, decision, since, until)
    tree_size = broker.audit.tree_size(session)
    next_after = next_before = None
    if order == "newest":
        if after is not None:
            raise InvalidInput(
                "order=newest pages with before, not after",
                [FieldError("after", "goes with order=oldest; pass next_before as before")],
            )
        found = report.search_newest(session, tree_size, filters, before=before, limit=limit)
        entries, next_before = found.entries, found.before
    else:
        if before is not None:
            raise InvalidInput(
                "order=oldest pages with after, not before",
                [FieldError("before", "goes with order=newest; pass next_after as after")],
            )
        entries = report.search(session, filters, after=after, limit=limit)
        last = entries[-1]["leaf_index"] if len(entries) == limit else None
        next_after = last if isinstance(last, int) else None
    subjects: list[str | None] = [
        *sorted({str(e["subject"]) for e in entries if e.get("subject")})
    ] or [None]
    _reviewed(session, broker, principal, "audit.search", subjects)
    return EntryPage(
        entries=entries, next_after=next_after, next_before=next_before, tree_size=tree_size
    )


def _reviewed(
    session: Session,
    broker: Broker,
    principal: Principal,
    action: str,
    subjects: Sequence[str | None],
) -> None:
    record_review(broker.disclosures(session), Party.of(principal), action, subjects)
