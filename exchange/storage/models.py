"""Every mapped model, imported in one place so the metadata is complete for migrations."""

from exchange.auditlog.models import AuditCheckpoint, AuditEntry, AuditHead, AuditNode
from exchange.auth.models import ApiClient
from exchange.cases.models import Case
from exchange.consents.models import Consent, ConsentEvent, Objection
from exchange.db import Base
from exchange.identity.models import Household, Subject
from exchange.organisations.models import Organisation, PostcodeRange
from exchange.policy.models import PolicyVersion
from exchange.signals.models import Signal

metadata = Base.metadata

__all__ = [
    "ApiClient",
    "AuditCheckpoint",
    "AuditEntry",
    "AuditHead",
    "AuditNode",
    "Case",
    "Consent",
    "ConsentEvent",
    "Household",
    "Objection",
    "Organisation",
    "PolicyVersion",
    "PostcodeRange",
    "Signal",
    "Subject",
    "metadata",
]
