"""SMTP relays: connect with verified TLS, test a relay step by step, and send raw bytes as
they are. Stdlib smtplib only (no database, no Textual, no typer), so a send worker stays light.

Every failure is a SendError naming the step that failed, in words an admin can act on, and
saying whether the mail itself was refused (permanent: retrying cannot help) or the channel
failed (the mail waits and is tried again)."""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuidesk.auth.credentials import SecretError, resolve
from tuidesk.auth.oauth import OAuthConfig, Token, TokenError, TokenStore, bearer, xoauth2
from tuidesk.net import explain, tls_context
from tuidesk.redact import redact

SECURITIES = ("ssl", "starttls")

Done = Callable[[str, str], None]


@dataclass(frozen=True)
class SmtpSettings:
    """An outgoing channel as plain values: what connecting needs, nothing from the database."""

    name: str
    host: str
    port: int
    security: str  # "ssl" (implicit TLS) or "starttls"
    username: str | None
    secret_kind: str | None
    secret_ref: str | None
    ca_file: str | None = None
    timeout_ms: int = 30000
    auth_type: str = "password"
    oauth_tenant: str | None = None
    oauth_client_id: str | None = None
    oauth_scopes: tuple[str, ...] = ()
    oauth_authority: str | None = None
    oauth_certificate: str | None = None

    def __post_init__(self) -> None:
        if self.security not in SECURITIES:
            raise ValueError(
                f"security must be ssl or starttls, not {self.security!r}: "
                "mail is never sent in plain text"
            )

    @property
    def timeout(self) -> float:
        return self.timeout_ms / 1000


class SendError(Exception):
    """A step failed. `step` is dns, connect, tls, login or send; `message` says why in plain
    words and never holds the password; `code` is the server's reply code, if it answered.

    `permanent` is True only for a 5xx answer to the mail itself (MAIL, RCPT, DATA): sending
    it again cannot help. 4xx answers, connection, timeout, TLS and login problems are the
    channel's, and so is 530 (login required) even when MAIL gets it: the mail is fine and
    is retried once the channel is."""

    def __init__(
        self, step: str, message: str, *, code: int | None = None, permanent: bool = False
    ) -> None:
        super().__init__(f"{step}: {message}")
        self.step = step
        self.message = message
        self.code = code
        self.permanent = permanent


def _text(text: bytes | str) -> str:
    """A reply's text on one line (smtplib joins multi-line replies with newlines)."""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return " ".join(text.split())


def _reply(code: int, text: bytes | str) -> str:
    return f"{code} {_text(text)}".strip()


def _permanent(code: int) -> bool:
    return code >= 500 and code != 530


def _why(exc: BaseException) -> str:
    """`explain` for socket and TLS errors, plus what smtplib reports in other words."""
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        # smtplib turns a timeout or reset while reading a reply into "disconnected".
        cause = exc.__context__
        return explain(cause) if isinstance(cause, OSError) else "the server closed the connection"
    if isinstance(exc, smtplib.SMTPResponseException):
        return _reply(exc.smtp_code, exc.smtp_error)
    if isinstance(exc, ssl.SSLError) and exc.reason == "WRONG_VERSION_NUMBER":
        return "the server did not answer in TLS (a STARTTLS port such as 587 needs starttls)"
    return explain(exc)


def _tls_context(settings: SmtpSettings) -> ssl.SSLContext:
    """Verification always on: the system store, plus a private CA when ca_file is set."""
    try:
        return tls_context(settings.ca_file)
    except OSError as exc:  # ssl.SSLError too: not a PEM certificate
        raise SendError("tls", f"cannot use CA file {settings.ca_file} ({explain(exc)})") from exc


class _Client(smtplib.SMTP):
    """smtplib on a socket that is already connected (and for implicit TLS already verified),
    so a refused connection and a failed handshake are separate steps without connecting
    twice: a probe connection would show up in the relay's log, and fail2ban, as an abort."""

    def __init__(self, sock: socket.socket, settings: SmtpSettings) -> None:
        self._ready = sock
        # Reads the greeting, and keeps the host name that STARTTLS verifies the certificate for.
        super().__init__(settings.host, settings.port, timeout=settings.timeout)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return self._ready


def connect(
    settings: SmtpSettings,
    config_dir: Path,
    steps: list[dict[str, Any]] | None = None,
    tokens: TokenStore | None = None,
) -> smtplib.SMTP:
    """A connected, TLS-protected, logged-in client. Each step is reported to `steps` when
    given (the outgoing test); an OAuth2 channel keeps what MSAL renews in `tokens`. Raises
    SendError."""

    def done(step: str, detail: str) -> None:
        if steps is not None:
            steps.append({"step": step, "ok": True, "detail": detail})

    host, port = settings.host, settings.port
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise SendError("dns", explain(exc)) from exc
    done("dns", f"{host} resolves")
    try:
        sock = socket.create_connection((host, port), timeout=settings.timeout)
    except OSError as exc:
        raise SendError("connect", explain(exc)) from exc
    done("connect", f"{host}:{port} accepts connections")
    try:
        client = _session(settings, sock, done)
    except BaseException:
        sock.close()
        raise
    try:
        _login(client, settings, config_dir, done, tokens)
    except BaseException:
        client.close()
        raise
    return client


