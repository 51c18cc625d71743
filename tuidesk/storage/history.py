"""A ticket's history: every change and every message as an event with who and when, written
by the change itself inside its own transaction (so history and ticket never disagree)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert

from tuidesk.storage.tables import tables, utcnow

ACTOR_KINDS = ("agent", "engine", "cli", "system")


@dataclass(frozen=True)
class Actor:
    """Who made a change: an agent (`agent_id`, `name`), the engine (`name`: the rule or the
    source that decided), a CLI user without an agent (`name`: the OS user), or the system."""

    kind: str
    name: str = ""
    agent_id: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in ACTOR_KINDS:
            raise ValueError(f"actor kind must be one of {', '.join(ACTOR_KINDS)}")


SYSTEM = Actor("system")


def record(
    conn: Connection,
    ticket_id: int,
    kind: str,
    actor: Actor,
    data: dict[str, Any] | None = None,
    *,
    at: datetime | None = None,
) -> None:
    """One event, in the caller's transaction."""
    conn.execute(
        insert(tables(conn).ticket_event),
        dict(
            ticket_id=ticket_id,
            at=at or utcnow(),
            kind=kind,
            actor_kind=actor.kind,
            actor_id=actor.agent_id,
            actor=actor.name[:200],
            data=data or {},
        ),
    )
