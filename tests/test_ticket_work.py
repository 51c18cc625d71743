"""What agents do to tickets, below the console: who they are, the list's queries, changing
fields with a check for concurrent changes, and drafts. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import update

from tests.conftest import Cli
from tests.engine.conftest import mail
from tuidesk.storage.agents import UnknownAgent, identify
from tuidesk.storage.db import session_scope, transaction
from tuidesk.storage.drafts import DraftText, discard_draft, load_draft, save_draft
from tuidesk.storage.tables import tables
from tuidesk.storage.ticket_actions import TicketChanged, TicketError, ticket_version, update_ticket
from tuidesk.storage.ticket_list import (
    TicketFilter,
    change_token,
    ticket_ids,
    ticket_lines,
    view_counts,
)


@pytest.fixture
def desk(cli: Cli) -> Cli:
    """Two branches and four tickets from four customers."""
    cli("branch", "edit", "Support", "--address", "support@example.com")
    cli("branch", "add", "Sales", "--key", "SAL", "--address", "sales@example.com")
    for n, (who, to, subject) in enumerate(
        [
            ("Alice <alice@customer.test>", "support", "Printer on fire"),
            ("Bob <bob@other.test>", "sales", "Quote for 40 printers"),
            ("Carol <carol@customer.test>", "support", "Password reset"),
            ("Dan <dan@customer.test>", "support", "100% CPU_usage"),
        ]
    ):
        raw = mail(f"From: {who}\nTo: {to}@example.com\nMessage-ID: <t{n}@c>\nSubject: {subject}")
        cli("pipe", input=raw)
    return cli


def test_the_first_user_becomes_admin_and_strangers_are_told_how_to_join(db_engine) -> None:
    with session_scope(db_engine) as session:
        first = identify(session, "alice")
        assert (first.role, first.login, first.email) == ("admin", "alice", "alice@localhost")
    with session_scope(db_engine) as session:
        assert identify(session, "alice").id == first.id  # known now, by login
        assert identify(session, "ALICE@localhost").id == first.id  # or address, any case
        with pytest.raises(UnknownAgent, match="tuidesk agent add 'mallory'"):
            identify(session, "mallory")


def test_agents_from_the_command_line(desk: Cli) -> None:
    desk("agent", "add", "alice", "--email", "Alice@Example.com", "--admin")
    desk("agent", "add", "Bob Builder", "--email", "bob@example.com", "--login", "bob")
    assert (
        desk("agent", "add", "carol", "--email", "alice@example.com", check=False).returncode == 2
    )
    assert desk("agent", "add", "x", "--email", "not-an-address", check=False).returncode == 2
    desk("agent", "edit", "Bob Builder", "--admin")
    agents = json.loads(desk("agent", "list", "--json").stdout)
    default = ["reply", "assigned", "failed"]
    assert agents == [
        {"name": "Bob Builder", "email": "bob@example.com", "role": "admin", "login": "bob",
         "notify": default, "aliases": []},
        {"name": "alice", "email": "alice@example.com", "role": "admin", "login": "alice",
         "notify": default, "aliases": []},
    ]  # fmt: skip
    desk("ticket", "set", "SUP-1", "--assign", "bob")
    desk("agent", "remove", "Bob Builder")
    assert json.loads(desk("ticket", "show", "SUP-1", "--json").stdout)["assignee"] is None


def test_views_search_sort_and_rows(desk: Cli, db_engine) -> None:
    desk("agent", "add", "alice", "--email", "alice@example.com")
    desk("ticket", "set", "SUP-1", "--assign", "alice", "--priority", "urgent")
    desk("ticket", "set", "SUP-3", "--status", "pending")
    desk("ticket", "set", "SUP-4", "--status", "closed")
    with db_engine.connect() as conn:
        alice = conn.execute(tables(conn).agent.select()).one().id

        def ids(**kw: object) -> list[int]:
            return ticket_ids(conn, TicketFilter(**kw))  # type: ignore[arg-type]

        assert ids() == [3, 1, 2]  # every open ticket, last updated first
        assert ids(view="every", sort="ref", descending=False) == [1, 2, 3, 4]
        assert ids(view="mine", agent_id=alice) == [1]
        assert ids(view="unassigned") == [3, 2]
        assert ids(view="pending") == [3]
        assert ids(view="closed") == [4]
        assert ids(branch="sal") == [2] and ids(branch="Support") == [3, 1]
        assert ids(assignee="alice@example.com") == [1] and ids(assignee="none") == [3, 2]
        assert ids(sort="priority") == [1, 3, 2]  # urgent first, then by number
        # Search (tests/test_search.py has the language): every mail here says "my printer",
        # the title of SUP-1 too, which ranks it first; the rest newest first.
        assert ids(search="printer") == [1, 3, 2]
        assert ids(search="other.test") == [2] and ids(search="carol") == [3]
        assert ids(view="every", search="100%") == [4] and ids(view="every", search="cpu") == [4]
        assert ids(search="3") == [3]  # a number finds its ticket
        assert ids(view="every", sort="requester", descending=False) == [1, 2, 3, 4]
        lines = ticket_lines(conn, [1, 2])
        assert (lines[1].ref, lines[1].assignee, lines[1].requester) == ("SUP-1", "alice", "Alice")
        assert (lines[2].ref, lines[2].branch, lines[2].priority) == ("SAL-2", "SAL", "normal")
        counts = view_counts(conn, alice)
        assert counts == {
            "all": 3, "mine": 1, "unassigned": 2, "open": 2, "pending": 1, "quarantine": 0,
            "breached": 0, "due_today": 0,  # no policy: nothing due (tests/test_console_sla.py)
        }  # fmt: skip
        before = change_token(conn)
    desk("note", "SAL-2", "--body-stdin", input=b"a note changes the ticket\n")
    with db_engine.connect() as conn:
        assert change_token(conn) != before


def test_a_change_since_the_agent_looked_is_not_overwritten(desk: Cli, db_engine) -> None:
    with db_engine.connect() as conn:
        seen = ticket_version(conn, 1)
    desk("ticket", "set", "SUP-1", "--status", "pending")  # another agent, meanwhile
    with transaction(db_engine) as conn, pytest.raises(TicketChanged, match="SUP-1 was changed"):
        update_ticket(conn, "SUP-1", expected=seen, status="resolved")
    with transaction(db_engine) as conn:
        done = update_ticket(conn, "SUP-1", expected=ticket_version(conn, 1), status="resolved")
        assert done.changes == {"status": "resolved"} and done.updated_at > seen
        with pytest.raises(TicketError, match="no agent"):
            update_ticket(conn, "SUP-1", assignee="nobody")
        with pytest.raises(TicketError, match="priority must be"):
            update_ticket(conn, "SUP-1", priority="whenever")
        with pytest.raises(TicketError, match="nothing to change"):
            update_ticket(conn, "SUP-1")
    moved = json.loads(desk("ticket", "set", "SUP-1", "--branch", "Sales", "--json").stdout)
    assert moved == {"ticket": "SAL-1", "changes": {"branch": "SAL"}}
    assert desk("ticket", "set", "SAL-1", "--status", "bogus", check=False).returncode == 2


def test_drafts_outlive_the_editor(desk: Cli, db_engine) -> None:
    desk("agent", "add", "alice", "--email", "alice@example.com")
    with transaction(db_engine) as conn:
        save_draft(conn, 1, 1, DraftText("Dear Alice,\n", ["bob@x.test"], ["/tmp/a.pdf"]))
        save_draft(conn, 1, 1, DraftText("Dear Alice, the fix:\n", [], []))
    with db_engine.connect() as conn:
        draft = load_draft(conn, 1, 1)
        assert draft is not None and draft.body == "Dear Alice, the fix:\n" and draft.cc == []
        assert load_draft(conn, 2, 1) is None
    with transaction(db_engine) as conn:
        save_draft(conn, 1, 1, DraftText("  \n"))  # emptied: gone
        assert load_draft(conn, 1, 1) is None
        save_draft(conn, 1, 1, DraftText("again"))
        discard_draft(conn, 1, 1)
        assert load_draft(conn, 1, 1) is None


def test_updated_at_moves_the_list(desk: Cli, db_engine) -> None:
    with transaction(db_engine) as conn:
        ticket = tables(conn).ticket
        conn.execute(
            update(ticket)
            .where(ticket.c.id == 2)
            .values(updated_at=ticket_version(conn, 3) + timedelta(1))
        )
    with db_engine.connect() as conn:
        assert ticket_ids(conn, TicketFilter())[0] == 2


def test_an_unknown_agent_is_not_let_into_the_console(desk: Cli) -> None:
    desk("agent", "add", "alice", "--email", "alice@example.com")
    proc = desk("--agent", "mallory", check=False)  # no command: the console
    assert proc.returncode == 2
    assert b"mallory is not an agent here" in proc.stderr
    assert b"tuidesk agent add 'mallory'" in proc.stderr
