"""Service levels in the console, through the pilot on both databases with the one clock held
(Monday 2026-12-07 09:00 UTC) and the console's own in Tokyo, whose day ends at 15:00 UTC:
the list's "Due in" column (text and colour), sorting by due, the Breached and Due today views
(the console's local day), and the `R` dashboard showing build_report's figures, live."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from textual.strip import Strip
from textual.widgets import DataTable, OptionList

from tests.conftest import Cli, route_support
from tests.snapshots import assert_snapshot
from tests.test_console import SIZE, until
from tests.test_console_workers import statements_by_thread
from tuidesk.clock import utcnow
from tuidesk.screens.app import TuideskApp
from tuidesk.screens.dashboard import DashboardScreen
from tuidesk.screens.main import MainScreen
from tuidesk.screens.pickers import ChoiceScreen
from tuidesk.storage.branches import save_branch
from tuidesk.storage.db import make_engine, session_scope
from tuidesk.storage.report import build_report
from tuidesk.widgets.ticket_list import TicketList

START = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
TOKYO = ZoneInfo("Asia/Tokyo")
HOSTILE_AGENT = "[bold red]Dana[/] Agent"  # operator input: no control characters


def tokyo() -> datetime:
    """The console's clock: the one clock, shown in Tokyo."""
    return utcnow().astimezone(TOKYO)


def _mail(n: int, subject: str, to: str = "support@example.com") -> bytes:
    return (
        f"From: c{n}@customer.example\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <m{n}@c>\r\n\r\nPlease\r\n"
    ).encode()


@pytest.fixture
def desk(cli: Cli, clock, db_url: str):  # type: ignore[no-untyped-def]
    """Policies on Support (4 h first response; 7 h for low priority; no calendar: always
    open) and five tickets: SUP-1 due 07:00 (breached), SUP-2 due 09:30 (near, assigned to an
    agent with markup in his name), SUP-3 due 11:30, SAL-4 with no policy, SUP-5 low, due 16:00
    UTC: today in UTC, tomorrow in Tokyo."""
    engine = make_engine(db_url)
    with session_scope(engine) as s:
        route_support(s)
        save_branch(s, name="Sales", key="SAL", addresses=["sales@example.com"], domains=[])
    cli("sla", "add", "Std", "--first-response", "4h", "--resolution", "1d", "--branch", "SUP")
    cli("sla", "add", "Low", "--first-response", "7h", "--resolution", "2d", "--branch", "SUP",
        "--priority", "low")  # fmt: skip
    cli("agent", "add", HOSTILE_AGENT, "--email", "dana@example.com")
    opened = [
        (3, 0, "Printer on fire", "support@example.com"),
        (5, 30, "Invoice [bold]twice[/]", "support@example.com"),
        (7, 30, "Password reset", "support@example.com"),
        (8, 0, "Quote please", "sales@example.com"),
        (9, 0, "Nice to have", "support@example.com"),
    ]
    for n, (hour, minute, subject, to) in enumerate(opened, 1):
        clock(START.replace(hour=hour, minute=minute))
        cli("pipe", input=_mail(n, subject, to))
    cli("ticket", "set", "SUP-2", "--assign", "dana@example.com")
    cli("ticket", "set", "SUP-5", "--priority", "low")
    yield engine
    engine.dispose()


def _lines(tickets: TicketList) -> dict[str, Strip]:
    """The rows on screen by their ref."""
    found = {}
    for y in range(1, len(tickets.ids) + 1):
        strip = tickets.render_line(y)
        found[strip.text.split()[0]] = strip
    return found


def _due(tickets: TicketList, strip: Strip) -> tuple[str, str | None]:
    """The "Due in" cell of a row and its colour."""
    columns = tickets._columns(tickets.scrollable_content_region.width)
    names = [name for name, _ in columns]
    start = sum(width + 1 for _, width in columns[: names.index("Due in")])
    cell = strip.crop(start, start + dict(columns)["Due in"])
    text = cell.text.strip()
    colours = {s.style.color.name for s in cell if s.text.strip() and s.style and s.style.color}
    return text, next((c for c in colours if c in ("red", "yellow")), None)  # else the base's


