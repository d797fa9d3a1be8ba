"""Verifying the whole audit log from the privacy officer's page, as an auditor would.

The broker exports its log up to a fresh checkpoint and runs the same offline verifier an
outside auditor runs (``audit.verify``), against the checkpoint the previous successful run
verified: a log rewritten between two runs fails even when every line looks well-formed.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.verify import verify_export
from exchange import clock
from exchange.auditlog.service import AuditRecord
from exchange.broker import Broker
from exchange.ui.models import AuditVerification


def verify_log(session: Session, broker: Broker, user_id: uuid.UUID | None) -> AuditVerification:
    now = clock.now()
    final = broker.audit.checkpoint(session, now)
    earlier = session.scalars(
        select(AuditVerification)
        .where(AuditVerification.ok.is_(True), AuditVerification.checkpoint_note.is_not(None))
        .order_by(AuditVerification.verified_at.desc())
        .limit(1)
    ).first()
    report = verify_export(
        broker.audit.export_lines(session, final),
        broker.audit.verifier_key(),
        earlier_checkpoint=earlier.checkpoint_note if earlier is not None else None,
    )
    run = AuditVerification(
        id=uuid.uuid4(),
        verified_at=now,
        tree_size=report.size,
        checkpoints=report.checkpoints,
        ok=report.ok,
        detail=report.message,
        checkpoint_note=final.note if report.ok else None,
        user_id=user_id,
    )
    session.add(run)
    broker.audit.append(
        session,
        [
            AuditRecord(
                action="audit.verify",
                decision="recorded",
                actor_org=None,
                actor_client=f"user:{user_id}" if user_id else None,
                resources={"tree_size": str(report.size), "ok": str(report.ok).lower()},
            )
        ],
        now,
    )
    return run


def latest_verification(session: Session) -> AuditVerification | None:
    """The last run of the verifier, whether it found the log whole or not."""
    return session.scalars(
        select(AuditVerification).order_by(AuditVerification.verified_at.desc()).limit(1)
    ).first()
