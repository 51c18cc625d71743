"""Secrets in server replies: an IMAP or SMTP server, or an identity provider, that echoes the
login in its refusal (`NO ... LOGIN support@example.com "S3cr3t"`) must not put the password,
the client secret or a token into anything tuidesk stores, prints or logs. The servers here
echo on purpose (tests/servers/imap_echo.py, SmtpServer(echo_auth=True), FakeIdP's
echo_credentials); every check runs through the real commands, then reads every row of every
table and every file in the data folder."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from base64 import b64encode
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.engine.conftest import mail
from tests.servers.idp import FakeIdP
from tests.servers.imap_echo import EchoImapServer, imap_echo_fixture
from tests.servers.smtp import SmtpServer

MASK = "[redacted]"  # what an admin sees where the secret was

# A quote and a backslash, so the server's echo is the IMAP-quoted form; each piece between
# them is distinctive, so finding any piece anywhere is a leak whatever the escaping.
PASSWORD = 'Kx7vQ2"Lm9pR4\\Tz8wY6'
PIECES = ("Kx7vQ2", "Lm9pR4", "Tz8wY6")
USER = "support@example.com"
SECRET = "client-secret-Vb3nM8qW"
CUSTOMER = mail(
    "From: Alice <alice@customer.test>\nTo: support@example.com\n"
    "Message-ID: <r1@customer.test>\nSubject: Printer"
)


def b64(text: str) -> str:
    return b64encode(text.encode()).decode()


def xoauth2_b64(user: str, token: str) -> str:
    return b64(f"user={user}\x01auth=Bearer {token}\x01\x01")


@pytest.fixture(scope="module")
def echo_imap() -> Iterator[EchoImapServer]:
    yield from imap_echo_fixture()


@pytest.fixture(scope="module")
def echo_smtp() -> Iterator[SmtpServer]:
    """STARTTLS with AUTH PLAIN/LOGIN and XOAUTH2; every login refused, and echoed."""
    with SmtpServer("starttls", token_check=lambda _token: None, echo_auth=True) as server:
        yield server


def stored_text(db_url: str) -> str:
    """Every value of every row of every table: where a stored secret would be found."""
    from sqlalchemy import MetaData, select

    from tuidesk.storage.db import make_engine

    engine = make_engine(db_url)
    try:
        metadata = MetaData()
        metadata.reflect(engine)
        with engine.connect() as conn:
            return "\n".join(
                repr(row) for table in metadata.sorted_tables for row in conn.execute(select(table))
            )
    finally:
        engine.dispose()


def assert_nowhere(
    secrets: Iterable[str],
    outputs: list[subprocess.CompletedProcess[bytes]],
    db_url: str,
    home: Path,
    logs: bytes = b"",
) -> None:
    """No secret in any command's stdout or stderr, in the logs, in the database or in any
    file of the data folder (the SQLite file and its WAL among them)."""
    secrets = [s for s in secrets if s]
    stored = stored_text(db_url)
    for secret in secrets:
        found = secret.encode()
        for proc in outputs:
            assert found not in proc.stdout + proc.stderr, (secret, proc.args)
        assert found not in logs, secret
        assert secret not in stored, secret
        for path in home.rglob("*"):
            if path.is_file():
                assert found not in path.read_bytes(), (secret, path)


def until(condition: Callable[[], bool], what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.3)
    raise AssertionError(f"no {what} within {seconds} s")


def watch_until(cli: Cli, args: list[str], condition: Callable[[], bool], what: str) -> bytes:
    """`tuidesk watch ARGS` until `condition`; its log (stderr) once it stopped."""
    watcher = subprocess.Popen(
        [sys.executable, "-m", "tuidesk", "watch", *args], env=cli.env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        until(condition, what)
    finally:
        watcher.send_signal(signal.SIGTERM)
        out, err = watcher.communicate(timeout=30)
    assert watcher.returncode == 0, err
    return out + err


def as_json(proc: subprocess.CompletedProcess[bytes]) -> dict:
    return json.loads(proc.stdout)


def test_redact_masks_each_form_a_secret_takes_in_an_error() -> None:
    from tuidesk.redact import redact

    quoted = '"' + PASSWORD.replace("\\", "\\\\").replace('"', '\\"') + '"'  # as IMAP sends it
    plain = f"\0{USER}\0{PASSWORD}"  # SASL PLAIN
    text = (
        f"as sent {PASSWORD}; quoted {quoted}; in a bytes repr {quoted.encode()!r}; "
        f"in a str repr {PASSWORD!r}; base64 {b64(PASSWORD)}; PLAIN {b64(plain)}; "
        f"JSON {json.dumps(PASSWORD)}; form-encoded Kx7vQ2%22Lm9pR4%5CTz8wY6"
    )
    masked = redact(text, [PASSWORD, plain, None])
    assert not any(piece in masked for piece in (*PIECES, b64(PASSWORD), b64(plain))), masked
    assert masked.count(MASK) == 8 and masked.startswith(f"as sent {MASK}; quoted")
    # Below four characters a secret would mask ordinary words: left as it is.
    assert redact("a tab in the lab", ["ab"]) == "a tab in the lab"
    assert redact("nothing to hide", []) == "nothing to hide"


def test_an_imap_server_echoing_the_password(
    cli: Cli, echo_imap: EchoImapServer, db_url: str, _isolated_home: Path
) -> None:
    cli.env["ECHO_PW"] = PASSWORD
    cli("channel", "add", "echo", "--host", echo_imap.host, "--port", str(echo_imap.port),
        "--insecure-plain", "--username", USER, "--password-env", "ECHO_PW",
        "--status", "active")  # fmt: skip

    def shown() -> dict:
        return as_json(cli("channel", "show", "echo", "--json"))

    logs = watch_until(cli, ["echo", "--no-send"], lambda: shown()["failures"] >= 1, "failure")
    outputs = [
        cli("channel", "test", "echo", check=False),
        test := cli("channel", "test", "echo", "--json", check=False),
        polled := cli("poll", "--json", check=False),
        cli("poll", check=False),
        cli("channel", "show", "echo"),
        cli("channel", "list"),
    ]
    assert any(PIECES[0] in login for login in echo_imap.logins)  # sent, and echoed back
    error = as_json(test)["error"]
    assert error.startswith(f"login refused for {USER} (") and MASK in error, error
    assert MASK in as_json(polled)["channels"][0]["error"]
    assert MASK in shown()["last_error"]
    assert b"reconnecting in" in logs and MASK.encode() in logs
    assert_nowhere(PIECES, outputs, db_url, _isolated_home, logs)


def test_an_smtp_server_echoing_the_password(
    cli: Cli, echo_smtp: SmtpServer, db_url: str, _isolated_home: Path
) -> None:
    cli.env["ECHO_PW"] = PASSWORD
    cli("branch", "add", "Help", "--key", "HLP", "--address", USER, "--default")
    cli("outgoing", "add", "echo", "--host", echo_smtp.host, "--port", str(echo_smtp.port),
        "--starttls", "--ca-file", echo_smtp.ca_file, "--username", "helpdesk",
        "--password-env", "ECHO_PW", "--from", USER)  # fmt: skip
    cli("config", "set", "outbox_max_tries", "1")  # failed at once: the note on the ticket too
    ref = as_json(cli("pipe", "--json", input=CUSTOMER))["ticket"]
    cli("reply", ref, "--body-stdin", input=b"On it.\n")
    outputs = [
        cli("outgoing", "test", "echo", check=False),
        test := cli("outgoing", "test", "echo", "--json", check=False),
        sent := cli("send", "--json", check=False),
        cli("outbox", "list"),
        outbox := cli("outbox", "list", "--json"),
        cli("outgoing", "list"),
        cli("outgoing", "show", "echo", "--json"),
        ticket := cli("ticket", "show", ref, "--json"),
    ]
    error = as_json(test)["error"]
    assert error.startswith("login refused for helpdesk (535 5.7.8 PLAIN") and MASK in error
    assert MASK in as_json(sent)["mails"][0]["error"]
    [queued] = as_json(outbox)
    assert (queued["status"], MASK in queued["error"]) == ("failed", True)
    assert MASK in ticket.stdout.decode()  # the note saying why the mail did not go
    # The outbox sender's log (`tuidesk watch`) says why too, masked.
    cli("outbox", "retry", str(queued["id"]))
    logs = watch_until(
        cli, [], lambda: as_json(cli("outbox", "list", "--json"))[0]["tries"] == 1, "retry"
    )
    assert b"outbox: #" in logs and MASK.encode() in logs
    plain = f"\0helpdesk\0{PASSWORD}"  # its base64 is not the password's base64 after a prefix
    assert_nowhere([*PIECES, b64(PASSWORD), b64(plain)], outputs, db_url, _isolated_home, logs)


def test_oauth2_secrets_echoed_by_servers_and_the_identity_provider(
    cli: Cli,
    echo_imap: EchoImapServer,
    echo_smtp: SmtpServer,
    idp: FakeIdP,
    db_url: str,
    _isolated_home: Path,
    tmp_path: Path,
) -> None:
    idp.add_app("desk-app", SECRET, mailbox=USER)
    idp.add_app("desk-public", None)
    idp.add_user(USER)
    pasted = idp.issue_refresh_token("desk-public", USER, "https://outlook.office.com/.default")
    cas = tmp_path / "cas.pem"
    cas.write_text(Path(echo_smtp.ca_file).read_text() + Path(idp.ca_file).read_text())
    cli.env |= {"M365_SECRET": SECRET, "WRONG_SECRET": "wrong-secret-Hj5kL0pZ"}
    oauth = ("--auth", "oauth2", "--authority", idp.authority(), "--username", USER)
    imap = ("--host", echo_imap.host, "--port", str(echo_imap.port), "--insecure-plain",
            "--ca-file", idp.ca_file, "--status", "active", *oauth)  # fmt: skip
    cli("channel", "add", "app", *imap, "--client-id", "desk-app",
        "--client-secret-env", "M365_SECRET")  # fmt: skip
    cli("channel", "add", "user", *imap, "--client-id", "desk-public", "--refresh-token-stdin",
        input=f"{pasted}\n".encode())  # fmt: skip
    cli("outgoing", "add", "app", "--host", echo_smtp.host, "--port", str(echo_smtp.port),
        "--starttls", "--ca-file", str(cas), "--from", USER, *oauth, "--client-id", "desk-app",
        "--client-secret-env", "M365_SECRET")  # fmt: skip
    outputs = [
        imap_test := cli("channel", "test", "app", "--json", check=False),
        polled := cli("poll", "app", "--json", check=False),
        smtp_test := cli("outgoing", "test", "app", "--json", check=False),
        cli("outgoing", "test", "app", check=False),
    ]
    for proc in (imap_test, smtp_test):
        result = as_json(proc)
        assert (result["failed_step"], MASK in result["error"]) == ("login", True), result
    assert MASK in as_json(polled)["channels"][0]["error"]
    # The identity provider quotes the refused client secret and refresh token.
    idp.echo_credentials = True
    idp.revoke(pasted)
    cli("channel", "edit", "app", "--client-secret-env", "WRONG_SECRET")
    idp.expire_access_tokens()
    outputs += [
        wrong := cli("channel", "test", "app", "--json", check=False),
        revoked := cli("channel", "test", "user", "--json", check=False),
        cli("poll", "--json", check=False),
        cli("channel", "list"),
        cli("channel", "show", "app", "--json"),
    ]
    for proc, error in ((wrong, "invalid_client"), (revoked, "invalid_grant")):
        result = as_json(proc)
        assert result["failed_step"] == "token", result
        assert result["error"].startswith(error) and MASK in result["error"], result
    tokens = idp.issued_tokens()
    assert len(tokens) >= 4  # two per login: the first refused, a fresh one refused again
    secrets = [SECRET, "wrong-secret-Hj5kL0pZ", pasted, *tokens]
    secrets += [xoauth2_b64(USER, token) for token in tokens]
    assert_nowhere(secrets, outputs, db_url, _isolated_home)
