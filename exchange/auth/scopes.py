"""Scopes, and which organisation kinds may hold them."""

from __future__ import annotations

from exchange.organisations.terms import PROVIDER_KINDS, OrganisationKind

SIGNALS_WRITE = "signals:write"
SIGNALS_READ = "signals:read"
CASES_READ = "cases:read"
CASES_WRITE = "cases:write"
AUDIT_READ = "audit:read"
CONSENTS_READ = "consents:read"
CONSENTS_WRITE = "consents:write"
# Erasure and restriction of a person's data: the privacy officer acts on requests.
SUBJECTS_RIGHTS = "subjects:rights"

ALL_SCOPES = (
    SIGNALS_WRITE,
    SIGNALS_READ,
    CASES_READ,
    CASES_WRITE,
    AUDIT_READ,
    CONSENTS_READ,
    CONSENTS_WRITE,
    SUBJECTS_RIGHTS,
)


def default_scopes(kind: OrganisationKind) -> tuple[str, ...]:
    """The scopes a client of this kind gets when none are asked for."""
    if kind in PROVIDER_KINDS:
        return (SIGNALS_WRITE, SIGNALS_READ)
    if kind is OrganisationKind.PRIVACY_OFFICER:
        return (AUDIT_READ, CONSENTS_READ, CONSENTS_WRITE, SUBJECTS_RIGHTS)
    return (CASES_READ, CASES_WRITE, CONSENTS_READ, CONSENTS_WRITE)
