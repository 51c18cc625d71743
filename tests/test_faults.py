"""Faults (issue 8), each bounded in time, on 127.0.0.1: a poller SIGKILLed again and again in
the middle of a batch, the IMAP server killed in the middle of a fetch, the database
unreachable during a pipe, the disk full while an attachment is stored. Whatever happens, no
mail is lost, none is stored twice, and each lands in its folder once the fault is gone.

Random choices come from a seeded `random.Random`; the seed is printed (shown on failure), and
TUIDESK_FAULT_SEED=N runs the same choices again."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import random
import re
import resource
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func
from sqlalchemy import select as sql_select

from tests.engine.conftest import mail
from tests.servers.dovecot import DovecotServer
from tests.test_imap import add_channel, folder_uids, poll

FOLDERS = {"created": "Done", "commented": "Done", "ignored": "Ignored", "quarantined": "Failed"}


def seeded() -> random.Random:
    seed = int(os.environ.get("TUIDESK_FAULT_SEED") or random.SystemRandom().randrange(2**32))
    print(f"random seed {seed}: TUIDESK_FAULT_SEED={seed} repeats this run's choices")
    return random.Random(seed)


# --- a mixed batch of mail and what must come of it ------------------------------------------


def mixed_mail(n: int, tag: str) -> tuple[list[bytes], dict[str, str], dict[str, int]]:
    """`n` mails: new tickets, replies to earlier ones (comments), auto-replies (ignored) and
    mail with no sender (quarantined). Returns the mails, each Message-ID's outcome, and how
    many messages each ticket title must end with."""
    raws: list[bytes] = []
    outcome: dict[str, str] = {}
    messages: dict[str, int] = {}
    for i in range(n):
        mid = f"<{tag}{i}@customer.test>"
        if i % 50 == 49:
            raw = mail(f"To: support@example.com\nMessage-ID: {mid}\nSubject: who {i}")
            outcome[mid] = "quarantined"
        elif i % 10 == 7:
            raw = mail(
                f"From: ooo{i}@customer.test\nAuto-Submitted: auto-replied\nMessage-ID: {mid}\n"
                f"Subject: Out of Office {i}"
            )
            outcome[mid] = "ignored"
        elif i % 5 == 3:  # answers mail i - 3, a new ticket (i - 3 is 0 or 5 modulo 10)
            raw = mail(
                f"From: c{i - 3}@customer.test\nMessage-ID: {mid}\n"
                f"In-Reply-To: <{tag}{i - 3}@customer.test>\nSubject: Re: {tag} {i - 3}",
                f"More about it, part {i}.\n",
            )
            outcome[mid] = "commented"
            messages[f"{tag} {i - 3}"] += 1
        else:
            raw = mail(f"From: c{i}@customer.test\nMessage-ID: {mid}\nSubject: {tag} {i}")
            outcome[mid] = "created"
            messages[f"{tag} {i}"] = 1
        raws.append(raw)
    return raws, outcome, messages


def folder_message_ids(dovecot: DovecotServer, user: str, folder: str) -> Counter[str]:
    """Each Message-ID in `folder`, counted: a mail moved twice would show up twice."""
    c = dovecot.client(user)
    try:
        if not c.folder_exists(folder):
            return Counter()
        c.select_folder(folder, readonly=True)
        uids = c.search()
        if not uids:
            return Counter()
        fetched = c.fetch(uids, ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
        found: Counter[str] = Counter()
        for data in fetched.values():
            header = data[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"].decode()
            match = re.search(r"<[^>]+>", header)
            found[match.group(0) if match else "(none)"] += 1
        return found
    finally:
        c.logout()


def assert_all_settled(
    cli, dovecot: DovecotServer, user: str, outcome: dict[str, str], messages: dict[str, int]
) -> None:  # type: ignore[no-untyped-def]
    """Exactly the expected tickets, comments and quarantined mail in the database, nothing
    twice, and every mail in its target folder once, none left in the INBOX."""
    from tuidesk.storage.db import make_engine
    from tuidesk.storage.tables import tables

    assert folder_uids(dovecot, user, "INBOX") == {}
    for folder in sorted(set(FOLDERS.values())):
        expected = Counter(mid for mid, action in outcome.items() if FOLDERS[action] == folder)
        assert folder_message_ids(dovecot, user, folder) == expected, folder
    engine = make_engine(cli.env["TUIDESK_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            t = tables(conn)
            per_ticket = conn.execute(
                sql_select(t.ticket.c.title, func.count(t.message.c.id))
                .join(t.message, t.message.c.ticket_id == t.ticket.c.id)
                .group_by(t.ticket.c.id, t.ticket.c.title)
            ).all()
            quarantined = conn.execute(sql_select(t.quarantine.c.message_id)).scalars().all()
            stored_ids = conn.execute(sql_select(t.message.c.message_id)).scalars().all()
    finally:
        engine.dispose()
    assert len(per_ticket) == len(messages), "a ticket too many or too few"
    assert dict(per_ticket) == messages
    assert Counter(stored_ids) == Counter(
        m for m, a in outcome.items() if a in ("created", "commented")
    )
    assert Counter(quarantined) == Counter(m for m, a in outcome.items() if a == "quarantined")


def append_all(dovecot: DovecotServer, user: str, raws: list[bytes]) -> None:
    c = dovecot.client(user)
    try:
        for raw in raws:
            c.append("INBOX", raw)
    finally:
        c.logout()


def start_poll(cli) -> subprocess.Popen[bytes]:  # type: ignore[no-untyped-def]
    """`tuidesk poll` in a session of its own, so its analysis workers can be cleaned up."""
    return subprocess.Popen(
        [sys.executable, "-m", "tuidesk", "poll", "--json"], env=cli.env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip


def reap_group(proc: subprocess.Popen[bytes]) -> None:
    """The poller is dead; its spawned analysis workers (same process group) go too."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


