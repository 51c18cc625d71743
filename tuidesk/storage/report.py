"""`tuidesk report`: what the service levels came to over a period, read from the columns the
events keep on each ticket (storage.due), never from the events themselves: opened and closed
per day, first response and resolution in business minutes (median and p90), how many met
their targets, the backlog by status and age, per agent and per branch.

Everything is counted by the database (GROUP BY over the stored columns, percentiles by
percentile_disc on PostgreSQL and by counting off the ordered values on SQLite, both
nearest-rank: the same values on both), so the report reads a few thousand grouped rows, not
the period's tickets, and the database reads those from two covering indexes, not the table
(ix_ticket_opened, ix_ticket_resolved): about 1.1 s (SQLite) and 0.9 s (PostgreSQL) for 365
days at a million tickets (bench.scale's "report" figures)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
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
    text,
    tuple_,
)

from tuidesk.engine.enums import OPEN_STATUSES
from tuidesk.storage.due import load_policies
from tuidesk.storage.tables import tables

AGES = ((1, "under 1 day"), (3, "1-3 days"), (7, "3-7 days"), (None, "over 7 days"))
SHARES = (("median_minutes", 5), ("p90_minutes", 9))  # in tenths: exact integer ranks on SQLite
Group = tuple[str, str | None]  # ("agent", name), ("branch", key), or ALL
ALL: Group = ("", None)
WORK_MEM = "64MB"  # PostgreSQL's sorts for the report, in memory (`_sort_in_memory`)


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
    agents = {r.id: r.name for r in conn.execute(select(t.agent.c.id, t.agent.c.name))}
    branches = {r.id: r.key for r in conn.execute(select(t.branch.c.id, t.branch.c.key))}
    scope: list[ColumnElement[bool]] = []
    if branch is not None:
        match = (t.branch.c.key == branch.upper()) | (func.lower(t.branch.c.name) == branch.lower())
        ids = conn.execute(select(t.branch.c.id).where(match)).scalars().all()
        # `+ 0`: not by the branch's index (most of the tickets), by the period's or the status's
        scope.append((tk.c.branch_id + 0).in_(ids))
    opened = [*scope, tk.c.created_at >= start, tk.c.created_at < end]
    resolved = [*scope, tk.c.resolved_at >= start, tk.c.resolved_at < end]
    targets = _targets(conn)

    named: dict[tuple[int | None, int], tuple[Group, ...]] = {}

    def named_by(assignee_id: int | None, branch_id: int) -> tuple[Group, ...]:
        """The groups a ticket counts in: all, its agent's name (None: unassigned), its
        branch's key."""
        found = named.get((assignee_id, branch_id))
        if found is None:
            agent = agents.get(assignee_id) if assignee_id is not None else None
            found = named[(assignee_id, branch_id)] = (
                ALL, ("agent", agent or None), ("branch", branches[branch_id])
            )  # fmt: skip
        return found

    sqlite = conn.dialect.name == "sqlite"
    if not sqlite:
        _sort_in_memory(conn)
    per_day: dict[str, Counter[str]] = defaultdict(Counter)
    groups: dict[Group, Counter[str]] = defaultdict(Counter)
    totals: dict[str, Counter[str]] = defaultdict(Counter)
    timed: dict[str, Counter[Group]] = defaultdict(Counter)  # how many a spread ranks, by group
    spreads: dict[str, dict[Group, dict[str, Any]]] = {}
    for kind, moment, minutes, where in (
        ("first_response", tk.c.created_at, tk.c.first_response_minutes, opened),
        ("resolution", tk.c.resolved_at, tk.c.resolution_minutes, resolved),
    ):
        counted = "opened" if kind == "first_response" else "closed"
        judged, met = _attainment(tk, minutes, targets, kind)
        inner = select(
            _day(conn, moment).label("day"), tk.c.assignee_id, tk.c.branch_id,
            minutes.label("minutes"), case((judged, 1)).label("judged"),
            case((met, 1)).label("met"),
        ).where(*where)  # fmt: skip
        # The period's rows come from a covering index (ix_ticket_opened, ix_ticket_resolved):
        # SQLite reads them a second time for the values in order (`_nearest`), cheaper than
        # keeping them in a table of its own; PostgreSQL ranks the resolution times in this
        # pass, the first responses (in all, per agent, per branch) in `_percentiles`.
        src = inner.subquery()
        keys = (src.c.day, src.c.assignee_id, src.c.branch_id)
        counts = select(
            *keys, func.count(), func.count(src.c.minutes), func.count(src.c.judged),
            func.count(src.c.met),
        ).group_by(*keys)  # fmt: skip
        grouped = kind == "first_response"  # resolution's spread: in all only
        if sqlite or grouped:
            query = counts
        else:  # resolution in all, ranked in this pass: a grouping set of its own
            query = counts.add_columns(func.grouping(*keys), *_shares(src.c.minutes))
            query = query.group_by(None).group_by(func.grouping_sets(tuple_(*keys), tuple_()))
        total = totals[kind]
        for day, assignee_id, branch_id, n, timed_n, judged_n, met_n, *ranked in conn.execute(
            query
        ):
            if ranked and ranked[0]:  # PostgreSQL: the resolution times in all
                spreads[kind] = {ALL: _spread(timed_n, *ranked[1:])} if timed_n else {}
                continue
            per_day[_iso(day)][counted] += n
            for group in named_by(assignee_id, branch_id):
                groups[group][counted] += n
                timed[kind][group] += timed_n
            total["judged"] += judged_n
            total["met"] += met_n
        if sqlite:
            with conn.execute(_values(src, grouped)) as values:  # closed when read far enough
                spreads[kind] = _nearest(values, timed[kind], named_by if grouped else None)
    if not sqlite:
        by = {"agent": t.agent.c.name, "branch": t.branch.c.key}
        spreads["first_response"] = _percentiles(t, tk.c.first_response_minutes, opened, by, conn)
    first, done = spreads["first_response"], spreads.get("resolution", {})

    backlog = _backlog(conn, tk, scope, now)
    for (assignee_id, branch_id), count in backlog.pop("per_group").items():
        for group in named_by(assignee_id, branch_id)[1:]:
            groups[group]["open_now"] += count
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
        "first_response": first.get(ALL) or _spread(0, None, None),
        "resolution": done.get(ALL) or _spread(0, None, None),
        "sla": {kind: _share(totals[kind]) for kind in ("first_response", "resolution")},
        "backlog": backlog,
        "per_agent": _groups(groups, first, "agent"),
        "per_branch": _groups(groups, first, "branch"),
    }


