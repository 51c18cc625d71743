"""Replies being written, one per agent and ticket: saved as the agent types, so a closed
editor, a crashed console or a dropped SSH session loses nothing; removed once sent."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select, update

from tuidesk.storage.tables import aware, tables, utcnow


@dataclass(frozen=True)
class DraftText:
    body: str = ""
    cc: list[str] = field(default_factory=list)
    attachments: list[str] = field(default_factory=list)  # paths on this machine
    updated_at: datetime | None = None


def load_draft(conn: Connection, ticket: int, agent: int) -> DraftText | None:
    draft = tables(conn).draft
    row = conn.execute(
        select(draft).where(draft.c.ticket_id == ticket, draft.c.agent_id == agent)
    ).first()
    if row is None:
        return None
    return DraftText(row.body, list(row.cc), list(row.attachments), aware(row.updated_at))


def save_draft(conn: Connection, ticket: int, agent: int, text: DraftText) -> None:
    """Insert or replace; an empty draft is removed instead of kept."""
    if not text.body.strip() and not text.cc and not text.attachments:
        discard_draft(conn, ticket, agent)
        return
    draft = tables(conn).draft
    values = dict(body=text.body, cc=text.cc, attachments=text.attachments, updated_at=utcnow())
    mine = (draft.c.ticket_id == ticket) & (draft.c.agent_id == agent)
    if not conn.execute(update(draft).where(mine).values(**values)).rowcount:
        conn.execute(insert(draft).values(ticket_id=ticket, agent_id=agent, **values))


def discard_draft(conn: Connection, ticket: int, agent: int) -> None:
    draft = tables(conn).draft
    conn.execute(delete(draft).where(draft.c.ticket_id == ticket, draft.c.agent_id == agent))
