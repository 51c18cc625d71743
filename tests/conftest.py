"""Fixtures: a data folder per test, and a migrated database on SQLite and on a real
PostgreSQL that the suite starts on 127.0.0.1."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.servers.dovecot import DovecotServer, dovecot_fixture
from tests.servers.idp import FakeIdP, idp_fixture
from tests.servers.postgres import PostgresServer
from tests.servers.smtp import SmtpServer, smtp_fixture

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
_counter = itertools.count()
_users = itertools.count()


def pytest_sessionstart(session: pytest.Session) -> None:
    """The corpus lives beside the repo (../shared/corpus); without it half the suite would
    quietly collect nothing, so say so instead."""
    if not CORPUS.is_dir():
        raise pytest.UsageError(f"mail corpus not found at {CORPUS}: clone with shared/ beside")


# What a test needs a server for: its fixtures, or a module that starts servers of its own.
# `make test-fast` leaves these out (`-m "not servers"`), and PostgreSQL (`-k "not postgresql"`).
SERVER_FIXTURES = frozenset(
    {"postgres", "dovecot", "smtp_starttls", "smtp_ssl", "idp_server", "idp", "oauth_dovecot",
     "oauth_smtp", "mailer", "mailbox"}
)  # fmt: skip
SERVER_MODULES = frozenset(
    {"test_console_tmux", "test_dovecot_server", "test_faults", "test_imap", "test_many_hosts",
     "test_oauth_servers", "test_redaction", "test_smtp"}
)  # fmt: skip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        module = item.module.__name__.rpartition(".")[2] if item.module else ""  # type: ignore[attr-defined]
        if module in SERVER_MODULES or SERVER_FIXTURES & set(item.fixturenames):  # type: ignore[attr-defined]
            item.add_marker(pytest.mark.servers)


@pytest.fixture(autouse=True)
def _steady_cursor(monkeypatch: pytest.MonkeyPatch) -> None:
    """A blinking cursor makes a snapshot depend on the moment it is taken (a busy machine takes
    it later): in tests a focused field's cursor stays lit."""
    from textual.widgets import Input, TextArea

    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)
    monkeypatch.setattr(TextArea, "_toggle_cursor_blink_visible", lambda self: None)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Never touch the developer's own data or config."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)  # as tuidesk makes it: a looser one is tightened, with a notice
    monkeypatch.setenv("TUIDESK_HOME", str(home))
    monkeypatch.delenv("TUIDESK_DATABASE_URL", raising=False)
    return home


@pytest.fixture
def clock() -> Iterator[Callable[[datetime], None]]:
    """The one clock held still at Monday 2026-12-07 09:00 UTC; call the fixture with a time to
    move it: stored times, due times, reports and the console's "due in" are then exact."""
    from tuidesk import clock as the_clock

    with the_clock.fixed(datetime(2026, 12, 7, 9, 0, tzinfo=UTC)):
        yield the_clock.set_to


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    try:
        server.execute("CREATE DATABASE tuidesk_template")
        _migrate(server.url("tuidesk_template"))
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    yield from dovecot_fixture()


@pytest.fixture(scope="session")
def smtp_starttls() -> Iterator[SmtpServer]:
    """aiosmtpd on 127.0.0.1: STARTTLS, AUTH only after TLS. Shared: tests `clear()` it."""
    yield from smtp_fixture("starttls")


@pytest.fixture(scope="session")
def smtp_ssl() -> Iterator[SmtpServer]:
    """aiosmtpd on 127.0.0.1 with implicit TLS and AUTH required."""
    yield from smtp_fixture("ssl")


@pytest.fixture(scope="session")
def idp_server() -> Iterator[FakeIdP]:
    """The suite's fake Microsoft-365-like identity provider (HTTPS on 127.0.0.1, plus plain
    HTTP token introspection). Tests take `idp`, which resets it first."""
    yield from idp_fixture()