def _day(conn: Connection, moment: Column[Any]) -> ColumnElement[Any]:
    """The UTC day of a stored time: SQLite keeps them as UTC text, PostgreSQL as timestamptz
    (read in UTC whatever the session's zone). No bound values: grouped by, as a subquery's
    column (PostgreSQL's GROUP BY would not match its own parameters again)."""
    if conn.dialect.name == "sqlite":
        return func.substr(moment, 1, 10)
    return func.date(func.timezone(literal_column("'UTC'"), moment))


def _sort_in_memory(conn: Connection) -> None:
    """PostgreSQL: room for the period's rows (about 20 MB at 365 days and a million tickets)
    in this transaction's sorts and percentile_disc, instead of the default 4 MB's merges on
    disk (365 days: 1.4 s down to 1.0 s). Never lowers what the server allows."""
    conn.execute(
        text(
            "SELECT set_config('work_mem', :size, true)"
            " WHERE pg_size_bytes(current_setting('work_mem')) < pg_size_bytes(:size)"
        ),
        {"size": WORK_MEM},
    )


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


def _shares(minutes: ColumnElement[Any]) -> list[ColumnElement[Any]]:
    """PostgreSQL's median and p90 of `minutes`: nearest-rank, as `_nearest` ranks them."""
    return [func.percentile_disc(tenths / 10).within_group(minutes) for _, tenths in SHARES]


def _percentiles(
    t: Any,
    minutes: Column[Any],
    where: Sequence[ColumnElement[bool]],
    by: dict[str, ColumnElement[Any]],
    conn: Connection,
) -> dict[Group, dict[str, Any]]:
    """PostgreSQL: count, median and p90 (percentile_disc) of `minutes` where known over the
    rows `where`, in all (key ("", None)) and per value of each column in `by` (key (label,
    value)), in one pass (grouping sets: a column's bit of grouping() is 0 in its own set)."""
    columns = list(by.values())
    query = (
        select(*columns, func.count(minutes), *_shares(minutes), func.grouping(*columns))
        .select_from(t.ticket)
        .join(t.branch, t.branch.c.id == t.ticket.c.branch_id)
        .outerjoin(t.agent, t.agent.c.id == t.ticket.c.assignee_id)
        .where(*where, minutes.is_not(None))
        .group_by(func.grouping_sets(*(tuple_(c) for c in columns), tuple_()))
    )
    found = {}
    for *names, count, median, p90, bits in conn.execute(query):
        key = ALL
        for i, label in enumerate(by):
            if not bits & (1 << (len(columns) - 1 - i)):
                key = (label, names[i] or None)
        found[key] = _spread(count, median, p90)
    return found