def _session(settings: SmtpSettings, sock: socket.socket, done: Done) -> smtplib.SMTP:
    """TLS and the greeting: implicit TLS comes before the greeting, STARTTLS after it."""
    if settings.security == "ssl":
        try:
            sock = _tls_context(settings).wrap_socket(sock, server_hostname=settings.host)
        except OSError as exc:
            raise SendError("tls", _why(exc)) from exc
        done("tls", "TLS handshake and certificate verified")
    try:
        client = _Client(sock, settings)
    except smtplib.SMTPConnectError as exc:
        reply = _reply(exc.smtp_code, exc.smtp_error)
        raise SendError(
            "connect", f"the server refused the session ({reply})", code=exc.smtp_code
        ) from exc
    except (smtplib.SMTPException, OSError) as exc:
        sock.close()
        message = f"no greeting from the server ({_why(exc)})"
        if settings.security == "starttls" and message.endswith("(timed out)"):
            message += ": an implicit TLS port such as 465 needs ssl"
        raise SendError("connect", message) from exc
    if settings.security == "starttls":
        try:
            _starttls(client, settings)
        except BaseException:
            client.close()
            raise
        done("tls", "STARTTLS and certificate verified")
    return client


def _starttls(client: smtplib.SMTP, settings: SmtpSettings) -> None:
    """STARTTLS is required: a server without it is an error, never a plain-text session."""
    try:
        client.ehlo_or_helo_if_needed()
        if not client.has_extn("starttls"):
            raise SendError(
                "tls", "the server does not offer STARTTLS: refusing to send in plain text"
            )
        client.starttls(context=_tls_context(settings))
        client.ehlo()
    except smtplib.SMTPHeloError as exc:
        raise SendError("tls", f"EHLO refused ({_why(exc)})", code=exc.smtp_code) from exc
    except smtplib.SMTPResponseException as exc:
        raise SendError("tls", f"STARTTLS refused ({_why(exc)})", code=exc.smtp_code) from exc
    except (smtplib.SMTPException, OSError) as exc:  # ssl.SSLError is an OSError
        raise SendError("tls", _why(exc)) from exc


def _login(
    client: smtplib.SMTP,
    settings: SmtpSettings,
    config_dir: Path,
    done: Done,
    tokens: TokenStore | None,
) -> None:
    user = settings.username
    if user is None:
        done("login", "no login (no username set)")
        return
    if settings.auth_type == "oauth2":
        _oauth2_login(client, settings, config_dir, done, tokens)
        return
    try:
        password = resolve(settings.secret_kind, settings.secret_ref, config_dir)
    except SecretError as exc:
        raise SendError("login", str(exc)) from exc
    # AUTH LOGIN sends the password, AUTH PLAIN this string (both in base64).
    sent = [password, f"\0{user}\0{password}"]
    _authenticate(client, user, lambda: client.login(user, password), sent)
    done("login", f"logged in as {user}")


def _oauth2_login(
    client: smtplib.SMTP,
    settings: SmtpSettings,
    config_dir: Path,
    done: Done,
    tokens: TokenStore | None,
) -> None:
    """AUTH XOAUTH2 with a token from MSAL. A refused token gets a challenge (a JSON error,
    base64) that is answered with an empty line, after which the server says 535."""
    user = settings.username or ""
    if tokens is None:
        raise SendError("token", "no place to keep OAuth2 tokens: save the channel first")
    store = tokens

    def fetch(fresh: bool) -> Token:
        try:
            return bearer(OAuthConfig.of(settings, "smtp"), store, config_dir, fresh=fresh)
        except (TokenError, SecretError) as exc:
            raise SendError("token", str(exc)) from exc

    token = fetch(fresh=False)
    done("token", token.describe())
    sent: list[str] = []  # every token tried and the SASL string that carried it

    def login(access_token: str) -> None:
        answer = xoauth2(user, access_token)
        sent.extend((access_token, answer))

        def respond(challenge: bytes | None = None) -> str:
            return answer if challenge is None else ""

        client.ehlo_or_helo_if_needed()
        if not client.has_extn("auth"):
            raise smtplib.SMTPNotSupportedError("AUTH not offered")
        client.auth("XOAUTH2", respond, initial_response_ok=True)

    refused = False

    def first_try() -> None:
        nonlocal refused
        try:
            login(token.access_token)
        except smtplib.SMTPAuthenticationError:
            refused = True

    _authenticate(client, user, first_try, sent)
    if refused:  # refused before its time (revoked, clocks apart): renewed once, tried again
        token = fetch(fresh=True)
        _authenticate(client, user, lambda: login(token.access_token), sent)
    done("login", f"logged in as {user} (XOAUTH2)")


