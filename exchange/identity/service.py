"""Finding and creating subjects (people known by pseudonym)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from exchange.db import CHUNK, insert_ignoring_conflicts, new_id
from exchange.identity.models import Subject
from exchange.vault.keyring import Keyring

# Built once (see exchange.db on hot paths): every intake transaction runs it.
_SUBJECT_IDS = select(Subject.pseudonym, Subject.id).where(
    Subject.pseudonym.in_(bindparam("pseudonyms", expanding=True))
)


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
                "id": new_id(),
                "pseudonym": p,
                "pseudonym_key_id": keyring.pseudonym.active_id,
                "created_at": now,
            }
            for p in wanted
        ],
        ["pseudonym"],
    )
    found: dict[str, uuid.UUID] = {}
    connection = session.connection()
    for start in range(0, len(wanted), CHUNK):
        rows = connection.execute(_SUBJECT_IDS, {"pseudonyms": wanted[start : start + CHUNK]})
        found.update((pseudonym, subject_id) for pseudonym, subject_id in rows)
    return found
