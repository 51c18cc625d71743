"""The SMTP adapter (tuidesk/outbound/smtp.py) against a real aiosmtpd on 127.0.0.1: TLS
verification, login, what the server receives, and which failures are permanent."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from tests.servers.postgres import free_port
from tests.servers.smtp import SmtpServer
from tuidesk.outbound import smtp as outbound
from tuidesk.outbound.smtp import SendError, SmtpSettings

PASSWORD_ENV = "TUIDESK_TEST_SMTP_PW"
FROM = "support@example.com"
RAW = (
    b"From: Support <support@example.com>\r\n"
    b"To: Alice <alice@example.com>\r\n"
    b"Subject: Re: Printer on fire [SUP-1]\r\n"
    b"Message-ID: <reply-1@example.com>\r\n"
    b"\r\n"
    b"Hello Alice,\r\n"
    b".the dot line must survive dot-stuffing\r\n"
    b"8-bit text: caf\xc3\xa9\r\n"
)


@pytest.fixture
def server(smtp_starttls: SmtpServer) -> SmtpServer:
    smtp_starttls.clear()
    return smtp_starttls


@pytest.fixture
def smtps(smtp_ssl: SmtpServer) -> SmtpServer:
    smtp_ssl.clear()
    return smtp_ssl


Settings = Callable[[SmtpServer], SmtpSettings]


@pytest.fixture
def settings_for(monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings that log in as the server's default user, password from the environment."""

    def make(server: SmtpServer) -> SmtpSettings:
        monkeypatch.setenv(PASSWORD_ENV, server.password(server.default_user))
        return SmtpSettings(
            name="outgoing",
            host=server.host,
            port=server.port,
            security="ssl" if server.mode == "ssl" else "starttls",
            username=server.default_user,
            secret_kind="env",
            secret_ref=PASSWORD_ENV,
            ca_file=server.ca_file,
            timeout_ms=10000,
        )

    return make


def test_starttls_send_arrives_byte_for_byte(
    server: SmtpServer, settings_for: Settings, tmp_path: Path
) -> None:
    steps: list[dict] = []
    client = outbound.connect(settings_for(server), tmp_path, steps)
    try:
        refused = outbound.send(client, FROM, ["alice@example.com"], RAW)
    finally:
        outbound.close(client)
    assert refused == {}
    assert [s["step"] for s in steps] == ["dns", "connect", "tls", "login"]
    [got] = server.wait_for(1)
    assert got.data == RAW
    assert (got.mail_from, got.rcpt_tos) == (FROM, ["alice@example.com"])
    assert got.tls and got.auth_user == "support"


def test_implicit_tls_send(smtps: SmtpServer, settings_for: Settings, tmp_path: Path) -> None:
    client = outbound.connect(settings_for(smtps), tmp_path)
    try:
        outbound.send(client, FROM, ["alice@example.com", "bob@example.com"], RAW)
    finally:
        outbound.close(client)
    [got] = smtps.wait_for(1)
    assert got.data == RAW and got.tls
    assert got.rcpt_tos == ["alice@example.com", "bob@example.com"]


def test_several_mails_on_one_connection(
    server: SmtpServer, settings_for: Settings, tmp_path: Path
) -> None:
    client = outbound.connect(settings_for(server), tmp_path)
    try:
        for n in range(3):
            outbound.send(client, FROM, [f"c{n}@example.com"], RAW)
    finally:
        outbound.close(client)
    assert [m.rcpt_tos for m in server.wait_for(3)] == [[f"c{n}@example.com"] for n in range(3)]


