"""Many agents, many hosts (issue 8), on PostgreSQL: two `tuidesk watch` processes on the same
channels take every mail exactly once and take over from each other when one dies; consoles
hear about changes through LISTEN/NOTIFY instead of polling (SQLite keeps the change token)."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.engine.conftest import mail
from tests.test_console import SIZE, loaded, pinned, until
from tuidesk.intervals import LEASE_SECONDS
from tuidesk.screens import main as main_screen
from tuidesk.screens import ticket as ticket_screen
from tuidesk.screens.app import TuideskApp
from tuidesk.screens.ticket import TicketScreen
from tuidesk.storage import changes as changes_module
from tuidesk.storage.changes import ChangeWaiter
from tuidesk.storage.db import make_engine, session_scope, transaction
from tuidesk.storage.ticket_list import change_token

postgresql = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
CHANNELS = ("ch0", "ch1", "ch2")
# A watcher that finds a channel's lease taken asks again every NOT_NOW_WAIT_S / 3 = 10 s, so
# a dead holder's channel is taken within the lease's 30 s plus one such wait, plus slack.
TAKEOVER_S = LEASE_SECONDS + 10 + 10


def eventually(check: Callable[[], bool], seconds: float, what: str) -> float:
    """Poll `check` until true; the seconds it took."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > seconds:
            raise AssertionError(f"not within {seconds} s: {what}")
        time.sleep(0.2)
    return time.monotonic() - start


def holder(proc: subprocess.Popen[bytes]) -> str:
    return f"{socket.gethostname()}:{proc.pid}"  # as channel_state.lease_holder names it


