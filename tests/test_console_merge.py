"""The ticket view's merge (`M`, a picker), tags (`t`) and the pane of the requester's and their
organisation's other tickets, driven through Textual's pilot on both databases."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select, update
from textual.widgets import Input, OptionList, Static

from tests.engine.conftest import mail
from tests.snapshots import assert_snapshot
from tests.test_console import SIZE, pinned, until
from tests.test_console_ticket import alice_desk, app_for, notes, ticket
from tests.test_console_workers import statements_by_thread
from tuidesk.screens.dialogs import ConfirmScreen, TextChoiceScreen
from tuidesk.screens.pickers import ChoiceScreen, FuzzyPickerScreen
from tuidesk.screens.ticket import TicketScreen
from tuidesk.services.ingest import Ingestor
from tuidesk.storage.blobs import BlobStore
from tuidesk.storage.db import transaction
from tuidesk.storage.history import Actor
from tuidesk.storage.merge import merge
from tuidesk.storage.related import merge_candidates, requester_tickets
from tuidesk.storage.tables import tables
from tuidesk.storage.tags import change_tags
from tuidesk.widgets.ticket_list import TicketList

HOSTILE = "[bold red]Toner[/] \x1b[31m"
_NO = SimpleNamespace(tags=None)  # a row not read yet


@pytest.fixture
def engine(_isolated_home: Path, db_url: str):  # type: ignore[no-untyped-def]
    """SUP-1 from Alice with a PDF (tests.test_console_ticket's), Dana at the keys."""
    engine = alice_desk(_isolated_home, db_url)
    yield engine
    engine.dispose()


def neighbours(engine, home) -> None:  # type: ignore[no-untyped-def]
    """Beside SUP-1 (Alice's): SUP-2 also Alice's, SUP-3 her colleague Carol's (hostile title),
    SUP-4 and SUP-5 from two strangers on one free-mail domain (Erin's says "zloty", in its
    body only); every time pinned."""
    ingestor = Ingestor(engine, BlobStore(home / "blobs"), source="import")
    for sender, subject, body in (
        ("Alice <alice@customer.test>", "Printer still on fire", "Hello, my printer is on fire."),
        ("carol@customer.test", HOSTILE, "Hello, my printer is on fire."),
        ("dave@gmail.com", "Where is my order", "Hello, my printer is on fire."),
        ("erin@gmail.com", "Refund", "I paid 40 zloty twice."),
    ):
        headers = f"From: {sender}\nTo: support@example.com\nSubject: {subject}"
        ingestor.ingest(mail(headers, body))
    when = datetime(2024, 3, 2, 9, 30)
    with transaction(engine) as conn:
        t = tables(conn)
        conn.execute(update(t.ticket).values(created_at=when, updated_at=when))
        conn.execute(update(t.message).values(created_at=when))


async def viewing(pilot, number: int) -> TicketScreen:  # type: ignore[no-untyped-def]
    app = pilot.app
    await until(pilot, lambda: app.screen.query("TicketList"), "the list")
    app.push_screen(TicketScreen(app.screen.engine, number, clock=pinned))
    await until(pilot, lambda: isinstance(app.screen, TicketScreen), "the ticket")
    screen = app.screen
    await until(pilot, lambda: screen.ticket is not None and screen.query(".message"), "loaded")
    return screen


async def yes_opens(pilot, number: int, *, messages: int) -> None:  # type: ignore[no-untyped-def]
    """Yes to the question; back once ticket `number` shows with that many messages."""
    app = pilot.app
    await pilot.press("y")
    await until(
        pilot,
        lambda: isinstance(app.screen, TicketScreen) and app.screen.number == number,
        f"ticket {number}",
    )
    screen = app.screen
    await until(pilot, lambda: len(screen.query(".message")) == messages, "its messages")


def row(engine, number: int) -> Any:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        t = tables(conn).ticket
        return conn.execute(select(t).where(t.c.id == number)).one()


async def test_the_pane_lists_the_requesters_and_colleagues_tickets_and_opens_one(
    engine, _isolated_home
) -> None:
    neighbours(engine, _isolated_home)
    with engine.connect() as conn:
        assert [t.ref for t in requester_tickets(conn, 1)] == ["SUP-2", "SUP-3"]
        assert requester_tickets(conn, 4) == []  # gmail.com users are not one organisation
    app = app_for(engine)
    async with app.run_test(size=SIZE) as pilot:
        screen = await viewing(pilot, 1)
        pane = screen.query_one("#related", OptionList)
        assert pane.option_count == 2 and pane.display
        await pilot.press("tab")
        assert pane.has_focus
        assert_snapshot(app.export_screenshot(), "console_ticket_related")
        await pilot.press("down", "enter")
        await until(pilot, lambda: app.screen is not screen, "the colleague's ticket")
        other = app.screen
        assert isinstance(other, TicketScreen) and other.number == 3
        await until(pilot, lambda: other.ticket is not None, "loaded")
        await pilot.press("escape")
        assert app.screen is screen

    # What the merge picker looks up beyond the pane: the full-text index, as `/` searches.
    with transaction(engine) as conn:
        merge(conn, "SUP-4", "SUP-2", Actor("system"))
        t = tables(conn).ticket
        conn.execute(update(t).where(t.c.id == 3).values(status="closed"))
    with engine.connect() as conn:
        found = {text: [t.ref for t in merge_candidates(conn, 1, text)] for text in (
            "zloty", "ZLOTY paid", "SUP-3", "3", "toner", "order", "1", "printer", "fire -toner",
            "before:someday", "status:new", "-fire", "99999999999", "", "nowhere", "zlo",
            "print", "printer fi", "printer ",
        )}  # fmt: skip
    assert found == {
        "zloty": ["SUP-5"],  # a word only in SUP-5's message body: no title holds it
        "ZLOTY paid": ["SUP-5"],
        "SUP-3": ["SUP-3"],
        "3": ["SUP-3"],
        "toner": ["SUP-3"],  # the hostile title's word, not its markup
        "order": ["SUP-2"],  # SUP-4's subject, its conversation now in SUP-2; SUP-4 not offered
        "1": [],  # itself
        "printer": ["SUP-2", "SUP-3"],  # the ones still being worked on first
        "fire -toner": ["SUP-2"],
        "before:someday": [],  # a bad query finds nothing, without raising
        "status:new": [],  # no text: filters alone would list every ticket
        "-fire": [],
        "99999999999": [],
        "": [],
        "nowhere": [],
        "zlo": ["SUP-5"],  # the word being typed matches as a prefix
        "print": ["SUP-2", "SUP-3"],
        "printer fi": ["SUP-2", "SUP-3"],
        "printer ": ["SUP-2", "SUP-3"],  # a finished word is whole again
    }


async def test_m_merges_into_a_ticket_picked_or_searched_and_shows_it(
    engine, _isolated_home
) -> None:
    neighbours(engine, _isolated_home)
    app = app_for(engine)
    with statements_by_thread(engine) as (on_ui, _elsewhere):
        async with app.run_test(size=SIZE) as pilot:
            screen = await viewing(pilot, 1)
            titles = [c.title for c in app.get_system_commands(screen)]
            assert "Merge (M)" in titles and "Tags (t)" in titles
            await pilot.press("M")
            await until(pilot, lambda: isinstance(app.screen, FuzzyPickerScreen), "the picker")
            picker = app.screen
            options = picker.query_one(OptionList)
            assert [str(options.get_option_at_index(0).prompt).split()[0]] == ["SUP-2"]
            picker.query_one(Input).cursor_blink = False
            assert_snapshot(app.export_screenshot(), "console_merge_picker")
            await pilot.press(*"toner")  # not the requester's: found by the search
            await until(
                pilot, lambda: "SUP-3" in str(options.get_option_at_index(0).prompt), "found"
            )
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
            await yes_opens(pilot, 3, messages=2)  # the target
            stack = [type(s).__name__ for s in app.screen_stack[1:]]
            assert stack == ["MainScreen", "TicketScreen"]  # SUP-1's view was replaced
    assert on_ui == []
    source = row(engine, 1)
    assert (source.status, source.merged_into_id) == ("closed", 3)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # tags on both: test_tags
async def test_t_edits_the_tags_as_changes_or_as_a_list(engine) -> None:
    with transaction(engine) as conn:
        change_tags(conn, "SUP-1", ["billing", "vip"], [], Actor("system"))
        conn.execute(update(tables(conn).ticket).values(updated_at=datetime(2024, 3, 2, 9, 30)))
    app = app_for(engine)
    async with app.run_test(size=SIZE) as pilot:
        screen = await viewing(pilot, 1)
        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, TextChoiceScreen), "the tags")
        field = app.screen.query_one(Input)
        assert field.value == "billing vip"
        field.value = "+Urgent -vip"
        field.cursor_blink = False
        assert_snapshot(app.export_screenshot(), "console_tags_input")
        await pilot.press("enter")
        await until(pilot, lambda: screen.ticket["tags"] == ["billing", "urgent"], "changed")
        assert "#billing #urgent" in str(screen.query_one("#fields", Static).render())
        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, TextChoiceScreen), "the tags")
        app.screen.query_one(Input).value = "urgent, new"
        await pilot.press("enter")
        await until(pilot, lambda: screen.ticket["tags"] == ["new", "urgent"], "the list")
        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, TextChoiceScreen), "the tags")
        app.screen.query_one(Input).value = "a\x01b"
        await pilot.press("enter")
        await until(pilot, lambda: any("control" in n for n in notes(app)), "refused")
        await pilot.press("escape")
        listed = app.screen.query_one(TicketList)
        await until(pilot, lambda: (listed._rows.get(1) or _NO).tags == ("new", "urgent"), "row")
        await pilot.pause()
        drawn = ["".join(s.text for s in listed.render_line(y)) for y in range(1, 3)]
        assert any("Printer on fire #new #ur" in line for line in drawn), drawn  # the title fits
    assert ticket(engine)["tags"] == ["new", "urgent"]