def test_wrong_password_is_a_login_failure_not_permanent(
    server: SmtpServer, settings_for: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(server)
    monkeypatch.setenv(PASSWORD_ENV, "hunter2-wrong")
    with pytest.raises(SendError) as caught:
        outbound.connect(settings, tmp_path)
    err = caught.value
    assert (err.step, err.code, err.permanent) == ("login", 535, False)
    assert err.message.startswith("login refused for support (535 ")
    assert "hunter2" not in str(err)


def test_missing_secret_is_a_login_failure(
    server: SmtpServer, settings_for: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(server)
    monkeypatch.delenv(PASSWORD_ENV)
    with pytest.raises(SendError) as caught:
        outbound.connect(settings, tmp_path)
    assert caught.value.step == "login"
    assert caught.value.message == f"environment variable {PASSWORD_ENV} is not set"


@pytest.mark.parametrize("mode", ["starttls", "ssl"])
def test_untrusted_certificate_fails_at_tls(
    mode: str,
    server: SmtpServer,
    smtps: SmtpServer,
    settings_for: Settings,
    tmp_path: Path,
) -> None:
    target = server if mode == "starttls" else smtps
    settings = replace(settings_for(target), ca_file=target.other_ca_file)
    with pytest.raises(SendError) as caught:
        outbound.connect(settings, tmp_path)
    assert caught.value.step == "tls"
    assert caught.value.message.startswith("certificate not trusted")
    assert not caught.value.permanent
    assert target.messages == []


def test_without_ca_file_the_self_signed_certificate_is_not_trusted(
    server: SmtpServer, settings_for: Settings, tmp_path: Path
) -> None:
    settings = replace(settings_for(server), ca_file=None)
    with pytest.raises(SendError, match="certificate not trusted") as caught:
        outbound.connect(settings, tmp_path)
    assert caught.value.step == "tls"


def test_closed_port_fails_at_connect(
    server: SmtpServer, settings_for: Settings, tmp_path: Path
) -> None:
    settings = replace(settings_for(server), port=free_port())
    with pytest.raises(SendError) as caught:
        outbound.connect(settings, tmp_path)
    assert (caught.value.step, caught.value.message) == ("connect", "connection refused")


def test_starttls_setting_refuses_a_server_without_starttls(
    settings_for: Settings, tmp_path: Path
) -> None:
    with SmtpServer("plain") as plain:
        settings = replace(settings_for(plain), username=None)
        with pytest.raises(SendError) as caught:
            outbound.connect(settings, tmp_path)
        assert caught.value.step == "tls"
        assert "does not offer STARTTLS" in caught.value.message
        assert plain.messages == []


def test_ssl_setting_on_a_starttls_port_says_so(
    server: SmtpServer, settings_for: Settings, tmp_path: Path
) -> None:
    settings = replace(settings_for(server), security="ssl")
    with pytest.raises(SendError) as caught:
        outbound.connect(settings, tmp_path)
    assert caught.value.step == "tls"
    assert "needs starttls" in caught.value.message


def test_starttls_setting_on_an_implicit_tls_port_says_so(
    smtps: SmtpServer, settings_for: Settings, tmp_path: Path
) -> None:
    """Both sides wait for the other (greeting, TLS hello) until the timeout."""
    settings = replace(settings_for(smtps), security="starttls", timeout_ms=300)
    with pytest.raises(SendError) as caught:
        outbound.connect(settings, tmp_path)
    assert caught.value.step == "connect"
    assert caught.value.message == (
        "no greeting from the server (timed out): an implicit TLS port such as 465 needs ssl"
    )


def test_plain_security_is_not_accepted() -> None:
    with pytest.raises(ValueError, match="never sent in plain text"):
        SmtpSettings("x", "127.0.0.1", 25, "plain", None, None, None)


def test_temporary_refusal_then_success(
    server: SmtpServer, settings_for: Settings, tmp_path: Path
) -> None:
    server.fail_next(1, 451, "4.3.0 try again later")
    client = outbound.connect(settings_for(server), tmp_path)
    try:
        with pytest.raises(SendError) as caught:
            outbound.send(client, FROM, ["alice@example.com"], RAW)
        err = caught.value
        assert (err.step, err.code, err.permanent) == ("send", 451, False)
        assert "451 4.3.0 try again later" in err.message
        assert server.messages == []
        outbound.send(client, FROM, ["alice@example.com"], RAW)
    finally:
        outbound.close(client)
    assert [m.data for m in server.wait_for(1)] == [RAW]


def test_permanent_refusal(server: SmtpServer, settings_for: Settings, tmp_path: Path) -> None:
    server.fail_next(1, 550, "5.7.1 message rejected")
    client = outbound.connect(settings_for(server), tmp_path)
    try:
        with pytest.raises(SendError) as caught:
            outbound.send(client, FROM, ["alice@example.com"], RAW)
    finally:
        outbound.close(client)
    assert (caught.value.code, caught.value.permanent) == (550, True)


def test_one_refused_recipient_among_two(
    server: SmtpServer, settings_for: Settings, tmp_path: Path
) -> None:
    server.refuse_recipient("gone@example.com")
    client = outbound.connect(settings_for(server), tmp_path)
    try:
        refused = outbound.send(client, FROM, ["alice@example.com", "gone@example.com"], RAW)
    finally:
        outbound.close(client)
    assert refused == {"gone@example.com": (550, "5.1.1 no such user")}
    [got] = server.wait_for(1)
    assert got.rcpt_tos == ["alice@example.com"]


@pytest.mark.parametrize(
    ("codes", "permanent", "code"), [((550, 551), True, 550), ((550, 450), False, 450)]
)
def test_every_recipient_refused(
    codes: tuple[int, int],
    permanent: bool,
    code: int,
    server: SmtpServer,
    settings_for: Settings,
    tmp_path: Path,
) -> None:
    """Permanent only when every refusal is 5xx: one 4xx means a retry may still reach it."""
    for n, c in enumerate(codes):
        server.refuse_recipient(f"r{n}@example.com", c, f"{c // 100}.1.1 no")
    client = outbound.connect(settings_for(server), tmp_path)
    try:
        with pytest.raises(SendError) as caught:
            outbound.send(client, FROM, ["r0@example.com", "r1@example.com"], RAW)
    finally:
        outbound.close(client)
    assert (caught.value.step, caught.value.permanent, caught.value.code) == (
        "send",
        permanent,
        code,
    )
    assert "r0@example.com (550 5.1.1 no)" in caught.value.message


def test_login_required_is_a_channel_problem(
    server: SmtpServer, settings_for: Settings, tmp_path: Path
) -> None:
    """530 to MAIL is a 5xx, but the mail is fine: the channel lacks a login."""
    steps: list[dict] = []
    client = outbound.connect(replace(settings_for(server), username=None), tmp_path, steps)
    try:
        with pytest.raises(SendError) as caught:
            outbound.send(client, FROM, ["alice@example.com"], RAW)
    finally:
        outbound.close(client)
    assert steps[-1] == {"step": "login", "ok": True, "detail": "no login (no username set)"}
    assert (caught.value.code, caught.value.permanent) == (530, False)


def test_utf8_address_uses_smtputf8(
    server: SmtpServer, settings_for: Settings, tmp_path: Path
) -> None:
    client = outbound.connect(settings_for(server), tmp_path)
    try:
        outbound.send(client, FROM, ["jürgen@example.com"], RAW)
    finally:
        outbound.close(client)
    assert server.wait_for(1)[0].rcpt_tos == ["jürgen@example.com"]


def test_outgoing_test_success_and_send(
    server: SmtpServer, settings_for: Settings, tmp_path: Path
) -> None:
    settings = settings_for(server)
    result = outbound.test_outgoing(settings, tmp_path, mail_from=FROM)  # as `outgoing test`
    assert result == {
        "name": "outgoing",
        "ok": True,
        "failed_step": None,
        "steps": [
            {"step": "dns", "ok": True, "detail": "127.0.0.1 resolves"},
            {
                "step": "connect",
                "ok": True,
                "detail": f"127.0.0.1:{server.port} accepts connections",
            },
            {"step": "tls", "ok": True, "detail": "STARTTLS and certificate verified"},
            {"step": "login", "ok": True, "detail": "logged in as support"},
        ],
    }
    assert server.messages == []
    sent = outbound.test_outgoing(
        settings, tmp_path, send_to="me@example.com", raw=RAW, mail_from=FROM
    )
    assert sent["ok"] and sent["steps"][-1] == {
        "step": "send",
        "ok": True,
        "detail": "accepted for me@example.com",
    }
    [got] = server.wait_for(1)
    assert (got.data, got.rcpt_tos) == (RAW, ["me@example.com"])


@pytest.mark.parametrize(
    ("change", "failed", "error"),
    [
        ({"host": "no-such-host.invalid"}, "dns", "DNS lookup failed"),
        ({"port": "closed"}, "connect", "connection refused"),
        ({"ca_file": "other"}, "tls", "certificate not trusted"),
        ({"username": "nobody"}, "login", "login refused for nobody (535 "),
        ({"send_to": "gone@example.com"}, "send", "every recipient refused: gone@example.com"),
    ],
)
def test_outgoing_test_names_the_failing_step(
    change: dict[str, str],
    failed: str,
    error: str,
    server: SmtpServer,
    settings_for: Settings,
    tmp_path: Path,
) -> None:
    server.refuse_recipient("gone@example.com")
    settings = settings_for(server)
    if change.get("port") == "closed":
        settings = replace(settings, port=free_port())
    elif change.get("ca_file") == "other":
        settings = replace(settings, ca_file=server.other_ca_file)
    elif "send_to" not in change:
        settings = replace(settings, **change)
    send = (
        {"send_to": change["send_to"], "raw": RAW, "mail_from": FROM} if "send_to" in change else {}
    )
    result = outbound.test_outgoing(settings, tmp_path, **send)
    order = ["dns", "connect", "tls", "login", "send"]
    assert result["ok"] is False and result["failed_step"] == failed
    assert result["error"].startswith(error)
    assert [s["step"] for s in result["steps"]] == order[: order.index(failed) + 1]
    assert [s["ok"] for s in result["steps"]][-1] is False
    assert all(s["ok"] for s in result["steps"][:-1])
    assert server.messages == []