def _values(src: Any, grouped: bool) -> Select[Any]:
    """SQLite: how often each value occurs (per assignee and branch when `grouped`), in order,
    as `_nearest` reads them (ordered as grouped: SQLite sorts them once, for the grouping)."""
    ids = (src.c.assignee_id, src.c.branch_id) if grouped else (literal_column("NULL"),) * 2
    by = (src.c.minutes, *(ids if grouped else ()))
    return (
        select(*ids, src.c.minutes, func.count())
        .where(src.c.minutes.is_not(None))
        .group_by(*by)
        .order_by(*by)
    )


def _nearest(
    rows: Iterable[Any], sizes: Counter[Group], named_by: Any
) -> dict[Group, dict[str, Any]]:
    """SQLite, which has no percentile_disc and whose window functions are slow at this size
    (about 0.6 s a grouping at 250,000 rows): the values in order (`_values`), counted
    off against each group's `sizes` until every group's ranks are reached: the ranks
    percentile_disc takes, ceil(share * count), in integers. Keys as `_percentiles` has them."""
    wanted = {
        group: [(name, (size * tenths + 9) // 10) for name, tenths in SHARES]
        for group, size in sizes.items()
        if size and (named_by or group == ALL)
    }
    seen: Counter[Group] = Counter()
    found: dict[Group, dict[str, float]] = defaultdict(dict)
    pending = len(wanted)
    for assignee_id, branch_id, value, count in rows:
        if not pending:
            break
        for group in named_by(assignee_id, branch_id) if named_by else (ALL,):
            ranks = wanted[group]
            if not ranks:
                continue
            seen[group] += count
            while ranks and seen[group] >= ranks[0][1]:
                found[group][ranks.pop(0)[0]] = value
            pending -= not ranks
    return {
        group: _spread(sizes[group], found[group]["median_minutes"], found[group]["p90_minutes"])
        for group in wanted
    }


def _backlog(
    conn: Connection, tk: Any, scope: Sequence[ColumnElement[bool]], now: datetime
) -> dict[str, Any]:
    """The open tickets by status and age as of `now`, and per (assignee id, branch id)
    ("per_group", taken out by the caller)."""
    limits = [(now - timedelta(days=days), label) for days, label in AGES if days is not None]
    age = case(*((tk.c.created_at > since, label) for since, label in limits), else_=AGES[-1][1])
    inner = (
        select(tk.c.status, age.label("age"), tk.c.assignee_id, tk.c.branch_id)
        .where(*scope, tk.c.status.in_(OPEN_STATUSES))
        .subquery()
    )
    grouped = (inner.c.status, inner.c.age, inner.c.assignee_id, inner.c.branch_id)
    rows = conn.execute(select(*grouped, func.count().label("n")).group_by(*grouped)).all()
    by_status: Counter[str] = Counter()
    by_age: Counter[str] = Counter()
    per_group: Counter[tuple[int | None, int]] = Counter()
    for r in rows:
        by_status[r.status] += r.n
        by_age[r.age] += r.n
        per_group[(r.assignee_id, r.branch_id)] += r.n
    return {
        "open": sum(by_status.values()),
        "by_status": dict(sorted(by_status.items())),
        "by_age": {label: by_age[label] for _, label in AGES},
        "per_group": per_group,
    }


def _groups(
    groups: dict[Group, Counter[str]],
    first: dict[Group, dict[str, Any]],
    label: str,
) -> list[dict[str, Any]]:
    names = sorted((n for kind, n in groups if kind == label), key=lambda n: (n is None, n or ""))
    return [
        {
            "name": name,
            "opened": groups[(label, name)]["opened"],
            "closed": groups[(label, name)]["closed"],
            "open_now": groups[(label, name)]["open_now"],
            "first_response": first.get((label, name)) or _spread(0, None, None),
        }
        for name in names
    ]