async def test_s_splits_from_the_message_chosen_and_opens_the_new_ticket(
    engine, _isolated_home
) -> None:
    """SUP-1 with four messages, the third long enough to scroll: `S` offers the one at the
    top of the view, asks, splits in a worker and opens the new ticket over SUP-1."""
    ingestor = Ingestor(engine, BlobStore(_isolated_home / "blobs"), source="import")
    for n, body in ((2, "Still burning."), (3, "Smoke log:\n" + "puff\n" * 60), (4, "Toner?")):
        headers = f"From: alice@customer.test\nMessage-ID: <r{n}@c>\nSubject: Re: Toner [SUP-1]"
        ingestor.ingest(mail(headers, body))
    with transaction(engine) as conn:
        t = tables(conn)
        conn.execute(update(t.ticket).values(updated_at=datetime(2024, 3, 2, 9, 34)))
        for n in range(1, 5):
            when = datetime(2024, 3, 2, 9, 30 + n)
            conn.execute(update(t.message).where(t.message.c.id == n).values(created_at=when))
    app = app_for(engine)
    with statements_by_thread(engine) as (on_ui, _elsewhere):
        async with app.run_test(size=SIZE) as pilot:
            screen = await viewing(pilot, 1)
            assert "Split (S)" in [c.title for c in app.get_system_commands(screen)]
            await pilot.press("S")
            await until(pilot, lambda: isinstance(app.screen, ChoiceScreen), "which message")
            choices = app.screen.query_one(OptionList)
            labels = [str(choices.get_option_at_index(i).prompt) for i in range(3)]
            assert labels[0] == "#2 2024-03-02 09:32 in alice@customer…"
            assert choices.highlighted == 0  # the top of the view shows #1: #2 is offered
            assert_snapshot(app.export_screenshot(), "console_split_choice")
            await pilot.press("escape")
            await pilot.press("end", "S")  # the long #3 now fills the top of the view
            await until(pilot, lambda: isinstance(app.screen, ChoiceScreen), "which message")
            assert app.screen.query_one(OptionList).highlighted == 1
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
            question = str(app.screen.query_one("#confirm-question", Static).render())
            assert "Split SUP-1 from message #3? 2 of its 4 messages move" in question
            await yes_opens(pilot, 2, messages=2)  # the new ticket
            assert "Split 2 messages of SUP-1 into SUP-2" in notes(app)
            await pilot.press("escape")
            assert app.screen is screen
            await until(pilot, lambda: len(screen.query(".message")) == 2, "SUP-1 reread")
    assert on_ui == []
    with engine.connect() as conn:
        e = tables(conn).ticket_event
        split_by = conn.execute(select(e.c.actor).where(e.c.kind == "split")).scalar_one()
    assert split_by == "Dana Agent"
