"""The quarantine: listing, showing, retrying and dropping mail that could not be processed."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col
from sqlmodel import select as orm_select

from tuidesk.storage.models import Quarantine


def list_quarantine(session: Session) -> list[dict[str, Any]]:
    rows = session.exec(
        orm_select(
            Quarantine.id,
            Quarantine.size,
            Quarantine.reason,
            Quarantine.source,
            Quarantine.message_id,
            Quarantine.created_at,
        ).order_by(col(Quarantine.id).desc())
    )
    return [
        {
            "id": r.id,
            "size": r.size,
            "reason": r.reason,
            "source": r.source,
            "message_id": r.message_id,
            "created_at": r.created_at.isoformat(),
        }
        for r in rows
    ]


def get_quarantined(session: Session, qid: int) -> Quarantine | None:
    return session.get(Quarantine, qid)


def drop_quarantined(session: Session, qid: int) -> bool:
    item = session.get(Quarantine, qid)
    if item is None:
        return False
    session.delete(item)
    return True
