"""Finding and creating subjects (people known by pseudonym)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.db import CHUNK, insert_ignoring_conflicts
from exchange.identity.models import Subject
from exchange.vault.keyring import Keyring


def ensure_subjects(
    session: Session, keyring: Keyring, pseudonym_set: set[str], now: dt.datetime
) -> dict[str, uuid.UUID]:
    """The subject id of each pseudonym, creating the subjects not yet known."""
    wanted = sorted(pseudonym_set)
    insert_ignoring_conflicts(
        session,
        Subject,
        [
            {
                "id": uuid.uuid4(),
                "pseudonym": p,
                "pseudonym_key_id": keyring.pseudonym.active_id,
                "created_at": now,
            }
            for p in wanted
        ],
        ["pseudonym"],
    )
    found: dict[str, uuid.UUID] = {}
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        rows = session.execute(
            select(Subject.pseudonym, Subject.id).where(Subject.pseudonym.in_(chunk))
        )
        found.update((pseudonym, subject_id) for pseudonym, subject_id in rows)
    return found
