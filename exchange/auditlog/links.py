"""The log's record of a person's identifiers linked, or kept apart (``exchange.identity``)."""

from __future__ import annotations

from collections.abc import Iterable

from exchange.auditlog.service import AuditRecord
from exchange.identity.service import Link


def link_records(
    links: Iterable[Link], actor_client: str | None, purpose: str | None = None
) -> list[AuditRecord]:
    """One entry per link made (``subject.linked``) or refused as ambiguous
    (``subject.ambiguous``): under the BSN's pseudonym, the name's in ``resources``."""
    return [
        AuditRecord(
            action=one.action,
            decision="recorded",
            actor_org=None,
            actor_client=actor_client,
            purpose=purpose,
            subject=one.bsn,
            resources={"name_pseudonym": one.name},
        )
        for one in links
    ]
