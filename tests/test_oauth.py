"""OAuth2 end to end with no internet: the suite's identity provider (HTTPS with its own CA,
tests/servers/idp.py) hands out tokens through the real MSAL, Dovecot checks every XOAUTH2
login at the provider, and aiosmtpd does the same for SMTP. The provider rotates refresh tokens
strictly (a used one is dead), so a rotated token that tuidesk failed to keep fails the next
poll here."""

from __future__ import annotations

import itertools
import json
import os
import signal
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.engine.conftest import mail
from tests.servers.certs import write_cert, write_client_certificate
from tuidesk.auth.oauth import authority_context

SECRET = "client-secret-that-must-never-show"
IMAP_SCOPE = "https://outlook.office.com/IMAP.AccessAsUser.All"
FIRST = mail("From: Alice <alice@customer.test>\nMessage-ID: <o1@customer.test>\nSubject: Printer")
SECOND = mail("From: Bob <bob@customer.test>\nMessage-ID: <o2@customer.test>\nSubject: Scanner")
_users = itertools.count()


@dataclass
class Box:
    """A mailbox user known to Dovecot and to the identity provider, and a CA file trusting
    both servers (one --ca-file serves the mail server and the sign-in server)."""

    user: str
    cas: Path


@pytest.fixture
def box(cli, oauth_dovecot, idp, tmp_path) -> Box:  # type: ignore[no-untyped-def]
    user = f"m365u{os.getpid()}x{next(_users)}"
    oauth_dovecot.add_user(user, f"unused-{user}")
    idp.add_user(user)
    cas = tmp_path / "cas.pem"
    cas.write_text(Path(oauth_dovecot.ca_file).read_text() + Path(idp.ca_file).read_text())
    cli.env["M365_SECRET"] = SECRET
    cli("branch", "edit", "Support", "--address", "support@example.com")
    return Box(user, cas)


def add(cli, dovecot, idp, box: Box, client_id: str, *extra: str, name="m365", **kw):  # type: ignore[no-untyped-def]
    return cli("channel", "add", name, "--host", "127.0.0.1", "--port", str(dovecot.imaps_port),
               "--ssl", "--ca-file", str(box.cas), "--username", box.user, "--status", "active",
               "--auth", "oauth2", "--authority", idp.authority(), "--client-id", client_id,
               *extra, **kw)  # fmt: skip


def with_refresh_token(cli, dovecot, idp, box: Box, name: str = "m365") -> str:  # type: ignore[no-untyped-def]
    """A public client's channel holding a pasted refresh token; returns that token."""
    idp.add_app("desk-public", None)
    token = idp.issue_refresh_token("desk-public", box.user, [IMAP_SCOPE])
    add(cli, dovecot, idp, box, "desk-public", "--scope", IMAP_SCOPE, "--refresh-token-stdin",
        name=name, input=f"{token}\n".encode())  # fmt: skip
    return token


def poll(cli, check: bool = True) -> dict:  # type: ignore[no-untyped-def]
    proc = cli("poll", "--json", check=check)
    return {c["name"]: c for c in json.loads(proc.stdout)["channels"]}


def channel(cli, name: str = "m365") -> dict:  # type: ignore[no-untyped-def]
    return json.loads(cli("channel", "show", name, "--json").stdout)


def test_client_credentials_read_the_mailbox_and_the_token_is_reused(cli, oauth_dovecot, idp, box):
    idp.add_app("desk-app", SECRET, mailbox=box.user)
    add(cli, oauth_dovecot, idp, box, "desk-app", "--client-secret-env", "M365_SECRET")
    oauth_dovecot.append(box.user, "INBOX", FIRST)
    assert poll(cli)["m365"]["created"] == 1
    oauth_dovecot.append(box.user, "INBOX", SECOND)
    assert poll(cli)["m365"]["created"] == 1
    assert idp.token_requests("client_credentials") == 1  # the second poll used the cache
    shown = channel(cli)
    assert shown["sign_in"] == "token cache stored encrypted"
    assert shown["token_expires_at"] is not None
    test = json.loads(cli("channel", "test", "m365", "--json").stdout)
    steps = {s["step"]: s["detail"] for s in test["steps"]}
    assert steps["token"].startswith("client credentials: access token valid until")
    assert steps["token"].endswith("renewed automatically")
    assert steps["login"] == f"logged in as {box.user} (XOAUTH2)"


