"""`tuidesk pipe` as an MTA runs it: one mail on stdin, one committed outcome, exit codes that
keep mail safe."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.engine.conftest import mail


@pytest.fixture
def desk(cli):  # type: ignore[no-untyped-def]
    cli("branch", "edit", "Support", "--address", "support@example.com", "--default")
    cli("branch", "add", "Sales", "--key", "SAL", "--address", "sales@example.com")
    return cli


def pipe(cli, raw: bytes, *args: str) -> dict:  # type: ignore[no-untyped-def]
    proc = cli("pipe", "--json", *args, input=raw)
    return json.loads(proc.stdout)


def show(cli, ref: str) -> dict:  # type: ignore[no-untyped-def]
    return json.loads(cli("ticket", "show", ref, "--json").stdout)


def test_a_new_mail_becomes_a_ticket_with_every_field(desk):
    raw = mail(
        "From: Alice Smith <alice@customer.test>\nTo: sales@example.com\nCc: bob@customer.test\n"
        "Message-ID: <a1@customer.test>\nImportance: high\nSubject: Quote for 40 printers",
        "Hello,\nplease send a quote.\n",
    )
    out = pipe(desk, raw)
    assert out == {"action": "created", "ticket": "SAL-1", "reason": "new ticket in SAL"}
    t = show(desk, "SAL-1")
    assert (t["ref"], t["number"], t["title"], t["status"]) == (
        "SAL-1", 1, "Quote for 40 printers", "new"
    )  # fmt: skip
    assert (t["priority"], t["branch"], t["source"]) == ("high", "SAL", "email")
    assert t["requester"] == {"name": "Alice Smith", "email": "alice@customer.test"}
    (m,) = t["messages"]
    assert m["direction"] == "in" and m["message_id"] == "<a1@customer.test>"
    assert m["from"] == {"name": "Alice Smith", "email": "alice@customer.test"}
    assert m["to"] == [{"name": "", "email": "sales@example.com"}]
    assert m["cc"] == [{"name": "", "email": "bob@customer.test"}]
    assert m["body"] == m["full_body"] == "Hello,\nplease send a quote."
    assert set(t) >= {"queue", "type", "channel", "assignee", "created_at", "updated_at"}


def test_a_reply_is_a_comment_with_only_the_new_text_visible(desk):
    pipe(desk, mail("From: alice@customer.test\nMessage-ID: <q1@c>\nSubject: Printer"))
    reply = mail(
        "From: alice@customer.test\nMessage-ID: <q2@c>\nIn-Reply-To: <q1@c>\nSubject: Re: Printer",
        "It is a LaserJet.\n\nOn Mon, 2 Nov 2026, Alice <alice@customer.test> wrote:\n> Printer\n",
    )
    assert pipe(desk, reply)["action"] == "commented"
    second = show(desk, "SUP-1")["messages"][1]
    assert second["body"] == "It is a LaserJet."
    assert "> Printer" in second["full_body"]


def test_the_same_mail_piped_twice_gives_one_ticket(desk):
    raw = mail("From: alice@customer.test\nMessage-ID: <twice@c>\nSubject: once")
    assert pipe(desk, raw)["action"] == "created"
    assert pipe(desk, raw) == {
        "action": "duplicate",
        "ticket": "SUP-1",
        "reason": "already processed (same Message-ID and content)",
    }
    assert len(json.loads(desk("ticket", "list", "--json").stdout)) == 1


def test_machine_mail_is_ignored_with_its_reason(desk):
    out = pipe(desk, mail("From: a@b.test\nSubject: Out of Office: back Monday"))
    assert out["action"] == "ignored" and out["ticket"] is None and "machine mail" in out["reason"]


def test_bad_mail_is_quarantined_and_exits_zero(desk):
    out = pipe(desk, b"\x00\x01 not a mail at all")
    assert out["action"] == "quarantined" and out["reason"]
    (item,) = json.loads(desk("quarantine", "list", "--json").stdout)
    raw = desk("quarantine", "show", str(item["id"]), "--raw").stdout
    assert raw == b"\x00\x01 not a mail at all"


def test_dry_run_writes_nothing_and_explains_each_step(desk):
    raw = mail("From: alice@customer.test\nTo: sales@example.com\nSubject: dry")
    text = desk("pipe", "--dry-run", input=raw).stdout.decode()
    assert "action: created" in text and "sent to sales@example.com" in text
    decision = pipe(desk, raw, "--dry-run")
    assert decision["branch"] == "SAL" and [s["step"] for s in decision["steps"]][-2:] == [
        "map",
        "acknowledge",
    ]
    assert json.loads(desk("ticket", "list", "--json").stdout) == []


def test_a_channel_mapping_applies_to_its_mail(desk, tmp_path):
    conf = tmp_path / "c.toml"
    conf.write_text(
        '[[channel]]\nname = "eu"\nqueue = "Europe"\nattach_original = true\n'
        'field_defaults = { region = "EU" }\n'
    )
    desk("config", "import", str(conf))
    pipe(desk, mail("From: a@b.test\nSubject: hi"), "--channel", "eu")
    t = show(desk, "SUP-1")
    assert (t["queue"], t["channel"], t["custom_fields"]) == ("Europe", "eu", {"region": "EU"})
    assert [a["filename"] for a in t["messages"][0]["attachments"]] == ["original.eml"]


def test_an_unknown_channel_exits_64_so_the_mta_bounces_it_to_the_postmaster(desk):
    """Retrying cannot make the channel exist: a deferred mail would wait for days unseen."""
    url = desk.env["TUIDESK_DATABASE_URL"]
    for spelling in (["pipe"], ["--db", url, "pipe"]):  # our own parser, and typer's
        proc = desk(
            *spelling, "--channel", "nope", input=mail("From: a@b.test"), check=False, process=True
        )
        assert proc.returncode == 64, proc.stderr
        assert b"tuidesk pipe: --channel: no channel named 'nope'" in proc.stderr
    assert json.loads(desk("ticket", "list", "--json").stdout) == []


def test_an_unreachable_database_exits_75(cli):
    proc = cli.__class__(cli.env["TUIDESK_HOME"], "postgresql://u@127.0.0.1:9/none")(
        "pipe", input=mail("From: a@b.test"), check=False, process=True
    )
    assert proc.returncode == 75, proc.stderr


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_database_locked_past_its_timeout_exits_75(desk, db_url):
    path = db_url.removeprefix("sqlite:///")
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        env = desk.env | {"TUIDESK_DB_TIMEOUT": "0.5"}
        proc = subprocess.run(
            [sys.executable, "-m", "tuidesk", "pipe"],
            input=mail("From: a@b.test\nSubject: locked"),
            capture_output=True,
            env=env,
        )
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert proc.returncode == 75, proc.stderr
    assert json.loads(desk("ticket", "list", "--json").stdout) == []


def test_parallel_pipes_all_succeed(desk):
    """An MTA delivers in parallel: 12 mails at once, 12 tickets, every pipe exits 0."""
    raws = [
        mail(f"From: c{i}@customer.test\nMessage-ID: <p{i}@c>\nSubject: n{i}") for i in range(12)
    ]
    with ThreadPoolExecutor(max_workers=12) as pool:
        procs = list(
            pool.map(lambda r: desk("pipe", "--json", input=r, check=False, process=True), raws)
        )
    assert [p.returncode for p in procs] == [0] * 12, [p.stderr for p in procs]
    refs = sorted(json.loads(p.stdout)["ticket"] for p in procs)
    assert len(set(refs)) == 12


def test_the_same_mail_piped_in_parallel_still_gives_one_ticket(desk):
    raw = mail("From: alice@customer.test\nMessage-ID: <race@c>\nSubject: race")
    barrier = threading.Barrier(6)

    def deliver(_: int) -> dict:
        barrier.wait()
        return json.loads(desk("pipe", "--json", input=raw, process=True).stdout)

    with ThreadPoolExecutor(max_workers=6) as pool:
        outs = list(pool.map(deliver, range(6)))
    assert sorted(o["action"] for o in outs) == ["created"] + ["duplicate"] * 5
    assert {o["ticket"] for o in outs} == {"SUP-1"}


def test_the_pipe_path_imports_neither_textual_nor_the_orm_nor_typer(desk):
    """Start-up dominates a pipe: it loads only what delivery uses."""
    code = (
        "import sys, io; sys.argv=['tuidesk','pipe','--dry-run'];"
        "sys.stdin=io.TextIOWrapper(io.BytesIO(b'From: a@b.test\\n\\nhi'));"
        "from tuidesk.entry import main\n"
        "try: main()\nexcept SystemExit as e: assert e.code == 0, e.code\n"
        "heavy = {'textual', 'sqlmodel', 'sqlalchemy.orm', 'pydantic', 'typer', 'rich'}\n"
        "print(sorted(heavy & set(sys.modules)))"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=desk.env, capture_output=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().splitlines()[-1] == "[]"


def test_a_mistyped_pipe_command_bounces_the_mail_with_64(desk):
    url = desk.env["TUIDESK_DATABASE_URL"]
    for spelling in (["pipe"], ["--db", url, "pipe"]):
        proc = desk(
            *spelling, "--no-such-flag", input=mail("From: a@b.test"), check=False, process=True
        )
        assert proc.returncode == 64 and b"--no-such-flag" in proc.stderr, proc.stderr
    assert json.loads(desk("ticket", "list", "--json").stdout) == []


def test_the_typer_spelling_with_a_global_db_option_delivers_too(desk):
    out = desk(
        "--db", desk.env["TUIDESK_DATABASE_URL"], "pipe", "--json", input=mail("From: a@b.test")
    )
    assert json.loads(out.stdout)["action"] == "created"


# A bounce's From may hold no address at all ("MAILER-DAEMON <>", as DragonFly and others send
# it): it is a note on the ticket all the same (it was quarantined as an internal error).
@pytest.mark.parametrize("sender", ["MAILER-DAEMON@mx.customer.test", "MAILER-DAEMON <>"])
def test_a_bounce_of_our_reply_becomes_a_note_on_its_ticket(desk, db_url, sender):
    """Outbound mail arrives with the outbound issue; here our sent message is written directly."""
    from sqlalchemy import insert

    from tuidesk.storage.db import make_engine, transaction
    from tuidesk.storage.tables import tables, utcnow

    pipe(desk, mail("From: alice@customer.test\nSubject: Printer"))
    engine = make_engine(db_url)
    with transaction(engine) as conn:
        conn.execute(
            insert(tables(conn).message),
            {
                "ticket_id": 1, "direction": "out", "message_id": "<reply-1@example.com>",
                "from_name": "Support", "from_email": "support@example.com", "to": [], "cc": [],
                "subject": "Re: Printer [SUP-1]", "body": "b", "full_body": "b",
                "created_at": utcnow(),
            },
        )  # fmt: skip
    engine.dispose()
    bounce = mail(
        f"From: {sender}\nSubject: Undelivered Mail Returned to Sender\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"',
        "--b\nContent-Type: text/plain\n\nalice@customer.test: mailbox full\n"
        "--b\nContent-Type: message/delivery-status\n\n"
        "Final-Recipient: rfc822; alice@customer.test\n"
        "Action: failed\nStatus: 5.2.2\n"
        "--b\nContent-Type: text/rfc822-headers\n\nMessage-ID: <reply-1@example.com>\n--b--\n",
    )
    out = pipe(desk, bounce)
    assert (out["action"], out["ticket"]) == ("commented", "SUP-1")
    note = show(desk, "SUP-1")["messages"][-1]
    assert note["direction"] == "note" and "mailbox full" in note["body"]
    unrelated = bounce.replace(b"reply-1@example.com", b"someone-else@example.com")
    assert pipe(desk, unrelated)["action"] == "ignored"
