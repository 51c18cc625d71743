"""A ticket's history through the real parts, on SQLite and PostgreSQL: mail piped in, agents at
the CLI, an agent's mail with #commands, replies and notes; each change and each message is one
event saying who (the agent, the engine with its rule, a CLI user, the system) and when, read
back by `tuidesk ticket history` and in the console's History pane (`h`)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, update
from textual.widgets import Static

from tests.conftest import Cli, route_support
from tests.engine.conftest import mail
from tests.snapshots import assert_snapshot
from tests.test_console import NOW, SIZE, pinned, until
from tests.test_console_ticket import opened, pick
from tuidesk.screens.app import TuideskApp
from tuidesk.services.ingest import Ingestor
from tuidesk.storage.agents import save_agent
from tuidesk.storage.blobs import BlobStore
from tuidesk.storage.db import make_engine, session_scope, transaction
from tuidesk.storage.history import SYSTEM, Actor, by_agent, describe, record, ticket_events
from tuidesk.storage.tables import tables
from tuidesk.storage.ticket_actions import update_ticket
from tuidesk.widgets.history import HistoryPane

SUPPORT = "support@example.com"


def history(engine: Engine) -> list[dict[str, Any]]:
    """SUP-1's events as `ticket history --json` prints them (read here: fewer commands)."""
    with engine.connect() as conn:
        return [e.as_dict() for e in ticket_events(conn, 1)]


def brief(events: list[dict[str, Any]]) -> list[tuple[str, str, str, Any]]:
    """(kind, actor_kind, actor, data without message ids) of each event."""
    return [
        (e["kind"], e["actor_kind"], e["actor"],
         {k: v for k, v in e["data"].items() if k != "message"})
        for e in events
    ]  # fmt: skip