async def _ids(pilot, ids: list[int]) -> TicketList:  # type: ignore[no-untyped-def]
    tickets = pilot.app.screen.query_one(TicketList)
    await until(pilot, lambda: tickets.ids == ids, f"tickets {ids}")
    return tickets


async def test_due_column_sort_and_due_views(desk, cli: Cli, clock) -> None:  # type: ignore[no-untyped-def]
    """The column's text and colour, `D` and `S`, the views' counts and tickets, a ticket
    falling due as the clock moves, a search within a due view, the near window following the
    `sla_near` setting; no reads on the UI thread."""
    app = TuideskApp(desk, clock=tokyo)
    with statements_by_thread(desk) as (on_ui, _elsewhere):
        async with app.run_test(size=SIZE) as pilot:
            await _ids(pilot, [5, 2, 4, 3, 1])  # last updated first, as ever (SUP-2 assigned)
            await pilot.press("D")  # soonest due first, breached on top, no target last
            tickets = await _ids(pilot, [1, 2, 3, 5, 4])
            screen = app.screen
            assert isinstance(screen, MainScreen)
            await until(pilot, lambda: screen._counts.get("breached") == 1, "the counts")
            rows = _lines(tickets)
            assert _due(tickets, rows["SUP-1"]) == ("-2h", "red")  # due 07:00
            assert _due(tickets, rows["SUP-2"]) == ("30m", "yellow")  # within the hour: near
            assert _due(tickets, rows["SUP-3"]) == ("2h 30m", None)
            assert _due(tickets, rows["SUP-5"]) == ("7h", None)
            assert _due(tickets, rows["SAL-4"]) == ("", None)  # no policy
            assert "Invoice [bold]twice[/]" in rows["SUP-2"].text  # mail stays text
            assert_snapshot(app.export_screenshot(), "console_sla_due_list")
            await pilot.press("S")  # latest due first; still no target last
            await _ids(pilot, [5, 3, 2, 1, 4])

            assert screen._counts["breached"] == 1 and screen._counts["due_today"] == 3
            await pilot.press("7")  # Breached, soonest first
            await _ids(pilot, [1])
            assert (screen.spec.sort, screen.spec.descending) == ("due", True)
            await pilot.press("8")  # Due today, Tokyo's: SUP-5 (16:00 UTC) is tomorrow there
            await _ids(pilot, [1, 2, 3])
            sidebar = screen.query_one("#sidebar", OptionList)
            shown = {v: sidebar.get_option(f"view:{v}").prompt for v in ("breached", "due_today")}
            assert [str(text).split() for text in shown.values()] == [
                ["Breached", "1"],
                ["▸", "Due", "today", "3"],  # the view shown
            ]
            clock(START + timedelta(hours=1))  # 10:00: SUP-2 is late now, nothing written
            await pilot.press("r")
            await until(pilot, lambda: screen._counts.get("breached") == 2, "SUP-2 breached")
            assert _due(tickets, _lines(tickets)["SUP-2"]) == ("-30m", "red")
            await pilot.press("7")
            await _ids(pilot, [1, 2])
            await pilot.press("slash", *"printer", "enter")  # a search within the view
            await _ids(pilot, [1])
            await pilot.press("slash", "escape", "8")  # no search; Due today again
            await _ids(pilot, [1, 2, 3])
            assert _due(tickets, _lines(tickets)["SUP-3"]) == ("1h 30m", None)
            await asyncio.to_thread(cli, "config", "set", "sla_near", "2h")  # escalation's too
            await pilot.press("r")
            await until(
                pilot, lambda: _due(tickets, _lines(tickets)["SUP-3"])[1] == "yellow", "near 2h"
            )

    assert on_ui == [], f"{len(on_ui)} statements on the UI thread: {on_ui[:3]}"


def _cells(screen: DashboardScreen, table_id: str) -> list[list[str]]:
    table = screen.query_one(f"#{table_id}", DataTable)
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


