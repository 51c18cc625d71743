"""`tuidesk sla ...` and `tuidesk calendar ...`: the service levels promised, and the business
hours they are counted in."""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import date, timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from tuidesk.cli.context import ctx_of
from tuidesk.cli.options import JsonHelp
from tuidesk.cli.output import print_rows, refused

if TYPE_CHECKING:
    from sqlmodel import Session

sla_app = typer.Typer(help="SLA policies: response and resolution targets.", no_args_is_help=True)
calendar_app = typer.Typer(help="Business calendars SLA targets count in.", no_args_is_help=True)

Target = Annotated[str | None, typer.Option(help="A duration: 30m, 4h, 3d (business days), 1d4h.")]
Retarget = Annotated[str | None, typer.Option(help="A duration as for add; none: no such target.")]


def _changed(
    ctx: typer.Context,
    done: str,
    what: str,
    name: str,
    change: Callable[[Session], Collection[str]],
) -> None:
    """`change`, then in its transaction the due times of the open tickets it may have moved
    (refresh_open, told the policies `change` touched); says how many, or refuses as `config
    import` words it."""
    from tuidesk.storage.checks import Invalid
    from tuidesk.storage.due import refresh_open

    try:
        with ctx_of(ctx).session() as session:
            count = refresh_open(session.connection(), change(session))
    except Invalid as exc:
        raise refused(what, name, exc) from exc
    typer.echo(f"{done} {what} {name} (due times of {count} open tickets worked out again)")


@sla_app.command("add")
def sla_add(
    ctx: typer.Context,
    name: str,
    first_response: Target = None,
    next_response: Target = None,
    resolution: Target = None,
    branch: Annotated[str | None, typer.Option(help="Only this branch (key or name).")] = None,
    priority: Annotated[str | None, typer.Option(help="Only this priority.")] = None,
    queue: Annotated[str | None, typer.Option(help="Only this queue.")] = None,
    calendar: Annotated[str | None, typer.Option(help="Count in its hours (else 24/7).")] = None,
) -> None:
    """Add a policy; a ticket gets the most specific one that fits it."""
    from tuidesk.storage.sla import save_policy

    targets = {
        "first_response": first_response,
        "next_response": next_response,
        "resolution": resolution,
    }

    def add(session: Session) -> set[str]:
        saved = save_policy(
            session, name=name, targets=targets, branch=branch, priority=priority, queue=queue,
            calendar=calendar,
        )  # fmt: skip
        return {saved.name}

    _changed(ctx, "added", "SLA policy", name, add)


@sla_app.command("edit")
def sla_edit(
    ctx: typer.Context,
    name: str,
    first_response: Retarget = None,
    next_response: Retarget = None,
    resolution: Retarget = None,
    branch: Annotated[str | None, typer.Option(help="Only this branch; none: any.")] = None,
    priority: Annotated[str | None, typer.Option(help="Only this priority; none: any.")] = None,
    queue: Annotated[str | None, typer.Option(help="Only this queue; none: any.")] = None,
    calendar: Annotated[str | None, typer.Option(help="Count in its hours; none: 24/7.")] = None,
) -> None:
    """Change a policy: what is given replaces, `none` clears (a target; any branch, priority
    or queue; 24/7), the rest is kept. Open tickets' due times follow at once."""
    from tuidesk.storage.sla import edit_policy, get_policy

    changes = {
        "first_response": first_response, "next_response": next_response,
        "resolution": resolution, "branch": branch, "priority": priority, "queue": queue,
        "calendar": calendar,
    }  # fmt: skip

    def edit(session: Session) -> set[str]:
        return {edit_policy(session, get_policy(session, name), changes).name}

    _changed(ctx, "changed", "SLA policy", name, edit)


@sla_app.command("list")
def sla_list(ctx: typer.Context, as_json: JsonHelp = False) -> None:
    """Policies by name, with their targets and what tickets they are for."""
    from tuidesk.storage.sla import described, list_policies

    with ctx_of(ctx).session() as session:
        rows = [described(session, p) for p in list_policies(session)]

    def line(r: dict[str, str | None]) -> str:
        targets = " ".join(
            f"{k.replace('_', ' ')} {r[k]}"
            for k in ("first_response", "next_response", "resolution")
            if r[k]
        )
        scope = ", ".join(f"{k} {r[k]}" for k in ("branch", "priority", "queue") if r[k])
        return f"{r['name']:<24} {targets}  [{scope or 'every ticket'}; {r['calendar'] or '24/7'}]"

    print_rows(rows, as_json, line)


@sla_app.command("remove")
def sla_remove(ctx: typer.Context, name: str) -> None:
    """Remove a policy."""
    from tuidesk.storage.sla import get_policy, remove_policy

    def remove(session: Session) -> tuple[str, ...]:
        remove_policy(session, get_policy(session, name))
        return ()  # none touched: the tickets that held it get another policy or none

    _changed(ctx, "removed", "SLA policy", name, remove)


