"""IMAP channels against a real Dovecot: poll for cron, folder moves, crash safety, leases,
failures and `channel test`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta

from tests.engine.conftest import mail
from tests.servers.dovecot import DovecotServer
from tuidesk.intervals import LEASE_SECONDS


def add_channel(cli, dovecot, user, *extra, name="support"):  # type: ignore[no-untyped-def]
    cli("channel", "add", name, "--host", "127.0.0.1", "--port", str(dovecot.imaps_port),
        "--ssl", "--ca-file", dovecot.ca_file, "--username", user,
        "--password-env", "TUIDESK_TEST_PW", "--status", "active", *extra)  # fmt: skip


def poll(cli, *args, check=True) -> dict:  # type: ignore[no-untyped-def]
    proc = cli("poll", "--json", *args, check=check)
    return {c["name"]: c for c in json.loads(proc.stdout)["channels"]}


def folder_uids(dovecot, user, folder) -> dict[int, list]:  # type: ignore[no-untyped-def]
    c = dovecot.client(user)
    try:
        if not c.folder_exists(folder):
            return {}
        c.select_folder(folder, readonly=True)
        uids = c.search()
        return (
            {uid: data[b"FLAGS"] for uid, data in c.fetch(uids, ["FLAGS"]).items()} if uids else {}
        )
    finally:
        c.logout()


def tickets(cli) -> list[dict]:  # type: ignore[no-untyped-def]
    return json.loads(cli("ticket", "list", "--json").stdout)


FIRST = mail("From: Alice <alice@customer.test>\nMessage-ID: <a1@customer.test>\nSubject: Printer")
REPLY = mail(
    "From: alice@customer.test\nMessage-ID: <a2@customer.test>\nIn-Reply-To: <a1@customer.test>\n"
    "Subject: Re: Printer",
    "It is a LaserJet.\n\nOn Mon, 2 Nov 2026, Alice wrote:\n> Printer\n",
)
AUTO = mail("From: bob@customer.test\nAuto-Submitted: auto-replied\nSubject: Out of Office")
NO_SENDER = mail("To: support@example.com\nSubject: who sent this")


def test_new_mail_becomes_tickets_and_each_outcome_moves_to_its_folder(cli, dovecot, mailbox):
    add_channel(cli, dovecot, mailbox, "--success-folder", "Done",
                "--exclusion-folder", "Ignored", "--fail-folder", "Failed")  # fmt: skip
    for raw in (FIRST, AUTO, NO_SENDER):
        dovecot.append(mailbox, "INBOX", raw)
    result = poll(cli)["support"]
    assert result == {
        "name": "support", "ok": True, "fetched": 3, "created": 1, "commented": 0, "worked": 0,
        "ignored": 1, "duplicates": 0, "quarantined": 1, "error": None, "skipped": None,
    }  # fmt: skip
    dovecot.append(mailbox, "INBOX", REPLY)
    assert poll(cli)["support"]["commented"] == 1
    (ticket,) = tickets(cli)
    assert (ticket["ref"], ticket["channel"]) == ("SUP-1", "support")
    shown = json.loads(cli("ticket", "show", "SUP-1", "--json").stdout)
    assert [m["body"] for m in shown["messages"]][1] == "It is a LaserJet."
    assert folder_uids(dovecot, mailbox, "INBOX") == {}
    done = folder_uids(dovecot, mailbox, "Done")
    assert len(done) == 2 and all(b"\\Seen" not in flags for flags in done.values())
    assert len(folder_uids(dovecot, mailbox, "Ignored")) == 1
    assert len(folder_uids(dovecot, mailbox, "Failed")) == 1


def test_without_move_folders_mail_stays_and_is_not_fetched_again(cli, dovecot, mailbox):
    add_channel(cli, dovecot, mailbox)
    dovecot.append(mailbox, "INBOX", FIRST)
    assert poll(cli)["support"]["created"] == 1
    again = poll(cli)["support"]
    assert (again["fetched"], again["created"]) == (0, 0)
    assert len(folder_uids(dovecot, mailbox, "INBOX")) == 1


def test_a_new_uidvalidity_rescans_and_dedup_keeps_one_ticket_per_mail(cli, dovecot, mailbox):
    add_channel(cli, dovecot, mailbox, "--folder", "Support")
    dovecot.append(mailbox, "Support", FIRST)
    assert poll(cli)["support"]["created"] == 1
    c = dovecot.client(mailbox)
    c.delete_folder("Support")
    c.logout()
    dovecot.append(mailbox, "Support", FIRST)
    dovecot.append(mailbox, "Support", mail("From: carol@customer.test\nSubject: Scanner"))
    result = poll(cli)["support"]
    assert (result["fetched"], result["duplicates"], result["created"]) == (2, 1, 1)


def test_a_poller_killed_mid_batch_loses_and_duplicates_nothing(cli, dovecot, mailbox):
    add_channel(cli, dovecot, mailbox, "--success-folder", "Done")
    total = 130
    c = dovecot.client(mailbox)
    for i in range(total):
        c.append("INBOX", mail(f"From: c{i}@customer.test\nMessage-ID: <k{i}@c>\nSubject: n{i}"))
    c.logout()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tuidesk", "poll"], env=cli.env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(folder_uids(dovecot, mailbox, "Done")) == 0:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the poller finished before it could be killed"
    assert len(folder_uids(dovecot, mailbox, "INBOX")) > 0, "nothing was left for the rerun"
    # The lease of the dead poller must expire before a new poll may take the channel.
    rerun = poll(cli)["support"]
    if rerun["fetched"] == 0:
        time.sleep(31)
        rerun = poll(cli)["support"]
    titles = [t["title"] for t in tickets(cli)]
    assert sorted(titles) == sorted(f"n{i}" for i in range(total))
    assert folder_uids(dovecot, mailbox, "INBOX") == {}
    assert len(folder_uids(dovecot, mailbox, "Done")) == total


def test_a_poller_whose_lease_was_taken_stops_at_once_and_counts_no_failure(
    cli, dovecot, mailbox, db_engine
):
    from sqlalchemy import update

    from tuidesk.storage.db import transaction
    from tuidesk.storage.tables import tables, utcnow

    add_channel(cli, dovecot, mailbox, "--success-folder", "Done")
    total = 400
    c = dovecot.client(mailbox)
    for i in range(total):
        c.append("INBOX", mail(f"From: s{i}@customer.test\nMessage-ID: <s{i}@c>\nSubject: s{i}"))
    c.logout()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tuidesk", "poll", "--json"], env=cli.env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    # The moment it holds the lease, as if it stalled and another host took over: its first
    # batch is then the only one it settles, however fast the machine.
    deadline = time.monotonic() + 60
    stolen = 0
    while time.monotonic() < deadline and not stolen and proc.poll() is None:
        with transaction(db_engine) as conn:
            lease = tables(conn).channel_lease
            stolen = conn.execute(
                update(lease).values(holder="elsewhere:1", expires_at=utcnow() + timedelta(hours=1))
            ).rowcount
        time.sleep(0.005)
    out, err = proc.communicate(timeout=120)
    assert stolen == 1 and proc.returncode == 0, err
    (result,) = json.loads(out)["channels"]
    assert result["ok"] and 0 < result["fetched"] < total, result
    assert len(folder_uids(dovecot, mailbox, "INBOX")) == total - result["fetched"]
    shown = json.loads(cli("channel", "show", "support", "--json").stdout)
    assert (shown["failures"], shown["last_error"]) == (0, None)


def test_two_pollers_at_once_give_no_duplicates(cli, dovecot, mailbox):
    add_channel(cli, dovecot, mailbox)
    c = dovecot.client(mailbox)
    for i in range(40):
        c.append("INBOX", mail(f"From: c{i}@customer.test\nMessage-ID: <t{i}@c>\nSubject: t{i}"))
    c.logout()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tuidesk", "poll", "--json"],
            env=cli.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    created = sum(json.loads(o[0])["channels"][0]["created"] for o in outs)
    assert created == 40 and len(tickets(cli)) == 40


def test_a_wrong_password_makes_the_channel_failing_and_the_others_still_run(cli, dovecot, mailbox):
    add_channel(cli, dovecot, mailbox, name="good")
    cli.env["TUIDESK_BAD_PW"] = "wrong"
    cli("channel", "add", "bad", "--host", "127.0.0.1", "--port", str(dovecot.imap_port),
        "--starttls", "--ca-file", dovecot.ca_file, "--username", mailbox,
        "--password-env", "TUIDESK_BAD_PW", "--status", "active")  # fmt: skip
    dovecot.append(mailbox, "INBOX", FIRST)
    for attempt in range(3):
        proc = cli("poll", "--json", check=False)
        results = {c["name"]: c for c in json.loads(proc.stdout)["channels"]}
        assert proc.returncode == 1
        assert results["bad"]["ok"] is False and "login" in results["bad"]["error"]
        assert results["good"]["ok"] is True
        assert results["good"]["created"] == (1 if attempt == 0 else 0)
    bad = json.loads(cli("channel", "show", "bad", "--json").stdout)
    assert (bad["status"], bad["failures"]) == ("failing", 3)
    assert "wrong" not in json.dumps(bad)
    cooled = poll(cli, check=False)["bad"]
    assert cooled["ok"] is True and cooled["fetched"] == 0  # cooling off: not even tried


def test_a_skip_window_is_respected(cli, dovecot, mailbox):
    now = datetime.now().astimezone()
    window = f"{now:%H:%M}-{(now + timedelta(minutes=2)):%H:%M}"
    add_channel(cli, dovecot, mailbox)
    cli("channel", "edit", "support", "--skip-window", window)
    dovecot.append(mailbox, "INBOX", FIRST)
    result = poll(cli)["support"]
    assert (result["ok"], result["fetched"]) == (True, 0)
    assert b"skipped: skip window" in cli("poll").stdout
    assert tickets(cli) == []


def test_max_limits_how_many_mails_one_pass_takes(cli, dovecot, mailbox):
    add_channel(cli, dovecot, mailbox)
    for i in range(5):
        dovecot.append(mailbox, "INBOX", mail(f"From: c{i}@x.test\nSubject: m{i}"))
    assert poll(cli, "--max", "2")["support"]["fetched"] == 2
    assert poll(cli)["support"]["fetched"] == 3


def test_channel_test_names_the_step_that_failed(cli, dovecot, mailbox):
    def test(name):  # type: ignore[no-untyped-def]
        proc = cli("channel", "test", name, "--json", check=False)
        return proc.returncode, json.loads(proc.stdout)

    add_channel(cli, dovecot, mailbox, "--status", "draft", name="imaps")
    cli("channel", "add", "starttls", "--host", "127.0.0.1", "--port", str(dovecot.imap_port),
        "--starttls", "--ca-file", dovecot.ca_file, "--username", mailbox,
        "--password-env", "TUIDESK_TEST_PW", "--success-folder", "Done")  # fmt: skip
    for name in ("imaps", "starttls"):
        code, result = test(name)
        assert code == 0 and result["ok"] and result["failed_step"] is None, result
        assert [s["step"] for s in result["steps"]] == [
            "dns", "connect", "tls", "login", "folders", "move folders"
        ]  # fmt: skip
    assert "will be created" in test("starttls")[1]["steps"][-1]["detail"]

    cli("channel", "edit", "imaps", "--ca-file", dovecot.other_ca_file)
    code, result = test("imaps")
    assert (code, result["failed_step"]) == (1, "tls") and "certificate" in result["error"]

    cli.env["TUIDESK_TEST_PW"] = "not-the-password"
    code, result = test("starttls")
    assert (code, result["failed_step"]) == (1, "login") and "refused" in result["error"]
    assert "not-the-password" not in json.dumps(result)

    cli("channel", "edit", "starttls", "--port", str(_closed_port()))
    code, result = test("starttls")
    assert (code, result["failed_step"], result["error"]) == (1, "connect", "connection refused")

    cli("channel", "edit", "starttls", "--host", "no-such-host.invalid")
    assert test("starttls")[1]["failed_step"] == "dns"

    cli("channel", "edit", "starttls", "--host", "127.0.0.1", "--port", str(dovecot.imap_port),
        "--folder", "Nope")  # fmt: skip
    cli.env["TUIDESK_TEST_PW"] = dovecot.password(mailbox)
    code, result = test("starttls")
    assert result["failed_step"] == "folders" and "Nope" in result["error"]


def _closed_port() -> int:
    from tests.servers.postgres import free_port

    return free_port()


def start_watch(cli, *names: str, stdout: int = subprocess.DEVNULL):  # type: ignore[no-untyped-def]
    return subprocess.Popen(
        [sys.executable, "-m", "tuidesk", "watch", *names], env=cli.env,
        stdout=stdout, stderr=subprocess.PIPE,
    )  # fmt: skip


def wait_for_tickets(cli, n: int, seconds: float = 30) -> int:  # type: ignore[no-untyped-def]
    """Wait until there are n tickets (or the time is up); how many there are."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and len(tickets(cli)) < n:
        time.sleep(0.1)
    return len(tickets(cli))