def test_every_change_and_message_is_an_event_of_whoever_made_it(
    cli: Cli, db_engine: Engine
) -> None:
    cli("branch", "edit", "Support", "--address", "support@example.com")
    cli("outgoing", "add", "main", "--host", "smtp.example.com", "--port", "465", "--username",
        "u", "--password-stdin", "--from", "support@example.com", input=b"pw\n")  # fmt: skip
    cli("agent", "add", "Ana Lima", "--email", "ana@example.com", "--login", "ana")
    cli("agent", "add", "Bo Berg", "--email", "bo@example.com", "--login", "bo")
    cli("type", "add", "Incident", "--field", "impact", "--field", "due:date")
    cli("config", "set", "default_ticket_type", "Incident")
    cli("config", "set", "agent_mail_commands", "true")
    cli("config", "set", "acknowledge", "true")
    first = "From: Alice <alice@customer.test>\nTo: support@example.com\nMessage-ID: <a1@c>\n"
    cli("pipe", input=mail(first + "Subject: Printer on fire"))
    engine = ("engine", "mail via pipe: sent to support@example.com")
    opened = [
        ("created", *engine, {"source": "email", "title": "Printer on fire"}),
        ("message", *engine, {"direction": "in", "from": "alice@customer.test"}),
        ("message", "system", "acknowledgement", {"direction": "out", "from": SUPPORT}),
    ]
    assert brief(history(db_engine)) == opened

    ana = ("--agent", "ana")
    cli(*ana, "ticket", "set", "SUP-1", "--status", "pending", "--priority", "high",
        "--assign", "bo", "--queue", "Billing", "--field", "impact=high")  # fmt: skip
    by_ana = ("agent", "Ana Lima")
    changed = [
        ("status", *by_ana, {"from": "new", "to": "pending"}),
        ("priority", *by_ana, {"from": "normal", "to": "high"}),
        ("assignee", *by_ana, {"from": None, "to": "Bo Berg"}),
        ("queue", *by_ana, {"from": None, "to": "Billing"}),
        ("fields", *by_ana, {"changes": {"impact": "high"}}),
    ]
    assert brief(history(db_engine)) == opened + changed
    # The same values again (and a field left as it was): nothing moved, nothing recorded.
    cli(*ana, "ticket", "set", "SUP-1", "--status", "pending", "--assign", "bo@example.com",
        "--field", "impact=high")  # fmt: skip
    assert len(history(db_engine)) == len(opened + changed)

    # The customer answers: the engine reopens it, by the rule that threaded the mail.
    cli("pipe", input=mail(first.replace("a1", "a2") + "In-Reply-To: <a1@c>\nSubject: Re: it"))
    threaded = ("engine", "mail via pipe: In-Reply-To/References name its message")
    answered = [
        ("status", *threaded, {"from": "pending", "to": "open"}),
        ("message", *threaded, {"direction": "in", "from": "alice@customer.test"}),
    ]
    assert brief(history(db_engine))[len(opened + changed) :] == answered
    before = len(opened + changed + answered)

    # Someone at a shell who is no agent; then Ana's reply and note from the CLI.
    cli("--agent", "night-shift", "ticket", "set", "SUP-1", "--branch", "SUP", "--field", "due=")
    cli("--agent", "night-shift", "note", "SUP-1", "--body-stdin", input=b"Rebooted it.\n")
    cli(*ana, "reply", "SUP-1", "--status", "pending", "--body-stdin", input=b"Better now?\n")
    cli(*ana, "note", "SUP-1", "--body-stdin", input=b"Waiting on her.\n")
    shell = ("cli", "night-shift")
    assert brief(history(db_engine))[before:] == [
        ("message", *shell, {"direction": "note", "from": ""}),
        ("message", *by_ana, {"direction": "out", "from": "support@example.com"}),
        ("status", *by_ana, {"from": "open", "to": "pending"}),
        ("message", *by_ana, {"direction": "note", "from": "ana@example.com"}),
    ]  # the branch and the empty field were as they were: no event for them
    before += 4

    # Ana's own mail: a note and #commands, each change hers.
    ana_mail = (
        "From: Ana Lima <ana@example.com>\nTo: support@example.com\nMessage-ID: <ana1@e>\n"
        "Subject: Re: Printer on fire [SUP-1]"
    )
    cli(
        "pipe", input=mail(ana_mail, "#note\n#status resolved\n#assign me\n#priority low\n\nFixed.")
    )
    assert brief(history(db_engine))[before:] == [
        ("message", *by_ana, {"direction": "note", "from": "ana@example.com"}),
        ("status", *by_ana, {"from": "pending", "to": "resolved"}),
        ("priority", *by_ana, {"from": "high", "to": "low"}),
        ("assignee", *by_ana, {"from": "Bo Berg", "to": "Ana Lima"}),
    ]

    # An agent's new name shows on what they did before it.
    with transaction(db_engine) as conn:
        agent = tables(conn).agent
        conn.execute(update(agent).where(agent.c.login == "ana").values(name="Ana Souza"))
    assert {e["actor"] for e in history(db_engine) if e["actor_kind"] == "agent"} == {"Ana Souza"}

    # --json, and the text: one line each, oldest first, local time.
    shown = json.loads(cli("ticket", "history", "1", "--json").stdout)
    assert shown == {"ticket": "SUP-1", "events": history(db_engine)}
    lines = cli("ticket", "history", "SUP-1").stdout.decode().splitlines()
    assert len(lines) == len(shown["events"])
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d  "
    assert re.fullmatch(stamp + "mail via pipe: sent to support@example.com  created from "
                        "email: Printer on fire", lines[0])  # fmt: skip
    assert re.fullmatch(stamp + "Ana Souza  status new → pending", lines[3])
    assert re.fullmatch(stamp + "Ana Souza  assignee - → Bo Berg", lines[5])
    assert re.fullmatch(stamp + "Ana Souza  fields impact → high", lines[7])
    assert re.fullmatch(stamp + r"night-shift  note #\d+", lines[10])
    refused = cli("ticket", "history", "SUP-99", check=False)
    assert (refused.returncode, refused.stderr) == (2, b"tuidesk: no ticket SUP-99\n")

    # Merge, split and tags (another part writes them): each said in a line, controls gone.
    with transaction(db_engine) as conn:
        for kind, data in [
            ("tags", {"added": ["vip", "red\x1b[31m"], "removed": ["new"]}),
            ("merged_from", {"from": 3, "ref": "SUP-3", "messages": 2}),
            ("split", {"to": 8, "ref": "SUP-8", "from_message": 5, "messages": 1}),
            ("split_from", {"from": 2, "ref": "SUP-2", "from_message": 5}),
            ("merged", {"into": 7, "ref": "SUP-7"}),
        ]:
            record(conn, 1, kind, SYSTEM if kind == "merged" else Actor("agent", agent_id=1), data)
        said = [(e.who, describe(e)) for e in ticket_events(conn, 1)[-5:]]
    assert said == [
        ("Ana Souza", "tags +vip +red -new"),
        ("Ana Souza", "SUP-3 merged in (2 messages)"),
        ("Ana Souza", "split into SUP-8 from message #5 (1 message)"),
        ("Ana Souza", "split from SUP-2 at message #5"),
        ("system", "merged into SUP-7"),
    ]
    lines = cli("ticket", "history", "SUP-1").stdout.decode().splitlines()
    assert [line[18:] for line in lines[-2:]] == [
        "Ana Souza  split from SUP-2 at message #5",
        "system  merged into SUP-7",
    ]

    # Ana leaves: her ticket is unassigned (an event), and what she did keeps the name it was
    # done under.
    cli("agent", "remove", "ana")
    last = history(db_engine)
    unassigned = ("assignee", "system", "agent removed", {"from": "Ana Souza", "to": None})
    assert brief(last[-1:]) == [unassigned]
    assert (last[3]["actor"], last[-6]["actor"]) == ("Ana Lima", "Ana Souza")  # status, tags