class Desk:
    """The database as the test reads it, beside the processes that write it."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)

    def scalar(self, sql: str) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar_one())

    def leases(self) -> dict[str, str]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT c.name, l.holder FROM channel_lease l"
                    " JOIN channel c ON c.id = l.channel_id"
                )
            )
            return {r.name: r.holder for r in rows}

    def exactly_once(self, tickets: int, messages: int) -> bool:
        """`messages` mails gave `tickets` tickets, one message each, no Message-ID twice."""
        return (
            self.scalar("SELECT count(*) FROM ticket") == tickets
            and self.scalar("SELECT count(*) FROM message") == messages
            and self.scalar("SELECT count(DISTINCT message_id) FROM message") == messages
        )


def _watcher(cli, log: Path) -> subprocess.Popen[bytes]:  # type: ignore[no-untyped-def]
    with log.open("wb") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "tuidesk", "watch", "--no-send", *CHANNELS],
            env=cli.env, stdout=subprocess.DEVNULL, stderr=err,
        )  # fmt: skip


@postgresql
def test_two_watchers_take_each_mail_once_and_one_takes_over_when_the_other_dies(
    cli, dovecot, mailbox, tmp_path
):
    users = [mailbox, f"{mailbox}b", f"{mailbox}c"]
    for n, (name, user) in enumerate(zip(CHANNELS, users, strict=True)):
        if user != mailbox:
            dovecot.add_user(user, f"pw-{user}")
        cli.env[f"PW_{n}"] = dovecot.password(user)
        cli("channel", "add", name, "--host", "127.0.0.1", "--port", str(dovecot.imaps_port),
            "--ssl", "--ca-file", dovecot.ca_file, "--username", user,
            "--password-env", f"PW_{n}", "--status", "active")  # fmt: skip
    sent = {"tickets": 0, "messages": 0}

    def send(n: int, label: str, *, reply_to: str | None = None) -> None:
        """A new mail, or a reply to `reply_to`'s label, into channel n's INBOX."""
        headers = f"From: c{n}@customer.test\nMessage-ID: <{label}@c{n}.test>\nSubject: {label}"
        if reply_to:
            headers += f"\nIn-Reply-To: <{reply_to}@c{n}.test>"
        dovecot.append(users[n], "INBOX", mail(headers))
        sent["messages"] += 1
        sent["tickets"] += reply_to is None

    desk = Desk(cli.env["TUIDESK_DATABASE_URL"])
    for n in range(3):  # waiting before either watcher starts
        for i in range(4):
            send(n, f"early{i}")
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = [_watcher(cli, log) for log in logs]
    try:
        eventually(lambda: desk.exactly_once(12, 12), 30, "the early mail")
        for n in range(3):  # while both run: new tickets and replies to the early ones
            send(n, "late0")
            send(n, "reply0", reply_to="early0")
            send(n, "late1")
            send(n, "reply1", reply_to="early1")
        eventually(lambda: desk.exactly_once(**sent), 30, "the mail sent while they run")
        assert sent == {"tickets": 18, "messages": 24}

        # Both ran; each channel was worked by exactly one of them, whose lease it holds.
        assert all(p.poll() is None for p in procs)
        leases = desk.leases()
        assert sorted(leases) == list(CHANNELS)
        assert set(leases.values()) <= {holder(p) for p in procs}
        logged = [log.read_text() for log in logs]
        assert all("watching ch0, ch1, ch2" in out for out in logged)
        for name in CHANNELS:
            workers = [
                p for p, out in zip(procs, logged, strict=True) if f"{name}: connected" in out
            ]
            assert [holder(p) for p in workers] == [leases[name]], name

        victim = next(p for p in procs if holder(p) == leases["ch0"])
        survivor = next(p for p in procs if p is not victim)
        orphaned = sorted(name for name, who in leases.items() if who == holder(victim))
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)  # reaped: a zombie's pid would still look alive
        for name in orphaned:
            n = CHANNELS.index(name)
            send(n, "after0")
            send(n, "reply2", reply_to="late0")

        def taken_over() -> bool:
            leases = desk.leases()
            return all(leases.get(name) == holder(survivor) for name in orphaned)

        took = eventually(
            lambda: taken_over() and desk.exactly_once(**sent), TAKEOVER_S, "the takeover"
        )
        print(f"{orphaned} taken over and their new mail in after {took:.1f} s")
        assert survivor.poll() is None
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=30)
        desk.engine.dispose()
    assert survivor.returncode == 0, logs[procs.index(survivor)].read_text()
    assert desk.exactly_once(**sent)
    assert desk.leases() == {}  # the survivor let go of everything on the way out


@pytest.fixture
def branch(cli):  # type: ignore[no-untyped-def]
    """The CLI, on a database with a Support branch (no mailbox needed)."""
    cli("branch", "edit", "Support", "--address", "support@example.com")
    return cli


def _wait_in_thread(waiter: ChangeWaiter, timeout: float) -> tuple[threading.Thread, dict]:
    result: dict = {}

    def run() -> None:
        result["changed"] = waiter.wait(timeout)
        result["at"] = time.monotonic()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


@postgresql
def test_a_waiter_on_postgresql_wakes_when_another_process_commits(branch, monkeypatch):
    cli = branch
    engine = make_engine(cli.env["TUIDESK_DATABASE_URL"])
    with ChangeWaiter(engine) as waiter:
        assert waiter.listening
        assert waiter.wait(0.3) is False  # nothing happened
        thread, result = _wait_in_thread(waiter, 30)
        cli("pipe", input=mail("From: new@customer.test\nSubject: Fresh mail"))
        done = time.monotonic()
        thread.join(timeout=30)
        # The commit comes before the pipe exits; the waiter woke about then, not 30 s later.
        assert result["changed"] is True and result["at"] - done < 0.5

        # A lost connection says "look", and listening starts again.
        monkeypatch.setattr(changes_module, "RETRY_S", 0)
        with engine.connect() as conn:
            backend = waiter._conn.info.backend_pid
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
        assert waiter.wait(5) is True and not waiter.listening
        waiter.wait(0.1)
        assert waiter.listening
        thread, result = _wait_in_thread(waiter, 30)
        cli("pipe", input=mail("From: again@customer.test\nSubject: After the reconnect"))
        thread.join(timeout=30)
        assert result["changed"] is True
    assert waiter._conn is None
    engine.dispose()


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_a_waiter_stops_at_once_when_asked(db_url):
    engine = make_engine(db_url)
    stop = threading.Event()
    with ChangeWaiter(engine, stop=stop) as waiter:
        thread, result = _wait_in_thread(waiter, 30)
        time.sleep(0.3)
        stop.set()
        asked = time.monotonic()
        thread.join(timeout=5)
        assert result["changed"] is False and result["at"] - asked < 0.5
    engine.dispose()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_on_sqlite_a_waiter_just_waits_and_the_change_token_moves(branch):
    cli = branch
    engine = make_engine(cli.env["TUIDESK_DATABASE_URL"])
    with engine.connect() as conn:
        before = change_token(conn)
    with ChangeWaiter(engine) as waiter:
        assert not waiter.listening
        thread, result = _wait_in_thread(waiter, 1.0)
        started = time.monotonic()
        cli("pipe", input=mail("From: new@customer.test\nSubject: Fresh mail"))
        thread.join(timeout=30)
        assert result["changed"] is False and result["at"] - started >= 0.9
    with engine.connect() as conn:
        assert change_token(conn) != before
    engine.dispose()


@pytest.fixture
def pg_console(branch, monkeypatch):  # type: ignore[no-untyped-def]
    """An engine on the PostgreSQL database with one ticket, and consoles that never poll:
    only a notification can bring them news."""
    monkeypatch.setattr(main_screen, "POLL_S", 3600)
    monkeypatch.setattr(main_screen, "RECHECK_S", 3600)
    monkeypatch.setattr(ticket_screen, "POLL_S", 3600)
    monkeypatch.setattr(ticket_screen, "RECHECK_S", 3600)
    branch("pipe", input=mail("From: Alice <alice@customer.test>\nSubject: Printer on fire"))
    engine = make_engine(branch.env["TUIDESK_DATABASE_URL"])
    yield engine
    engine.dispose()


@postgresql
async def test_the_console_on_postgresql_shows_a_piped_ticket_when_notified(
    pg_console, cli
) -> None:
    app = TuideskApp(pg_console, clock=pinned)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, [1])
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tuidesk", "pipe", env=cli.env, stdin=asyncio.subprocess.PIPE
        )
        await proc.communicate(mail("From: new@customer.test\nSubject: Fresh mail"))
        assert proc.returncode == 0
        tickets = await loaded(pilot, [2, 1])  # no poll: the notification brought it
        assert "Fresh mail" in tickets.render_line(1).text


@postgresql
async def test_an_open_ticket_on_postgresql_follows_a_change_when_notified(pg_console) -> None:
    from tuidesk.storage.ticket_actions import update_ticket

    app = TuideskApp(pg_console, clock=pinned)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, [1])
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, TicketScreen), "the ticket")
        screen = app.screen
        await until(pilot, lambda: screen.ticket is not None, "the ticket's messages")
        with transaction(pg_console) as conn:  # another console, on another host
            update_ticket(conn, "1", priority="urgent")
        await until(pilot, lambda: screen.ticket["priority"] == "urgent", "the other change")


@postgresql
def test_the_triggers_notify_on_commit_only(db_url):
    """Migration 0008: a rolled-back change says nothing; a committed one says which table."""
    import psycopg

    engine = make_engine(db_url)
    with psycopg.connect(db_url, autocommit=True) as listener:
        listener.execute("LISTEN tuidesk_changes")
        with engine.connect() as conn, conn.begin() as tx:
            conn.execute(text("DELETE FROM quarantine"))
            tx.rollback()
        assert list(listener.notifies(timeout=0.3)) == []
        with session_scope(engine) as s:
            s.execute(text("DELETE FROM quarantine"))
            s.execute(text("DELETE FROM ticket"))
        got = {n.payload for n in listener.notifies(timeout=1)}
        assert got == {"quarantine", "ticket"}
    engine.dispose()
