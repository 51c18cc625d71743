"""Smoke tests of the Dovecot server the suite runs on 127.0.0.1 (tests/servers/dovecot.py):
real IMAP through imapclient, no mocks. The session fixture `dovecot` is in conftest.py."""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
import uuid

import pytest
from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from tests.servers.dovecot import DovecotServer

RAW = (
    b"From: Alice <alice@example.com>\r\n"
    b"To: support@example.com\r\n"
    b"Subject: Printer on fire\r\n"
    b"Message-ID: <smoke-1@example.com>\r\n"
    b"Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n"
    b"\r\n"
    b"It is still on fire.\r\n"
)


@pytest.fixture
def user(dovecot: DovecotServer) -> str:
    """A user of its own per test, so tests never see each other's mail."""
    name = f"u{uuid.uuid4().hex[:12]}"
    dovecot.add_user(name, f"pw-{name}")
    return name


def test_default_user_logs_in_over_plain_imap(dovecot: DovecotServer) -> None:
    client = IMAPClient(dovecot.host, dovecot.imap_port, ssl=False, timeout=10)
    try:
        assert b"STARTTLS" in client.capabilities()
        client.login("support", "secret")
        assert client.folder_exists("INBOX")
    finally:
        client.logout()


def test_starttls_verifies_with_ca_file(dovecot: DovecotServer, user: str) -> None:
    client = IMAPClient(dovecot.host, dovecot.imap_port, ssl=False, timeout=10)
    try:
        client.starttls(ssl.create_default_context(cafile=dovecot.ca_file))
        client.login(user, dovecot.password(user))
        assert client.folder_exists("INBOX")
    finally:
        client.logout()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_imaps_verifies_with_ca_file(dovecot: DovecotServer, user: str, host: str) -> None:
    context = ssl.create_default_context(cafile=dovecot.ca_file)
    client = IMAPClient(host, dovecot.imaps_port, ssl=True, ssl_context=context, timeout=10)
    try:
        client.login(user, dovecot.password(user))
        assert client.folder_exists("INBOX")
    finally:
        client.logout()


def test_imaps_rejects_other_ca(dovecot: DovecotServer) -> None:
    context = ssl.create_default_context(cafile=dovecot.other_ca_file)
    with pytest.raises(ssl.SSLCertVerificationError):
        IMAPClient(dovecot.host, dovecot.imaps_port, ssl=True, ssl_context=context, timeout=10)


def test_starttls_rejects_other_ca(dovecot: DovecotServer) -> None:
    client = IMAPClient(dovecot.host, dovecot.imap_port, ssl=False, timeout=10)
    try:
        with pytest.raises(ssl.SSLCertVerificationError):
            client.starttls(ssl.create_default_context(cafile=dovecot.other_ca_file))
    finally:
        with contextlib.suppress(OSError):  # the failed handshake already closed the socket
            client.shutdown()


def test_wrong_passwords_fail_fast_and_do_not_lock_out(dovecot: DovecotServer, user: str) -> None:
    """auth_failure_delay = 0 and no anvil auth penalty: five failures, then a good login."""
    started = time.monotonic()
    for _ in range(5):
        client = IMAPClient(dovecot.host, dovecot.imap_port, ssl=False, timeout=10)
        try:
            with pytest.raises(LoginError):
                client.login(user, "wrong")
        finally:
            client.shutdown()
    failures = time.monotonic() - started
    client = dovecot.client(user)
    client.logout()
    elapsed = time.monotonic() - started
    print(f"5 failed logins: {failures:.2f}s; with the good one: {elapsed:.2f}s")


def test_add_user_and_change_password_without_restart(dovecot: DovecotServer) -> None:
    name = f"u{uuid.uuid4().hex[:12]}"
    dovecot.add_user(name, "first-pw")
    dovecot.client(name).logout()
    dovecot.add_user(name, "other-pw")  # same length: the passwd-file must still be re-read
    client = IMAPClient(dovecot.host, dovecot.imap_port, ssl=False, timeout=10)
    try:
        with pytest.raises(LoginError):
            client.login(name, "first-pw")
    finally:
        client.shutdown()
    dovecot.client(name).logout()


def test_append_then_peek_returns_same_bytes_unseen(dovecot: DovecotServer, user: str) -> None:
    uid = dovecot.append(user, "Support/New", RAW)
    assert uid is not None
    assert dovecot.maildir(user).is_dir()
    client = dovecot.client(user)
    try:
        client.select_folder("Support/New")
        data = client.fetch([uid], ["BODY.PEEK[]", "FLAGS"])
        assert data[uid][b"BODY[]"] == RAW
        assert b"\\Seen" not in data[uid][b"FLAGS"]
        assert b"\\Seen" not in client.get_flags([uid])[uid]
    finally:
        client.logout()


def test_capabilities_include_idle_and_move(dovecot: DovecotServer, user: str) -> None:
    client = dovecot.client(user)
    try:
        caps = client.capabilities()
        assert b"IDLE" in caps
        assert b"MOVE" in caps
        assert b"UIDPLUS" in caps
        client.create_folder("Done")
        uid = dovecot.append(user, "INBOX", RAW)
        client.select_folder("INBOX")
        client.move([uid], "Done")
        assert client.search() == []
        assert client.folder_status("Done", [b"MESSAGES"])[b"MESSAGES"] == 1
    finally:
        client.logout()


def test_idle_receives_exists_after_append(dovecot: DovecotServer, user: str) -> None:
    client = dovecot.client(user)
    try:
        client.select_folder("INBOX")
        client.idle()
        started = time.monotonic()
        dovecot.append(user, "INBOX", RAW)
        responses = client.idle_check(timeout=10)
        waited = time.monotonic() - started
        client.idle_done()
        print(f"IDLE push after {waited:.2f}s: {responses}")
        assert (1, b"EXISTS") in responses
    finally:
        client.logout()


def _port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            s.listen()
        except OSError:
            return False
    return True


def test_stop_frees_ports_and_is_idempotent() -> None:
    started = time.monotonic()
    server = DovecotServer().start()
    print(f"start() took {time.monotonic() - started:.2f}s")
    root = server.root
    ports = (server.imap_port, server.imaps_port)
    assert root is not None and root.is_dir()
    assert not any(_port_is_free(p) for p in ports)
    server.stop()
    server.stop()
    assert not root.exists()
    for port in ports:
        assert _port_is_free(port)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
