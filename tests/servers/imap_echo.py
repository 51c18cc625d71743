"""A tiny IMAP server on 127.0.0.1 that refuses every login and echoes what the client sent in
its refusal, as some servers do: `a1 NO [AUTHENTICATIONFAILED] LOGIN support@example.com
"S3cr3t"`. Dovecot never echoes a login; this one exists so the redaction tests can show that
such an echo never reaches tuidesk's output, database or logs.

It answers CAPABILITY (offering AUTH=XOAUTH2), LOGIN (refused with the command's arguments as
sent, so the password in IMAP's quoted form), AUTHENTICATE (a `+` challenge, then refused
with the client's base64 answer and, decoded, the bearer token in it) and LOGOUT; anything
else is BAD. Plain text only (channels use `--insecure-plain`): the echo is under test here,
not TLS. `logins` lists each LOGIN / AUTHENTICATE line received, so a test can see that the
client did send its secret."""

from __future__ import annotations

import binascii
import socketserver
import threading
from base64 import b64decode
from collections.abc import Iterator

from tests.servers.certs import HOST

CAPABILITY = "IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2"


class _Handler(socketserver.StreamRequestHandler):
    server: _Server
    timeout = 10  # a client that stalls frees its thread

    def handle(self) -> None:
        self._send(f"* OK [CAPABILITY {CAPABILITY}] echo IMAP ready")
        while line := self._line():
            tag, _, rest = line.partition(" ")
            command, _, args = rest.partition(" ")
            command = command.upper()
            if command == "CAPABILITY":
                self._send(f"* CAPABILITY {CAPABILITY}")
                self._send(f"{tag} OK CAPABILITY completed")
            elif command == "LOGIN":
                self.server.record(line)
                self._send(f"{tag} NO [AUTHENTICATIONFAILED] LOGIN {args}")
            elif command == "AUTHENTICATE":
                self._send("+ ")
                answer = self._line()
                self.server.record(f"{line} {answer}")
                self._send(f"{tag} NO [AUTHENTICATIONFAILED] {args} {answer}{_token(answer)}")
            elif command == "LOGOUT":
                self._send("* BYE logging out")
                self._send(f"{tag} OK LOGOUT completed")
                return
            else:
                self._send(f"{tag} BAD unknown command {command}")

    def _line(self) -> str:
        return self.rfile.readline().decode("utf-8", "replace").rstrip("\r\n")

    def _send(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")


def _token(answer: str) -> str:
    """The bearer token in an XOAUTH2 answer, as a server that decodes before echoing adds."""
    try:
        decoded = b64decode(answer, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return ""
    fields = dict(part.partition("=")[::2] for part in decoded.split("\x01") if part)
    token = fields.get("auth", "").removeprefix("Bearer ")
    return f" (token {token})" if token else ""


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__((HOST, 0), _Handler)
        self._lock = threading.Lock()
        self.logins: list[str] = []

    def record(self, line: str) -> None:
        with self._lock:
            self.logins.append(line)

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that went away (a connect probe) is no error here


class EchoImapServer:
    """The listener and its thread; `port` once started."""

    def __init__(self) -> None:
        self.host = HOST
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "echo IMAP server not started"
        return int(self._server.server_address[1])

    @property
    def logins(self) -> list[str]:
        assert self._server is not None, "echo IMAP server not started"
        with self._server._lock:
            return list(self._server.logins)

    def start(self) -> EchoImapServer:
        self._server = _Server()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
            name="echo-imap", daemon=True,
        )  # fmt: skip
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> EchoImapServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def imap_echo_fixture() -> Iterator[EchoImapServer]:
    """Body of a fixture: `yield from imap_echo_fixture()`."""
    with EchoImapServer() as server:
        yield server