# --- 1. SIGKILL, 20 times over a 500-mail batch ----------------------------------------------

MAILS = 500
KILLS = 20


def committed(engine) -> int:  # type: ignore[no-untyped-def]
    """Mails whose outcome is committed (each has its ingest-log row)."""
    from tuidesk.storage.tables import tables

    with engine.connect() as conn:
        return conn.execute(sql_select(func.count()).select_from(tables(conn).ingest_log)).scalar()


def wait_until(check, proc: subprocess.Popen[bytes], timeout: float = 30) -> bool:  # type: ignore[no-untyped-def]
    """True once `check()` holds; False if the poller ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.01)
    raise AssertionError("the poller made no progress in time")


def test_a_poller_killed_20_times_mid_batch_still_settles_every_mail_once(cli, dovecot, mailbox):
    """Each kill lands at a random moment of a poll, of three kinds: while it starts, logs in
    and fetches ("start"); just after a batch was committed, before or while its mail is moved
    ("commit"); or a little after a batch was moved, inside the next one ("move"). The next
    poll starts at once (a dead local holder's lease is taken over, no 30 s wait). After the
    last kill one poll finishes the job: every mail became exactly its ticket, comment,
    ignore or quarantine, and sits in its folder once."""
    from tuidesk.storage.db import make_engine

    rng = seeded()
    add_channel(cli, dovecot, mailbox, "--success-folder", "Done",
                "--exclusion-folder", "Ignored", "--fail-folder", "Failed")  # fmt: skip
    raws, outcome, messages = mixed_mail(MAILS, "k")
    append_all(dovecot, mailbox, raws)
    engine = make_engine(cli.env["TUIDESK_DATABASE_URL"])
    history: list[str] = []
    left = MAILS
    first_commit = 1.0  # seconds from start to a first commit: measured on the way
    try:
        for n in range(KILLS):
            # Keep batches for the end: the last poll must have work to finish.
            stage = rng.choices(["start", "commit", "move"], [12, 5, 3])[0]
            early = left <= 250  # killed while Python still starts: it cannot commit
            if early:
                stage = "start"
            done_before = committed(engine)
            started = time.monotonic()
            proc = start_poll(cli)
            if early:
                time.sleep(rng.uniform(0.02, 0.12))
            elif stage == "start":
                time.sleep(rng.uniform(0.1, 0.8 * first_commit))
            elif stage == "commit":
                wait_until(lambda n=done_before: committed(engine) > n, proc)
                first_commit = min(first_commit, time.monotonic() - started)
                time.sleep(rng.uniform(0, 0.1))
            else:
                wait_until(lambda n=left: len(folder_uids(dovecot, mailbox, "INBOX")) < n, proc)
                time.sleep(rng.uniform(0, 0.2))
            proc.send_signal(signal.SIGKILL)
            code = proc.wait(timeout=30)
            reap_group(proc)
            proc.communicate()
            left = len(folder_uids(dovecot, mailbox, "INBOX"))
            history.append(
                f"kill {n} ({stage}): exit {code}, {committed(engine)} committed, {left} in INBOX"
            )
    finally:
        engine.dispose()
        print("\n".join(history))
    assert left > 0, "the kills left nothing for the last poll"
    assert sum("exit -9" in h for h in history) >= KILLS - 2, "most polls ended before the kill"
    start = time.monotonic()
    final = poll(cli)["support"]
    assert final["ok"] and final["fetched"] == left, (final, left)
    assert time.monotonic() - start < 25, "the last poll waited for a dead poller's lease"
    assert_all_settled(cli, dovecot, mailbox, outcome, messages)


# --- 2. the lease of a poller that died on this host -----------------------------------------


def _dead_pid() -> int:
    """The pid of a process that has just ended (and been reaped) on this host."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_lease_held_by_a_dead_local_process_is_taken_at_once_and_no_other(cli, db_engine):
    from sqlalchemy import update

    from tuidesk.storage.channel_state import acquire_lease, release_lease
    from tuidesk.storage.db import transaction
    from tuidesk.storage.tables import tables

    cli("channel", "add", "support", "--host", "127.0.0.1", "--port", "993",
        "--username", "support", "--password-env", "TUIDESK_TEST_PW")  # fmt: skip
    with db_engine.connect() as conn:
        channel_id = conn.execute(tables(conn).channel.select()).one().id
    host = socket.gethostname()
    me = f"{host}:{os.getpid()}"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        alive = f"{host}:{sleeper.pid}"
        with transaction(db_engine) as conn:
            # A poller (or the console's watcher, "host:pid:console") killed on this host.
            for dead in (f"{host}:{_dead_pid()}", f"{host}:{_dead_pid()}:console"):
                assert acquire_lease(conn, channel_id, dead)
                assert acquire_lease(conn, channel_id, me), dead
                release_lease(conn, channel_id, me)
                assert acquire_lease(conn, channel_id, dead)  # "dies" holding it again
            assert acquire_lease(conn, channel_id, me)
            # A live holder on this host keeps it: the dead one's former rivals lose too.
            assert not acquire_lease(conn, channel_id, alive)
            release_lease(conn, channel_id, me)
            assert acquire_lease(conn, channel_id, alive)
            assert not acquire_lease(conn, channel_id, me)
            release_lease(conn, channel_id, alive)
            # Another host's holder: its pid means nothing here; only expiry frees it.
            elsewhere = f"elsewhere.invalid:{_dead_pid()}"
            assert acquire_lease(conn, channel_id, elsewhere)
            assert not acquire_lease(conn, channel_id, me)
            assert not acquire_lease(conn, channel_id, f"{host}:x")
            lease = tables(conn).channel_lease
            past = datetime.now(UTC) - timedelta(seconds=1)
            conn.execute(update(lease).values(expires_at=past))
            assert acquire_lease(conn, channel_id, me)
    finally:
        sleeper.kill()
        sleeper.wait()


# --- 3. the IMAP server killed in the middle of a fetch --------------------------------------


@pytest.fixture
def own_dovecot() -> Iterator[DovecotServer]:
    """A Dovecot of this test's own: it is killed and restarted, so not the session's one."""
    server = DovecotServer().start()
    try:
        yield server
    finally:
        server.stop()


def test_the_imap_server_killed_mid_fetch_fails_the_poll_and_the_next_one_settles_all(
    cli, own_dovecot
):  # type: ignore[no-untyped-def]
    rng = seeded()
    dovecot, user = own_dovecot, "fault"
    dovecot.add_user(user, "pw-fault")
    cli.env["TUIDESK_TEST_PW"] = "pw-fault"
    cli("branch", "edit", "Support", "--address", "support@example.com")
    add_channel(cli, dovecot, user, "--success-folder", "Done",
                "--exclusion-folder", "Ignored", "--fail-folder", "Failed")  # fmt: skip
    # Large enough mail that fetching each batch of 50 takes a while.
    raws, outcome, messages = mixed_mail(250, "s")
    padding = "\r\n".join(f"log line {n} " + "x" * 60 for n in range(300)).encode()
    append_all(dovecot, user, [raw + padding for raw in raws])
    from tuidesk.storage.db import make_engine

    engine = make_engine(cli.env["TUIDESK_DATABASE_URL"])
    try:
        proc = start_poll(cli)
        assert wait_until(lambda: committed(engine) > 0, proc), "the poll ended too soon"
        time.sleep(rng.uniform(0, 0.1))  # well before the 250 are done, even on a fast machine
        dovecot.kill()
        out, err = proc.communicate(timeout=60)
        reap_group(proc)
        done = committed(engine)
        print(f"{done} of {len(raws)} committed when the server went")
    finally:
        engine.dispose()
    (result,) = json.loads(out)["channels"]
    assert proc.returncode == 1 and result["ok"] is False and result["error"], (result, err)
    assert done < len(raws), "the poll had finished before the server went"
    shown = json.loads(cli("channel", "show", "support", "--json").stdout)
    assert shown["failures"] == 1 and shown["last_error"]
    dovecot.restart()
    final = poll(cli)["support"]
    assert final["ok"] and final["fetched"] > 0, final
    assert_all_settled(cli, dovecot, user, outcome, messages)
    assert json.loads(cli("channel", "show", "support", "--json").stdout)["failures"] == 0


# --- 4. the database unreachable during a pipe -----------------------------------------------


class Relay:
    """A TCP relay to the suite's PostgreSQL that this test controls: nothing listening
    (connection refused) until `start()`, and with `cut_on` set it drops both sides the
    moment the client sends those bytes (the database gone in the middle of a transaction)."""

    def __init__(self, target_port: int) -> None:
        from tests.servers.postgres import free_port

        self.port = free_port()
        self.target_port = target_port
        self.cut_on: bytes | None = None
        self.cuts = 0
        self._listener: socket.socket | None = None
        self._stop = threading.Event()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        listener.settimeout(0.2)
        self._listener = listener
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        if self._listener is not None:
            self._listener.close()

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, client: socket.socket, server: socket.socket) -> None:
        with client, server:
            while not self._stop.is_set():
                ready, _, _ = select.select([client, server], [], [], 0.2)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if sock is client and self.cut_on and self.cut_on in data:
                        self.cuts += 1
                        for s in (client, server):
                            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
                        return  # closed with a reset: the connection is simply gone
                    (server if sock is client else client).sendall(data)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_pipe_with_the_database_gone_exits_75_and_the_retry_delivers(cli, db_url):
    """The MTA keeps a mail the pipe answered 75 to and delivers it again later: that later
    delivery must work and give exactly one ticket, whether the database could not be reached
    at all or went away in the middle of the transaction."""
    cli("branch", "edit", "Support", "--address", "support@example.com", "--default")
    port = int(re.search(r":(\d+)/", db_url).group(1))  # type: ignore[union-attr]
    relay = Relay(port)
    relayed = cli.__class__(cli.env["TUIDESK_HOME"], db_url.replace(f":{port}/", f":{relay.port}/"))
    first = mail("From: alice@customer.test\nMessage-ID: <gone1@c>\nSubject: Printer")
    second = mail("From: bob@customer.test\nMessage-ID: <gone2@c>\nSubject: Scanner")
    try:
        refused = relayed("pipe", "--json", input=first, check=False)
        assert refused.returncode == 75, refused.stderr
        relay.start()
        assert json.loads(relayed("pipe", "--json", input=first).stdout)["ticket"] == "SUP-1"
        relay.cut_on = b"INSERT INTO ticket"
        cut = relayed("pipe", "--json", input=second, check=False)
        assert (cut.returncode, relay.cuts) == (75, 1), cut.stderr
        relay.cut_on = None
        out = json.loads(relayed("pipe", "--json", input=second).stdout)
        assert out["action"] == "created", out
    finally:
        relay.stop()
    titles = sorted(t["title"] for t in json.loads(cli("ticket", "list", "--json").stdout))
    assert titles == ["Printer", "Scanner"]
    assert cli("pipe", "--json", input=second).stdout.count(b'"duplicate"') == 1


