"""Merging and splitting tickets through the CLI and the pipe, on both databases: messages,
attachments, history and Cc move into the target, the source stays (closed, pointing there)
and mail threading to it lands in the target; a split takes messages out again; nothing is
ever deleted."""

from __future__ import annotations

import json
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.engine.conftest import mail
from tests.test_pipe import pipe, show
from tuidesk.storage.db import make_engine, transaction
from tuidesk.storage.history import Actor, record
from tuidesk.storage.merge import MergeError, split
from tuidesk.storage.tables import tables


@pytest.fixture
def desk(cli):  # type: ignore[no-untyped-def]
    """SUP-1 from Carol; SUP-2 from Alice, with bob in Cc and a PDF attached (one event on it
    already); Sales as a second branch."""
    cli("branch", "edit", "Support", "--address", "support@example.com", "--default")
    cli("branch", "add", "Sales", "--key", "SAL", "--address", "sales@example.com")
    pipe(cli, mail("From: carol@other.test\nMessage-ID: <c1@o>\nSubject: Printer jams"))
    alice = EmailMessage()
    alice["From"] = "Alice <alice@customer.test>"
    alice["To"] = "support@example.com"
    alice["Cc"] = "bob@customer.test"
    alice["Subject"] = "Printer"
    alice["Message-ID"] = "<a1@customer.test>"
    alice.set_content("It jams here too.\n")
    alice.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="log.pdf")
    pipe(cli, alice.as_bytes())
    with transaction(engine_of(cli)) as conn:
        record(conn, 2, "priority", Actor("system"), {"from": "normal", "to": "high"})
    return cli


def engine_of(cli):  # type: ignore[no-untyped-def]
    return make_engine(cli.env["TUIDESK_DATABASE_URL"])


def events(cli) -> list[tuple[int, str, dict[str, Any]]]:  # type: ignore[no-untyped-def]
    engine = engine_of(cli)
    with engine.connect() as conn:
        e = tables(conn).ticket_event
        rows = conn.execute(
            select(e.c.ticket_id, e.c.kind, e.c.data)
            .where(e.c.kind.not_in(("created", "message")))  # what mail wrote: test_history's
            .order_by(e.c.id)
        ).all()
    engine.dispose()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def counts(cli) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """Message and attachment rows: what no merge or split may lose."""
    engine = engine_of(cli)
    with engine.connect() as conn:
        t = tables(conn)
        found = tuple(
            conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (t.message, t.attachment)
        )
    engine.dispose()
    return found  # type: ignore[return-value]


def froms(ticket: dict[str, Any]) -> list[str]:
    return [m["from"]["email"] for m in ticket["messages"]]


def test_merge_moves_everything_and_mail_to_the_source_lands_in_the_target(desk) -> None:
    desk("ticket", "tag", "SUP-1", "+printer")
    desk("ticket", "tag", "SUP-2", "+printer", "+vip")
    before = counts(desk)
    out = json.loads(desk("ticket", "merge", "SUP-2", "SUP-1", "--json").stdout)
    assert out == {"source": "SUP-2", "into": "SUP-1", "messages": 1}
    target, source = show(desk, "SUP-1"), show(desk, "SUP-2")
    assert froms(target) == ["carol@other.test", "alice@customer.test"]
    assert [m["number"] for m in target["messages"]] == [1, 2]
    assert target["messages"][1]["attachments"][0]["filename"] == "log.pdf"
    assert target["messages"][1]["cc"] == [{"name": "", "email": "bob@customer.test"}]
    assert (target["merged_from"], target["merged_into"]) == (["SUP-2"], None)
    assert (source["status"], source["merged_into"], source["messages"]) == ("closed", "SUP-1", [])
    assert target["tags"] == source["tags"] == ["printer", "vip"]  # the source keeps its own
    assert counts(desk) == before
    assert events(desk) == [
        (1, "priority", {"from": "normal", "to": "high"}),  # SUP-2's history, now SUP-1's
        (1, "tags", {"added": ["printer"], "removed": []}),
        (1, "tags", {"added": ["printer", "vip"], "removed": []}),  # SUP-2's too
        (2, "status", {"from": "new", "to": "closed"}),
        (2, "merged", {"into": 1, "ref": "SUP-1"}),
        (1, "merged_from", {"from": 2, "ref": "SUP-2", "messages": 1}),
        (1, "tags", {"added": ["vip"], "removed": []}),  # only what SUP-1 lacked
    ]
    engine = engine_of(desk)
    with engine.connect() as conn:
        e = tables(conn).ticket_event
        who = select(e.c.actor_kind, e.c.actor_id, e.c.actor, e.c.at)
        actors = conn.execute(who.order_by(e.c.id.desc()).limit(2)).all()
    engine.dispose()
    assert actors[0] == actors[1]  # the tags by whoever merged, at the merge's moment
    human = desk("ticket", "show", "SUP-2").stdout.decode()
    assert "merged into SUP-1" in human
    assert "--- #2 in from alice@customer.test" in desk("ticket", "show", "SUP-1").stdout.decode()

    # The source's requester by its token, and bob (only in the source's Cc) by Message-ID:
    # both take part in the target now, and their replies land there.
    by_token = mail("From: alice@customer.test\nMessage-ID: <a2@c>\nSubject: Re: Printer [SUP-2]")
    out = pipe(desk, by_token)
    assert (out["action"], out["ticket"]) == ("commented", "SUP-1")
    by_id = mail(
        "From: bob@customer.test\nMessage-ID: <b2@c>\nIn-Reply-To: <a1@customer.test>\n"
        "Subject: Re: Printer"
    )
    out = pipe(desk, by_id)
    assert (out["action"], out["ticket"]) == ("commented", "SUP-1")
    assert froms(show(desk, "SUP-1"))[2:] == ["alice@customer.test", "bob@customer.test"]
    assert show(desk, "SUP-2")["messages"] == []
    # A stranger using the source's token is no more welcome in the target than in it.
    out = pipe(desk, mail("From: eve@evil.test\nMessage-ID: <e@e>\nSubject: Re: x [SUP-2]"))
    assert (out["action"], out["ticket"]) == ("created", "SUP-3")
    assert show(desk, "SUP-3")["linked"] == "SUP-1"