def test_a_rotated_refresh_token_is_kept_across_restarts(cli, oauth_dovecot, idp, box):
    idp.set_expires_in(120)  # under MSAL's 5-minute margin: every poll must refresh
    with_refresh_token(cli, oauth_dovecot, idp, box)
    for raw in (FIRST, SECOND, None):
        if raw:
            oauth_dovecot.append(box.user, "INBOX", raw)
        result = poll(cli)["m365"]  # each poll its own process: only the database remembers
        assert result["ok"], result["error"]
    assert idp.token_requests("refresh_token") == 3
    assert channel(cli)["sign_in"] == "token cache stored encrypted"  # the pasted one is gone
    assert len(json.loads(cli("ticket", "list", "--json").stdout)) == 2


def test_a_token_the_server_stops_taking_is_renewed_without_a_failed_poll(
    cli, oauth_dovecot, idp, box
):
    with_refresh_token(cli, oauth_dovecot, idp, box)
    assert poll(cli)["m365"]["ok"]
    idp.expire_access_tokens()  # MSAL's cache still holds it as good for an hour
    oauth_dovecot.append(box.user, "INBOX", FIRST)
    result = poll(cli)["m365"]
    assert (result["ok"], result["created"]) == (True, 1)
    shown = json.loads(cli("channel", "list", "--json").stdout)[0]
    assert (shown["status"], shown["failures"], shown["last_error"]) == ("active", 0, None)
    assert idp.token_requests("refresh_token") == 2


def test_a_revoked_sign_in_turns_the_channel_failing_and_the_others_go_on(
    cli, oauth_dovecot, idp, box
):
    with_refresh_token(cli, oauth_dovecot, idp, box)
    assert poll(cli)["m365"]["ok"]
    other = f"{box.user}p"
    oauth_dovecot.add_user(other, "pw-other")
    cli.env["OTHER_PW"] = "pw-other"
    cli("channel", "add", "plain", "--host", "127.0.0.1", "--port", str(oauth_dovecot.imaps_port),
        "--ssl", "--ca-file", oauth_dovecot.ca_file, "--username", other,
        "--password-env", "OTHER_PW", "--status", "active")  # fmt: skip
    oauth_dovecot.append(other, "INBOX", SECOND)
    idp.revoke(box.user)
    results = poll(cli, check=False)
    assert not results["m365"]["ok"]
    assert "token: invalid_grant" in results["m365"]["error"]
    assert (results["plain"]["ok"], results["plain"]["created"]) == (True, 1)
    m365 = channel(cli)
    assert m365["status"] == "failing"  # at once: no retry mends a revoked sign-in
    assert "invalid_grant" in m365["last_error"]


def test_a_device_code_sign_in_from_the_command_line(cli, oauth_dovecot, idp, box):
    idp.add_app("desk-public", None)
    add(cli, oauth_dovecot, idp, box, "desk-public", "--scope", IMAP_SCOPE)
    assert channel(cli)["sign_in"].startswith("not signed in")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tuidesk", "channel", "auth", "m365"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli.env,
    )  # fmt: skip
    try:
        code = idp.wait_for_device_code(timeout=60)
        idp.approve_device(box.user, code)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err.decode()
    text = out.decode()
    assert code in text and "signed in; device code: access token valid until" in text
    oauth_dovecot.append(box.user, "INBOX", FIRST)
    assert poll(cli)["m365"]["created"] == 1
    assert idp.token_requests("refresh_token") == 0  # the sign-in's token, from the cache


def test_a_refused_device_sign_in_exits_1_and_keeps_nothing(cli, oauth_dovecot, idp, box):
    idp.add_app("desk-public", None)
    add(cli, oauth_dovecot, idp, box, "desk-public")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tuidesk", "channel", "auth", "m365"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli.env,
    )  # fmt: skip
    try:
        idp.deny_device(idp.wait_for_device_code(timeout=60))
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 1
    assert "sign-in failed: access_denied" in err.decode()
    assert channel(cli)["sign_in"].startswith("not signed in")


