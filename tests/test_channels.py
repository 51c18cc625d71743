"""Channel settings, secrets and the state a poller keeps (no IMAP server needed here)."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime, timedelta

import pytest

from tuidesk.auth import credentials
from tuidesk.storage.channel_state import (
    ChannelError,
    acquire_lease,
    in_skip_window,
    parse_window,
    record_failure,
    record_success,
    release_lease,
)
from tuidesk.storage.db import transaction
from tuidesk.storage.tables import tables


def add(cli, name="support", *extra: str, **kw):  # type: ignore[no-untyped-def]
    args = ["channel", "add", name, "--host", "127.0.0.1", "--port", "993",
            "--username", "support", *extra]  # fmt: skip
    if not any(a.startswith("--password") for a in extra):
        args += ["--password-env", "TUIDESK_TEST_PW"]
    return cli(*args, **kw)


# --- secrets -------------------------------------------------------------------------------


def test_a_password_from_stdin_is_stored_encrypted_and_never_shown(cli, _isolated_home):
    add(cli, "support", "--password-stdin", input=b"hunter2-secret\n")
    shown = cli("channel", "show", "support", "--json").stdout.decode()
    assert "hunter2" not in shown and json.loads(shown)["password"].startswith("stored")
    assert b"hunter2" not in cli("channel", "list").stdout
    assert b"hunter2" not in cli("config", "export").stdout
    key = _isolated_home / credentials.KEY_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    for path in _isolated_home.rglob("*"):
        if path.is_file():
            assert b"hunter2-secret" not in path.read_bytes(), path


def test_stored_secrets_decrypt_with_the_key_and_refuse_a_loose_key_file(tmp_path):
    token = credentials.encrypt("s3cret", tmp_path)
    assert "s3cret" not in token
    assert credentials.resolve("stored", token, tmp_path) == "s3cret"
    os.chmod(tmp_path / credentials.KEY_FILE, 0o644)
    with pytest.raises(credentials.SecretError, match="chmod 600"):
        credentials.resolve("stored", token, tmp_path)


def test_passwords_from_the_environment_and_from_a_command(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_PW", "from-env")
    assert credentials.resolve("env", "MY_PW", tmp_path) == "from-env"
    assert credentials.resolve("command", "printf 'from-cmd\\nrest'", tmp_path) == "from-cmd"
    with pytest.raises(credentials.SecretError, match="NOPE_PW is not set"):
        credentials.resolve("env", "NOPE_PW", tmp_path)
    with pytest.raises(credentials.SecretError, match="exited 3"):
        credentials.resolve("command", "exit 3", tmp_path)


# --- channel commands ----------------------------------------------------------------------


def test_channel_add_show_edit_and_remove(cli):
    add(cli, "support", "--starttls", "--folder", "INBOX", "--folder", "Support",
        "--success-folder", "Done", "--since", "2026-01-01", "--status", "active")  # fmt: skip
    data = json.loads(cli("channel", "show", "support", "--json").stdout)
    assert (data["security"], data["folders"], data["since"]) == (
        "starttls", ["INBOX", "Support"], "2026-01-01"
    )  # fmt: skip
    assert data["password"] == "from environment variable TUIDESK_TEST_PW"
    cli("channel", "edit", "support", "--skip-window", "02:00-04:00", "--max-tries", "5",
        "--alias", "Help@Example.com=support@example.com", "--status", "paused")  # fmt: skip
    data = json.loads(cli("channel", "show", "support", "--json").stdout)
    assert (data["skip_windows"], data["max_tries"], data["status"]) == (
        ["02:00-04:00"],
        5,
        "paused",
    )
    assert data["aliases"] == {"help@example.com": "support@example.com"}
    cli("channel", "remove", "support")
    assert json.loads(cli("channel", "list", "--json").stdout) == []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # validation: once
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ssl", "--starttls"], b"choose one of"),
        (["--since", "yesterday"], b"YYYY-MM-DD"),
        (["--status", "failing"], b"active or draft"),
        (["--ca-file", "/no/such.pem"], b"no such file"),
        (["--folder", "IN\nBOX"], b"line breaks"),
        (["--host", "bad host!"], b"not a host name"),
    ],
)
def test_channel_add_refuses_bad_settings(cli, args, message):
    proc = add(cli, "bad", *args, check=False)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr


def test_plain_text_needs_asking_for_and_warns(cli):
    proc = add(cli, "plain", "--insecure-plain")
    assert b"unencrypted" in proc.stderr
    assert json.loads(cli("channel", "show", "plain", "--json").stdout)["security"] == "plain"


def test_a_bad_skip_window_is_refused(cli):
    add(cli)
    proc = cli("channel", "edit", "support", "--skip-window", "25:00-26:00", check=False)
    assert proc.returncode == 2 and b"HH:MM-HH:MM" in proc.stderr


# --- poller state --------------------------------------------------------------------------


def test_skip_windows_include_ones_that_cross_midnight():
    at = datetime(2026, 11, 23, 23, 30)
    assert in_skip_window(["23:00-01:00"], at) == "23:00-01:00"
    assert in_skip_window(["23:00-01:00"], at.replace(hour=0, minute=59)) == "23:00-01:00"
    assert in_skip_window(["02:00-04:00", "12:00-13:00"], at) is None
    assert parse_window("02:00-04:00") == (120, 240)
    with pytest.raises(ChannelError):
        parse_window("2-4")


@pytest.fixture
def channel_id(cli, db_engine) -> int:  # type: ignore[no-untyped-def]
    add(cli, "support", "--status", "active")
    with db_engine.connect() as conn:
        return conn.execute(tables(conn).channel.select()).one().id


def test_a_lease_keeps_a_second_poller_out_until_released_or_expired(db_engine, channel_id):
    with transaction(db_engine) as conn:
        assert acquire_lease(conn, channel_id, "host-a:1")
        assert acquire_lease(conn, channel_id, "host-a:1")  # renewing
        assert not acquire_lease(conn, channel_id, "host-b:2")
        release_lease(conn, channel_id, "host-a:1")
        assert acquire_lease(conn, channel_id, "host-b:2")
        lease = tables(conn).channel_lease
        past = datetime.now(UTC) - timedelta(seconds=1)
        conn.execute(lease.update().values(expires_at=past))  # host-b died
        assert acquire_lease(conn, channel_id, "host-a:1")


def test_failures_turn_a_channel_failing_after_max_tries_then_success_clears(db_engine, channel_id):
    with transaction(db_engine) as conn:
        for _ in range(3):
            record_failure(conn, channel_id, "login: refused")
        row = conn.execute(tables(conn).channel.select()).one()
        assert (row.status, row.failures, row.last_error) == ("failing", 3, "login: refused")
        assert row.cooloff_until is not None
        assert row.last_poll_at is None
        record_success(conn, channel_id)
        row = conn.execute(tables(conn).channel.select()).one()
        assert (row.status, row.failures, row.cooloff_until) == ("active", 0, None)
        assert row.last_poll_at is not None


def test_a_clean_read_leaves_a_paused_channel_paused(db_engine, channel_id):
    with transaction(db_engine) as conn:
        channel = tables(conn).channel
        conn.execute(channel.update().values(status="paused"))
        record_success(conn, channel_id)
        row = conn.execute(channel.select()).one()
        assert (row.status, row.last_poll_at is not None) == ("paused", True)
