"""`tuidesk report`: what the service levels came to over a period, read from the columns the
events keep on each ticket (storage.due), never from the events themselves: opened and closed
per day, first response and resolution in business minutes (median and p90), how many met
their targets, the backlog by status and age, per agent and per branch.

Everything is counted by the database (GROUP BY over the stored columns, percentiles by
percentile_disc on PostgreSQL and by row_number over the ordered values on SQLite, both
nearest-rank: the same values on both), so the report reads a few thousand grouped rows, not
the period's tickets: under 2 s at a million tickets (bench.scale's "report" figures)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Select,
    and_,
    case,
    false,
    func,
    literal_column,
    or_,
    select,
)

from tuidesk.engine.enums import OPEN_STATUSES
from tuidesk.storage.due import load_policies
from tuidesk.storage.tables import tables

AGES = ((1, "under 1 day"), (3, "1-3 days"), (7, "3-7 days"), (None, "over 7 days"))
SHARES = (("median_minutes", 5), ("p90_minutes", 9))  # in tenths: exact integer ranks on SQLite


def _spread(count: int, median: float | None, p90: float | None) -> dict[str, Any]:
    return {
        "count": count,
        "median_minutes": round(median, 1) if median is not None else None,
        "p90_minutes": round(p90, 1) if p90 is not None else None,
    }


def build_report(
    conn: Connection, since: date, until: date, branch: str | None, now: datetime
) -> dict[str, Any]:
    """The report for tickets opened or resolved from `since` to `until` (days, UTC, both
    included); the backlog as of `now`."""
    t = tables(conn)
    tk = t.ticket
    start = datetime.combine(since, time(0), UTC)
    end = datetime.combine(until + timedelta(days=1), time(0), UTC)
    scope: list[ColumnElement[bool]] = []
    if branch is not None:
        named = (t.branch.c.key == branch.upper()) | (func.lower(t.branch.c.name) == branch.lower())
        scope.append(tk.c.branch_id.in_(select(t.branch.c.id).where(named)))
    opened = [*scope, tk.c.created_at >= start, tk.c.created_at < end]
    resolved = [*scope, tk.c.resolved_at >= start, tk.c.resolved_at < end]
    targets = _targets(conn)
    agent, key = t.agent.c.name, t.branch.c.key

    per_day: dict[str, Counter[str]] = defaultdict(Counter)
    groups: dict[str, dict[str | None, Counter[str]]] = {"agent": {}, "branch": {}}
    totals: dict[str, Counter[str]] = defaultdict(Counter)
    for kind, moment, minutes, where in (
        ("first_response", tk.c.created_at, tk.c.first_response_minutes, opened),
        ("resolution", tk.c.resolved_at, tk.c.resolution_minutes, resolved),
    ):
        counted = "opened" if kind == "first_response" else "closed"
        judged, met = _attainment(tk, minutes, targets, kind)
        inner = (
            _joined(t, _day(conn, moment).label("day"), agent.label("agent"),
                    key.label("branch"), minutes.label("minutes"),
                    case((judged, 1)).label("judged"), case((met, 1)).label("met"))
            .where(*where)
            .subquery()
        )  # fmt: skip
        rows = conn.execute(
            select(inner.c.day, inner.c.agent, inner.c.branch, func.count().label("n"),
                   func.count(inner.c.minutes).label("timed"),
                   func.count(inner.c.judged).label("judged"),
                   func.count(inner.c.met).label("met"))
            .group_by(inner.c.day, inner.c.agent, inner.c.branch)
        )  # fmt: skip
        for r in rows:
            per_day[_iso(r.day)][counted] += r.n
            for group, name in (("agent", r.agent or None), ("branch", r.branch)):
                groups[group].setdefault(name, Counter())[counted] += r.n
            totals[kind].update(timed=r.timed, judged=r.judged, met=r.met)
    first = _spreads(conn, t, tk.c.first_response_minutes, opened, {"agent": agent, "branch": key})
    done = _spreads(conn, t, tk.c.resolution_minutes, resolved, {})

    backlog = _backlog(conn, t, scope, now)
    for (group, name), count in backlog.pop("per_group").items():
        groups[group].setdefault(name, Counter())["open_now"] += count
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
        "first_response": first.get(("", None)) or _spread(0, None, None),
        "resolution": done.get(("", None)) or _spread(0, None, None),
        "sla": {kind: _share(totals[kind]) for kind in ("first_response", "resolution")},
        "backlog": backlog,
        "per_agent": _groups(groups["agent"], first, "agent"),
        "per_branch": _groups(groups["branch"], first, "branch"),
    }


def _joined(t: Any, *columns: Any) -> Select[Any]:
    """`columns` over the tickets with their branch and (when assigned) agent."""
    return (
        select(*columns)
        .select_from(t.ticket)
        .join(t.branch, t.branch.c.id == t.ticket.c.branch_id)
        .outerjoin(t.agent, t.agent.c.id == t.ticket.c.assignee_id)
    )


def _day(conn: Connection, moment: Column[Any]) -> ColumnElement[Any]:
    """The UTC day of a stored time: SQLite keeps them as UTC text, PostgreSQL as timestamptz
    (read in UTC whatever the session's zone). No bound values: grouped by, as a subquery's
    column (PostgreSQL's GROUP BY would not match its own parameters again)."""
    if conn.dialect.name == "sqlite":
        return func.substr(moment, 1, 10)
    return func.date(func.timezone(literal_column("'UTC'"), moment))


def _iso(day: Any) -> str:
    return day if isinstance(day, str) else day.isoformat()


def _targets(conn: Connection) -> dict[str, dict[str, float | None]]:
    """Each policy's first response and resolution targets, in business minutes."""
    return {
        p.name: {"first_response": p.first_response, "resolution": p.resolution}
        for p in load_policies(conn).policies
    }


def _attainment(
    tk: Any, minutes: Column[Any], targets: dict[str, Any], kind: str
) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """Judged: timed under a policy with a target of this kind; met: within that target."""
    named = {name: target[kind] for name, target in targets.items() if target[kind] is not None}
    if not named:
        return false(), false()
    judged = and_(minutes.is_not(None), tk.c.sla_policy.in_(named))
    met = or_(*(and_(tk.c.sla_policy == n, minutes <= limit) for n, limit in named.items()))
    return judged, met


def _share(total: Counter[str]) -> dict[str, Any]:
    judged, met = total["judged"], total["met"]
    return {
        "judged": judged,
        "met": met,
        "percent": round(100 * met / judged, 1) if judged else None,
    }


def _spreads(
    conn: Connection,
    t: Any,
    minutes: Column[Any],
    where: Sequence[ColumnElement[bool]],
    by: dict[str, ColumnElement[Any]],
) -> dict[tuple[str, str | None], dict[str, Any]]:
    """Count, median and p90 of `minutes` (where known) over the rows `where`, in all
    (key ("", None)) and per value of each column in `by` (key (label, value))."""
    found = {}
    for label, column in {"": literal_column("''"), **by}.items():
        if conn.dialect.name == "postgresql":
            shares = [
                func.percentile_disc(tenths / 10).within_group(minutes) for _, tenths in SHARES
            ]
            query = _joined(t, column.label("g"), func.count(minutes), *shares).where(
                *where, minutes.is_not(None)
            )
            rows = conn.execute(query.group_by(column) if label else query).all()
        else:
            rows = conn.execute(_ranked(t, column if label else None, minutes, where)).all()
        for g, count, *values in rows:
            if count:
                found[(label, (g or None) if label else None)] = _spread(count, *values)
    return found


def _ranked(
    t: Any,
    column: ColumnElement[Any] | None,
    minutes: Column[Any],
    where: Sequence[ColumnElement[bool]],
) -> Select[Any]:
    """SQLite's nearest-rank percentiles: each value's rank in its group, then the least value
    ranked at or past ceil(share * count), compared in integers as percentile_disc ranks."""
    parts = {"partition_by": column} if column is not None else {}
    inner = (
        _joined(t, (column if column is not None else literal_column("''")).label("g"),
                minutes.label("x"),
                func.row_number().over(order_by=minutes, **parts).label("rn"),
                func.count().over(**parts).label("n"))
        .where(*where, minutes.is_not(None))
        .subquery()
    )  # fmt: skip
    shares = [
        func.min(case((inner.c.rn * 10 >= inner.c.n * tenths, inner.c.x))) for _, tenths in SHARES
    ]
    return select(inner.c.g, inner.c.n, *shares).group_by(inner.c.g, inner.c.n)


def _backlog(
    conn: Connection, t: Any, scope: Sequence[ColumnElement[bool]], now: datetime
) -> dict[str, Any]:
    """The open tickets by status and age as of `now`, and per agent and branch ("per_group",
    taken out by the caller)."""
    tk = t.ticket
    limits = [(now - timedelta(days=days), label) for days, label in AGES if days is not None]
    age = case(*((tk.c.created_at > since, label) for since, label in limits), else_=AGES[-1][1])
    inner = (
        _joined(t, tk.c.status, age.label("age"), t.agent.c.name.label("agent"),
                t.branch.c.key.label("branch"))
        .where(*scope, tk.c.status.in_(OPEN_STATUSES))
        .subquery()
    )  # fmt: skip
    grouped = (inner.c.status, inner.c.age, inner.c.agent, inner.c.branch)
    rows = conn.execute(select(*grouped, func.count().label("n")).group_by(*grouped)).all()
    by_status: Counter[str] = Counter()
    by_age: Counter[str] = Counter()
    per_group: Counter[tuple[str, str | None]] = Counter()
    for r in rows:
        by_status[r.status] += r.n
        by_age[r.age] += r.n
        per_group[("agent", r.agent or None)] += r.n
        per_group[("branch", r.branch)] += r.n
    return {
        "open": sum(by_status.values()),
        "by_status": dict(sorted(by_status.items())),
        "by_age": {label: by_age[label] for _, label in AGES},
        "per_group": per_group,
    }


def _groups(
    counts: dict[str | None, Counter[str]],
    first: dict[tuple[str, str | None], dict[str, Any]],
    label: str,
) -> list[dict[str, Any]]:
    names = sorted(counts, key=lambda n: (n is None, n or ""))
    return [
        {
            "name": name,
            "opened": counts[name]["opened"],
            "closed": counts[name]["closed"],
            "open_now": counts[name]["open_now"],
            "first_response": first.get((label, name)) or _spread(0, None, None),
        }
        for name in names
    ]
