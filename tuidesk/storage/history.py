"""A ticket's history: every change and every message as an event with who and when, written
by the change itself inside its own transaction (so history and ticket never disagree)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select

from tuidesk.engine.text import clean_line
from tuidesk.storage.due import MOVES, refresh_due
from tuidesk.storage.tables import aware, tables, utcnow

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


def by_agent(agent_id: int | None, otherwise: Actor = SYSTEM) -> Actor:
    """The agent of that id (`record` fills in their name), else `otherwise`: the console and
    the storage functions know an agent by id only."""
    return Actor("agent", agent_id=agent_id) if agent_id is not None else otherwise


def record(
    conn: Connection,
    ticket_id: int,
    kind: str,
    actor: Actor,
    data: dict[str, Any] | None = None,
    *,
    at: datetime | None = None,
    refresh: bool = True,
) -> None:
    """One event, in the caller's transaction: one INSERT (an agent known by id only gets
    their name from a subquery of it, so the name is kept should the agent go); the ticket's
    due times follow an event that moves them, unless `refresh` is off because the caller
    records another right after (the due times are worked out once, from both)."""
    t = tables(conn)
    name: Any = actor.name[:200]
    if not name and actor.agent_id is not None:
        agent = t.agent
        found = select(agent.c.name).where(agent.c.id == actor.agent_id).scalar_subquery()
        name = func.coalesce(found, "")
    conn.execute(
        insert(t.ticket_event).values(
            ticket_id=ticket_id,
            at=at or utcnow(),
            kind=kind,
            actor_kind=actor.kind,
            actor_id=actor.agent_id,
            actor=name,
            data=data or {},
        )
    )
    if refresh and kind in MOVES:
        refresh_due(conn, ticket_id)


def changed(
    conn: Connection,
    ticket_id: int,
    actor: Actor,
    old: dict[str, Any],
    new: dict[str, Any],
    *,
    at: datetime | None = None,
) -> None:
    """An event for each field (status, priority, ...) whose value differs: from old, to new;
    none for a value set to what it was. The due times are worked out once, after them all."""
    kinds = [kind for kind, value in new.items() if old.get(kind) != value]
    for kind in kinds:
        data = {"from": old.get(kind), "to": new[kind]}
        record(conn, ticket_id, kind, actor, data, at=at, refresh=False)
    if MOVES.intersection(kinds):
        refresh_due(conn, ticket_id)


@dataclass(frozen=True)
class Event:
    """One event as read back: `actor` is the agent's current name (the recorded one if the
    agent is gone), else the recorded name (a rule, an OS user)."""

    at: datetime
    kind: str
    actor_kind: str
    actor: str
    data: dict[str, Any]

    @property
    def who(self) -> str:
        return clean_line(self.actor, 80) or self.actor_kind

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "kind": self.kind,
            "actor_kind": self.actor_kind,
            "actor": self.actor,
            "data": self.data,
        }


def ticket_events(conn: Connection, ticket_id: int) -> list[Event]:
    """The ticket's events, oldest first (a merged ticket's moved events among them by when
    they happened)."""
    t = tables(conn)
    event, agent = t.ticket_event, t.agent
    rows = conn.execute(
        select(
            event.c.at, event.c.kind, event.c.actor_kind, event.c.data,
            func.coalesce(agent.c.name, event.c.actor).label("actor"),
        )
        .outerjoin(agent, agent.c.id == event.c.actor_id)
        .where(event.c.ticket_id == ticket_id)
        .order_by(event.c.at, event.c.id)
    )  # fmt: skip
    return [
        Event(aware(r.at), r.kind, r.actor_kind, r.actor or "", dict(r.data or {})) for r in rows
    ]


_MESSAGE = {"in": "message", "out": "reply", "note": "note"}


def describe(event: Event) -> str:
    """The event in a few words, one line, control characters gone (names, titles and
    addresses in it may come from mail): `status open → pending`."""
    d = event.data
    match event.kind:
        case "created":
            text = f"created from {d.get('source', '?')}: {d.get('title', '')}"
        case "message":
            what = _MESSAGE.get(d.get("direction", ""), "message")
            text = f"{what} #{d.get('message')}" + (f" from {d['from']}" if d.get("from") else "")
        case "status" | "priority" | "assignee" | "branch" | "queue":
            text = f"{event.kind} {_value(d.get('from'))} → {_value(d.get('to'))}"
        case "fields":
            changes = d.get("changes", {}).items()
            text = "fields " + ", ".join(f"{k} → {_value(v)}" for k, v in changes)
        case "tags":
            signed = [f"+{a}" for a in d.get("added", [])] + [f"-{r}" for r in d.get("removed", [])]
            text = "tags " + " ".join(signed)
        case "merged":
            text = f"merged into {d.get('ref') or d.get('into')}"
        case "merged_from":
            text = f"{d.get('ref') or d.get('from')} merged in ({_count(d.get('messages'))})"
        case "split":
            text = (
                f"split into {d.get('ref') or d.get('to')} from message #{d.get('from_message')}"
                f" ({_count(d.get('messages'))})"
            )
        case "split_from":
            text = f"split from {d.get('ref') or d.get('from')} at message #{d.get('from_message')}"
        case _:
            text = f"{event.kind} {d}"
    return clean_line(text, 500)


def _value(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


def _count(n: Any) -> str:
    return "1 message" if n == 1 else f"{n} messages"
