"""The quarantine: listing, showing, retrying and dropping mail that could not be processed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, delete, select, update
from sqlmodel import Session, col
from sqlmodel import select as orm_select

from tuidesk.storage.apply import Outcome
from tuidesk.storage.blobs import BlobStore
from tuidesk.storage.db import transaction
from tuidesk.storage.lookup import StorageLookup
from tuidesk.storage.models import Quarantine
from tuidesk.storage.tables import tables


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


def retry_quarantined(engine: Engine, blobs: BlobStore, qid: int) -> Outcome | None:
    """Forget that this mail was seen and ingest it again, in one transaction: it leaves the
    quarantine only together with its new outcome (which may be a new quarantine row)."""
    from tuidesk.ingest import Ingestor

    with engine.connect() as conn:
        q = tables(conn).quarantine
        origin = conn.execute(select(q.c.source, q.c.channel).where(q.c.id == qid)).first()
    if origin is None:
        return None
    ingestor = Ingestor(engine, blobs, source=origin.source, channel=origin.channel)
    with transaction(engine) as conn:
        item = conn.execute(select(q.c.raw, q.c.sha256).where(q.c.id == qid)).first()
        if item is None:
            return None
        log = tables(conn).ingest_log
        conn.execute(update(log).where(log.c.dedupe_key == item.sha256).values(dedupe_key=None))
        conn.execute(delete(q).where(q.c.id == qid))
        return ingestor.ingest_in(StorageLookup(conn), item.raw, ingestor.analyse(item.raw))
