"""Escalation: a ticket whose service-level target is near (due within the `sla_near` setting)
or breached tells its assignee and its branch's escalation agents, once per target, due time
and level: a target that moves (a pending pause) may escalate again, one that stays put does
not. Run by `tuidesk escalate` (cron, like `tuidesk send`) and every minute by `tuidesk watch`;
runs in parallel (two watchers, cron beside one) take turns, so none escalates twice."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, select, text

from tuidesk.engine.enums import OPEN_STATUSES
from tuidesk.engine.refs import ticket_ref
from tuidesk.engine.sla import parse_duration
from tuidesk.storage.due import TARGETS
from tuidesk.storage.history import SYSTEM, record
from tuidesk.storage.notify import ticket_escalated
from tuidesk.storage.settings import get_settings
from tuidesk.storage.tables import aware, tables

_LOCK = 7370727  # the migrations take 7370726


def near_window(conn: Connection) -> timedelta:
    """How long before a target is due it counts as near (the `sla_near` setting): what
    escalates as near, and what the console colours as near."""
    return timedelta(minutes=parse_duration(get_settings(conn)["sla_near"]))


def escalate_now(engine: Engine) -> list[dict[str, str]]:
    """One run in its own transaction at the one clock's now: `tuidesk escalate` and the
    watcher's minute."""
    from tuidesk.clock import utcnow
    from tuidesk.storage.db import transaction

    with transaction(engine) as conn:
        return escalate(conn, utcnow())


def escalate(conn: Connection, now: datetime) -> list[dict[str, str]]:
    """Escalate what is near or breached now and not escalated yet; what was escalated."""
    if conn.dialect.name == "postgresql":  # on SQLite, BEGIN IMMEDIATE makes runs take turns
        # Held to the commit: a run waiting here then reads the escalations the first wrote.
        conn.execute(text(f"SELECT pg_advisory_xact_lock({_LOCK})"))
    near = near_window(conn)
    t = tables(conn)
    ticket, branch = t.ticket, t.branch
    rows = conn.execute(
        select(ticket.c.id, ticket.c.assignee_id, branch.c.key, branch.c.escalation_agents,
               *(ticket.c[f"{kind}_due"] for kind in TARGETS))
        .join(branch, branch.c.id == ticket.c.branch_id)
        .where(ticket.c.due_at <= now + near, ticket.c.status.in_(OPEN_STATUSES))
        .order_by(ticket.c.due_at)
    ).all()  # fmt: skip
    if not rows:
        return []
    event = t.ticket_event
    seen = {
        (r.ticket_id, r.data.get("target"), r.data.get("due"), r.data.get("level"))
        for r in conn.execute(
            select(event.c.ticket_id, event.c.data).where(
                event.c.kind == "escalated", event.c.ticket_id.in_([r.id for r in rows])
            )
        )
    }
    done = []
    for row in rows:
        for kind in TARGETS:
            due = getattr(row, f"{kind}_due")
            if due is None or aware(due) > now + near:
                continue
            due = aware(due)
            level = "breached" if due <= now else "near"
            key = (row.id, kind, due.isoformat(), level)
            if key in seen:
                continue
            record(conn, row.id, "escalated", SYSTEM,
                   {"target": kind, "due": due.isoformat(), "level": level})  # fmt: skip
            what = f"{kind.replace('_', ' ')} {level} (due {due:%Y-%m-%d %H:%M} UTC)"
            agents = [a for a in (row.assignee_id, *(row.escalation_agents or ())) if a]
            ticket_escalated(conn, row.id, agents=agents, what=what, now=now)
            done.append({"ticket": ticket_ref(row.key, row.id), "target": kind, "level": level,
                         "due": due.isoformat()})  # fmt: skip
    return done


def said(done: dict[str, str]) -> str:
    """One escalation as `tuidesk escalate` prints it and the watcher logs it."""
    return (
        f"{done['ticket']}: {done['target'].replace('_', ' ')} {done['level']} (due {done['due']})"
    )