def test_the_authority_is_verified_against_the_system_store_ca_file_and_environment(
    cli, oauth_dovecot, idp, box
):
    """Hybrid Exchange: --ca-file names the private mail server's CA, and the sign-in server
    (Microsoft's, trusted through the system store, or a private one named in the
    environment) must still be trusted: the authority is verified against all of them at
    once, never against --ca-file alone. No variable turns verification off."""
    idp.add_app("desk-app", SECRET, mailbox=box.user)
    add(cli, oauth_dovecot, idp, box, "desk-app", "--client-secret-env", "M365_SECRET")
    cli("channel", "edit", "m365", "--ca-file", oauth_dovecot.ca_file)  # the mail server's only
    variables = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE")
    env = {k: v for k, v in cli.env.items() if k not in variables}
    cli.env = env
    proc = cli("channel", "test", "m365", "--json", check=False)
    result = json.loads(proc.stdout)
    assert (proc.returncode, result["failed_step"]) == (1, "token")
    assert "the certificate of localhost is not trusted" in result["error"]
    for variable in variables[:2]:
        cli.env = env | {variable: idp.ca_file}
        proc = cli("channel", "test", "m365", "--json", check=False)
        steps = {s["step"]: s["ok"] for s in json.loads(proc.stdout)["steps"]}
        assert (proc.returncode, steps["token"], steps["login"]) == (0, True, True), variable
    cli.env = env | {"REQUESTS_CA_BUNDLE": "", "CURL_CA_BUNDLE": "", "PYTHONHTTPSVERIFY": "0"}
    assert cli("channel", "test", "m365", check=False).returncode == 1


def test_the_authority_context_adds_every_ca_to_the_system_store(monkeypatch, tmp_path):
    """SSL_CERT_FILE replaces OpenSSL's default bundle; the system's is added back."""
    cas = {name: str(write_cert(tmp_path, name, f"tuidesk {name} CA")[0]) for name in "abc"}
    monkeypatch.setenv("SSL_CERT_FILE", cas["a"])
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", cas["b"])
    system = ssl.get_default_verify_paths().openssl_cafile
    expected = {
        str(cert["subject"]) for cert in ssl.create_default_context(cafile=system).get_ca_certs()
    }
    expected |= {f"((('commonName', 'tuidesk {name} CA'),),)" for name in "abc"}
    context = authority_context(cas["c"])
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert {str(cert["subject"]) for cert in context.get_ca_certs()} >= expected


def test_replies_go_out_with_smtp_xoauth2(cli, oauth_dovecot, oauth_smtp, idp, box, tmp_path):
    idp.add_app("desk-app", SECRET, mailbox=box.user)
    cas = tmp_path / "smtp-cas.pem"
    cas.write_text(Path(oauth_smtp.ca_file).read_text() + Path(idp.ca_file).read_text())
    cli("outgoing", "add", "m365", "--host", "127.0.0.1", "--port", str(oauth_smtp.port),
        "--starttls", "--ca-file", str(cas), "--username", box.user,
        "--from", "support@example.com", "--auth", "oauth2", "--authority", idp.authority(),
        "--client-id", "desk-app", "--client-secret-env", "M365_SECRET")  # fmt: skip
    oauth_smtp.clear()
    result = json.loads(
        cli("outgoing", "test", "m365", "--send-to", "alice@customer.test", "--json").stdout
    )
    steps = {s["step"]: s["detail"] for s in result["steps"]}
    assert result["ok"] and steps["login"] == f"logged in as {box.user} (XOAUTH2)"
    (received,) = oauth_smtp.wait_for(1)
    assert received.auth_user == box.user
    # A token the server stops taking is renewed once, and the mail still goes.
    idp.expire_access_tokens()
    assert json.loads(cli("outgoing", "test", "m365", "--json").stdout)["ok"]
    assert idp.token_requests("client_credentials") == 2
    idp.add_app("desk-app", "a-new-secret", mailbox=box.user)  # the old secret is refused
    idp.expire_access_tokens()
    proc = cli("outgoing", "test", "m365", "--json", check=False)
    failed = json.loads(proc.stdout)
    assert (proc.returncode, failed["failed_step"]) == (1, "token")
    assert "invalid_client" in failed["error"]