async def test_h_shows_the_history_beside_the_ticket_and_follows_its_changes(
    db_url: str, _isolated_home: Path
) -> None:
    """Mail-derived text (a title and a queue name in markup) is shown as written."""
    engine = make_engine(db_url)
    with session_scope(engine) as s:
        route_support(s)
        dana = save_agent(s, name="Dana Agent", email="dana@example.com", login="dana").id
        save_agent(s, name="Sam Agent", email="sam@example.com", login="sam")
    Ingestor(engine, BlobStore(_isolated_home / "blobs"), source="import").ingest(
        mail("From: Alice <alice@customer.test>\nTo: support@example.com\nSubject: [b]Fire[/b]")
    )
    with transaction(engine) as conn:
        update_ticket(
            conn, "1", status="pending", assignee="sam", queue="[red]VIP", actor=by_agent(dana)
        )
        record(conn, 1, "tags", Actor("cli", "night-shift"), {"added": ["printer"], "removed": []})
        t = tables(conn)
        conn.execute(update(t.ticket_event).values(at=NOW))
        conn.execute(update(t.ticket).values(created_at=NOW, updated_at=NOW))
        conn.execute(update(t.message).values(created_at=NOW))
    app = TuideskApp(engine, agent_id=dana, clock=pinned)
    try:
        async with app.run_test(size=SIZE) as pilot:
            screen = await opened(pilot)
            pane = screen.query_one(HistoryPane)
            await pilot.press("h")
            await until(pilot, lambda: "night-shift" in shown(pane), "the history")
            assert_snapshot(app.export_screenshot(), "console_ticket_history")
            titles = [c.title for c in app.get_system_commands(app.screen)]
            assert "History (h)" in titles
            await pilot.press("s")  # a change while it is open shows in it
            await pick(pilot, "open")
            await until(pilot, lambda: "status pending → open" in shown(pane), "the change")
            await pilot.press("h")
            assert not pane.display
    finally:
        engine.dispose()


def shown(pane: HistoryPane) -> str:
    return str(pane.query_one("#history-events", Static).render())
