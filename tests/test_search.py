"""Search: the query language, the full-text index kept right by whoever writes, ranking with
the newest first among equals, CJK and accents, the CLI's JSON, on SQLite and PostgreSQL with
the same results (every database test asserts exact refs, so both must agree)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.style import Style
from sqlalchemy import update
from textual.widgets import Input, Static

from tests.admin_pilot import until
from tests.conftest import route_support
from tests.snapshots import assert_snapshot
from tuidesk.engine.search_query import (
    Query,
    QueryError,
    as_typed,
    highlight_terms,
    match_spans,
    parse_query,
    snippet,
    whole_address,
)
from tuidesk.screens.app import TuideskApp
from tuidesk.services.ingest import Ingestor
from tuidesk.storage import search as search_module
from tuidesk.storage.agents import save_agent
from tuidesk.storage.blobs import BlobStore
from tuidesk.storage.branches import save_branch
from tuidesk.storage.db import make_engine, session_scope, transaction
from tuidesk.storage.outbox import add_note
from tuidesk.storage.search import search
from tuidesk.storage.search_index import backfill
from tuidesk.storage.tables import tables
from tuidesk.storage.ticket_actions import update_ticket
from tuidesk.widgets.highlight import MATCH_STYLE
from tuidesk.widgets.ticket_list import TicketList


def test_the_query_language_parses_every_operator():
    q = parse_query(
        'printer "paper jam" -toner -"old quote" from:jane@example.com to:"Billing Team" '
        "status:Open status:pending assignee:me branch:SUP queue:Billing tag:vip tag:urgent "
        "has:attachment after:2026-01-01 before:2026-02-01 re:invoice"
    )
    assert q == Query(
        words=("printer", "re:invoice"),
        phrases=("paper jam",),
        excluded=("toner", "old quote"),
        senders=("jane@example.com",),
        recipients=("Billing Team",),
        statuses=("open", "pending"),
        assignees=("me",),
        branches=("SUP",),
        queues=("Billing",),
        tags=("vip", "urgent"),
        has_attachment=True,
        after=date(2026, 1, 1),
        before=date(2026, 2, 1),
    )
    # A whole address in from: is that address; anything else its words.
    assert [whole_address(v) for v in ("Jane@Example.COM", "jane", "jane@localhost")] == [
        "jane@example.com",
        None,
        None,
    ]
    # A lone ref names a ticket; beside other words it is a word; an open quote runs on.
    assert parse_query("SUP-42").refs == (("SUP", 42),)
    assert parse_query("42").refs == ((None, 42),)
    assert parse_query("error 42").refs == ()
    assert parse_query('"unfinished phrase').phrases == ("unfinished phrase",)
    assert parse_query(' - "" ').empty
    # `word*` matches words that begin so; the merge picker makes the word being typed one.
    prefixed = parse_query('print* "paper jam*" -ton* 東京*')
    assert (prefixed.prefixes, prefixed.phrases) == (("print",), ("paper jam*",))
    assert (prefixed.excluded, prefixed.words) == (("ton",), ("東京",))  # CJK: substrings already
    assert highlight_terms(prefixed)[-1] == "print*"
    typed = ("pas", "pass ", "SUP-4", "42", "from:bob", '"pap', "a b", "a -b")
    assert [as_typed(t) for t in typed] == [
        "pas*",
        "pass ",
        "SUP-4",
        "42",
        "from:bob",
        '"pap',
        "a b*",
        "a -b",
    ]
    for bad in ("status:lost", "has:pets", "before:2026-13-01", "-status:open"):
        with pytest.raises(QueryError):
            parse_query(bad)


@given(st.text(max_size=60))
def test_any_text_parses_or_says_why(text: str) -> None:
    try:
        parsed = parse_query(text)
    except QueryError:
        return
    terms = highlight_terms(parsed)
    assert all(t == t.casefold() for t in terms)


def test_matches_are_found_whatever_the_case_and_accents_and_snippets_mark_them():
    terms = highlight_terms(parse_query("creme CAFÉ 東京"))
    text = "Un Café Crème, près de la gare de 東京都"
    assert [text[s:e] for s, e in match_spans(text, terms)] == ["Café", "Crème", "東京"]
    assert match_spans("cafeteria", terms) == []
    # Whole words wherever they stand: first, before or after _, never after a letter or digit.
    edges = "café, xcafé café_ 2café _café"
    assert [edges[s:e] for s, e in match_spans(edges, terms)] == ["café"] * 3
    prefix = "Crèmes acre crème_x 1creme"
    assert [prefix[s:e] for s, e in match_spans(prefix, ("cre*",))] == ["Crèmes", "crème"]
    long = "word " * 100 + "the café is closed " + "word " * 100
    shown = snippet(long, terms)
    assert "the [café] is closed" in shown and shown.startswith("…") and shown.endswith("…")
    assert [snippet("no match", terms, or_start=o) for o in (True, False)] == ["no match", ""]


def _mail(sender: str, subject: str, body: str, *, to: str = "support@example.com",
          cc: str | None = None, attach: str | None = None, msgid: str) -> bytes:  # fmt: skip
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{msgid}@customer.test>"
    msg.set_content(body)
    if attach:
        msg.add_attachment(b"%PDF-1.4\n", maintype="application", subtype="pdf", filename=attach)
    return msg.as_bytes()


MAILS = [  # SUP-1 .. SUP-6, updated on the day of their number in January 2026
    _mail("Alice Smith <alice@customer.test>", "Printer on fire",
          "My printer is on fire. The toner smells.", attach="invoice-scan.pdf", msgid="a"),
    _mail("Bob <bob@acme.test>", "Invoice question",
          "The printer invoice is wrong: error code:500. Un café crème, s'il vous plaît.",
          cc="Carol Partner <carol@partner.test>", msgid="b"),
    _mail("Chen <chen@example.cn>", "東京の件", "東京都の倉庫で問題が発生しました。", msgid="c"),
    _mail("Dave <dave@x.test>", "Network down", "the network is down again", msgid="d"),
    _mail("erin.dave@x.test", "Network down", "the network is down again", msgid="e"),
    _mail("Frank <frank@z.test>", "Quote", "a new laptop please", to="sales@example.com",
          msgid="f"),
]  # fmt: skip


@pytest.fixture
def desk(_isolated_home: Path, db_url: str):  # type: ignore[no-untyped-def]
    """Six tickets from MAILS: Dana has SUP-1, SUP-2 is pending in the Billing queue and
    tagged vip, SUP-6 is on the Sales branch."""
    engine = make_engine(db_url)
    with session_scope(engine) as s:
        route_support(s)
        save_branch(s, name="Sales", key="SAL", addresses=["sales@example.com"], domains=[])
        dana = save_agent(s, name="Dana Agent", email="dana@example.com", login="dana").id
    ingest = Ingestor(engine, BlobStore(_isolated_home / "blobs"), source="import")
    for raw in MAILS:
        ingest.ingest(raw)
    with transaction(engine) as conn:
        update_ticket(conn, "SUP-1", assignee="dana")
        update_ticket(conn, "SUP-2", status="pending", queue="Billing")
        t = tables(conn)
        conn.execute(t.ticket_tag.insert().values(ticket_id=2, tag="vip"))
        for number in range(1, 7):
            when = datetime(2026, 1, number, 12, tzinfo=UTC)
            conn.execute(update(t.ticket).where(t.ticket.c.id == number).values(updated_at=when))
    engine.dana = dana  # type: ignore[attr-defined]
    yield engine
    engine.dispose()


def _refs(engine, text: str, agent_id: int | None = None) -> list[str]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return [t.ref for t in search(conn, parse_query(text), agent_id=agent_id).tickets]


def test_every_operator_finds_the_same_tickets_on_both_databases(desk, monkeypatch):
    cases = {
        "printer": ["SUP-1", "SUP-2"],  # in SUP-1's subject and body: ranked above SUP-2
        "PRINTER scan": ["SUP-1"],  # scan is in the name of its attachment only
        '"printer is on fire"': ["SUP-1"],
        '"fire printer"': [],
        "printer -toner": ["SUP-2"],
        "network": ["SUP-5", "SUP-4"],  # the same text: the newest first
        "cafe": ["SUP-2"],
        "crème CAFÉ": ["SUP-2"],
        "code:500": ["SUP-2"],  # an unknown key is a word
        "東京": ["SUP-3"],
        "倉庫で問題": ["SUP-3"],
        "東京 -倉庫": [],
        "from:alice": ["SUP-1"],
        "from:alice@customer.test": ["SUP-1"],
        'from:"alice smith" printer': ["SUP-1"],
        "from:bob@customer.test": [],
        "from:dave@x.test": ["SUP-4"],  # that address (SUP-4's mail and requester), any case:
        "from:DAVE@X.TEST": ["SUP-4"],  # not erin.dave@x.test's
        "from:dave": ["SUP-4", "SUP-5"],  # words: both, Dave's first (his name and address)
        "from:alice@customer.test fire": ["SUP-1"],
        "from:alice@customer.test status:pending": [],
        "from:bob@acme.test status:pending": ["SUP-2"],
        "from:alice@customer.test -toner": [],
        "from:alice@customer.test from:bob@acme.test": [],  # one document for every from:
        "from:carol@partner.test": [],  # in Cc: not a sender
        "to:carol@partner.test": ["SUP-2"],
        "to:sales": ["SAL-6"],
        "status:pending": ["SUP-2"],
        "status:new status:pending network": ["SUP-5", "SUP-4"],
        "assignee:me": ["SUP-1"],
        "assignee:dana printer": ["SUP-1"],
        "assignee:none printer": ["SUP-2"],
        "branch:sal": ["SAL-6"],
        "branch:Sales laptop": ["SAL-6"],
        "queue:billing": ["SUP-2"],
        "tag:VIP": ["SUP-2"],
        "has:attachment": ["SUP-1"],
        "after:2026-01-04 before:2026-01-06": ["SUP-5", "SUP-4"],
        "SUP-3": ["SUP-3"],
        "4": ["SUP-4"],
        "SAL-6": ["SAL-6"],
        "COVID-19": [],  # no branch COVID: a word, found nowhere
        "print*": ["SUP-1", "SUP-2"],  # a prefix
        "netw* dow*": ["SUP-5", "SUP-4"],
        "invoice-sc*": ["SUP-1"],  # a phrase whose last word is a prefix (attachment name)
        "cré*": ["SUP-2"],  # accents folded in a prefix too
        "printe* -toner": ["SUP-2"],
        "printers*": [],
    }
    got = {text: _refs(desk, text, agent_id=desk.dana) for text in cases}
    assert got == cases
    # PostgreSQL reads the matches in windows of ids, newest first (a million tickets' worth
    # in a few): windows of one id here find the same, through every kind of window.
    monkeypatch.setattr(search_module, "WINDOW", 1)
    assert {text: _refs(desk, text, agent_id=desk.dana) for text in cases} == cases
    # Through the index, a window asks only for the rarest words pg_stats knows of (the rest
    # checked in what it gives), or the index alone reads the rest: the same.
    _analyze(desk)
    assert {text: _refs(desk, text, agent_id=desk.dana) for text in cases} == cases
    monkeypatch.undo()
    with desk.connect() as conn:
        pg = conn.dialect.name == "postgresql"
        names = ("jit", "max_parallel_workers_per_gather", "work_mem")
        show = "SELECT " + ", ".join(f"current_setting('{name}')" for name in names)
        settings = conn.exec_driver_sql(show).one() if pg else None
        found = search(conn, parse_query("printer"), limit=1)
        # PostgreSQL's window statements run with settings of their own; the rest of
        # the caller's transaction runs as it did.
        assert (conn.exec_driver_sql(show).one() if pg else None) == settings
        assert (found.total, found.exact, len(found.tickets)) == (2, True, 1)
        top = found.tickets[0]
        assert (top.title, top.status) == ("Printer on fire", "new")
        assert top.snippet.startswith("My [printer] is on fire.")  # a message's, not the title
        cjk = search(conn, parse_query("倉庫")).tickets[0].snippet
        assert "[倉庫]" in cjk


def _analyze(engine) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL's statistics of the index, which its windows read (what words are common)."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("ANALYZE search_doc, search_title")
            stats = "SELECT count(*) FROM pg_stats WHERE most_common_elems IS NOT NULL"
            assert conn.exec_driver_sql(f"{stats} AND tablename = 'search_doc'").scalar() == 1


def test_the_index_follows_replies_title_edits_moved_messages_and_names(desk, monkeypatch):
    _analyze(desk)  # before the note: its words are none that pg_stats lists
    with transaction(desk) as conn:
        add_note(conn, "SUP-4", "Swapped the zebra switch in rack 9.", agent_id=desk.dana)
    assert _refs(desk, "zebra") == ["SUP-4"]
    assert _refs(desk, "from:dana zebra") == _refs(desk, "from:dana@example.com") == ["SUP-4"]
    monkeypatch.setattr(search_module, "WINDOW", 1)
    assert _refs(desk, '"the zebra" switch') == _refs(desk, "the rack") == ["SUP-4"]
    monkeypatch.undo()
    with transaction(desk) as conn:
        t = tables(conn)
        conn.execute(update(t.ticket).where(t.ticket.c.id == 6).values(title="Laptop order"))
        note = conn.execute(t.message.select().where(t.message.c.body.contains("zebra"))).one()
        conn.execute(update(t.message).where(t.message.c.id == note.id).values(ticket_id=5))
        conn.execute(
            update(t.contact).where(t.contact.c.email == "frank@z.test").values(name="Francesca")
        )
        conn.execute(t.attachment.delete())
    assert _refs(desk, "zebra") == ["SUP-5"]  # moved, as a merge moves it: nothing re-indexed
    assert _refs(desk, '"laptop order"') == ["SAL-6"]
    assert _refs(desk, "francesca") == ["SAL-6"]
    assert _refs(desk, "has:attachment") == [] and _refs(desk, "scan") == []
    # Rebuilding from the data gives the same answers: the triggers never drifted.
    with transaction(desk) as conn:
        assert backfill(conn, progress=lambda done, total: None) == 6 + 7
    assert _refs(desk, "zebra") == ["SUP-5"] and _refs(desk, "francesca") == ["SAL-6"]


def test_cli_search_prints_the_json_contract_and_refuses_a_bad_query(desk, cli):
    out = json.loads(cli("ticket", "search", "printer", "--limit", "1", "--json").stdout)
    assert out == {
        "tickets": [
            {
                "ref": "SUP-1",
                "title": "Printer on fire",
                "status": "new",
                "updated_at": "2026-01-01T12:00:00+00:00",
                "snippet": out["tickets"][0]["snippet"],
            }
        ],
        "total": 2,
    }
    shown = cli("ticket", "search", "network")
    assert shown.stdout.decode().splitlines()[0].startswith("SUP-5")
    assert b"2 found" in shown.stderr
    bad = cli("ticket", "search", "status:lost", check=False)
    assert bad.returncode == 2 and b"no such status" in bad.stderr
    assert cli("ticket", "search", "  ", check=False).returncode == 2


def _marked(text, style: str = MATCH_STYLE) -> list[str]:  # type: ignore[no-untyped-def]
    """The words of a rich Text (or a Strip's segments) shown in the search's style."""
    if hasattr(text, "spans"):
        return [text.plain[s.start : s.end] for s in text.spans if str(s.style) == style]
    return [seg.text for seg in text if seg.style and Style.parse(style) in (seg.style,)]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the console: once
async def test_slash_searches_with_the_language_and_marks_the_words(desk) -> None:
    app = TuideskApp(desk, clock=lambda: datetime(2026, 1, 7, 9, tzinfo=UTC))
    async with app.run_test(size=(120, 20)) as pilot:
        tickets = app.screen.query_one(TicketList)
        await until(pilot, lambda: tickets.ids == [6, 5, 4, 3, 2, 1], "every ticket")
        await pilot.press("slash", *"status:lost", "enter")  # refused where it was typed
        assert app.screen.query_one("#search").has_class("open")
        assert any("no such status" in str(n.message) for n in app._notifications)
        search = app.screen.query_one("#search", Input)
        search.value = "PRINTER -toner"
        await pilot.press("enter")
        await until(pilot, lambda: tickets.ids == [2], "the search's ticket")
        await pilot.press("slash")
        search.value = "printer"
        await pilot.press("enter")
        await until(pilot, lambda: tickets.ids == [1, 2], "printer, ranked")
        assert_snapshot(app.export_screenshot(), "console_search_marked")
        assert _marked(tickets._render_ticket(tickets._rows[1], tickets._columns(118))) == [
            "Printer"
        ]
        await pilot.press("enter")
        screen = app.screen
        await until(pilot, lambda: len(screen.query(".message")) == 1, "the ticket's message")
        shown = screen.query_one(".message", Static).content
        assert _marked(shown) == ["printer"]
