"""The ticket view and the reply editor, driven by keys through Textual's pilot: every action key
changes the database, a change made meanwhile by someone else is never overwritten, replies are
queued (asking first when the ticket moved), drafts outlive the editor, $EDITOR round-trips and
attachments are saved without overwriting anything. Times are pinned for the snapshots."""

from __future__ import annotations

import stat
from datetime import datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from textual.widgets import Input, OptionList, Select, Static, TextArea

from tests.admin_pilot import error_of, set_field
from tests.conftest import route_support
from tests.engine.conftest import mail
from tests.snapshots import assert_snapshot
from tests.test_console import SIZE, pinned, until
from tuidesk.screens.app import TuideskApp
from tuidesk.screens.attachments import SaveFilesScreen, safe_name, save_file
from tuidesk.screens.dialogs import ConfirmScreen, TextChoiceScreen
from tuidesk.screens.new_ticket import NewTicketScreen
from tuidesk.screens.pickers import ChoiceScreen, FuzzyPickerScreen
from tuidesk.screens.reply import NoteScreen, ReplyScreen
from tuidesk.screens.ticket import TicketScreen
from tuidesk.screens.ticket_fields import FieldsScreen
from tuidesk.services.ingest import Ingestor
from tuidesk.storage.agents import find_agent, save_agent
from tuidesk.storage.blobs import BlobStore
from tuidesk.storage.branches import save_branch
from tuidesk.storage.canned import save_canned
from tuidesk.storage.db import make_engine, read_session, session_scope, transaction
from tuidesk.storage.drafts import DraftText, load_draft, save_draft
from tuidesk.storage.models import Channel, OutgoingChannel
from tuidesk.storage.outgoing import save_outgoing
from tuidesk.storage.tables import tables
from tuidesk.storage.ticket_actions import update_ticket
from tuidesk.storage.ticket_types import parse_field_spec, save_ticket_type
from tuidesk.storage.views import show_ticket
from tuidesk.widgets.form import widget_id

PDF = b"%PDF-1.4 not really a manual\n"


def printer_mail() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Alice <alice@customer.test>"
    msg["To"] = "support@example.com"
    msg["Subject"] = "Printer on fire"
    msg["Message-ID"] = "<printer-1@customer.test>"
    msg.set_content("My printer is on fire.\n\n> an old quote\n")
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="manual.pdf")
    return msg.as_bytes()


@pytest.fixture
def engine(_isolated_home: Path, db_url: str):  # type: ignore[no-untyped-def]
    """SUP-1 from Alice with a PDF, at a fixed time; agents Dana (at the keys) and Sam; the
    queue Billing; branches Support and Sales. No outgoing channel: tests add one."""
    engine = alice_desk(_isolated_home, db_url)
    yield engine
    engine.dispose()


def alice_desk(_isolated_home: Path, db_url: str):  # type: ignore[no-untyped-def]
    """The `engine` fixture's database, for other modules' fixtures."""
    engine = make_engine(db_url)
    with session_scope(engine) as s:
        route_support(s)
        save_branch(s, name="Sales", key="SAL", addresses=["sales@example.com"], domains=[])
        save_agent(s, name="Dana Agent", email="dana@example.com", login="dana")
        save_agent(s, name="Sam Agent", email="sam@example.com", login="sam")
    Ingestor(engine, BlobStore(_isolated_home / "blobs"), source="import").ingest(printer_mail())
    when = datetime(2024, 3, 2, 9, 30)
    with transaction(engine) as conn:
        t = tables(conn)
        conn.execute(t.queue.insert().values(name="Billing", colour="magenta"))
        conn.execute(update(t.ticket).values(created_at=when, updated_at=when))
        conn.execute(update(t.message).values(created_at=when))
    return engine


