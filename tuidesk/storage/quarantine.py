"""The quarantine: listing, showing, retrying and dropping mail that could not be processed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from tuidesk.storage.apply import Outcome
from tuidesk.storage.blobs import BlobStore
from tuidesk.storage.db import session_scope
from tuidesk.storage.models import IngestLog, Quarantine


def list_quarantine(session: Session) -> list[dict[str, Any]]:
    rows = session.exec(
        select(
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


def retry_quarantined(engine: Engine, blobs: BlobStore, qid: int) -> Outcome | None:
    """Forget that this mail was seen, then ingest it again; it leaves the quarantine only if
    it now gets another outcome (if not, the new quarantine row replaces the old one)."""
    from tuidesk.ingest import Ingestor

    with session_scope(engine) as session:
        item = session.get(Quarantine, qid)
        if item is None:
            return None
        raw, source, channel = item.raw, item.source, item.channel
        session.execute(
            update(IngestLog).where(IngestLog.dedupe_key == item.sha256).values(dedupe_key=None)
        )
        session.delete(item)
    return Ingestor(engine, blobs, source=source, channel=channel).ingest(raw)
