"""Every mapped model, imported in one place so the metadata is complete for migrations."""

from exchange.auditlog.models import AuditCheckpoint, AuditEntry, AuditHead, AuditNode
from exchange.auth.models import ApiClient
from exchange.cases.models import (
    Assignment,
    Case,
    CaseEvent,
    CaseNumberCounter,
    ContactAttempt,
    Escalation,
)
from exchange.consents.models import Consent, ConsentEvent, Objection, Restriction
from exchange.db import Base
from exchange.identity.models import Household, Subject
from exchange.organisations.models import Organisation, PostcodeRange, RoutingVersion
from exchange.policy.models import PolicyVersion
from exchange.rights.models import RecipientNotice
from exchange.signals.models import Signal
from exchange.ui.models import AuditVerification, LoginThrottle, SavedView, UiSession, User
from exchange.webhooks.models import WebhookDelivery, WebhookSubscription

metadata = Base.metadata

__all__ = [
    "ApiClient",
    "Assignment",
    "AuditCheckpoint",
    "AuditEntry",
    "AuditHead",
    "AuditNode",
    "AuditVerification",
    "Case",
    "CaseEvent",
    "CaseNumberCounter",
    "Consent",
    "ConsentEvent",
    "ContactAttempt",
    "Escalation",
    "Household",
    "LoginThrottle",
    "Objection",
    "Organisation",
    "PolicyVersion",
    "PostcodeRange",
    "RecipientNotice",
    "Restriction",
    "RoutingVersion",
    "SavedView",
    "Signal",
    "Subject",
    "UiSession",
    "User",
    "WebhookDelivery",
    "WebhookSubscription",
    "metadata",
]
