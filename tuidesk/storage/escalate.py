"""Escalation: a ticket whose service-level target is near (due within NEAR) or breached tells
its assignee and its branch's escalation agents, once per target, due time and level: a target
that moves (a pending pause) may escalate again, one that stays put does not. Run by `tuidesk
escalate` (cron, like `tuidesk send`)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, select

from tuidesk.engine.enums import OPEN_STATUSES
from tuidesk.storage.due import TARGETS
from tuidesk.storage.history import SYSTEM, record
from tuidesk.storage.notify import ticket_escalated
from tuidesk.storage.tables import aware, tables

NEAR = timedelta(hours=1)


def escalate(conn: Connection, now: datetime) -> list[dict[str, str]]:
    """Escalate what is near or breached now and not escalated yet; what was escalated."""
    t = tables(conn)
    ticket, branch = t.ticket, t.branch
    rows = conn.execute(
        select(ticket.c.id, ticket.c.assignee_id, branch.c.key, branch.c.escalation_agents,
               *(ticket.c[f"{kind}_due"] for kind in TARGETS))
        .join(branch, branch.c.id == ticket.c.branch_id)
        .where(ticket.c.due_at <= now + NEAR, ticket.c.status.in_(OPEN_STATUSES))
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
            if due is None or aware(due) > now + NEAR:
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
            done.append({"ticket": f"{row.key}-{row.id}", "target": kind, "level": level,
                         "due": due.isoformat()})  # fmt: skip
    return done
