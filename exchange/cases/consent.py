"""Consent at the door: a worker on a case records that the people in it agree to be
referred to one debt service, and can record a withdrawal, without knowing their BSN.

The consent goes into the ledger (``exchange.consents``) like one recorded through
``/v1/consents``, one per person of the case, for exactly the purpose of the referral and
that debt service, with the ISO/IEC TS 27560 fields; the act is in the case's history. The
hand-over that needed it then works from the same page (``service.assign``).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from exchange.auth.tokens import Principal
from exchange.cases.service import (
    PURPOSE_OF_KIND,
    CaseContext,
    _event,
    _people,
    visible_case,
)
from exchange.cases.terms import Act
from exchange.consents import service as ledger
from exchange.consents.schemas import ConsentTerms
from exchange.consents.service import LedgerContext
from exchange.consents.terms import CollectionMethod, ConsentStatus, ConsentType
from exchange.errors import FieldError, InvalidInput, NotFound
from exchange.organisations.models import Organisation
from exchange.organisations.terms import OrganisationKind

REFERRAL = PURPOSE_OF_KIND[OrganisationKind.DEBT_SERVICE]
# The notice a worker shows at the door; its text is the municipality's, named by version.
DOOR_NOTICE = "vroegsignalering-doorverwijzing"


def record_consent(
    session: Session,
    context: CaseContext,
    ledger_context: LedgerContext,
    principal: Principal,
    case_id: uuid.UUID,
    *,
    debt_service_id: uuid.UUID,
    collection_method: CollectionMethod,
    consent_type: ConsentType,
    notice_version: str,
    language: str = "nl",
) -> list[str]:
    """One consent per person of the case, for the referral to this debt service."""
    case = visible_case(session, principal, case_id, for_update=True)
    target = session.get(Organisation, debt_service_id)
    if (
        target is None
        or target.parent_id != case.municipality_id
        or target.kind != OrganisationKind.DEBT_SERVICE.value
    ):
        raise InvalidInput(
            "a referral consent names a debt service of the case's municipality",
            [
                FieldError(
                    "debt_service_id",
                    "is not a debt service of the case's municipality",
                    code="not_assignable",
                )
            ],
        )
    terms = ConsentTerms(
        purposes=[REFERRAL],
        recipients=[target.id],
        collection_method=collection_method,
        notice_version=notice_version,
        consent_type=consent_type,
        language=language,
    )
    given = [
        ledger.give_consent_to(session, ledger_context, principal, person.subject_id, terms)
        for person in _people(session, case.id)
        if person.subject_id is not None
    ]
    _event(
        session,
        case,
        Act.CONSENT_RECORDED,
        principal,
        context.now,
        organisation=str(target.id),
    )
    session.flush()
    return [str(consent.id) for consent in given]


def withdraw_consent(
    session: Session,
    context: CaseContext,
    ledger_context: LedgerContext,
    principal: Principal,
    case_id: uuid.UUID,
    consent_id: uuid.UUID,
) -> None:
    """The person withdrew a referral consent of this case, told to the worker."""
    case = visible_case(session, principal, case_id, for_update=True)
    subjects = {p.subject_id for p in _people(session, case.id)}
    consent = ledger.visible_consent(session, principal, consent_id)
    if consent.subject_id not in subjects:
        raise NotFound(f"no consent {consent_id} on this case")
    ledger.withdraw_consent(session, ledger_context, principal, consent_id, None)
    _event(
        session,
        case,
        Act.CONSENT_WITHDRAWN,
        principal,
        context.now,
        organisation=",".join(consent.recipients),
    )


def consents_of_case(
    session: Session, ledger_context: LedgerContext, principal: Principal, case_id: uuid.UUID
) -> list[dict[str, Any]]:
    """The referral consents of the case's people that the caller may see (it collected
    them, or is their recipient): what the page lists with a withdrawal button."""
    case = visible_case(session, principal, case_id)
    subjects = {p.subject_id for p in _people(session, case.id) if p.subject_id is not None}
    found = ledger.consents_for(
        session, ledger_context, principal, subject_ids=subjects, purpose=REFERRAL
    )
    return [
        {
            "id": str(consent.id),
            "recipients": list(consent.recipients),
            "status": ledger.current_status(consent, ledger_context.today).value,
            "given": ledger.current_status(consent, ledger_context.today) is ConsentStatus.GIVEN,
            "valid_from": consent.valid_from.isoformat(),
            "collection_method": consent.collection_method,
            "consent_type": consent.consent_type,
            "mine": consent.collected_by_id == principal.organisation_id,
        }
        for consent in found
    ]
