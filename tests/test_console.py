"""The console, driven by keys through Textual's pilot: the ticket list (newest first, mail shown
as text), its keys, search, views, sorting, live updates from another process, the ticket view,
the welcome screen on first run and the help. Times are pinned, so the snapshots hold still."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, update
from textual.widgets import DataTable, Static
from textual.widgets._footer import FooterKey

from tests.admin_pilot import until
from tests.conftest import route_support
from tests.engine.conftest import mail
from tests.snapshots import assert_snapshot
from tuidesk.screens.app import TuideskApp
from tuidesk.screens.help import HelpScreen
from tuidesk.screens.main import MainScreen
from tuidesk.screens.pickers import ChoiceScreen
from tuidesk.screens.quarantine import QuarantineScreen
from tuidesk.screens.ticket import TicketScreen
from tuidesk.screens.welcome import WelcomeScreen
from tuidesk.services.ingest import Ingestor
from tuidesk.storage.blobs import BlobStore
from tuidesk.storage.branches import save_branch
from tuidesk.storage.db import make_engine, session_scope, transaction
from tuidesk.storage.models import Channel
from tuidesk.storage.tables import tables
from tuidesk.storage.ticket_types import parse_field_spec, save_ticket_type
from tuidesk.widgets.ticket_list import TicketList

NOW = datetime(2024, 3, 2, 12, 0, tzinfo=UTC)
SIZE = (120, 36)
HOSTILE = "[bold red]not bold[/] \x1b[31m[link=http://x]y"


def pinned() -> datetime:
    return NOW


@pytest.fixture
def blobs(_isolated_home: Path) -> BlobStore:
    return BlobStore(_isolated_home / "blobs")


@pytest.fixture
def engine(db_url: str, blobs: BlobStore):  # type: ignore[no-untyped-def]
    """Three tickets at fixed times (SUP-1 oldest, SUP-3 newest), one on the Sales branch, one
    assigned to an agent and queued in Billing, the newest with a hostile subject."""
    engine = make_engine(db_url)
    with session_scope(engine) as s:
        route_support(s)
        save_branch(s, name="Sales", key="SAL", addresses=["sales@example.com"], domains=[])
    ingestor = Ingestor(engine, blobs, source="import")
    ingestor.ingest(mail("From: Alice <alice@customer.test>\nSubject: Printer on fire"))
    ingestor.ingest(
        mail("From: bob@shop.test\nTo: sales@example.com\nSubject: Invoice question"),
    )
    ingestor.ingest(
        mail(f"From: eve@evil.test\nSubject: {HOSTILE}", "\x1b]0;pwned\x07[red]body[/red]\n")
    )
    times = {1: datetime(2024, 2, 20, 9, 0), 2: datetime(2024, 3, 2, 8, 30)}
    times[3] = datetime(2024, 3, 2, 11, 15)
    with transaction(engine) as conn:
        t = tables(conn)
        queue = conn.execute(
            insert(t.queue).values(name="Billing", colour="magenta")
        ).inserted_primary_key[0]
        agent = conn.execute(
            insert(t.agent).values(name="Dana Agent", email="dana@example.com", role="agent")
        ).inserted_primary_key[0]
        for number, when in times.items():
            conn.execute(
                update(t.ticket)
                .where(t.ticket.c.id == number)
                .values(created_at=when, updated_at=when)
            )
            conn.execute(
                update(t.message).where(t.message.c.ticket_id == number).values(created_at=when)
            )
        conn.execute(
            update(t.ticket)
            .where(t.ticket.c.id == 2)
            .values(assignee_id=agent, queue_id=queue, status="open")
        )
        conn.execute(update(t.ticket).where(t.ticket.c.id == 1).values(priority="urgent"))
    yield engine
    engine.dispose()


def ticket_list(app: TuideskApp) -> TicketList:
    return app.screen.query_one(TicketList)


async def loaded(pilot, ids: list[int]) -> TicketList:  # type: ignore[no-untyped-def]
    await until(pilot, lambda: ticket_list(pilot.app).ids == ids, f"tickets {ids}")
    return ticket_list(pilot.app)


async def test_the_list_shows_tickets_newest_first_as_plain_text(engine) -> None:
    app = TuideskApp(engine, clock=pinned)
    async with app.run_test(size=SIZE) as pilot:
        tickets = await loaded(pilot, [3, 2, 1])
        assert tickets.selected == 3
        first = tickets.render_line(1).text
        assert first.startswith("SUP-3") and "[bold red]not bold[/] [l" in first
        assert "\x1b" not in first
        assert (
            "SAL-2" in tickets.render_line(2).text and "Dana Agent" in tickets.render_line(2).text
        )
        assert_snapshot(app.export_screenshot(), "console_ticket_list")


async def test_navigation_keys_move_the_cursor(engine) -> None:
    app = TuideskApp(engine, clock=pinned)
    async with app.run_test(size=SIZE) as pilot:
        tickets = await loaded(pilot, [3, 2, 1])
        await pilot.press("j")
        assert tickets.selected == 2
        await pilot.press("down")
        assert tickets.selected == 1
        await pilot.press("down")  # the last row stays the last
        assert tickets.selected == 1
        await pilot.press("k")
        assert tickets.selected == 2
        await pilot.press("g")
        assert tickets.selected == 3
        await pilot.press("G")
        assert tickets.selected == 1
        await pilot.press("pageup")
        assert tickets.selected == 3
        await pilot.press("pagedown")
        assert tickets.selected == 1


def footer_keys(app: TuideskApp) -> list[str]:
    """The keys the footer shows, by description."""
    return [key.description for key in app.screen.query(FooterKey) if key.display]


async def test_search_narrows_the_list_and_escape_clears_it(engine) -> None:
    """And the footer follows the focus, its keys changed in place rather than mounted anew
    (twice per focus move, that cost `/` and Esc most of their time)."""
    app = TuideskApp(engine, clock=pinned)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, [3, 2, 1])
        await until(pilot, lambda: footer_keys(app)[:2] == ["Open", "Search"], "the list's keys")
        keys = set(app.screen.query(FooterKey))
        await pilot.press("slash")
        await until(pilot, lambda: footer_keys(app)[0] == "Clear search", "the search's keys")
        assert footer_keys(app) == ["Clear search", "Search", "Help", "palette"]
        await pilot.press(*"invoice", "enter")
        await loaded(pilot, [2])
        await until(pilot, lambda: footer_keys(app)[0] == "Open", "the list's keys again")
        assert "Clear search" not in footer_keys(app) and "Quit" in footer_keys(app)
        assert set(app.screen.query(FooterKey)) == keys
        await pilot.press("slash", *"alice", "enter")  # the requester counts too
        await loaded(pilot, [1])
        await pilot.press("slash", "escape")
        await loaded(pilot, [3, 2, 1])


async def test_a_sidebar_view_or_branch_filters_the_list(engine) -> None:
    app = TuideskApp(engine, clock=pinned)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, [3, 2, 1])
        sidebar = app.screen.query_one("#sidebar")
        sidebar.focus()
        sidebar.highlighted = sidebar.get_option_index("view:unassigned")
        await pilot.press("enter")
        await loaded(pilot, [3, 1])
        sidebar.highlighted = sidebar.get_option_index("branch:SAL")
        await pilot.press("enter")
        await loaded(pilot, [])  # Sales' one ticket is assigned
        sidebar.highlighted = sidebar.get_option_index("view:all")
        await pilot.press("enter")
        await loaded(pilot, [2])
        await pilot.press("x")  # clear filters
        await loaded(pilot, [3, 2, 1])


async def test_sort_and_status_keys_reorder_and_filter(engine) -> None:
    app = TuideskApp(engine, clock=pinned)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, [3, 2, 1])
        await pilot.press("S")  # oldest first
        await loaded(pilot, [1, 2, 3])
        await pilot.press("S", "s", "s")  # created, then priority: the urgent one first
        await loaded(pilot, [1, 3, 2])
        await pilot.press("f")
        choices = app.screen.query_one("#choice-list")
        choices.highlighted = choices.get_option_index("open")
        await pilot.press("enter")
        await loaded(pilot, [2])


async def test_a_ticket_piped_by_another_process_appears_and_the_selection_stays(
    engine, db_url: str, _isolated_home: Path
) -> None:
    app = TuideskApp(engine, clock=pinned)
    async with app.run_test(size=SIZE) as pilot:
        tickets = await loaded(pilot, [3, 2, 1])
        await pilot.press("j")
        assert tickets.selected == 2
        env = os.environ | {
            "TUIDESK_HOME": str(_isolated_home),
            "TUIDESK_DATABASE_URL": db_url,
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tuidesk", "pipe", env=env, stdin=asyncio.subprocess.PIPE
        )
        await proc.communicate(mail("From: new@customer.test\nSubject: Fresh mail"))
        assert proc.returncode == 0
        await loaded(pilot, [4, 3, 2, 1])  # no key pressed
        assert tickets.selected == 2
        assert "Fresh mail" in tickets.render_line(1).text


async def test_a_new_ticket_leaves_a_scrolled_list_where_it_was(engine, blobs: BlobStore) -> None:
    ingestor = Ingestor(engine, blobs, source="import")
    for i in range(60):
        ingestor.ingest(mail(f"From: c{i}@customer.test\nSubject: Question {i}"))
    app = TuideskApp(engine, clock=pinned)
    async with app.run_test(size=SIZE) as pilot:
        tickets = await until_count(pilot, 63)
        await pilot.press("pagedown", "pagedown", "j")
        selected, row = tickets.selected, tickets.cursor - tickets.scroll_y
        assert tickets.scroll_y > 0
        ingestor.ingest(mail("From: late@customer.test\nSubject: Late arrival"))
        await until_count(pilot, 64)
        assert tickets.selected == selected and tickets.cursor - tickets.scroll_y == row


async def until_count(pilot, n: int) -> TicketList:  # type: ignore[no-untyped-def]
    await until(pilot, lambda: len(ticket_list(pilot.app).ids) == n, f"{n} tickets")
    return ticket_list(pilot.app)


async def test_enter_opens_the_ticket_and_escape_returns(engine) -> None:
    app = TuideskApp(engine, clock=pinned)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, [3, 2, 1])
        await pilot.press("G", "enter")
        await until(pilot, lambda: isinstance(app.screen, TicketScreen), "the ticket")
        screen = app.screen
        await until(pilot, lambda: screen.ticket is not None, "the ticket's messages")
        await pilot.pause()
        assert_snapshot(app.export_screenshot(), "console_ticket_view")
        await pilot.press("e")
        assert screen.full
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
        assert ticket_list(app).selected == 1


async def test_a_hostile_subject_and_body_are_shown_literally(engine) -> None:
    app = TuideskApp(engine, clock=pinned)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, [3, 2, 1])
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, TicketScreen), "the ticket")
        screen = app.screen
        await until(pilot, lambda: screen.ticket is not None, "the ticket's messages")
        await pilot.pause()
        fields = str(screen.query_one("#fields").render())
        assert "[bold red]not bold[/] [link=http://x]y" in fields
        svg = app.export_screenshot()
        assert "pwned" not in svg
        assert_snapshot(svg, "console_hostile")


async def test_first_run_shows_the_welcome_screen(db_url: str) -> None:
    engine = make_engine(db_url)
    app = TuideskApp(engine, clock=pinned)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, WelcomeScreen), "the welcome")
        assert "Press A" not in str(app.screen.query_one(Static).render())
        await pilot.press("A")  # an agent, not an admin: no set-up key
        assert isinstance(app.screen, WelcomeScreen)
        await pilot.press("enter")
        assert isinstance(app.screen, MainScreen)
    engine.dispose()


async def test_the_welcome_screen_offers_the_admin_console_to_set_up(db_url: str) -> None:
    """A fresh database: its first user is an admin, and `A` opens the admin console in place
    of the welcome; leaving it shows the (empty) ticket list."""
    from tuidesk.screens.admin import AdminScreen
    from tuidesk.storage.agents import current_login, identify

    engine = make_engine(db_url)
    with session_scope(engine) as s:
        admin_id = identify(s, current_login("ada")).id
    app = TuideskApp(engine, clock=pinned, agent_id=admin_id)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, WelcomeScreen), "the welcome")
        assert_snapshot(app.export_screenshot(), "console_welcome")
        await pilot.press("A")
        await until(pilot, lambda: isinstance(app.screen, AdminScreen), "the admin console")
        assert not any(isinstance(s, WelcomeScreen) for s in app.screen_stack)
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), "the ticket list")
    engine.dispose()


async def test_the_welcome_screen_leaves_when_the_first_ticket_arrives(
    db_url: str, blobs: BlobStore
) -> None:
    engine = make_engine(db_url)
    app = TuideskApp(engine, clock=pinned)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, WelcomeScreen), "the welcome")
        with session_scope(engine) as s:
            route_support(s)
        Ingestor(engine, blobs, source="import").ingest(
            mail("From: first@customer.test\nSubject: Hello")
        )
        await until(pilot, lambda: isinstance(app.screen, MainScreen), "the list")
        await loaded(pilot, [1])
    engine.dispose()


async def test_the_quarantine_view_lists_held_mail_as_text(engine) -> None:
    with transaction(engine) as conn:
        conn.execute(
            insert(tables(conn).quarantine).values(
                raw=b"x", size=1, sha256="0" * 64, reason="[red]too big[/] \x1b[2J",
                source="pipe", message_id="<q@x>", created_at=datetime(2024, 3, 1, 10, 0),
            )
        )  # fmt: skip
    app = TuideskApp(engine, clock=pinned)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, [3, 2, 1])
        await pilot.press("6")
        await until(pilot, lambda: isinstance(app.screen, QuarantineScreen), "the quarantine")
        table = app.screen.query_one(DataTable)
        await until(pilot, lambda: table.row_count == 1, "the quarantined mail")
        assert str(table.get_row_at(0)[4]) == "[red]too big[/]"
        assert_snapshot(app.export_screenshot(), "console_quarantine")
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


@pytest.mark.parametrize("key", ["question_mark", "f1"])
async def test_help_lists_the_keys(engine, key: str) -> None:
    app = TuideskApp(engine, clock=pinned)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, [3, 2, 1])
        await pilot.press(key)
        assert isinstance(app.screen, HelpScreen)
        keys = {row.description: row.keys for row in app.screen.rows}
        assert keys["Search"] == ["/"] and keys["Open"] == ["⏎"] and set(keys["Down"]) == {"j", "↓"}
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


async def test_the_command_palette_finds_every_key(engine) -> None:
    app = TuideskApp(engine, clock=pinned)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, [3, 2, 1])
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for wanted in ("Search (/)", "Sort (s)", "Status (f)", "Open (⏎)", "Help (? f1)"):
            assert wanted in titles


async def test_keys_can_be_remapped_from_the_config_folder(engine, _isolated_home: Path) -> None:
    from tuidesk.screens.keymap import load_keymap

    (_isolated_home / "keys.toml").write_text('[keys]\n"main.search" = "ctrl+f"\n')
    app = TuideskApp(engine, clock=pinned)
    app.set_keymap(load_keymap(_isolated_home))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, [3, 2, 1])
        await pilot.press("slash")  # the old key does nothing now
        assert not app.screen.query_one("#search").has_class("open")
        await pilot.press("ctrl+f")
        await until(pilot, lambda: app.screen.query_one("#search").has_class("open"), "search")
        await pilot.press("escape", "question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "help")
        rows = {row.binding_id: row.key_display for row in app.screen.rows}
        assert rows["main.search"] == "^f"  # help shows the new key, with the id to remap it


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('[keys]\n"main.nothing" = "x"\n', "no binding with the id main.nothing"),
        ("[keys\n", "keys.toml"),
        ('[keys]\n"main.search" = 1\n', "maps binding ids to keys"),
    ],
)
def test_a_wrong_keymap_is_refused_before_the_console_starts(
    cli, _isolated_home: Path, text: str, error: str
) -> None:
    (_isolated_home / "keys.toml").write_text(text)
    proc = cli("--agent", "alice", check=False)
    assert proc.returncode == 2 and error in proc.stderr.decode()


async def test_the_issues_hostile_subject_reaches_the_screen_as_text(
    db_url: str, blobs: BlobStore
) -> None:
    """Markup, an OSC 52 clipboard write and a bidi override, raw and RFC 2047-encoded."""
    engine = make_engine(db_url)
    with session_scope(engine) as s:
        route_support(s)
    ingestor = Ingestor(engine, blobs, source="import")
    ingestor.ingest(mail("From: a@x.test\nSubject: [link=http://x]hi[/link]\x1b]52;c;aGk=\x07"))
    ingestor.ingest(
        mail("From: b@x.test\nSubject: =?utf-8?q?[b]x[/b]=E2=80=AE=1B]52;c;aGk=3D=07?=")
    )
    app = TuideskApp(engine, clock=pinned)
    async with app.run_test(size=SIZE) as pilot:
        tickets = await loaded(pilot, [2, 1])
        lines = [tickets.render_line(y).text for y in (1, 2)]
        for line in lines:
            assert not any(c in line for c in "\x1b\x07\u202e"), repr(line)
        assert "[b]x[/b]" in lines[0] and "[link=http://x]hi[/link]" in lines[1]
        await pilot.press("j", "enter")
        await until(pilot, lambda: isinstance(app.screen, TicketScreen), "the ticket")
        await until(pilot, lambda: app.screen.ticket is not None, "the ticket's messages")
        await pilot.pause()
        fields = str(app.screen.query_one("#fields").render())
        assert "[link=http://x]hi[/link]" in fields and "\x1b" not in fields
        assert "aGk=" not in app.export_screenshot()  # the escape's payload never shows
    engine.dispose()


def came_by(engine, channels: dict[int, str]) -> None:  # type: ignore[no-untyped-def]
    """Each ticket (by number) as if read from the incoming channel named."""
    for number, name in channels.items():
        with session_scope(engine) as s:
            channel = Channel(name=name, kind="pipe")
            s.add(channel)
            s.flush()
            cid = channel.id
        with transaction(engine) as conn:
            t = tables(conn)
            conn.execute(update(t.ticket).where(t.ticket.c.id == number).values(channel_id=cid))


async def test_the_channel_key_filters_by_incoming_channel_and_clear_undoes_it(engine) -> None:
    came_by(engine, {1: "support-mail", 2: "sales-mail"})
    app = TuideskApp(engine, clock=pinned)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, [3, 2, 1])
        assert "Channel (c)" in [c.title for c in app.get_system_commands(app.screen)]
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ChoiceScreen), "the channel picker")
        choices = app.screen.query_one("#choice-list")
        choices.highlighted = choices.get_option_index("sales-mail")
        await pilot.press("enter")
        await loaded(pilot, [2])
        status = app.screen.query_one("#status", Static)
        assert "channel sales-mail" in str(status.render())
        await pilot.press("x")
        await loaded(pilot, [3, 2, 1])


async def test_a_ticket_with_a_required_field_empty_says_needs_in_the_list(engine) -> None:
    with session_scope(engine) as s:
        type_id = save_ticket_type(
            s, name="Incident", fields=[parse_field_spec("impact:choice!")]
        ).id
    with transaction(engine) as conn:
        t = tables(conn)
        conn.execute(update(t.ticket).where(t.ticket.c.id == 1).values(ticket_type_id=type_id))
    app = TuideskApp(engine, clock=pinned)
    async with app.run_test(size=SIZE) as pilot:
        tickets = await loaded(pilot, [3, 2, 1])
        await until(pilot, lambda: "SUP-1" in tickets.render_line(3).text, "SUP-1's row")
        assert "needs impact Printer" in tickets.render_line(3).text
        assert "needs" not in tickets.render_line(2).text