@calendar_app.command("add")
def calendar_add(
    ctx: typer.Context,
    name: str,
    tz: Annotated[str, typer.Option(help="A time zone: Europe/Berlin, UTC.")] = "UTC",
    hours: Annotated[
        list[str] | None,
        typer.Option(help="DAYS=HH:MM-HH:MM[,HH:MM-HH:MM], e.g. mon-fri=09:00-17:00 (repeat)."),
    ] = None,
    holiday: Annotated[list[str] | None, typer.Option(help="YYYY-MM-DD, closed (repeat).")] = None,
) -> None:
    """Add a business calendar."""
    from tuidesk.storage.sla import SlaError, save_calendar

    try:
        with ctx_of(ctx).session() as session:
            save_calendar(session, name=name, tz=tz, hours=hours or [], holidays=holiday or [])
    except SlaError as exc:
        raise refused("calendar", name, exc) from exc
    typer.echo(f"added calendar {name}")


@calendar_app.command("edit")
def calendar_edit(
    ctx: typer.Context,
    name: str,
    tz: Annotated[str | None, typer.Option(help="A time zone: Europe/Berlin, UTC.")] = None,
    hours: Annotated[
        list[str] | None,
        typer.Option(help="Replaces all the hours: DAYS=HH:MM-HH:MM[,HH:MM-HH:MM] (repeat)."),
    ] = None,
    holiday: Annotated[list[str] | None, typer.Option(help="YYYY-MM-DD, add (repeat).")] = None,
    no_holiday: Annotated[
        list[str] | None, typer.Option(help="YYYY-MM-DD, no longer closed (repeat).")
    ] = None,
) -> None:
    """Change a calendar; the due times of open tickets counted in it follow at once."""
    from tuidesk.storage.sla import counting_in, edit_calendar, get_calendar

    def edit(session: Session) -> list[str]:
        cal = get_calendar(session, name)
        edit_calendar(
            session, cal, tz=tz, hours=hours, add_holidays=holiday, drop_holidays=no_holiday
        )
        return counting_in(session, cal)

    _changed(ctx, "changed", "calendar", name, edit)


@calendar_app.command("list")
def calendar_list(ctx: typer.Context, as_json: JsonHelp = False) -> None:
    """Calendars by name, with their hours and holidays."""
    from tuidesk.storage.sla import list_calendars, shown_hours

    with ctx_of(ctx).session() as session:
        rows = [
            {"name": c.name, "tz": c.tz, "hours": shown_hours(c), "holidays": c.holidays}
            for c in list_calendars(session)
        ]

    def line(r: dict) -> str:  # type: ignore[type-arg]
        hours = " ".join(f"{d}={','.join(v)}" for d, v in r["hours"].items())
        return f"{r['name']:<20} {r['tz']:<20} {hours}  holidays: {len(r['holidays'])}"

    print_rows(rows, as_json, line)


@calendar_app.command("remove")
def calendar_remove(ctx: typer.Context, name: str) -> None:
    """Remove a calendar no policy counts in."""
    from tuidesk.storage.sla import SlaError, get_calendar, remove_calendar

    try:
        with ctx_of(ctx).session() as session:
            remove_calendar(session, get_calendar(session, name))
    except SlaError as exc:
        raise refused("calendar", name, exc) from exc
    typer.echo(f"removed calendar {name}")


def report(
    ctx: typer.Context,
    since: Annotated[
        str | None, typer.Option(help="From this day (YYYY-MM-DD; 30 days ago).")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="To this day, included (YYYY-MM-DD; today).")
    ] = None,
    branch: Annotated[str | None, typer.Option(help="Only this branch (key or name).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The report as JSON.")] = False,
    as_csv: Annotated[
        bool, typer.Option("--csv", help="One row per figure: section,name,metric,value.")
    ] = False,
) -> None:
    """Tickets opened and closed per day, first response and resolution (business minutes,
    median and p90), SLA attainment, the backlog by status and age, per agent and branch."""
    from tuidesk.cli.output import fail, print_json
    from tuidesk.clock import utcnow
    from tuidesk.exit_codes import ExitCode
    from tuidesk.storage.report import build_report

    now = utcnow()
    try:
        last = date.fromisoformat(until) if until else now.date()
        first = date.fromisoformat(since) if since else last - timedelta(days=29)
    except ValueError as exc:
        raise fail(f"--since/--until: give a day as YYYY-MM-DD ({exc})", ExitCode.USAGE) from exc
    if first > last:
        raise fail("--since is after --until", ExitCode.USAGE)
    with ctx_of(ctx).session() as session:
        data = build_report(session.connection(), first, last, branch, now)
    if as_json:
        print_json(data)
    elif as_csv:
        _csv(data)
    else:
        _text(data)


