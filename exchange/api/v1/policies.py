"""``/v1/policies``: the register of processing in force, readable by every organisation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from exchange.auth.guards import requires
from exchange.http.answers import answer
from exchange.http.bodies import JsonRoute
from exchange.http.deps import CurrentBroker, DbSession
from exchange.organisations.terms import OrganisationKind
from exchange.policy import service as policy
from policies.engine import Register

router = APIRouter(prefix="/policies", tags=["policies"], route_class=JsonRoute)


class RegisterOut(BaseModel):
    """The register of processing (GDPR art. 30) in force, as JSON."""

    model_config = ConfigDict(extra="allow")

    version: str = Field(description="the register's content hash")
    label: str = Field(description="the register's own version, e.g. 2026-12-02")
    activated_at: str | None
    title: dict[str, str] = Field(description="by language: nl, en")
    controller: str
    eligibility_version: str
    purposes: list[dict[str, Any]]
    categories: list[dict[str, Any]]
    rules: list[dict[str, Any]]


@router.get(
    "/active",
    summary="The register of processing in force, with its version hash",
    **answer(RegisterOut, "The register"),
)
@requires(None, OrganisationKind)
def active_policy(broker: CurrentBroker, session: DbSession) -> dict[str, Any]:
    register = broker.policies.active(session).register
    activated_at = policy.activated_at(session)
    return {
        "version": register.version_hash,
        "label": register.version,
        "activated_at": activated_at.isoformat() if activated_at else None,
        **register_document(register),
    }


def register_document(register: Register) -> dict[str, Any]:
    """The register as JSON: purposes with their legal bases, categories and rules."""
    return {
        "title": dict(register.title),
        "controller": register.controller,
        "eligibility_version": register.eligibility_version,
        "purposes": [
            {
                "id": p.id,
                "uri": p.uri,
                "name": dict(p.name),
                "description": dict(p.description),
                "legal_basis": list(p.legal_basis),
                "national_basis": p.national_basis,
                "categories": list(p.categories),
                "retention": {"period": p.retention_period, "starts": p.retention_starts},
            }
            for p in register.purposes
        ],
        "categories": [
            {"id": c.id, "name": dict(c.name), "fields": list(c.fields)}
            for c in register.categories
        ],
        "rules": [
            {
                "id": r.id,
                "purpose": r.purpose,
                "recipient_kinds": list(r.recipient_kinds),
                "actions": list(r.actions),
                "consent_required": r.consent_required,
                "pseudonym": r.pseudonym,
                "fields": sorted(r.fields),
                "feedback_codes": sorted(r.feedback_codes),
                "aggregates_only": r.aggregates_only,
                "min_group_size": r.min_group_size,
            }
            for r in register.rules
        ],
    }
