"""Small read-only queries the console needs beside storage.ticket_list: what the sidebar and
the status line show, whether the agent is an admin, and whether this is a first run. Core
statements, plain values out; the console runs them in its workers, never on its UI thread."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from tuidesk.storage.tables import tables


@dataclass(frozen=True)
class Filters:
    """What the sidebar and the filter pickers offer."""

    branches: list[tuple[str, str]]  # (key, name)
    queues: list[tuple[str, str]]  # (name, colour)
    agents: list[tuple[str, str]]  # (email, name)
    channels: list[str]  # incoming channels' names


def filters(conn: Connection) -> Filters:
    t = tables(conn)
    return Filters(
        branches=[
            (r.key, r.name)
            for r in conn.execute(select(t.branch.c.key, t.branch.c.name).order_by(t.branch.c.key))
        ],
        queues=[
            (r.name, r.colour)
            for r in conn.execute(select(t.queue.c.name, t.queue.c.colour).order_by(t.queue.c.name))
        ],
        agents=[
            (r.email, r.name)
            for r in conn.execute(select(t.agent.c.email, t.agent.c.name).order_by(t.agent.c.name))
        ],
        channels=list(conn.execute(select(t.channel.c.name).order_by(t.channel.c.name)).scalars()),
    )


def outbox_counts(conn: Connection) -> dict[str, int]:
    """Mail still to go or given up on, by status (queued, sending, failed): sent mail is
    history, and it is what grows."""
    outbox = tables(conn).outbox
    rows = conn.execute(
        select(outbox.c.status, func.count())
        .where(outbox.c.status != "sent")
        .group_by(outbox.c.status)
    )
    return {status: int(count) for status, count in rows}


def failing_channels(conn: Connection) -> list[str]:
    """Channels a poller has given up on for now (past max tries, cooling off)."""
    channel = tables(conn).channel
    rows = conn.execute(select(channel.c.name).where(channel.c.status == "failing"))
    return sorted(rows.scalars())


def is_first_run(conn: Connection) -> bool:
    """No channel to read mail from and not one ticket yet."""
    t = tables(conn)
    channel = conn.execute(select(t.channel.c.id).limit(1)).first()
    ticket = conn.execute(select(t.ticket.c.id).limit(1)).first()
    return channel is None and ticket is None


def is_admin(conn: Connection, agent_id: int | None) -> bool:
    if agent_id is None:
        return False
    agent = tables(conn).agent
    role = conn.execute(select(agent.c.role).where(agent.c.id == agent_id)).scalar()
    return role == "admin"


def has_policies(conn: Connection) -> bool:
    """Whether the desk keeps service levels at all (a desk without has no due times)."""
    policy = tables(conn).sla_policy
    return conn.execute(select(policy.c.id).limit(1)).first() is not None