def test_merges_that_make_no_sense_are_refused_and_change_nothing(desk) -> None:
    pipe(desk, mail("From: dan@d.test\nTo: sales@example.com\nMessage-ID: <d@d>\nSubject: Quote"))
    desk("ticket", "merge", "SUP-2", "SUP-1")
    refusals = {
        ("SUP-1", "1"): "SUP-1 cannot be merged into itself",
        ("SUP-2", "SAL-3"): "SUP-2 was already merged into SUP-1",
        ("SAL-3", "SUP-2"): "SUP-2 was merged into another ticket: merge into SUP-1 instead",
        ("SUP-1", "SUP-2"): "SUP-2 was merged into another ticket: merge into SUP-1 instead",
        ("SUP-3", "SUP-1"): "no ticket SUP-3",
        ("SAL-3", "99"): "no ticket 99",
    }
    desk("ticket", "tag", "SAL-3", "+quote")
    before = events(desk), counts(desk)
    for (source, into), said in refusals.items():
        proc = desk("ticket", "merge", source, into, check=False)
        assert proc.returncode == 2 and proc.stderr.decode() == f"tuidesk: {said}\n"
    assert (events(desk), counts(desk)) == before
    assert show(desk, "SAL-3")["merged_into"] is None
    assert (show(desk, "SUP-1")["tags"], show(desk, "SUP-2")["tags"]) == ([], [])


def test_split_then_merge_back_round_trips_without_losing_anything(desk) -> None:
    before = counts(desk)
    desk("ticket", "merge", "SUP-2", "SUP-1")
    reply = mail("From: alice@customer.test\nMessage-ID: <a3@c>\nSubject: Re: Printer [SUP-1]")
    pipe(desk, reply)
    out = json.loads(desk("ticket", "split", "SUP-1", "--from-message", "2", "--json").stdout)
    assert out == {"original": "SUP-1", "ticket": "SUP-3", "messages": 2}
    new = show(desk, "SUP-3")
    assert (new["title"], new["branch"], new["status"]) == ("Printer", "SUP", "new")
    assert new["requester"] == {"name": "Alice", "email": "alice@customer.test"}
    assert froms(new) == ["alice@customer.test", "alice@customer.test"]
    assert new["messages"][0]["attachments"][0]["filename"] == "log.pdf"
    assert froms(show(desk, "SUP-1")) == ["carol@other.test"]
    first = new["messages"][0]["id"]
    assert events(desk)[-2:] == [
        (1, "split", {"to": 3, "ref": "SUP-3", "from_message": first, "messages": 2}),
        (3, "split_from", {"from": 1, "ref": "SUP-1", "from_message": first}),
    ]
    engine = engine_of(desk)
    changed = "SUP-3's messages changed meanwhile: nothing split"
    with pytest.raises(MergeError, match=changed), transaction(engine) as conn:
        split(conn, "SUP-3", 2, Actor("system"), message_id=first)  # the console's #2 was `first`
    engine.dispose()
    said = desk("ticket", "split", "SUP-3", "--from-message", "2").stdout.decode()
    assert said == "split 1 messages of SUP-3 into SUP-4\n"
    for n, why in ((1, "splitting SUP-1 from its first message would leave it empty"),
                   (2, "SUP-1 has no message 2 (it has 1)")):  # fmt: skip
        proc = desk("ticket", "split", "SUP-1", "--from-message", str(n), check=False)
        assert proc.returncode == 2 and proc.stderr.decode() == f"tuidesk: {why}\n"
    assert desk("ticket", "merge", "SUP-4", "SUP-1").returncode == 0
    assert counts(desk) == (before[0] + 1, before[1])  # the reply; every row still there