def with_outgoing(engine) -> None:  # type: ignore[no-untyped-def]
    """What queue_reply needs: a default outgoing channel (nothing is sent in these tests)."""
    with session_scope(engine) as s:
        save_outgoing(
            s,
            OutgoingChannel(
                name="main", host="127.0.0.1", port=2525, from_address="support@example.com",
                from_name="Support",
            ),
        )  # fmt: skip


def dana(engine) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        agent = tables(conn).agent
        return int(conn.execute(select(agent.c.id).where(agent.c.login == "dana")).scalar_one())


def ticket(engine) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    with read_session(engine) as session:
        found = show_ticket(session, "1")
    assert found is not None
    return found


def outbox_rows(engine) -> list[Any]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return list(conn.execute(select(tables(conn).outbox)))


def notes(app: TuideskApp) -> list[str]:
    return [n.message for n in app._notifications]


async def opened(pilot) -> TicketScreen:  # type: ignore[no-untyped-def]
    """From the list, Enter on the one ticket; back once its messages are shown."""
    app = pilot.app
    await until(pilot, lambda: app.screen.query("TicketList") and _listed(app), "the list")
    await pilot.press("enter")
    await until(pilot, lambda: isinstance(app.screen, TicketScreen), "the ticket")
    screen = app.screen
    await until(pilot, lambda: len(screen.query(".message")) > 0, "the ticket's messages")
    return screen


def _listed(app: TuideskApp) -> bool:
    return app.screen.query_one("TicketList").ids == [1]  # type: ignore[attr-defined]


async def pick(pilot, value: str) -> None:  # type: ignore[no-untyped-def]
    """In the open picker, choose `value`."""
    await until(pilot, lambda: isinstance(pilot.app.screen, ChoiceScreen), "the picker")
    choices = pilot.app.screen.query_one("#choice-list")
    choices.highlighted = choices.get_option_index(value)
    await pilot.press("enter")


def app_for(engine) -> TuideskApp:  # type: ignore[no-untyped-def]
    return TuideskApp(engine, agent_id=dana(engine), clock=pinned)


async def test_the_ticket_view_shows_its_actions_in_the_footer(engine) -> None:
    app = app_for(engine)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot)
        await pilot.pause()
        assert_snapshot(app.export_screenshot(), "console_ticket_actions")
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for wanted in ("Reply (r)", "Note (n)", "Take (m)", "Assign (a)", "Status (s)",
                       "Priority (p)", "Branch (b)", "Queue (u)", "Fields (c)",
                       "Files (o)"):  # fmt: skip
            assert wanted in titles


def with_restricted_field(engine) -> None:  # type: ignore[no-untyped-def]
    """SUP-1 read by a pipe channel that maps `reporter` as restricted and `region` not."""
    mappings = [
        {"field": "region", "property": None, "default": "EU", "restricted": False},
        {"field": "reporter", "property": "sender", "default": None, "restricted": True},
    ]
    with session_scope(engine) as s:
        channel = Channel(name="support", kind="pipe", field_mappings=mappings)
        s.add(channel)
        s.flush()
        cid = channel.id
    fields = {"region": "EU", "reporter": "alice@customer.test"}
    with transaction(engine) as conn:
        conn.execute(update(tables(conn).ticket).values(channel_id=cid, custom_fields=fields))


@pytest.mark.parametrize("role", ["agent", "admin"])
async def test_a_restricted_custom_field_is_shown_to_admins_only(engine, role: str) -> None:
    with_restricted_field(engine)
    with session_scope(engine) as s:
        save_agent(s, name="Dana Agent", email="dana@example.com", login="dana", role=role,
                   agent=find_agent(s, "dana"))  # fmt: skip
    app = app_for(engine)
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot)
        await until(pilot, lambda: screen.me is not None, "who is at the keys")
        shown = str(screen.query_one("#fields").render())
        assert "region: EU" in shown
        if role == "admin":
            assert "reporter: alice@customer.test  (restricted: admins only)" in shown
        else:
            assert "reporter" not in shown
            assert shown.count("alice@customer.test") == 1  # the requester row only