async def test_the_dashboard_shows_the_reports_figures_live(  # type: ignore[no-untyped-def]
    desk, cli: Cli, clock
) -> None:
    """`R`: build_report's figures for the last 30 days (the CLI's default), as tables and
    plots; a ticket resolved elsewhere shows at once; `p` and `b` change period and branch.
    None of it reads the database on the UI thread (the test's own reads run on others)."""

    def report_of(days: int, branch: str | None = None) -> dict[str, Any]:
        with desk.connect() as conn:
            today = START.date()
            return build_report(conn, today - timedelta(days=days - 1), today, branch, utcnow())

    async def expected(days: int, branch: str | None = None) -> dict[str, Any]:
        return await asyncio.to_thread(report_of, days, branch)

    report = await expected(30)
    app = TuideskApp(desk, clock=tokyo)
    with statements_by_thread(desk) as (on_ui, _elsewhere):
        async with app.run_test(size=SIZE) as pilot:
            await _walk_the_dashboard(pilot, cli, clock, report, expected)
    assert on_ui == [], f"{len(on_ui)} statements on the UI thread: {on_ui[:3]}"


async def _walk_the_dashboard(pilot, cli: Cli, clock, report, expected) -> None:  # type: ignore[no-untyped-def]
    app = pilot.app
    await _ids(pilot, [5, 2, 4, 3, 1])
    await pilot.press("R")
    await until(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard")
    board = app.screen
    assert isinstance(board, DashboardScreen)
    await until(pilot, lambda: board.report is not None, "the report")
    assert board.report == report
    assert _cells(board, "times") == [
        ["First response", "0", "-", "-", "0", "0", "-"],
        ["Resolution", "0", "-", "-", "0", "0", "-"],
    ]
    assert _cells(board, "backlog") == [
        ["open (all)", "5"], ["new", "5"], ["age under 1 day", "5"], ["age 1-3 days", "0"],
        ["age 3-7 days", "0"], ["age over 7 days", "0"],
    ]  # fmt: skip
    agents = _cells(board, "per-agent")
    assert agents == [  # the agent's name as typed, not as markup
        [HOSTILE_AGENT, "1", "0", "1", "-", "-"],
        ["unassigned", "4", "0", "4", "-", "-"],
    ]
    assert _cells(board, "per-branch") == [
        ["SAL", "1", "0", "1", "-", "-"],
        ["SUP", "4", "0", "4", "-", "-"],
    ]
    per_day = _cells(board, "per-day")
    assert len(per_day) == 30 and per_day[0] == ["2026-12-07", "5", "0"]  # newest first
    assert_snapshot(app.export_screenshot(), "console_sla_dashboard")

    clock(START + timedelta(minutes=1))  # a change is a newer updated_at: time moves
    await asyncio.to_thread(cli, "ticket", "set", "SUP-3", "--status", "resolved")  # 07:30-09:01
    await until(pilot, lambda: board.report != report, "the resolved ticket")
    assert board.report == await expected(30)
    assert _cells(board, "times")[1] == ["Resolution", "1", "1h 31m", "1h 31m", "1", "1",
                                          "100%"]  # fmt: skip
    assert _cells(board, "per-day")[0] == ["2026-12-07", "5", "1"]

    await pilot.press("p")  # 30 -> 90 days
    await until(pilot, lambda: len(_cells(board, "per-day")) == 90, "90 days")
    await pilot.press("p")  # -> 7
    await until(pilot, lambda: len(_cells(board, "per-day")) == 7, "7 days")
    assert board.report == await expected(7)
    await pilot.press("b")
    await until(pilot, lambda: isinstance(app.screen, ChoiceScreen), "the branches")
    await pilot.press("down", "down", "enter")  # every branch, SAL, SUP
    await until(pilot, lambda: (board.report or {}).get("branch") == "SUP", "SUP's")
    assert board.report == await expected(7, "SUP")
    assert [row[0] for row in _cells(board, "per-branch")] == ["SUP"]
    await pilot.press("escape")
    await until(pilot, lambda: isinstance(app.screen, MainScreen), "the list again")