@pytest.fixture
def idp(idp_server: FakeIdP) -> FakeIdP:
    """The shared fake identity provider, emptied of earlier tests' apps, users and tokens."""
    idp_server.reset()
    return idp_server


@pytest.fixture(scope="session")
def oauth_dovecot(idp_server: FakeIdP) -> Iterator[DovecotServer]:
    """A Dovecot that also takes XOAUTH2 / OAUTHBEARER, checking each token with the fake
    identity provider (introspection). Add each user to both: `oauth_dovecot.add_user` for
    the mailbox, `idp.add_user` for the sign-in."""
    yield from dovecot_fixture(oauth2_introspection_url=idp_server.introspection_url)


@pytest.fixture(scope="session")
def oauth_smtp(idp_server: FakeIdP) -> Iterator[SmtpServer]:
    """aiosmtpd with STARTTLS that also takes AUTH XOAUTH2, a token being good for the user
    the fake identity provider says owns it. Shared: tests `clear()` it."""
    yield from smtp_fixture("starttls", token_check=idp_server.access_token_owner)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    _migrate(f"sqlite:///{path}")
    return path


def _migrate(url: str) -> None:
    from tuidesk.storage.db import make_engine
    from tuidesk.storage.schema import upgrade_schema

    engine = make_engine(url)
    upgrade_schema(engine)
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, _isolated_home: Path) -> str:
    """A fresh, migrated database: copied from a template on either backend."""
    if request.param == "sqlite":
        path = _isolated_home / "tuidesk.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        path.chmod(0o600)
        return f"sqlite:///{path}"
    server: PostgresServer = request.getfixturevalue("postgres")
    name = f"t{os.getpid()}_{next(_counter)}"
    server.execute(f"CREATE DATABASE {name} TEMPLATE tuidesk_template")
    return server.url(name)


@pytest.fixture
def db_engine(db_url: str):  # type: ignore[no-untyped-def]
    from tuidesk.storage.db import make_engine

    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(db_engine):  # type: ignore[no-untyped-def]
    from tuidesk.storage.db import session_scope

    with session_scope(db_engine) as s:
        yield s


class Cli:
    """`tuidesk` as cron, an MTA or a shell runs it: the same entry point (pipe's own parser,
    typer for the rest) and the same exit codes, stdin, stdout and stderr. It runs in this
    process, in a fraction of a process's start-up; `process=True` (for the object, or a call)
    runs `python -m tuidesk` instead, where the process itself is what is tested."""

    def __init__(self, home: Path, db_url: str, *, process: bool = False) -> None:
        self.env = os.environ | {"TUIDESK_HOME": str(home), "TUIDESK_DATABASE_URL": db_url}
        self.process = process

    def __call__(
        self,
        *args: str,
        input: bytes | None = None,
        check: bool = True,
        process: bool | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        in_a_process = self.process if process is None else process
        proc = (self._spawn if in_a_process else self._run)(list(args), input)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"tuidesk {' '.join(args)} exited {proc.returncode}:\n{proc.stderr.decode()}"
            )
        return proc

    def _spawn(self, args: list[str], input: bytes | None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "tuidesk", *args],
            input=input,
            capture_output=True,
            env=self.env,
            timeout=600,
        )

    def _run(self, args: list[str], input: bytes | None) -> subprocess.CompletedProcess[bytes]:
        """typer's test runner swaps stdin, stdout, stderr and the environment for the call
        (a variable this Cli dropped is unset for it)."""
        from typer.testing import CliRunner

        from tuidesk.entry import run

        env: dict[str, str | None] = {k: None for k in os.environ if k not in self.env}
        env |= self.env
        with _IN_PROCESS, CliRunner().isolation(input=input or b"", env=env) as (out, err, _):
            try:
                code = run(args)
            except Exception:  # noqa: BLE001 - as the process would: a traceback, exit 1
                traceback.print_exc()
                code = 1
            sys.stdout.flush()
            sys.stderr.flush()
            return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