def _rows(data: dict) -> list[tuple[str, str, str, object]]:  # type: ignore[type-arg]
    rows: list[tuple[str, str, str, object]] = []
    for day in data["per_day"]:
        rows += [("per_day", day["day"], "opened", day["opened"]),
                 ("per_day", day["day"], "closed", day["closed"])]  # fmt: skip
    for kind in ("first_response", "resolution"):
        for metric, value in data[kind].items():
            rows.append((kind, "", metric, value))
        for metric, value in data["sla"][kind].items():
            rows.append(("sla", kind, metric, value))
    for metric in ("open",):
        rows.append(("backlog", "", metric, data["backlog"][metric]))
    for status, count in data["backlog"]["by_status"].items():
        rows.append(("backlog", "status", status, count))
    for age, count in data["backlog"]["by_age"].items():
        rows.append(("backlog", "age", age, count))
    for section in ("per_agent", "per_branch"):
        for group in data[section]:
            name = group["name"] or "(unassigned)"
            for metric in ("opened", "closed", "open_now"):
                rows.append((section, name, metric, group[metric]))
            rows.append((section, name, "first_response_median_minutes",
                         group["first_response"]["median_minutes"]))  # fmt: skip
    return rows


def _csv(data: dict) -> None:  # type: ignore[type-arg]
    import csv
    import sys

    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(("section", "name", "metric", "value"))
    for section, name, metric, value in _rows(data):
        out.writerow((section, name, metric, "" if value is None else value))


def _text(data: dict) -> None:  # type: ignore[type-arg]
    """The report for a terminal: a few aligned tables, times as hours and minutes."""
    from tuidesk.engine.sla import business_time

    days = data["per_day"]
    opened, closed = (sum(d[k] for d in days) for k in ("opened", "closed"))
    where = f", branch {data['branch']}" if data["branch"] else ""
    typer.echo(f"Report {data['since']} to {data['until']} ({len(days)} days{where})")
    typer.echo(f"opened {opened}, closed {closed}, open now {data['backlog']['open']}")
    times = []
    for kind, label in (("first_response", "first response"), ("resolution", "resolution")):
        spread, sla = data[kind], data["sla"][kind]
        met = f"{sla['percent']}% ({sla['met']}/{sla['judged']})" if sla["judged"] else "-"
        times.append((label, spread["count"], business_time(spread["median_minutes"]),
                      business_time(spread["p90_minutes"]), met))  # fmt: skip
    _table(("", "count", "median", "p90", "SLA met"), times)
    weekly = len(days) > 31
    moved = [(d["day"], d["opened"], d["closed"]) for d in days if d["opened"] or d["closed"]]
    if weekly:
        weeks: dict[str, list[int]] = {}
        for day, o, c in moved:
            monday = date.fromisoformat(day) - timedelta(days=date.fromisoformat(day).weekday())
            week = weeks.setdefault(f"week of {monday.isoformat()}", [0, 0])
            week[0], week[1] = week[0] + o, week[1] + c
        moved = [(week, o, c) for week, (o, c) in weeks.items()]
    _table(("week" if weekly else "day", "opened", "closed"), moved)
    backlog = data["backlog"]
    if backlog["open"]:
        _table(("backlog", *backlog["by_status"]), [("by status", *backlog["by_status"].values())])
        _table(("", *backlog["by_age"]), [("by age", *backlog["by_age"].values())])
    for section, label in (("per_agent", "agent"), ("per_branch", "branch")):
        _table(
            (label, "opened", "closed", "open now", "response median", "p90"),
            [
                (
                    g["name"] or "(unassigned)",
                    g["opened"],
                    g["closed"],
                    g["open_now"],
                    business_time(g["first_response"]["median_minutes"]),
                    business_time(g["first_response"]["p90_minutes"]),
                )
                for g in data[section]
            ],  # fmt: skip
        )


def _table(head: tuple[str, ...], rows: list[tuple[object, ...]]) -> None:
    """A blank line, then `head` and `rows` in columns: the first to the left, numbers and
    times to the right. Nothing when there are no rows."""
    if not rows:
        return
    cells = [head, *(tuple(str(v) for v in row) for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(head))]
    typer.echo("")
    for row in cells:
        first, *rest = (
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        typer.echo("  ".join((first, *rest)).rstrip())


def escalate(ctx: typer.Context, as_json: JsonHelp = False) -> None:
    """Tell assignees and branch escalation agents of targets near (within the `sla_near`
    setting, 1h) or breached, once each: `tuidesk watch` runs it every minute; without a
    watcher, run it from cron, as `tuidesk send`."""
    from tuidesk.cli.output import print_json
    from tuidesk.storage.escalate import escalate_now, said

    done = escalate_now(ctx_of(ctx).engine)
    if as_json:
        print_json({"escalated": done})
        return
    for e in done:
        typer.echo(said(e))
