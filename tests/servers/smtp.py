"""A throwaway SMTP server on 127.0.0.1 for the outbound tests, built on aiosmtpd (in-process,
one thread running its event loop), so it needs no root, no apt package and no privileges.

Modes:
- `starttls`: a plain port that offers STARTTLS; AUTH PLAIN/LOGIN is offered only after TLS
  (AUTH before it is answered 538) and required before MAIL (530).
- `ssl`: implicit TLS (submissions, port 465 style); AUTH required.
- `plain`: no TLS and no AUTH at all, to prove a client set to STARTTLS refuses to send
  in plain text.

The certificate is self-signed for localhost / 127.0.0.1 and is its own CA (`ca_file`);
`other_ca_file` is an unrelated CA for certificate-failure tests. What the server accepted
is in `messages`, byte for byte. Answers can be programmed: `fail_next` refuses the next
DATA (after the client sent the mail: the answer to the mail itself), `refuse_recipient`
refuses one RCPT. A session-scoped server is shared by tests: call `clear()` first.

With `token_check` (e.g. `SmtpServer(mode, token_check=idp.access_token_owner)`, see
tests/servers/idp.py) the server also offers AUTH XOAUTH2, as Microsoft 365 does: the
client sends base64 of `user=U\x01auth=Bearer TOKEN\x01\x01`, and it is in only if
`token_check(TOKEN)` names U (the token is live and opens U's mailbox); anything else is
answered `535 5.7.3 Authentication unsuccessful` at once, Microsoft's answer.

With `echo_auth=True` every refused AUTH echoes what the client sent in its 535, as some
servers do (the password in clear and the base64 of `\0user\0password` the client sent; the
XOAUTH2 answer and the token in it), and AUTH LOGIN is not offered, so smtplib logs in with
PLAIN: the redaction tests show that none of it reaches tuidesk's output."""

from __future__ import annotations

import binascii
import errno
import shutil
import ssl
import tempfile
import threading
from base64 import b64decode, b64encode
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.servers.certs import HOST, write_cert
from tests.servers.postgres import free_port

MODES = ("starttls", "ssl", "plain")


@dataclass(frozen=True)
class Received:
    """One mail the server accepted (answered 250 to DATA)."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    peer: Any  # (host, port) as the socket reports it
    tls: bool
    auth_user: str | None


class _Handler:
    """aiosmtpd hooks; they run on the server's event-loop thread, so shared state is locked."""

    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_MAIL(
        self, smtpd: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        # aiosmtpd's auth_required only counts STARTTLS as TLS (it would refuse AUTH on an
        # implicit-TLS port), so the ssl mode enforces "AUTH before MAIL" here instead.
        if self.server.mode == "ssl" and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, smtpd: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        with self.server._lock:
            refusal = self.server._refused.get(address.lower())
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, smtpd: SMTP, session: Session, envelope: Envelope) -> str:
        server = self.server
        with server._lock:
            if server._fail_left > 0:
                server._fail_left -= 1
                return server._fail_answer
            assert smtpd.transport is not None and envelope.mail_from is not None
            server._messages.append(
                Received(
                    mail_from=envelope.mail_from,
                    rcpt_tos=list(envelope.rcpt_tos),
                    data=envelope.original_content or b"",
                    peer=session.peer,
                    tls=smtpd.transport.get_extra_info("ssl_object") is not None,
                    auth_user=session.auth_data if session.authenticated else None,
                )
            )
            server._lock.notify_all()
        return "250 2.0.0 OK"

    def authenticate(
        self, smtpd: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword):
            user = data.login.decode(errors="replace")
            with self.server._lock:
                ok = self.server.users.get(user) == data.password.decode(errors="replace")
            if ok:
                return AuthResult(success=True, auth_data=user)
            if self.server.echo_auth:  # PLAIN only: LOGIN is not offered
                sent = b"\0" + data.login + b"\0" + data.password
                echo = f"{data.password.decode(errors='replace')} ({_b64(sent)})"
                return AuthResult(
                    success=False, handled=False, message=f"535 5.7.8 {mechanism} {user} {echo}"
                )
        # handled=False: aiosmtpd then answers 535 itself (the default, handled=True, would
        # send no answer at all and leave the client waiting).
        return AuthResult(success=False, handled=False)


class _OAuthHandler(_Handler):
    """_Handler plus AUTH XOAUTH2: aiosmtpd offers a mechanism for every `auth_NAME` method
    of the handler, so a server without `token_check` gets the plain _Handler and does not
    advertise it."""

    async def auth_XOAUTH2(self, smtpd: SMTP, args: list[str]) -> AuthResult:
        if len(args) == 1:  # no initial response: ask for it with an empty challenge
            blob = await smtpd.challenge_auth("")
            if not isinstance(blob, bytes):
                return AuthResult(success=False, handled=True)  # it answered 501 already
        else:
            try:
                blob = b64decode(args[1].encode(), validate=True)
            except binascii.Error:
                await smtpd.push("501 5.5.2 Can't decode base64")
                return AuthResult(success=False, handled=True)
        fields = dict(
            part.partition("=")[::2] for part in blob.decode(errors="replace").split("\x01") if part
        )
        user, auth = fields.get("user", ""), fields.get("auth", "")
        token = auth[7:] if auth[:7].lower() == "bearer " else ""
        check = self.server.token_check
        assert check is not None
        if user and token and check(token) == user:
            return AuthResult(success=True, auth_data=user)
        echo = f" {_b64(blob)} (token {token})" if self.server.echo_auth else ""
        return AuthResult(
            success=False, handled=False, message=f"535 5.7.3 Authentication unsuccessful{echo}"
        )