def _authenticate(
    client: smtplib.SMTP, user: str, login: Callable[[], object], sent: list[str]
) -> None:
    """Run `login`, turning smtplib's errors into SendErrors an admin can act on. The
    server's answer may echo what the login sent (`sent`): it is masked, and the SendError
    is not chained to smtplib's error, so no traceback shows the answer either."""
    code: int | None = None
    try:
        login()
        return
    except smtplib.SMTPAuthenticationError as exc:
        message, code = f"login refused for {user} ({_why(exc)})", exc.smtp_code
    except smtplib.SMTPNotSupportedError:
        message = "the server does not offer AUTH (login)"
    except smtplib.SMTPResponseException as exc:
        message, code = _why(exc), exc.smtp_code
    except (smtplib.SMTPServerDisconnected, OSError) as exc:
        message = _why(exc)
    except smtplib.SMTPException:
        # smtplib's own "No suitable authentication method found" (e.g. only XOAUTH2 offered).
        offered = client.esmtp_features.get("auth", "").strip()
        message = f"no login method tuidesk can use (the server offers AUTH {offered})"
    raise SendError("login", redact(message, sent), code=code)


def send(
    client: smtplib.SMTP, mail_from: str, recipients: list[str], raw: bytes
) -> dict[str, tuple[int, str]]:
    """Send `raw` unchanged (smtplib only dot-stuffs it, so it must already have CRLF line
    endings, as email.policy.SMTP writes them). Returns the recipients the server refused
    while it accepted the others: {address: (code, text)}. Raises SendError when the mail as
    a whole is refused; after a refusal answer the connection stays usable for the next mail."""
    if not recipients:
        raise ValueError("no recipients")
    options = [] if all(a.isascii() for a in (mail_from, *recipients)) else ["SMTPUTF8"]
    try:
        refused = client.sendmail(mail_from, recipients, raw, mail_options=options)
    except smtplib.SMTPRecipientsRefused as exc:
        answers = {a: (code, _text(text)) for a, (code, text) in exc.recipients.items()}
        permanent = all(_permanent(code) for code, _ in answers.values())
        code = next((c for c, _ in answers.values() if _permanent(c) == permanent), None)
        listed = "; ".join(f"{a} ({_reply(c, t)})" for a, (c, t) in answers.items())
        raise SendError(
            "send", f"every recipient refused: {listed}", code=code, permanent=permanent
        ) from exc
    except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:  # MAIL or DATA refused
        what = f"sender {exc.sender}" if isinstance(exc, smtplib.SMTPSenderRefused) else "mail"
        raise SendError(
            "send", f"{what} refused ({_why(exc)})", code=exc.smtp_code,
            permanent=_permanent(exc.smtp_code),
        ) from exc  # fmt: skip
    except smtplib.SMTPNotSupportedError as exc:
        raise SendError(
            "send",
            "an address is not ASCII and the server does not offer SMTPUTF8",
            permanent=True,
        ) from exc
    except smtplib.SMTPServerDisconnected as exc:
        raise SendError("send", f"connection lost ({_why(exc)})") from exc
    except smtplib.SMTPResponseException as exc:  # EHLO refused: the channel's problem
        raise SendError("send", _why(exc), code=exc.smtp_code) from exc
    except OSError as exc:
        raise SendError("send", f"connection lost ({_why(exc)})") from exc
    return {a: (code, _text(text)) for a, (code, text) in refused.items()}


def close(client: smtplib.SMTP) -> None:
    """QUIT politely; when the connection is already gone, just release the socket."""
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()


def test_outgoing(
    settings: SmtpSettings,
    config_dir: Path,
    *,
    send_to: str | None = None,
    raw: bytes | None = None,
    mail_from: str | None = None,
    tokens: TokenStore | None = None,
) -> dict[str, Any]:
    """Every step, and on failure which one failed and why (the shape of imap.test_channel).
    With send_to, raw and mail_from it also sends that mail, as a last "send" step."""
    if send_to is not None and (raw is None or mail_from is None):
        raise ValueError("a test mail to send_to needs raw and mail_from")
    steps: list[dict[str, Any]] = []
    result: dict[str, Any] = {
        "name": settings.name,
        "ok": True,
        "steps": steps,
        "failed_step": None,
    }
    try:
        client = connect(settings, config_dir, steps, tokens)
        try:
            if send_to is not None and raw is not None and mail_from is not None:
                send(client, mail_from, [send_to], raw)
                steps.append({"step": "send", "ok": True, "detail": f"accepted for {send_to}"})
        finally:
            close(client)
    except SendError as exc:
        steps.append({"step": exc.step, "ok": False, "detail": exc.message})
        result.update(ok=False, failed_step=exc.step, error=exc.message)
    return result