# One command at a time in this process: the runner swaps sys.stdout and the environment.
_IN_PROCESS = threading.Lock()


@pytest.fixture
def cli(_isolated_home: Path, db_url: str) -> Cli:
    return Cli(_isolated_home, db_url)


def route_support(session: Any) -> None:
    """A fresh database's Support branch (the default) takes support@example.com, the address
    the tests' mail is sent to."""
    from tuidesk.storage.branches import get_branch, save_branch

    branch = get_branch(session, "SUP")
    save_branch(
        session, name=branch.name, key=branch.key, addresses=["support@example.com"],
        domains=[], branch=branch,
    )  # fmt: skip


def dsn_bounce(message_id: str) -> bytes:
    """A bounce (DSN, mailbox full) of our mail with this Message-ID, as Postfix words one."""
    from tests.engine.conftest import mail

    return mail(
        "From: MAILER-DAEMON@mx.customer.test\nTo: support@example.com\n"
        "Subject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"',
        "--b\nContent-Type: text/plain\n\nalice@customer.test: mailbox full\n"
        "--b\nContent-Type: message/delivery-status\n\n"
        "Final-Recipient: rfc822; alice@customer.test\n"
        "Action: failed\nStatus: 5.2.2\n"
        f"--b\nContent-Type: text/rfc822-headers\n\nMessage-ID: {message_id}\n--b--\n",
    )


SMTP_PASSWORD = "pw"  # the password tests give the suite's SMTP user `support`


def add_outgoing(cli: Cli, server: SmtpServer, name: str = "main", *extra: str) -> None:
    """`tuidesk outgoing add` for the suite's SMTP server, sending as support@example.com; the
    password comes from SMTP_PW in the CLI's environment."""
    server.add_user("support", SMTP_PASSWORD)  # the server is shared: set it every time
    cli.env.setdefault("SMTP_PW", SMTP_PASSWORD)
    security = "--ssl" if server.mode == "ssl" else "--starttls"
    cli(
        "outgoing", "add", name, "--host", "127.0.0.1", "--port", str(server.port), security,
        "--username", "support", "--password-env", "SMTP_PW", "--from", "support@example.com",
        "--name", "Support", "--ca-file", server.ca_file, *extra,
    )  # fmt: skip


@pytest.fixture
def mailer(cli: Cli, smtp_starttls: SmtpServer) -> Cli:
    """A Support branch (support@example.com) and the outgoing channel `main` on the suite's
    STARTTLS server, emptied of earlier tests' mail."""
    smtp_starttls.clear()
    cli("branch", "edit", "Support", "--address", "support@example.com")
    add_outgoing(cli, smtp_starttls)
    return cli


@pytest.fixture
def mailbox(dovecot: DovecotServer, cli: Cli) -> str:
    """A fresh Dovecot user per test, its password in the CLI's environment, and a Support
    branch for its mail."""
    user = f"u{os.getpid()}x{next(_users)}"
    dovecot.add_user(user, f"pw-{user}")
    cli.env["TUIDESK_TEST_PW"] = f"pw-{user}"
    cli("branch", "edit", "Support", "--address", "support@example.com")
    return user


@pytest.fixture
def admin_db(db_url: str) -> Iterator[tuple[Any, int]]:
    """A database with one branch and an admin (returned with the engine) and an agent."""
    from tuidesk.storage.agents import save_agent
    from tuidesk.storage.db import make_engine, session_scope

    engine = make_engine(db_url)
    with session_scope(engine) as s:
        route_support(s)
        admin = save_agent(s, name="Ada Admin", email="ada@example.com", role="admin", login="ada")
        save_agent(s, name="Dana Agent", email="dana@example.com", role="agent", login="dana")
        admin_id = admin.id
    assert admin_id is not None
    yield engine, admin_id
    engine.dispose()