async def test_status_priority_and_branch_keys_change_the_ticket(engine) -> None:
    app = app_for(engine)
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot)
        await pilot.press("s")
        await pick(pilot, "pending")
        await until(pilot, lambda: ticket(engine)["status"] == "pending", "status pending")
        await until(pilot, lambda: screen.ticket["status"] == "pending", "the view reloaded")
        await pilot.press("p")
        await pick(pilot, "high")
        await until(pilot, lambda: ticket(engine)["priority"] == "high", "priority high")
        await until(pilot, lambda: screen.ticket["priority"] == "high", "the view reloaded")
        await pilot.press("b")
        await pick(pilot, "SAL")
        await until(pilot, lambda: ticket(engine)["ref"] == "SAL-1", "the ticket in Sales")
        await until(pilot, lambda: screen.ticket["ref"] == "SAL-1", "the view reloaded")


async def test_assign_to_me_to_an_agent_and_to_nobody(engine) -> None:
    app = app_for(engine)
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot)

        def assignee() -> str | None:
            return (ticket(engine)["assignee"] or {}).get("email")

        await until(pilot, lambda: screen.me is not None, "who is at the keys")
        await pilot.press("m")
        await until(pilot, lambda: assignee() == "dana@example.com", "assigned to Dana")
        await until(pilot, lambda: screen.ticket["assignee"] is not None, "the view reloaded")
        await pilot.press("a")
        await pick(pilot, "sam@example.com")
        await until(pilot, lambda: assignee() == "sam@example.com", "assigned to Sam")
        await until(
            pilot, lambda: screen.ticket["assignee"]["email"] == "sam@example.com", "the view"
        )
        await pilot.press("a")
        await pick(pilot, "")
        await until(pilot, lambda: assignee() is None, "unassigned")


async def test_queue_takes_a_new_name_or_an_existing_queue(engine) -> None:
    app = app_for(engine)
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot)
        await pilot.press("u")
        await until(pilot, lambda: isinstance(app.screen, TextChoiceScreen), "the queue picker")
        app.screen.query_one("#text-choice-input").focus()
        await pilot.press(*"[red]VIP[/]", "enter")  # markup in a name is only text
        await until(pilot, lambda: ticket(engine)["queue"] == "[red]VIP[/]", "a new queue")
        await until(pilot, lambda: screen.ticket["queue"] == "[red]VIP[/]", "the view reloaded")
        assert "SUP / [red]VIP[/]" in str(screen.query_one("#fields").render())
        assert all(not note.markup for note in app._notifications)
        await pilot.press("u")
        await until(pilot, lambda: isinstance(app.screen, TextChoiceScreen), "the queue picker")
        choices = app.screen.query_one("#text-choice-list")
        choices.highlighted = choices.get_option_index("Billing")
        await pilot.press("enter")
        await until(pilot, lambda: ticket(engine)["queue"] == "Billing", "queue Billing")


async def test_a_note_is_added_with_the_agent_as_its_author(engine) -> None:
    app = app_for(engine)
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot)
        await until(pilot, lambda: screen.me is not None, "who is at the keys")
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, NoteScreen), "the note editor")
        app.screen.query_one("#body").insert("Called her: it is the toner.")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.screen is screen, "back on the ticket")
        note = ticket(engine)["messages"][-1]
        assert note["direction"] == "note" and note["body"] == "Called her: it is the toner."
        assert note["from"] == {"name": "Dana Agent", "email": "dana@example.com"}
        assert outbox_rows(engine) == []  # never mailed
        await until(pilot, lambda: len(screen.query(".message")) == 2, "the note shown")