# --- 5. the disk full while an attachment is stored ------------------------------------------

LIMIT = 1 << 20  # bytes a file may grow to: the SQLite database (a few 100 kB) fits


def _capped() -> None:
    """In the child: no file may grow past LIMIT (write() then fails with EFBIG, the signal
    that would kill the process is ignored), as on a full disk."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


def test_a_full_disk_while_storing_an_attachment_defers_the_mail_and_loses_nothing(cli):
    """With no room left for its files the pipe answers 75 (the MTA keeps the mail) and
    writes no ticket, no log row and no half-written file; once there is room the same mail
    is delivered whole. Both ways a disk fills: before the mail's own raw copy is written,
    and after it (an earlier attempt left it), while the attachment is written."""
    from tuidesk.paths import resolve_paths
    from tuidesk.storage.blobs import BlobStore
    from tuidesk.storage.db import make_engine
    from tuidesk.storage.tables import tables

    rng = seeded()
    cli("branch", "edit", "Support", "--address", "support@example.com", "--default")
    data = rng.randbytes(2 * LIMIT)
    encoded = base64.encodebytes(data).decode()
    raw = mail(
        "From: alice@customer.test\nMessage-ID: <big@c>\nSubject: The log you asked for\n"
        'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"',
        "--b\nContent-Type: text/plain\n\nHere it is.\n"
        "--b\nContent-Type: application/octet-stream\nContent-Disposition: attachment; "
        'filename="big.log"\nContent-Transfer-Encoding: base64\n\n' + encoded + "--b--\n",
    )
    blobs = BlobStore(resolve_paths().blobs)

    def capped_pipe() -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "tuidesk", "pipe", "--json"], input=raw, env=cli.env,
            capture_output=True, preexec_fn=_capped, timeout=120,
        )  # fmt: skip

    def nothing_written() -> None:
        engine = make_engine(cli.env["TUIDESK_DATABASE_URL"])
        try:
            with engine.connect() as conn:
                t = tables(conn)
                for table in (t.ticket, t.message, t.attachment, t.ingest_log, t.quarantine):
                    count = conn.execute(sql_select(func.count()).select_from(table)).scalar()
                    assert count == 0, table.name
        finally:
            engine.dispose()
        assert not list(blobs.root.rglob(".tmp-*")), "a half-written file was left"
        assert not blobs.path(hashlib.sha256(data).hexdigest()).exists()

    full = capped_pipe()
    assert full.returncode == 75 and b"File too large" in full.stderr, full.stderr
    nothing_written()
    blobs.put(raw)  # an earlier attempt got the mail's own copy onto the disk
    full = capped_pipe()
    assert full.returncode == 75 and b"File too large" in full.stderr, full.stderr
    nothing_written()

    out = json.loads(cli("pipe", "--json", input=raw).stdout)
    assert out["action"] == "created"  # (PostgreSQL's sequence skipped the rolled-back ids)
    (message,) = json.loads(cli("ticket", "show", out["ticket"], "--json").stdout)["messages"]
    (attachment,) = message["attachments"]
    assert attachment["filename"] == "big.log" and attachment["size"] == len(data)
    assert blobs.get(hashlib.sha256(data).hexdigest()) == data
