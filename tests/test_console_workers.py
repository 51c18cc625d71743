"""The console never waits on the database on its UI thread, and a worker that fails is shown
to the agent instead of closing the console."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, event, text
from textual.widgets import OptionList, Static, TextArea

from tests.admin_pilot import error_of, rows, set_field, until
from tests.conftest import route_support
from tests.engine.conftest import mail
from tuidesk.screens.admin import AdminScreen
from tuidesk.screens.app import TuideskApp
from tuidesk.screens.dialogs import ConfirmScreen
from tuidesk.screens.edit import EditScreen
from tuidesk.screens.main import MainScreen
from tuidesk.screens.new_ticket import NewTicketScreen
from tuidesk.screens.pickers import FuzzyPickerScreen
from tuidesk.screens.preview import PreviewScreen
from tuidesk.screens.reply import ReplyScreen
from tuidesk.screens.ticket import TicketScreen
from tuidesk.services.ingest import Ingestor
from tuidesk.storage.agents import save_agent
from tuidesk.storage.blobs import BlobStore
from tuidesk.storage.canned import save_canned
from tuidesk.storage.db import make_engine, session_scope
from tuidesk.storage.drafts import load_draft
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


@contextmanager
def statements_by_thread(engine: Engine) -> Iterator[tuple[list[str], list[str]]]:
    """Every statement run on `engine` meanwhile: (those on this thread, which is the UI's
    under the pilot; those on any other)."""
    ui = threading.current_thread()
    on_ui: list[str] = []
    elsewhere: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        (on_ui if threading.current_thread() is ui else elsewhere).append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield on_ui, elsewhere
    finally:
        event.remove(engine, "before_cursor_execute", seen)


async def test_no_database_io_on_the_ui_thread(db_url: str, _isolated_home: Path) -> None:
    """Every statement while the agent scrolls the list to its end and back, opens a ticket,
    shows its history and comes back: none of them on the thread that draws (the list's rows
    come from its reader)."""
    engine, admin_id = support_desk(db_url, _isolated_home, TICKETS)
    app = TuideskApp(engine, agent_id=admin_id, clock=lambda: _NOW)
    try:
        with statements_by_thread(engine) as (on_ui, elsewhere):
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
                await pilot.press("h")  # the History pane, read by its worker
                events = screen.query_one("#history-events", Static)
                await until(pilot, lambda: "created" in str(events.render()), "the history")
                await pilot.press("h", "escape")
                await until(pilot, lambda: isinstance(app.screen, MainScreen), "the list again")
                await pilot.press("G", "g")
                assert on_ui == [], f"{len(on_ui)} statements on the UI thread: {on_ui[:3]}"
    finally:
        engine.dispose()


async def test_no_database_io_on_the_ui_thread_in_the_editors_and_the_admin_console(
    db_url: str, _isolated_home: Path
) -> None:
    """The reply editor (its signature read, the canned replies' picker opened and left) closed
    keeping its draft, opened again with it and the draft thrown away; a new ticket refused and
    left; the admin console through every section, a queue added, opened, left and removed,
    the rules' preview of a mail: every statement on a worker, none on the thread that draws."""
    engine, admin_id = support_desk(db_url, _isolated_home, 2)
    with session_scope(engine) as s:
        save_canned(s, name="Thanks", body="Thank you, {requester_name}.")
    app = TuideskApp(engine, agent_id=admin_id, clock=lambda: _NOW)
    try:
        with statements_by_thread(engine) as (on_ui, elsewhere):
            async with app.run_test(size=(120, 36)) as pilot:
                tickets = app.screen.query_one(TicketList)
                await until(pilot, lambda: len(tickets.ids) == 2, "the tickets")
                await pilot.press("enter")
                await until(pilot, lambda: isinstance(app.screen, TicketScreen), "the ticket")
                ticket = app.screen
                await until(pilot, lambda: ticket.ticket is not None, "the ticket's messages")
                number = ticket.number

                await pilot.press("r")
                await until(pilot, lambda: isinstance(app.screen, ReplyScreen), "the editor")
                editor = app.screen
                await pilot.press("ctrl+k")
                await until(pilot, lambda: isinstance(app.screen, FuzzyPickerScreen), "canned")
                await pilot.press("escape")
                await until(pilot, lambda: app.screen is editor, "the editor again")
                app.screen.query_one("#body", TextArea).insert("Half a thought")
                await pilot.press("escape")  # closes, keeping the draft
                await until(pilot, lambda: app.screen is ticket, "the ticket again")
                await pilot.press("r")
                await until(pilot, lambda: isinstance(app.screen, ReplyScreen), "the editor")
                body = app.screen.query_one("#body", TextArea)
                await until(pilot, lambda: body.text == "Half a thought", "the draft read back")
                await pilot.press("ctrl+x")
                await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "are you sure")
                await pilot.press("y")  # thrown away
                await until(pilot, lambda: app.screen is ticket, "the ticket after discarding")
                await pilot.press("escape")
                await until(pilot, lambda: isinstance(app.screen, MainScreen), "the list")

                await pilot.press("N")
                await until(pilot, lambda: isinstance(app.screen, NewTicketScreen), "new ticket")
                await pilot.press("ctrl+s")  # nothing filled in: refused
                await until(pilot, lambda: error_of(app, "to") != "", "the refusal")
                await pilot.press("escape")
                await until(pilot, lambda: isinstance(app.screen, MainScreen), "the list")

                await pilot.press("A")
                await until(pilot, lambda: isinstance(app.screen, AdminScreen), "the console")
                admin = app.screen
                assert isinstance(admin, AdminScreen)
                titles = [s.title for s in admin.sections]
                admin.query_one("#admin-sections", OptionList).focus()
                for title in titles[1:]:  # each section's rows read as it is highlighted
                    await pilot.press("down")
                    await until(pilot, lambda t=title: admin.current.title == t, title)
                for _ in range(len(titles) - 1 - titles.index("Queues")):
                    await pilot.press("up")
                await until(pilot, lambda: admin.current.title == "Queues", "the queues")
                await pilot.press("enter", "n")
                await until(pilot, lambda: isinstance(app.screen, EditScreen), "a new queue")
                set_field(app, "name", "Billing")
                set_field(app, "colour", "magenta")
                await pilot.press("ctrl+s")
                await until(pilot, lambda: rows(admin) == [["Billing", "magenta"]], "Billing")
                await pilot.press("enter")
                await until(pilot, lambda: isinstance(app.screen, EditScreen), "its form")
                await pilot.press("escape")  # left without saving: the rows are read again
                await until(pilot, lambda: app.screen is admin, "the queues again")
                await pilot.press("d", "y")
                await until(pilot, lambda: rows(admin) == [], "the queue removed")

                admin.query_one("#admin-sections", OptionList).focus()
                await pilot.press("end")
                await until(pilot, lambda: admin.current.title == "Rules", "the rules")
                await pilot.press("enter", "enter")
                await until(pilot, lambda: isinstance(app.screen, EditScreen), "the rules form")
                await pilot.press("ctrl+r")
                await until(pilot, lambda: isinstance(app.screen, PreviewScreen), "the preview")
                paste = app.screen.query_one("#preview-paste", TextArea)
                paste.text = (
                    "From: c9@customer.test\nTo: support@example.com\nSubject: Hi\n\nHello\n"
                )
                await pilot.press("ctrl+r")
                result = app.screen.query_one("#preview-result", Static)
                await until(pilot, lambda: "new ticket" in str(result.render()), "the decision")
                await pilot.press("escape", "escape")
                await until(pilot, lambda: app.screen is admin, "the admin console again")
                await pilot.press("escape")
                await until(pilot, lambda: isinstance(app.screen, MainScreen), "the list")
                assert elsewhere, "the statements were run, by workers"
                assert on_ui == [], f"{len(on_ui)} statements on the UI thread: {on_ui[:3]}"
        with engine.connect() as conn:
            assert load_draft(conn, number, admin_id) is None, "the draft was thrown away"
    finally:
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