def test_watch_turns_mail_into_tickets_as_it_arrives_and_stops_on_sigterm(cli, dovecot, mailbox):
    add_channel(cli, dovecot, mailbox, "--success-folder", "Done")
    dovecot.append(mailbox, "INBOX", FIRST)  # waiting before the watcher starts
    watcher = start_watch(cli, "support", stdout=subprocess.PIPE)
    try:
        assert wait_for_tickets(cli, 1) == 1
        time.sleep(1)  # let it settle into IDLE
        dovecot.append(mailbox, "INBOX", mail("From: dan@customer.test\nSubject: Second"))
        assert wait_for_tickets(cli, 2) == 2
        # While it watches, a cron poll finds the lease taken and leaves the channel alone.
        assert poll(cli)["support"]["fetched"] == 0
    finally:
        watcher.send_signal(signal.SIGTERM)
        out, err = watcher.communicate(timeout=30)
    assert watcher.returncode == 0, err
    assert b"waiting on IDLE" in err and b"stopped" in err
    assert len(folder_uids(dovecot, mailbox, "Done")) == 2
    dovecot.append(mailbox, "INBOX", mail("From: erin@customer.test\nSubject: Third"))
    assert poll(cli)["support"]["created"] == 1  # the lease was released on the way out


def test_watch_reconnects_with_backoff_once_the_password_is_right(cli, dovecot, mailbox, tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("wrong\n")
    cli("channel", "add", "support", "--host", "127.0.0.1", "--port", str(dovecot.imaps_port),
        "--ssl", "--ca-file", dovecot.ca_file, "--username", mailbox,
        "--password-command", f"cat {secret}", "--status", "active")  # fmt: skip
    cli("channel", "edit", "support", "--max-tries", "10")
    dovecot.append(mailbox, "INBOX", FIRST)
    watcher = start_watch(cli, stdout=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            shown = json.loads(cli("channel", "show", "support", "--json").stdout)
            if shown["failures"]:
                break
            time.sleep(0.2)
        assert shown["failures"] >= 1 and "login" in shown["last_error"]
        secret.write_text(dovecot.password(mailbox) + "\n")
        assert wait_for_tickets(cli, 1) == 1
    finally:
        watcher.send_signal(signal.SIGINT)
        _, err = watcher.communicate(timeout=30)
    assert watcher.returncode == 0
    assert b"reconnecting in 2 s" in err
    assert json.loads(cli("channel", "show", "support", "--json").stdout)["failures"] == 0


def test_the_sync_start_date_leaves_older_mail_alone(cli, dovecot, mailbox):
    add_channel(cli, dovecot, mailbox)
    cli("channel", "edit", "support", "--since", "2099-01-01")
    dovecot.append(mailbox, "INBOX", FIRST)
    assert poll(cli)["support"]["fetched"] == 0
    cli("channel", "edit", "support", "--since", "2000-01-01")
    assert poll(cli)["support"]["created"] == 1


def test_watch_picks_up_mail_that_lands_between_its_poll_and_its_idle(cli, dovecot, mailbox):
    """The race: a mail that arrives while the watcher is busy with an earlier one is counted
    by the SELECT before IDLE, and IDLE never announces it. A large first mail keeps the
    watcher busy; the second lands meanwhile."""
    from sqlalchemy import text

    from tuidesk.storage.db import make_engine

    add_channel(cli, dovecot, mailbox)
    engine = make_engine(cli.env["TUIDESK_DATABASE_URL"])

    def count() -> int:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM ticket")).scalar_one()

    log = "line of a large log file\n" * 400_000
    watcher = start_watch(cli)
    client = dovecot.client(mailbox)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and b"IDLE" not in watcher.stderr.peek(4096):
            time.sleep(0.05)
        for n in range(2):
            client.append("INBOX", mail(f"From: big@x.test\nSubject: big {n}", log))
            time.sleep(0.7)  # Dovecot announces after 0.5 s; the watcher is now busy with it
            client.append("INBOX", mail(f"From: r{n}@x.test\nSubject: second {n}"))
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and count() < 2 * (n + 1):
                time.sleep(0.05)
            assert count() == 2 * (n + 1), f"round {n}: the second mail was not picked up"
    finally:
        client.logout()
        watcher.send_signal(signal.SIGTERM)
        watcher.wait(timeout=30)
        engine.dispose()


def test_watch_follows_rule_and_setting_changes_made_while_it_runs(cli, dovecot, mailbox):
    add_channel(cli, dovecot, mailbox, "--success-folder", "Done")
    watcher = start_watch(cli)
    try:
        dovecot.append(mailbox, "INBOX", FIRST)
        wait_for_tickets(cli, 1)
        cli("branch", "add", "Sales", "--key", "SAL", "--address", "sales@example.com")
        cli("channel", "edit", "support", "--success-folder", "Handled")
        time.sleep(1)
        dovecot.append(mailbox, "INBOX", mail("From: f@x.test\nTo: sales@example.com\nSubject: q"))
        wait_for_tickets(cli, 2)
        assert [t["ref"] for t in tickets(cli)] == ["SAL-2", "SUP-1"]
        assert len(folder_uids(dovecot, mailbox, "Handled")) == 1
        assert len(folder_uids(dovecot, mailbox, "Done")) == 1
    finally:
        watcher.send_signal(signal.SIGTERM)
        watcher.wait(timeout=30)


def test_watch_takes_a_settings_change_made_while_it_idles_within_seconds(cli, dovecot, mailbox):
    """The folder to read moves while the watcher IDLEs on INBOX: nothing arrives there to
    wake it, yet the mail in the new folder is taken within a lease renewal, not 25 min on."""
    add_channel(cli, dovecot, mailbox)
    dovecot.append(mailbox, "Support", mail("From: x@x.test\nSubject: placeholder"))
    watcher = start_watch(cli)
    try:
        dovecot.append(mailbox, "INBOX", FIRST)
        wait_for_tickets(cli, 1)
        time.sleep(1)  # back in IDLE on INBOX
        cli("channel", "edit", "support", "--folder", "Support")
        wait_for_tickets(cli, 2, seconds=40)
        assert sorted(t["title"] for t in tickets(cli)) == ["Printer", "placeholder"]
    finally:
        watcher.send_signal(signal.SIGTERM)
        watcher.wait(timeout=30)
    assert watcher.returncode == 0, watcher.stderr.read().decode()  # type: ignore[union-attr]


def test_watch_without_idle_holds_its_lease_between_polls_and_takes_a_settings_change(cli):
    """A server that offers no IDLE is polled every POLL_INTERVAL_S (60 s), longer than a
    lease lives (30 s): the watcher renews it while it waits, so a cron poll meanwhile leaves
    the channel alone, and a folder added meanwhile is read within seconds. On a clock a
    quarter as long (TUIDESK_TIME_SCALE), so the test waits 9 s where a lease lapses, not 35."""
    scale = 0.25
    server = DovecotServer(idle=False).start()
    try:
        server.add_user("noidle", "pw-noidle")
        cli.env["TUIDESK_TEST_PW"] = "pw-noidle"
        cli.env["TUIDESK_TIME_SCALE"] = str(scale)
        cli("branch", "edit", "Support", "--address", "support@example.com")
        add_channel(cli, server, "noidle")
        server.append("noidle", "INBOX", FIRST)
        server.append("noidle", "Support", mail("From: b@x.test\nSubject: in Support"))
        watcher = start_watch(cli, stdout=subprocess.PIPE)
        try:
            assert wait_for_tickets(cli, 1) == 1
            # A lease not renewed would have lapsed by now; the next poll is 6 s off still.
            time.sleep((LEASE_SECONDS + 5) * scale)
            server.append("noidle", "INBOX", mail("From: c@x.test\nSubject: second"))
            cron = poll(cli)["support"]
            assert cron["fetched"] == 0 and "holds the lease" in cron["skipped"]
            cli("channel", "edit", "support", "--folder", "INBOX", "--folder", "Support")
            assert wait_for_tickets(cli, 3) == 3
        finally:
            watcher.send_signal(signal.SIGTERM)
            _out, err = watcher.communicate(timeout=30)
        assert watcher.returncode == 0, err
        assert b"polling" in err
    finally:
        server.stop()
