"""`tuidesk report`: what the service levels came to over a period, read from the columns the
events keep on each ticket (storage.due), never from the events themselves: opened and closed
per day, first response and resolution in business minutes (median and p90), how many met
their targets, the backlog by status and age, per agent and per branch."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from tuidesk.engine.enums import OPEN_STATUSES
from tuidesk.storage.due import load_policies
from tuidesk.storage.tables import aware, tables

AGES = ((1, "under 1 day"), (3, "1-3 days"), (7, "3-7 days"), (None, "over 7 days"))


def percentile(values: list[float], share: float) -> float | None:
    """The nearest-rank percentile (`share` 0.5: the median): a value that occurred."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _spread(values: list[float]) -> dict[str, Any]:
    median, p90 = percentile(values, 0.5), percentile(values, 0.9)
    return {
        "count": len(values),
        "median_minutes": round(median, 1) if median is not None else None,
        "p90_minutes": round(p90, 1) if p90 is not None else None,
    }


def build_report(
    conn: Connection, since: date, until: date, branch: str | None, now: datetime
) -> dict[str, Any]:
    """The report for tickets opened or resolved from `since` to `until` (days, UTC, both
    included); the backlog as of `now`."""
    t = tables(conn)
    start = datetime.combine(since, time(0), UTC)
    end = datetime.combine(until + timedelta(days=1), time(0), UTC)
    where = []
    if branch is not None:
        named = (t.branch.c.key == branch.upper()) | (func.lower(t.branch.c.name) == branch.lower())
        where.append(named)
    cols = (
        t.ticket.c.id, t.ticket.c.status, t.ticket.c.created_at, t.ticket.c.resolved_at,
        t.ticket.c.first_response_minutes, t.ticket.c.resolution_minutes, t.ticket.c.sla_policy,
        t.branch.c.key, t.agent.c.name,
    )  # fmt: skip
    base = (
        select(*cols)
        .join(t.branch, t.branch.c.id == t.ticket.c.branch_id)
        .outerjoin(t.agent, t.agent.c.id == t.ticket.c.assignee_id)
    )
    in_period = base.where(
        *where,
        ((t.ticket.c.created_at >= start) & (t.ticket.c.created_at < end))
        | ((t.ticket.c.resolved_at >= start) & (t.ticket.c.resolved_at < end)),
    )
    rows = conn.execute(in_period).all()
    backlog_rows = conn.execute(base.where(*where, t.ticket.c.status.in_(OPEN_STATUSES))).all()
    targets = _targets(conn)

    def opened(r: Any) -> bool:
        return start <= aware(r.created_at) < end

    def resolved(r: Any) -> bool:
        return r.resolved_at is not None and start <= aware(r.resolved_at) < end

    per_day: dict[str, Counter[str]] = defaultdict(Counter)
    for r in rows:
        if opened(r):
            per_day[aware(r.created_at).date().isoformat()]["opened"] += 1
        if resolved(r):
            per_day[aware(r.resolved_at).date().isoformat()]["closed"] += 1
    days = [since + timedelta(days=n) for n in range((until - since).days + 1)]
    return {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "branch": branch,
        "per_day": [
            {
                "day": d.isoformat(),
                "opened": per_day[d.isoformat()]["opened"],
                "closed": per_day[d.isoformat()]["closed"],
            }
            for d in days
        ],  # fmt: skip
        **_times(rows, opened, resolved, targets),
        "backlog": _backlog(backlog_rows, now),
        "per_agent": _groups(rows, backlog_rows, opened, resolved, lambda r: r.name or None),
        "per_branch": _groups(rows, backlog_rows, opened, resolved, lambda r: r.key),
    }


def _targets(conn: Connection) -> dict[str, dict[str, float | None]]:
    """Each policy's first response and resolution targets, in business minutes."""
    return {
        p.name: {"first_response": p.first_response, "resolution": p.resolution}
        for p in load_policies(conn).policies
    }


def _times(rows: list[Any], opened: Any, resolved: Any, targets: dict[str, Any]) -> dict[str, Any]:
    first = [r for r in rows if opened(r) and r.first_response_minutes is not None]
    done = [r for r in rows if resolved(r) and r.resolution_minutes is not None]

    def attained(found: list[Any], column: str, kind: str) -> dict[str, Any]:
        judged = [r for r in found if (targets.get(r.sla_policy) or {}).get(kind) is not None]
        met = sum(getattr(r, column) <= targets[r.sla_policy][kind] for r in judged)
        share = round(100 * met / len(judged), 1) if judged else None
        return {"judged": len(judged), "met": met, "percent": share}

    return {
        "first_response": _spread([r.first_response_minutes for r in first]),
        "resolution": _spread([r.resolution_minutes for r in done]),
        "sla": {
            "first_response": attained(first, "first_response_minutes", "first_response"),
            "resolution": attained(done, "resolution_minutes", "resolution"),
        },
    }


def _backlog(rows: list[Any], now: datetime) -> dict[str, Any]:
    by_age: Counter[str] = Counter()
    for r in rows:
        days = (now - aware(r.created_at)).total_seconds() / 86400
        by_age[next(label for limit, label in AGES if limit is None or days < limit)] += 1
    return {
        "open": len(rows),
        "by_status": dict(sorted(Counter(r.status for r in rows).items())),
        "by_age": {label: by_age[label] for _, label in AGES},
    }


def _groups(
    rows: list[Any], backlog: list[Any], opened: Any, resolved: Any, key: Any
) -> list[dict[str, Any]]:
    names = sorted({key(r) for r in (*rows, *backlog)}, key=lambda n: (n is None, n or ""))
    out = []
    for name in names:
        mine = [r for r in rows if key(r) == name]
        out.append({
            "name": name,
            "opened": sum(1 for r in mine if opened(r)),
            "closed": sum(1 for r in mine if resolved(r)),
            "open_now": sum(1 for r in backlog if key(r) == name),
            "first_response": _spread([
                r.first_response_minutes for r in mine
                if opened(r) and r.first_response_minutes is not None
            ]),
        })  # fmt: skip
    return out