def _b64(data: bytes) -> str:
    return b64encode(data).decode()


class SmtpServer:
    """One aiosmtpd listener in `mode`, with its own certificates, users and recorded mail."""

    def __init__(
        self,
        mode: str = "starttls",
        user: str = "support",
        password: str = "secret",
        token_check: Callable[[str], str | None] | None = None,
        echo_auth: bool = False,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        self.mode = mode
        self.host = HOST
        self.port = 0
        self.users: dict[str, str] = {user: password}
        self.default_user = user
        # AUTH XOAUTH2 when set: the owner (user name) of a live access token, else None.
        self.token_check = token_check
        self.echo_auth = echo_auth  # a refused AUTH echoes the credentials in its 535
        self.root: Path | None = None
        self._controller: Controller | None = None
        self._cert: Path | None = None
        self._other_ca: Path | None = None
        self._lock = threading.Condition()
        self._messages: list[Received] = []
        self._fail_left = 0
        self._fail_answer = ""
        self._refused: dict[str, str] = {}

    # -- life cycle ---------------------------------------------------------------------------

    def start(self, attempts: int = 3) -> SmtpServer:
        """Certificates, then listen; returns once the server answers."""
        if self._controller is not None:
            raise RuntimeError("SMTP server already started")
        self.root = Path(tempfile.mkdtemp(prefix="tuidesk-smtp-"))
        self._cert, key = write_cert(self.root, "server", "localhost")
        self._other_ca, other_key = write_cert(self.root, "other-ca", "tuidesk other CA")
        other_key.unlink()
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(self._cert, key)
        for attempt in range(attempts):
            self.port = free_port()
            controller = self._controller_for(tls)
            try:
                controller.start()
            except OSError as exc:
                controller.stop(no_assert=True)
                if not controller.loop.is_closed():
                    controller.loop.close()  # its thread ended before running the loop
                # Another process took the port between free_port() and bind(): try another.
                if exc.errno != errno.EADDRINUSE or attempt == attempts - 1:
                    self.stop()
                    raise
                continue
            self._controller = controller
            return self
        raise AssertionError("unreachable")

    def _controller_for(self, tls: ssl.SSLContext) -> Controller:
        handler = _Handler(self) if self.token_check is None else _OAuthHandler(self)
        options: dict[str, Any] = {
            "hostname": self.host,
            "port": self.port,
            "server_hostname": "localhost",
            "authenticator": handler.authenticate,
        }
        if self.echo_auth:
            options["auth_exclude_mechanism"] = ["LOGIN"]
        if self.mode == "starttls":
            options |= {"tls_context": tls, "auth_required": True, "auth_require_tls": True}
        elif self.mode == "ssl":
            # auth_require_tls=False only because aiosmtpd does not see implicit TLS as TLS;
            # every byte on this port is encrypted. handle_MAIL requires the AUTH.
            options |= {"ssl_context": tls, "auth_require_tls": False}
        return Controller(handler, **options)

    def stop(self) -> None:
        """Stop listening and remove the certificates. Safe to call twice."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()
        root, self.root = self.root, None
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- TLS ----------------------------------------------------------------------------------

    @property
    def ca_file(self) -> str:
        """PEM of the server's self-signed certificate (its own CA): verification passes."""
        assert self._cert is not None, "SMTP server not started"
        return str(self._cert)

    @property
    def other_ca_file(self) -> str:
        """PEM of an unrelated self-signed CA: verification against it fails."""
        assert self._other_ca is not None, "SMTP server not started"
        return str(self._other_ca)

    def client_context(self, cafile: str | None = None) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=cafile or self.ca_file)

    # -- users, answers and what arrived ------------------------------------------------------

    def add_user(self, name: str, password: str) -> None:
        """Create (or re-password) a user; takes effect at once, also on a running server."""
        with self._lock:
            self.users[name] = password

    def password(self, user: str) -> str:
        return self.users[user]

    def fail_next(self, n: int = 1, code: int = 451, text: str = "4.3.0 try again later") -> None:
        """Answer the next `n` DATA commands `code text` instead of 250: the mail is refused
        after it was sent, and is not recorded."""
        with self._lock:
            self._fail_left = n
            self._fail_answer = f"{code} {text}"

    def refuse_recipient(
        self, address: str, code: int = 550, text: str = "5.1.1 no such user"
    ) -> None:
        """Answer RCPT for `address` (any case) `code text` until `clear()`."""
        with self._lock:
            self._refused[address.lower()] = f"{code} {text}"

    @property
    def messages(self) -> list[Received]:
        with self._lock:
            return list(self._messages)

    def clear(self) -> None:
        """Forget received mail and programmed answers (users stay): a clean slate per test."""
        with self._lock:
            self._messages.clear()
            self._fail_left = 0
            self._refused.clear()

    def wait_for(self, n: int, timeout: float = 10) -> list[Received]:
        """The received mail once there are at least `n`; TimeoutError if not within timeout."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._messages) >= n, timeout):
                raise TimeoutError(f"{len(self._messages)} of {n} mails arrived in {timeout} s")
            return list(self._messages)


def smtp_fixture(
    mode: str, token_check: Callable[[str], str | None] | None = None
) -> Iterator[SmtpServer]:
    """Body of a session fixture: `yield from smtp_fixture("starttls")`; with `token_check`
    (e.g. `idp.access_token_owner`) it also takes AUTH XOAUTH2."""
    with SmtpServer(mode, token_check=token_check) as server:
        yield server
