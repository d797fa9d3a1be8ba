"""Saved views (werkbakjes): a worker's own named lists, each the query string of the work
list. Only the person who saved one sees it, changes it or deletes it."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.ui.models import SavedView

NAME_LENGTH = 80


def views_of(session: Session, user_id: uuid.UUID) -> list[SavedView]:
    return list(
        session.scalars(
            select(SavedView).where(SavedView.user_id == user_id).order_by(SavedView.name)
        )
    )


def save_view(session: Session, user_id: uuid.UUID, name: str, query: str) -> str | None:
    """Keep ``query`` under ``name`` (again, if that name is taken: the newer list wins).
    Returns the name as kept, or None when it was empty."""
    title = " ".join(name.split())[:NAME_LENGTH]
    if not title:
        return None
    existing = session.scalar(
        select(SavedView).where(SavedView.user_id == user_id, SavedView.name == title)
    )
    if existing is not None:
        existing.query = query
    else:
        session.add(SavedView(id=uuid.uuid4(), user_id=user_id, name=title, query=query))
    return title


def delete_view(session: Session, user_id: uuid.UUID, view_id: uuid.UUID) -> bool:
    """Delete one of the person's own views; another's is as missing as none."""
    view = session.get(SavedView, view_id)
    if view is None or view.user_id != user_id:
        return False
    session.delete(view)
    return True