async def test_a_change_made_meanwhile_is_not_overwritten_and_the_agent_is_told(engine) -> None:
    app = app_for(engine)
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot)
        # The view must not catch up by itself (by polling, or by NOTIFY on PostgreSQL): the
        # change lands between the agent's last look and the key.
        screen._stop.set()
        watching = [w for w in app.workers if w.node is screen and w.group == "watch"]
        assert watching
        await until(pilot, lambda: not any(w.is_running for w in watching), "the watcher stopped")
        with transaction(engine) as conn:  # Sam, in another console
            update_ticket(conn, "1", status="closed")
        await pilot.press("s")
        await pick(pilot, "pending")
        await until(pilot, lambda: screen.ticket["status"] == "closed", "the view reloaded")
        assert ticket(engine)["status"] == "closed"
        assert any("was changed at" in note and "nothing written" in note for note in notes(app))


async def test_the_view_follows_another_process_and_keeps_its_place(engine) -> None:
    app = app_for(engine)
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot)
        boxes = list(screen.query(".message"))
        with transaction(engine) as conn:
            update_ticket(conn, "1", priority="urgent")
        await until(pilot, lambda: screen.ticket["priority"] == "urgent", "the other change")
        assert list(screen.query(".message")) == boxes  # updated in place, not rebuilt


async def test_the_reply_editor_queues_a_reply_that_the_ticket_shows(engine) -> None:
    with_outgoing(engine)
    app = app_for(engine)
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ReplyScreen), "the reply editor")
        editor = app.screen
        editor.query_one("#body").insert("We are sending a new printer.")
        editor.query_one("#cc").value = "boss@customer.test"
        await pilot.click("#quote")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.screen is screen, "back on the ticket")
        [row] = outbox_rows(engine)
        assert row.status == "queued" and row.kind == "reply"
        assert row.recipients == ["alice@customer.test", "boss@customer.test"]
        reply = ticket(engine)["messages"][-1]
        assert reply["direction"] == "out" and reply["body"].startswith("We are sending")
        assert "> My printer is on fire." in reply["full_body"]  # quoted
        with engine.connect() as conn:
            assert load_draft(conn, 1, dana(engine)) is None
        await until(pilot, lambda: len(screen.query(".message")) == 2, "the reply shown")


async def test_a_failed_send_is_shown_and_keeps_the_draft(engine) -> None:
    app = app_for(engine)  # no outgoing channel
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ReplyScreen), "the reply editor")
        editor = app.screen
        editor.query_one("#body").insert("Anyone there?")
        await pilot.press("ctrl+s")
        error = editor.query_one("#send-error")
        await until(pilot, lambda: "no outgoing channel" in str(error.render()), "the error")
        assert app.screen is editor and outbox_rows(engine) == []
        with engine.connect() as conn:
            assert load_draft(conn, 1, dana(engine)).body == "Anyone there?"


async def test_a_draft_outlives_the_editor_until_discarded(engine) -> None:
    app = app_for(engine)
    agent = dana(engine)
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ReplyScreen), "the reply editor")
        app.screen.query_one("#body").insert("Half a thought")
        app.screen.query_one("#attach").value = "/nowhere/quote.pdf"
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen, "the ticket, the draft kept")
        with engine.connect() as conn:
            draft = load_draft(conn, 1, agent)
        assert draft is not None and draft.body == "Half a thought"
        assert draft.attachments == ["/nowhere/quote.pdf"]

        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ReplyScreen), "the editor again")
        editor = app.screen
        await until(pilot, lambda: editor.query_one("#body").text == "Half a thought", "the draft")
        assert "no such file" in str(editor.query_one("#files").render())
        await pilot.press("ctrl+d")  # postpone
        await until(pilot, lambda: app.screen is screen, "the ticket again")
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ReplyScreen), "the editor again")
        await pilot.press("ctrl+x")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "are you sure")
        await pilot.press("y")
        await until(pilot, lambda: app.screen is screen, "the ticket, the draft thrown away")
        with engine.connect() as conn:
            assert load_draft(conn, 1, agent) is None