def test_no_secret_or_token_is_ever_shown_logged_or_kept_in_clear(
    cli, oauth_dovecot, idp, box, _isolated_home
):
    idp.add_app("desk-app", SECRET, mailbox=box.user)
    add(cli, oauth_dovecot, idp, box, "desk-app", "--client-secret-env", "M365_SECRET")
    pasted = with_refresh_token(cli, oauth_dovecot, idp, box, name="delegated")
    oauth_dovecot.append(box.user, "INBOX", FIRST)
    outputs = [cli("poll", "--json"), cli("poll")]
    for args in (
        ("channel", "show", "m365"), ("channel", "show", "delegated", "--json"),
        ("channel", "list"), ("channel", "list", "--json"), ("channel", "test", "m365"),
        ("channel", "test", "delegated", "--json"), ("config", "export"),
    ):  # fmt: skip
        outputs.append(cli(*args))
    idp.revoke(box.user)
    outputs.append(cli("poll", check=False))  # the error path says why, without the token
    secrets = [SECRET, pasted, *idp.issued_tokens()]
    assert len(secrets) > 4
    for proc in outputs:
        for secret in secrets:
            assert secret.encode() not in proc.stdout + proc.stderr, proc.args
    for path in _isolated_home.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(secret.encode() in data for secret in secrets), path


def test_a_certificate_signs_for_the_app_instead_of_a_secret(
    cli, oauth_dovecot, idp, box, tmp_path
):
    pem = tmp_path / "app.pem"
    idp.add_app("desk-cert", None, mailbox=box.user, certificate=write_client_certificate(pem))
    add(cli, oauth_dovecot, idp, box, "desk-cert", "--client-certificate", str(pem))
    assert channel(cli)["client_secret"] == f"certificate {pem}"
    oauth_dovecot.append(box.user, "INBOX", FIRST)
    assert poll(cli)["m365"]["created"] == 1
    # A certificate the app does not have is refused by the provider, and said so.
    other = tmp_path / "other.pem"
    write_client_certificate(other)
    cli("channel", "edit", "m365", "--client-certificate", str(other))
    idp.expire_access_tokens()
    proc = cli("channel", "test", "m365", "--json", check=False)
    assert proc.returncode == 1 and "invalid_client" in json.loads(proc.stdout)["error"]


def test_a_loose_or_wrong_certificate_file_is_refused_when_saved(
    cli, oauth_dovecot, idp, box, tmp_path
):
    pem = tmp_path / "app.pem"
    write_client_certificate(pem)
    pem.chmod(0o644)
    proc = add(cli, oauth_dovecot, idp, box, "desk-cert", "--client-certificate", str(pem),
               check=False)  # fmt: skip
    assert proc.returncode == 2 and "chmod 600" in proc.stderr.decode()
    pem.write_bytes(pem.read_bytes().split(b"-----BEGIN CERTIFICATE")[0])
    pem.chmod(0o600)
    proc = add(cli, oauth_dovecot, idp, box, "desk-cert", "--client-certificate", str(pem),
               check=False)  # fmt: skip
    assert proc.returncode == 2 and "must hold an unencrypted private key and its certificate" in (
        proc.stderr.decode()
    )
    proc = add(cli, oauth_dovecot, idp, box, "desk-cert", "--client-certificate", str(pem),
               "--client-secret-env", "M365_SECRET", check=False)  # fmt: skip
    assert proc.returncode == 2 and "choose one of" in proc.stderr.decode()


def test_the_watcher_reads_with_oauth2_and_logs_no_token(cli, oauth_dovecot, idp, box):
    pasted = with_refresh_token(cli, oauth_dovecot, idp, box)
    oauth_dovecot.append(box.user, "INBOX", FIRST)
    watcher = subprocess.Popen(
        [sys.executable, "-m", "tuidesk", "watch", "m365"], env=cli.env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        _until(lambda: _tickets(cli) == 1, "the first ticket")
        time.sleep(1)  # into IDLE
        oauth_dovecot.append(box.user, "INBOX", SECOND)
        _until(lambda: _tickets(cli) == 2, "the second ticket, from IDLE")
        # Signed out while watching: the next login fails, and the channel says why.
        idp.revoke(box.user)
        cli("channel", "edit", "m365", "--timeout-ms", "5000")  # new settings: it reconnects
        oauth_dovecot.append(box.user, "INBOX", mail("From: c@customer.test\nSubject: Third"))
        _until(lambda: channel(cli)["status"] == "failing", "the channel failing")
    finally:
        watcher.send_signal(signal.SIGTERM)
        out, err = watcher.communicate(timeout=30)
    assert watcher.returncode == 0, err
    assert b"invalid_grant" in err
    for secret in (pasted, *idp.issued_tokens()):
        assert secret.encode() not in out + err


def _tickets(cli) -> int:  # type: ignore[no-untyped-def]
    return len(json.loads(cli("ticket", "list", "--json").stdout))


def _until(condition, what: str, seconds: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"no {what} within {seconds} s")
