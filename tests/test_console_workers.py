"""The console never waits on the database on its UI thread, and a worker that fails is shown
to the agent instead of closing the console."""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path

from sqlalchemy import event, text

from tests.admin_pilot import until
from tests.conftest import route_support
from tests.engine.conftest import mail
from tuidesk.screens.app import TuideskApp
from tuidesk.screens.main import MainScreen
from tuidesk.screens.ticket import TicketScreen
from tuidesk.services.ingest import Ingestor
from tuidesk.storage.agents import save_agent
from tuidesk.storage.blobs import BlobStore
from tuidesk.storage.db import make_engine, session_scope
from tuidesk.widgets.ticket_list import PAGE, TicketList

_NOW = datetime(2024, 3, 2, 12, 0).astimezone()
TICKETS = 2 * PAGE + 10  # three pages: scrolling to the end needs rows not read with the ids


def support_desk(db_url: str, home: Path, tickets: int):  # type: ignore[no-untyped-def]
    """A Support branch, an admin (returned with the engine) and `tickets` tickets."""
    engine = make_engine(db_url)
    with session_scope(engine) as s:
        route_support(s)
        admin = save_agent(s, name="Ada Admin", email="ada@example.com", role="admin", login="ada")
        admin_id = admin.id
    ingestor = Ingestor(engine, BlobStore(home / "blobs"), source="import")
    for i in range(tickets):
        ingestor.ingest(mail(f"From: c{i}@customer.test\nSubject: Question {i}"))
    return engine, admin_id


async def test_no_database_io_on_the_ui_thread(db_url: str, _isolated_home: Path) -> None:
    """Every statement while the agent scrolls the list to its end and back, opens a ticket and
    comes back: none of them on the thread that draws (the list's rows come from its reader)."""
    engine, admin_id = support_desk(db_url, _isolated_home, TICKETS)
    ui = threading.current_thread()  # the pilot runs the app in the test's own thread
    on_ui: list[str] = []
    elsewhere: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        (on_ui if threading.current_thread() is ui else elsewhere).append(statement)

    app = TuideskApp(engine, agent_id=admin_id, clock=lambda: _NOW)
    event.listen(engine, "before_cursor_execute", seen)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            tickets = app.screen.query_one(TicketList)
            await until(pilot, lambda: len(tickets.ids) == TICKETS, "the tickets")
            await pilot.press("G")  # the last page: not read with the ids
            await until(pilot, lambda: _shows(tickets, "Question 0"), "the last rows")
            assert elsewhere, "the rows were read, by the reader"
            for _ in range(6):
                await pilot.press("pageup")
            await pilot.press("g", "enter")
            await until(pilot, lambda: isinstance(app.screen, TicketScreen), "the ticket")
            screen = app.screen
            await until(pilot, lambda: screen.ticket is not None, "the ticket's messages")
            await pilot.press("escape")
            await until(pilot, lambda: isinstance(app.screen, MainScreen), "the list again")
            await pilot.press("G", "g")
            event.remove(engine, "before_cursor_execute", seen)
            assert on_ui == [], f"{len(on_ui)} statements on the UI thread: {on_ui[:3]}"
    finally:
        if event.contains(engine, "before_cursor_execute", seen):
            event.remove(engine, "before_cursor_execute", seen)
        engine.dispose()


async def test_a_failing_worker_is_shown_and_the_console_stays_up(
    db_url: str, _isolated_home: Path
) -> None:
    """A table gone from under the console (a real failure, not a mock): the reload's worker
    fails, the agent reads why, and the console keeps running and answering keys."""
    engine, _admin_id = support_desk(db_url, _isolated_home, 2)
    app = TuideskApp(engine, clock=lambda: _NOW)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            tickets = app.screen.query_one(TicketList)
            await until(pilot, lambda: len(tickets.ids) == 2, "the tickets")
            with engine.begin() as conn:
                conn.execute(text("DROP TABLE quarantine"))
            await pilot.press("r")  # reload: the counts read the quarantine
            await until(
                pilot,
                lambda: any(n.severity == "error" for n in app._notifications),
                "the failure",
            )
            shown = next(n for n in app._notifications if n.severity == "error")
            assert shown.title == "Failed: load"
            assert "quarantine" in shown.message and "\n" not in shown.message
            assert not shown.markup
            assert app.is_running and isinstance(app.screen, MainScreen)
            await pilot.press("j")  # the console still answers
            assert tickets.selected == tickets.ids[1]
    finally:
        engine.dispose()


def _shows(tickets: TicketList, title: str) -> bool:
    """Whether a row on screen has this title (render_line reads only the list's cache)."""
    return any(f"{title} " in tickets.render_line(y).text for y in range(1, 40))