async def test_edit_in_editor_runs_it_and_reads_the_file_back(
    engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Headless, Textual cannot suspend (SuspendNotSupported); the editor then runs as is."""
    script = tmp_path / "editor.sh"
    script.write_text("#!/bin/sh\nprintf '\\nSigned, Dana\\n' >> \"$1\"\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", str(script))
    app = app_for(engine)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ReplyScreen), "the reply editor")
        area = app.screen.query_one("#body")
        area.insert("Hello Alice,")
        await pilot.press("ctrl+e")
        assert area.text == "Hello Alice,\nSigned, Dana\n"


async def test_a_ticket_changed_since_the_editor_opened_asks_before_sending(engine) -> None:
    with_outgoing(engine)
    app = app_for(engine)
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ReplyScreen), "the reply editor")
        editor = app.screen
        editor.query_one("#body").insert("Here is the fix.")
        with transaction(engine) as conn:  # Sam replies or changes it meanwhile
            update_ticket(conn, "1", status="pending")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        assert "SUP-1 changed at" in str(app.screen.query_one("#confirm-question").render())
        await pilot.press("n")
        assert app.screen is editor and outbox_rows(engine) == []
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question again")
        await pilot.press("y")
        await until(pilot, lambda: app.screen is screen, "back on the ticket")
        assert len(outbox_rows(engine)) == 1


async def test_the_reply_editor_snapshot(engine) -> None:
    with_outgoing(engine)
    with_canned(engine)  # Dana's signature, shown under the text
    with transaction(engine) as conn:
        save_draft(conn, 1, dana(engine), DraftText("Dear Alice,\n\nA new one is on its way.\n"))
    app = app_for(engine)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ReplyScreen), "the reply editor")
        body = app.screen.query_one("#body", TextArea)
        await until(pilot, lambda: body.text.startswith("Dear Alice"), "the draft, read back")
        signature = app.screen.query_one("#signature", Static)
        await until(pilot, lambda: "Dana Agent" in str(signature.render()), "the signature")
        for widget in app.screen.query("TextArea, Input"):
            widget.cursor_blink = False  # type: ignore[attr-defined]
        await pilot.pause()
        assert_snapshot(app.export_screenshot(), "console_reply_editor")


def with_canned(engine) -> None:  # type: ignore[no-untyped-def]
    """Two canned replies for every branch and one only for Sales; Dana signs her mail."""
    with session_scope(engine) as s:
        body = "Hello {requester_name},\n\nabout {ref} ({title}): unplug it now.\n{agent_name}\n"
        save_canned(s, name="Printer fire", body=body)
        save_canned(s, name="Refund", body="Your refund is on its way.\n")
        save_canned(s, name="Sales visit", body="We will visit.\n", branch="SAL")
    with transaction(engine) as conn:
        agent = tables(conn).agent
        signed = update(agent).where(agent.c.login == "dana")
        conn.execute(signed.values(signature="{agent_name}, {branch} desk ({ref})"))


async def canned_picker(pilot, editor: ReplyScreen) -> FuzzyPickerScreen:  # type: ignore[no-untyped-def]
    await pilot.press("ctrl+k")
    await until(pilot, lambda: isinstance(pilot.app.screen, FuzzyPickerScreen), "the picker")
    picker = pilot.app.screen
    assert isinstance(picker, FuzzyPickerScreen)
    return picker


def picked(picker: FuzzyPickerScreen) -> list[str]:
    options = picker.query_one("#fuzzy-list", OptionList)
    return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]


async def test_ctrl_k_inserts_a_canned_reply_and_the_reply_goes_out_signed(engine) -> None:
    """Filtered by a few letters, Enter inserts the reply rendered for the ticket at the
    cursor; the signature shown under the text is the one the queued mail carries."""
    with_outgoing(engine)
    with_canned(engine)
    app = app_for(engine)
    async with app.run_test(size=SIZE) as pilot:
        ticket_screen = await opened(pilot)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ReplyScreen), "the reply editor")
        editor = app.screen
        assert isinstance(editor, ReplyScreen)
        signature = editor.query_one("#signature", Static)
        shown = "Dana Agent, Support desk (SUP-1)"
        await until(pilot, lambda: shown in str(signature.render()), "the signature")
        area = editor.query_one("#body", TextArea)
        area.insert("Dear Alice,\n")
        picker = await canned_picker(pilot, editor)
        assert [p.split("  ")[0] for p in picked(picker)] == ["Printer fire", "Refund"]
        await pilot.press("p", "f")
        await until(pilot, lambda: picked(picker)[0].startswith("Printer fire"), "the match")
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is editor, "the editor again")
        assert area.text == (
            "Dear Alice,\nHello Alice,\n\nabout SUP-1 (Printer on fire): unplug it now.\n"
            "Dana Agent\n"
        )
        picker = await canned_picker(pilot, editor)
        await pilot.press("escape")  # leaves the text be
        await until(pilot, lambda: app.screen is editor, "the editor after Esc")
        assert area.text.count("Hello Alice") == 1
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.screen is ticket_screen, "back on the ticket")
    [row] = outbox_rows(engine)
    sent = message_from_bytes(row.raw, policy=default)
    text = sent.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    assert text.endswith("unplug it now.\nDana Agent\n\n-- \nDana Agent, Support desk (SUP-1)\n")
    with engine.connect() as conn:
        message = tables(conn).message
        last = conn.execute(select(message.c.agent_id).order_by(message.c.id.desc())).first()
    assert last is not None and last.agent_id == dana(engine)


async def test_the_canned_reply_picker_snapshot(engine) -> None:
    with_canned(engine)
    app = app_for(engine)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ReplyScreen), "the reply editor")
        picker = await canned_picker(pilot, app.screen)  # type: ignore[arg-type]
        await pilot.press("r", "e")
        await until(pilot, lambda: picked(picker)[0].startswith("Refund"), "the match")
        for widget in app.screen_stack[-2].query("TextArea, Input"):
            widget.cursor_blink = False  # type: ignore[attr-defined]
        picker.query_one(Input).cursor_blink = False
        await pilot.pause()
        assert_snapshot(app.export_screenshot(), "console_canned_picker")


async def new_ticket_screen(pilot) -> NewTicketScreen:  # type: ignore[no-untyped-def]
    """From the list, N; back once the branches are offered."""
    app = pilot.app
    await until(pilot, lambda: app.screen.query("TicketList") and _listed(app), "the list")
    await pilot.press("N")
    await until(pilot, lambda: isinstance(app.screen, NewTicketScreen), "the new ticket form")
    screen = app.screen
    branch = screen.query_one(f"#{widget_id('branch')}", Select)
    await until(pilot, lambda: len(branch._options) > 1, "the branches offered")
    return screen


async def test_n_opens_a_ticket_whose_first_mail_is_queued_and_shows_it(engine) -> None:
    with_outgoing(engine)
    with_canned(engine)  # Dana's signature
    app = app_for(engine)
    async with app.run_test(size=SIZE) as pilot:
        await new_ticket_screen(pilot)
        set_field(app, "to", "Bob Buyer <bob@customer.test>")
        set_field(app, "cc", "boss@customer.test")
        set_field(app, "subject", "Your new printer")
        set_field(app, "body", "It ships on Monday.")
        set_field(app, "branch", "SAL")
        set_field(app, "queue", "Billing")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, TicketScreen), "the new ticket")
        assert app.screen.number == 2  # type: ignore[attr-defined]
        assert "SAL-2 opened: mail queued for bob@customer.test, boss@customer.test" in notes(app)
    with engine.connect() as conn:
        t = tables(conn)
        row = conn.execute(select(t.ticket).where(t.ticket.c.id == 2)).one()
        billing = conn.execute(select(t.queue.c.id).where(t.queue.c.name == "Billing")).scalar()
        message = conn.execute(select(t.message).where(t.message.c.ticket_id == 2)).one()
    assert row.source == "console" and row.title == "Your new printer"
    assert row.queue_id == billing and message.agent_id == dana(engine)
    [mail] = outbox_rows(engine)
    assert mail.recipients == ["bob@customer.test", "boss@customer.test"]
    sent = message_from_bytes(mail.raw, policy=default)
    assert "[SAL-2]" in str(sent["Subject"])
    text = sent.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    assert text.endswith("It ships on Monday.\n\n-- \nDana Agent, Sales desk (SAL-2)\n")


async def test_a_refused_new_ticket_shows_each_error_under_its_field(engine) -> None:
    """Nothing is written; fixed, the call is kept as a note and nothing is mailed."""
    app = app_for(engine)
    async with app.run_test(size=SIZE) as pilot:
        screen = await new_ticket_screen(pilot)
        set_field(app, "to", "not an address")
        set_field(app, "cc", "boss@customer.test")
        set_field(app, "body", "Called about the fire.")
        set_field(app, "note_only", True)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: error_of(app, "to") != "", "the refusal")
        assert error_of(app, "subject") != "" and "nobody to copy" in error_of(app, "cc")
        assert error_of(app, "body") == ""
        assert app.screen is screen and ticket_count(engine) == 1
        for widget in screen.query("TextArea, Input"):
            widget.cursor_blink = False  # type: ignore[attr-defined]
        await pilot.pause()
        assert_snapshot(app.export_screenshot(), "console_new_ticket_errors")
        set_field(app, "to", "alice@customer.test")
        set_field(app, "cc", "")
        set_field(app, "subject", "Phone: printer fire")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, TicketScreen), "the new ticket")
        assert "SUP-2 opened with a note" in notes(app)
    assert ticket_count(engine) == 2 and outbox_rows(engine) == []


def ticket_count(engine) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return len(list(conn.execute(select(tables(conn).ticket.c.id))))


async def test_attachments_are_saved_to_the_chosen_folder_without_overwriting(
    engine, tmp_path: Path
) -> None:
    folder = tmp_path / "downloads"
    folder.mkdir()
    (folder / "manual.pdf").write_bytes(b"mine, keep it")
    app = app_for(engine)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot)
        for copy in ("manual (1).pdf", "manual (2).pdf"):
            await pilot.press("o")
            await until(pilot, lambda: isinstance(app.screen, SaveFilesScreen), "the files")
            entry = app.screen.query_one("#save-folder")
            entry.value = str(folder)
            entry.focus()
            await pilot.press("enter")
            await until(pilot, lambda c=copy: (folder / c).exists(), copy)
            assert (folder / copy).read_bytes() == PDF
    assert (folder / "manual.pdf").read_bytes() == b"mine, keep it"


def test_a_saved_name_never_leaves_the_folder(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "evil.txt").symlink_to(outside)  # planted under the name the mail gives
    assert safe_name("../../.bashrc") == "bashrc" and safe_name("..") == "attachment"
    assert save_file(b"x", "..\\..\\evil.txt", folder) == folder / "evil (1).txt"
    assert not outside.exists()
    assert save_file(b"y", "/etc/passwd", folder) == folder / "passwd"
    assert len(list(folder.iterdir())) == 3


@pytest.mark.parametrize(
    ("system", "saved"),
    [("Linux", 'Q3 <draft> "v2" 10:30?.pdf'), ("Darwin", 'Q3 <draft> "v2" 10_30?.pdf'),
     ("Windows", "Q3 _draft_ _v2_ 10_30_.pdf")],
)  # fmt: skip
def test_a_saved_name_maps_only_what_the_system_refuses(system: str, saved: str) -> None:
    assert safe_name('Q3 <draft> "v2" 10:30?.pdf', system) == saved
    assert safe_name("report. ", "Windows") == "report"
    assert (
        safe_name("con.txt", "Windows") == "_con.txt" and safe_name("con.txt", "Linux") == "con.txt"
    )


async def test_a_ticket_opened_by_a_strangers_reply_shows_the_ticket_it_answered(
    engine, _isolated_home: Path
) -> None:
    stranger = mail("From: mallory@evil.test\nTo: support@example.com\nSubject: Re: [SUP-1] x")
    Ingestor(engine, BlobStore(_isolated_home / "blobs"), source="import").ingest(stranger)
    app = app_for(engine)
    async with app.run_test(size=SIZE) as pilot:
        for number, shown in ((2, "reply to SUP-1 from someone not taking part"),
                              (1, "replies from others opened SUP-2")):  # fmt: skip
            app.push_screen(TicketScreen(engine, number, clock=pinned))
            screen = app.screen
            await until(pilot, lambda s=screen: s.ticket is not None, "the ticket")
            await pilot.pause()
            assert shown in str(screen.query_one("#fields", Static).render())
            app.pop_screen()


def with_incident_type(engine) -> None:  # type: ignore[no-untyped-def]
    """SUP-1 becomes an Incident: `impact` required (empty), `hours` a number."""
    with session_scope(engine) as s:
        fields = [parse_field_spec("impact:choice!"), parse_field_spec("hours:number")]
        type_id = save_ticket_type(s, name="Incident", fields=fields).id
    with transaction(engine) as conn:
        conn.execute(update(tables(conn).ticket).values(ticket_type_id=type_id))


async def test_c_edits_the_custom_fields_each_refusal_under_its_field(engine) -> None:
    with_incident_type(engine)
    app = app_for(engine)
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot)
        assert "needs: impact" in str(screen.query_one("#fields").render())
        assert ticket(engine)["needs"] == ["impact"]
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, FieldsScreen), "the fields form")
        set_field(app, "hours", "soon")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: error_of(app, "hours") != "", "the error under hours")
        assert "hours must be a number, not 'soon'" in error_of(app, "hours")
        assert error_of(app, "impact") == ""  # left empty, not changed: not refused
        set_field(app, "impact", "high")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: error_of(app, "impact") == "", "the refusals again")
        assert "must be a number" in error_of(app, "hours")
        assert ticket(engine)["custom_fields"] == {}  # nothing written
        set_field(app, "hours", "2.5")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.screen is screen, "the ticket again")
        await until(pilot, lambda: not screen.ticket["needs"], "the view reloaded")
        shown = str(screen.query_one("#fields").render())
        assert "impact: high" in shown and "hours: 2.5" in shown and "needs" not in shown
        assert "SUP-1: impact high, hours 2.5" in notes(app)
        # A required field cannot be cleared again: refused under it.
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, FieldsScreen), "the fields form")
        set_field(app, "impact", "")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: error_of(app, "impact") != "", "the error under impact")
        assert "impact is required" in error_of(app, "impact")
    assert ticket(engine)["custom_fields"] == {"impact": "high", "hours": "2.5"}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # a picture: once
async def test_snapshot_of_the_fields_form_with_a_refusal(engine) -> None:
    with_incident_type(engine)
    app = app_for(engine)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot)
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, FieldsScreen), "the fields form")
        set_field(app, "hours", "two")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: error_of(app, "hours") != "", "the error under hours")
        await pilot.pause()
        assert_snapshot(app.export_screenshot(), "console_ticket_fields")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # nothing is written
async def test_c_on_a_ticket_without_custom_fields_says_so(engine) -> None:
    app = app_for(engine)
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot)
        await pilot.press("c")
        await until(pilot, lambda: bool(notes(app)), "the notice")
        assert notes(app) == ["SUP-1 has no custom fields: its ticket type has none"]
        assert app.screen is screen
