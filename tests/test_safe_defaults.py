"""Safe by default, through the real command: a fresh install takes mail with no set-up, the data
and config folders are the user's alone, and a mistyped database URL never swallows mail."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

from tests.conftest import Cli
from tests.engine.conftest import mail
from tests.servers.dovecot import DovecotServer

MISSING = b"no tuidesk database at"
FIRST = mail("From: Alice <alice@customer.test>\nTo: help@example.com\nSubject: Printer on fire")


def fresh(tmp_path: Path, db_url: str | None = None) -> Cli:
    """A home with no database in it yet (the suite's `cli` fixture has one made already)."""
    home = tmp_path / "fresh"
    cli = Cli(home, db_url or f"sqlite:///{home / 'tuidesk.sqlite3'}")
    if db_url is None:
        del cli.env["TUIDESK_DATABASE_URL"]  # the default: the data folder's own
    return cli


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- first run ----------------------------------------------------------------------------------


def test_the_first_mail_piped_or_imported_with_no_set_up_becomes_a_ticket(tmp_path):
    cli = fresh(tmp_path)
    cli("db", "upgrade")
    (branch,) = json.loads(cli("branch", "list", "--json").stdout)
    assert branch == {
        "name": "Support", "key": "SUP", "addresses": [], "domains": [], "default": True
    }  # fmt: skip
    out = json.loads(cli("pipe", "--json", input=FIRST).stdout)
    assert (out["action"], out["ticket"]) == ("created", "SUP-1")
    eml = tmp_path / "second.eml"
    eml.write_bytes(mail("From: bob@customer.test\nSubject: Second"))
    assert json.loads(cli("import", str(eml), "--json").stdout)["created"] == 1
    assert json.loads(cli("quarantine", "list", "--json").stdout) == []
    # The default branch is the admin's to change as any other.
    cli("branch", "add", "Sales", "--key", "SAL", "--default")
    kept = cli("branch", "remove", "Support", check=False)
    assert kept.returncode == 2 and b"Support has tickets" in kept.stderr
    assert [b["default"] for b in json.loads(cli("branch", "list", "--json").stdout)] == [
        False,
        True,
    ]


def test_a_database_that_has_branches_gets_no_second_default_on_upgrade(tmp_path):
    """Migration 0009 adds the branch only to a database with none."""
    from alembic import command

    from tuidesk.storage.db import make_engine
    from tuidesk.storage.schema import alembic_config

    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    engine = make_engine(url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0008")
        conn.exec_driver_sql(
            "INSERT INTO branch (name, key, addresses, domains, is_default, created_at) "
            "VALUES ('Help', 'HLP', '[]', '[]', 1, '2026-01-01 00:00:00')"
        )
    engine.dispose()
    cli = Cli(tmp_path, url)
    rows = json.loads(cli("branch", "list", "--json").stdout)
    assert [(b["key"], b["default"]) for b in rows] == [("HLP", True)]


def test_the_first_mail_polled_with_no_set_up_becomes_a_ticket(tmp_path, dovecot: DovecotServer):
    cli = fresh(tmp_path)
    user = f"fresh{os.getpid()}"
    dovecot.add_user(user, "pw-fresh")
    cli.env["FRESH_PW"] = "pw-fresh"
    cli("db", "upgrade")
    cli("channel", "add", "support", "--host", "127.0.0.1", "--port", str(dovecot.imaps_port),
        "--ssl", "--ca-file", dovecot.ca_file, "--username", user,
        "--password-env", "FRESH_PW", "--status", "active")  # fmt: skip
    dovecot.append(user, "INBOX", FIRST)
    (result,) = json.loads(cli("poll", "--json").stdout)["channels"]
    assert (result["created"], result["quarantined"]) == (1, 0)
    (ticket,) = json.loads(cli("ticket", "list", "--json").stdout)
    assert ticket["ref"] == "SUP-1"


# --- file modes ---------------------------------------------------------------------------------


def test_data_and_config_folders_are_private_and_every_file_in_them_0600(tmp_path):
    """Without TUIDESK_HOME: the platform's data and config folders, apart."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUIDESK_")}
    env |= {"XDG_DATA_HOME": str(tmp_path / "share"), "XDG_CONFIG_HOME": str(tmp_path / "conf")}
    data, config = tmp_path / "share" / "tuidesk", tmp_path / "conf" / "tuidesk"

    def run(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        proc = subprocess.run(
            [sys.executable, "-m", "tuidesk", *args], input=input, capture_output=True, env=env
        )
        assert proc.returncode == 0, proc.stderr
        return proc

    run("db", "upgrade")
    run("channel", "add", "support", "--host", "imap.example.com", "--port", "993",
        "--username", "u", "--password-stdin", input=b"S3cr3t\n")  # fmt: skip
    with_file = mail(
        "From: a@customer.test\nSubject: Logs\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="b"',
        "--b\nContent-Type: text/plain\n\nsee attached\n--b\nContent-Type: text/plain\n"
        'Content-Disposition: attachment; filename="log.txt"\n\nERROR 42\n--b--\n',
    )
    run("pipe", input=with_file)
    run("pipe", input=b"\x00 not a mail")  # quarantined: its raw bytes are kept too
    db = data / "tuidesk.sqlite3"
    # While a connection writes, the WAL and shared-memory files exist: they take db's mode.
    held = sqlite3.connect(db)
    held.execute("PRAGMA journal_mode = WAL")
    held.execute("CREATE TABLE IF NOT EXISTS probe (x)")
    held.commit()
    try:
        made = sorted(p for folder in (data, config) for p in folder.rglob("*"))
        names = {p.name for p in made}
        assert {"tuidesk.sqlite3", "tuidesk.sqlite3-wal", "tuidesk.sqlite3-shm"} <= names
        assert "secret.key" in names and any(p.parent.parent.name == "blobs" for p in made)
        assert mode(data) == mode(config) == 0o700
        for path in made:
            assert mode(path) == (0o700 if path.is_dir() else 0o600), path
    finally:
        held.close()
    # An older install's loose folder is tightened on start, with one line saying so.
    os.chmod(data, 0o755)
    for path in data.rglob("*"):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    notice = run("ticket", "list").stderr.decode()
    assert notice.count("\n") == 1 and f"{data} could be read by other users" in notice
    assert mode(data) == 0o700
    assert all(mode(p) == (0o700 if p.is_dir() else 0o600) for p in data.rglob("*"))
    assert run("ticket", "list").stderr == b""  # nothing left to say


# --- a mistyped database ------------------------------------------------------------------------


def test_a_mistyped_sqlite_url_never_creates_a_database(tmp_path):
    nowhere = tmp_path / "nonexistent" / "dir"
    cli = fresh(tmp_path, f"sqlite:///{nowhere / 'x.db'}")
    proc = cli("pipe", input=FIRST, check=False, process=True)  # as the MTA sees it
    assert proc.returncode == 75 and MISSING in proc.stderr and b"db upgrade" in proc.stderr
    for args in (["poll"], ["watch"], ["import", str(tmp_path)], ["send"], ["ticket", "list"]):
        proc = cli(*args, check=False)
        assert proc.returncode == 1 and MISSING in proc.stderr, (args, proc.stderr)
    # `db upgrade` creates one only in a folder that exists (the default data folder apart).
    proc = cli("db", "upgrade", check=False)
    assert proc.returncode == 1 and b"there is no folder" in proc.stderr
    assert not (tmp_path / "nonexistent").exists()
    nowhere.mkdir(parents=True)
    cli("db", "upgrade")
    assert mode(nowhere / "x.db") == 0o600
    assert cli("pipe", input=FIRST).returncode == 0


def test_a_file_that_is_no_database_is_refused_not_overwritten(tmp_path):
    junk = tmp_path / "notes.txt"
    junk.write_bytes(b"my notes, not a database\n" * 100)
    cli = fresh(tmp_path, f"sqlite:///{junk}")
    proc = cli("pipe", input=FIRST, check=False)
    assert proc.returncode == 75 and b"is no database tuidesk can open" in proc.stderr
    proc = cli("db", "upgrade", check=False)
    assert proc.returncode == 1 and b"is no database tuidesk can open" in proc.stderr
    assert junk.read_bytes() == b"my notes, not a database\n" * 100


def test_the_console_and_db_upgrade_make_the_default_data_folder(tmp_path):
    cli = fresh(tmp_path)
    assert cli("pipe", input=FIRST, check=False).returncode == 75
    assert not (tmp_path / "fresh").exists()
    cli("db", "upgrade")
    assert mode(tmp_path / "fresh") == 0o700
    assert mode(tmp_path / "fresh" / "tuidesk.sqlite3") == 0o600


def test_an_empty_postgresql_database_is_not_taken_for_a_tuidesk_one(tmp_path, postgres):
    """A database that exists but holds no tuidesk schema (a mistyped name on a shared server)
    is left alone by the mail doors; `db upgrade` makes it one."""
    name = f"empty{os.getpid()}"
    postgres.execute(f"CREATE DATABASE {name}")
    cli = fresh(tmp_path, postgres.url(name))
    proc = cli("pipe", input=FIRST, check=False)
    assert proc.returncode == 75 and MISSING in proc.stderr
    proc = cli("poll", check=False)
    assert proc.returncode == 1 and MISSING in proc.stderr
    cli("db", "upgrade")
    assert json.loads(cli("pipe", "--json", input=FIRST).stdout)["ticket"] == "SUP-1"
