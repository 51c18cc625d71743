"""Smoke tests of the SMTP server the suite runs on 127.0.0.1 (tests/servers/smtp.py): real
SMTP through smtplib, no mocks."""

from __future__ import annotations

import smtplib

import pytest

from tests.servers.smtp import SmtpServer

RAW = (
    b"From: Support <support@example.com>\r\n"
    b"To: Alice <alice@example.com>\r\n"
    b"Subject: Re: Printer on fire [SUP-1]\r\n"
    b"\r\n"
    b".A line that starts with a dot, and 8-bit: caf\xc3\xa9\r\n"
)


@pytest.fixture
def server(smtp_starttls: SmtpServer) -> SmtpServer:
    smtp_starttls.clear()
    return smtp_starttls


def starttls_client(server: SmtpServer, *, login: bool = True) -> smtplib.SMTP:
    client = smtplib.SMTP(server.host, server.port, timeout=10)
    client.starttls(context=server.client_context())
    if login:
        client.login("support", server.password("support"))
    return client


def test_starttls_auth_send_is_recorded_exactly(server: SmtpServer) -> None:
    client = starttls_client(server)
    try:
        refused = client.sendmail("support@example.com", ["alice@example.com"], RAW)
    finally:
        client.quit()
    assert refused == {}
    [got] = server.wait_for(1)
    assert got.data == RAW
    assert got.mail_from == "support@example.com"
    assert got.rcpt_tos == ["alice@example.com"]
    assert got.tls and got.auth_user == "support"
    assert got.peer[0] == "127.0.0.1"


def test_auth_before_tls_is_refused(server: SmtpServer) -> None:
    client = smtplib.SMTP(server.host, server.port, timeout=10)
    try:
        client.ehlo()
        assert client.has_extn("starttls") and not client.has_extn("auth")
        assert client.docmd("AUTH", "PLAIN AHN1cHBvcnQAc2VjcmV0")[0] == 538
        assert client.mail("support@example.com")[0] == 530
    finally:
        client.quit()


def test_wrong_password_is_535(server: SmtpServer) -> None:
    client = starttls_client(server, login=False)
    try:
        with pytest.raises(smtplib.SMTPAuthenticationError) as caught:
            client.login("support", "wrong")
        assert caught.value.smtp_code == 535
    finally:
        client.quit()


def test_added_user_logs_in(server: SmtpServer) -> None:
    server.add_user("agent", "pw-agent")
    client = starttls_client(server, login=False)
    try:
        assert client.login("agent", "pw-agent")[0] == 235
    finally:
        client.quit()


def test_implicit_tls_requires_auth_then_sends(smtp_ssl: SmtpServer) -> None:
    smtp_ssl.clear()
    client = smtplib.SMTP_SSL(
        smtp_ssl.host, smtp_ssl.port, context=smtp_ssl.client_context(), timeout=10
    )
    try:
        client.ehlo()
        assert client.mail("support@example.com")[0] == 530
        client.rset()
        client.login("support", smtp_ssl.password("support"))
        client.sendmail("support@example.com", ["alice@example.com"], RAW)
    finally:
        client.quit()
    [got] = smtp_ssl.wait_for(1)
    assert got.data == RAW and got.tls and got.auth_user == "support"


def test_fail_next_then_ok_and_refused_recipient(server: SmtpServer) -> None:
    server.fail_next(1)
    server.refuse_recipient("Nobody@example.com")
    client = starttls_client(server)
    try:
        with pytest.raises(smtplib.SMTPDataError) as caught:
            client.sendmail("support@example.com", ["alice@example.com"], RAW)
        assert caught.value.smtp_code == 451
        assert server.messages == []
        refused = client.sendmail(
            "support@example.com", ["alice@example.com", "nobody@example.com"], RAW
        )
    finally:
        client.quit()
    assert refused == {"nobody@example.com": (550, b"5.1.1 no such user")}
    [got] = server.wait_for(1)
    assert got.rcpt_tos == ["alice@example.com"]


def test_wait_for_times_out_when_nothing_arrives(server: SmtpServer) -> None:
    with pytest.raises(TimeoutError):
        server.wait_for(1, timeout=0)
