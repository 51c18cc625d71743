"""A throwaway Dovecot 2.3 IMAP server on 127.0.0.1, run as an unprivileged user when we are
root (imap-login refuses to run as root).

Plain IMAP (with STARTTLS and plain-text LOGIN both allowed) on `imap_port`, implicit TLS on
`imaps_port`, a self-signed certificate for localhost / 127.0.0.1 that is its own CA
(`ca_file`), and a second, unrelated CA (`other_ca_file`) for certificate-failure tests.
Each user has a passwd-file of its own, so `add_user` works at once on a running server.
Everything (config, sockets, state, mail) is under one fresh temp folder per start, so the
instance never meets a system Dovecot.

With `oauth2_introspection_url` (tests/servers/idp.py: `FakeIdP.introspection_url`) it also
offers AUTH=XOAUTH2 and AUTH=OAUTHBEARER, Microsoft 365's way in: Dovecot's oauth2 passdb
POSTs each token to that URL (RFC 7662 introspection) and lets the login in only if the
answer is active and its `username` is the user logging in. Users still come from the
passwd-files, and password logins work as before."""

from __future__ import annotations

import contextlib
import grp
import math
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from tests.servers.certs import HOST, write_cert
from tests.servers.postgres import free_port

_GREETING_TIMEOUT = 30.0


def dovecot_binary() -> str:
    found = shutil.which("dovecot") or shutil.which("dovecot", path="/usr/sbin:/sbin")
    if not found:
        raise RuntimeError("Dovecot not installed: run `make test` (it apt-installs dovecot-imapd)")
    return found


def dovecot_version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
    return out.stdout.split()[0]


_CONFIG = """\
# Written by tests/servers/dovecot.py: a private instance, nothing shared with a system Dovecot.
instance_name = {instance}
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = {host}
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = no
auth_mechanisms = plain login{oauth2_mechanisms}
auth_failure_delay = 0
auth_verbose = yes
default_login_user = {user}
default_internal_user = {user}
default_internal_group = {group}
first_valid_uid = 1
first_valid_gid = 1
mail_location = maildir:~/Maildir
mail_fsync = never
mailbox_idle_check_interval = 1 secs
{capability}
namespace inbox {{
  inbox = yes
  separator = /
}}

passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users/%u{password_passdb_filter}
}}
{oauth2_passdb}userdb {{
  driver = passwd-file
  args = username_format=%u {root}/users/%u
  default_fields = uid={uid} gid={gid} home={root}/home/%u
}}

service imap-login {{
  chroot =
  inet_listener imap {{
    address = {host}
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = {host}
    port = {imaps_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""

# With oauth2_introspection_url: XOAUTH2 / OAUTHBEARER logins go to the oauth2 passdb only
# (the password passdb is limited to PLAIN / LOGIN, so a token is never tried as a password,
# nor a password sent to the identity provider), which asks the identity provider whether
# the token is live and whose it is; the user must match the name the client logged in as.
_OAUTH2_PASSDB = """\
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {root}/dovecot-oauth2.conf.ext
}}
"""

_OAUTH2_CONF = """\
# Written by tests/servers/dovecot.py: RFC 7662 introspection of every token (no local
# validation), POSTed as a form to the test's fake identity provider.
introspection_mode = post
introspection_url = {url}
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
"""


# Dovecot 2.3's own capabilities after login, without IDLE.
_NO_IDLE = (
    "imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE SORT SORT=DISPLAY"
    " THREAD=REFERENCES THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE"
    " UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH"
    " ESORT SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE LITERAL+\n"
)


class DovecotServer:
    def __init__(
        self,
        user: str = "support",
        password: str = "secret",
        oauth2_introspection_url: str | None = None,
        idle: bool = True,
    ) -> None:
        self.binary = dovecot_binary()
        self.version = dovecot_version(self.binary)
        if not self.version.startswith("2.3."):
            raise RuntimeError(
                f"tests/servers/dovecot.py writes a Dovecot 2.3 config, not {self.version}"
            )
        self.as_root = os.geteuid() == 0
        account = pwd.getpwnam("nobody") if self.as_root else pwd.getpwuid(os.geteuid())
        self.run_user = account.pw_name
        self.uid = account.pw_uid
        self.gid = grp.getgrnam("nogroup").gr_gid if self.as_root else os.getegid()
        self.run_group = grp.getgrgid(self.gid).gr_name
        self.host = HOST
        self.imap_port = 0
        self.imaps_port = 0
        self.root: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._cert: Path | None = None
        self._key: Path | None = None
        self._other_ca: Path | None = None
        self.users: dict[str, str] = {user: password}
        self.default_user = user
        # When set, XOAUTH2 and OAUTHBEARER are offered too, their tokens checked by RFC 7662
        # introspection at this URL (see tests/servers/idp.py: FakeIdP.introspection_url).
        self.oauth2_introspection_url = oauth2_introspection_url
        self.idle = idle  # False: a server that does not offer IDLE (the watcher polls)

    # -- life cycle ---------------------------------------------------------------------------

    def start(self, attempts: int = 3) -> DovecotServer:
        """Fresh folder, config, users and certificates; returns once both ports greet."""
        if self.proc is not None:
            raise RuntimeError("Dovecot already started")
        for attempt in range(attempts):
            self._prepare()
            try:
                self._launch()
                return self
            except _PortTaken:
                # Another process grabbed a port between free_port() and Dovecot's bind().
                self.stop()
                if attempt == attempts - 1:
                    raise
            except BaseException:
                self.stop()  # the error carries the log; leave no process or folder behind
                raise
        raise AssertionError("unreachable")

    def _prepare(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="tuidesk-dovecot-"))
        self.imap_port = free_port()
        self.imaps_port = free_port()
        while self.imaps_port == self.imap_port:
            self.imaps_port = free_port()
        for sub in ("run", "state", "home", "tls", "users"):
            (self.root / sub).mkdir()
        tls = self.root / "tls"
        self._cert, self._key = write_cert(tls, "server", "localhost")
        self._other_ca, other_key = write_cert(tls, "other-ca", "tuidesk other CA")
        other_key.unlink()
        for name in self.users:
            self._write_user(name)
        oauth2 = self.oauth2_introspection_url
        if oauth2 is not None:
            (self.root / "dovecot-oauth2.conf.ext").write_text(_OAUTH2_CONF.format(url=oauth2))
        (self.root / "dovecot.conf").write_text(
            _CONFIG.format(
                instance=self.root.name,
                root=self.root,
                host=self.host,
                cert=self._cert,
                key=self._key,
                user=self.run_user,
                group=self.run_group,
                uid=self.uid,
                gid=self.gid,
                imap_port=self.imap_port,
                imaps_port=self.imaps_port,
                oauth2_mechanisms=" xoauth2 oauthbearer" if oauth2 else "",
                password_passdb_filter="\n  mechanisms = plain login" if oauth2 else "",
                oauth2_passdb=_OAUTH2_PASSDB.format(root=self.root) if oauth2 else "",
                capability="" if self.idle else _NO_IDLE,
            )
        )
        if self.as_root:
            for dirpath, _dirs, files in os.walk(self.root):
                shutil.chown(dirpath, self.run_user, self.run_group)
                for f in files:
                    shutil.chown(os.path.join(dirpath, f), self.run_user, self.run_group)

    def _launch(self) -> None:
        assert self.root is not None
        cmd = [self.binary, "-F", "-c", str(self.root / "dovecot.conf")]
        if self.as_root:
            cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *cmd]
        with open(self.root / "stderr.log", "wb") as err:
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=subprocess.STDOUT,
                cwd="/",
                start_new_session=True,  # own process group: stop() kills master and children
            )
        deadline = time.monotonic() + _GREETING_TIMEOUT
        self._await_greeting(self.imap_port, None, deadline)
        self._await_greeting(self.imaps_port, self.client_context(), deadline)

    def _await_greeting(self, port: int, context: ssl.SSLContext | None, deadline: float) -> None:
        assert self.proc is not None
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = self.log()
                if "Address already in use" in log:
                    raise _PortTaken(log)
                raise RuntimeError(f"dovecot exited with {self.proc.returncode}:\n{log}")
            try:
                with socket.create_connection((self.host, port), timeout=2) as raw:
                    sock = context.wrap_socket(raw, server_hostname=self.host) if context else raw
                    with sock:
                        line = sock.makefile("rb").readline()
                if line.startswith(b"* OK"):
                    return
                last = RuntimeError(f"unexpected greeting {line!r}")
            except OSError as exc:
                last = exc
            time.sleep(0.05)
        raise RuntimeError(f"no IMAP greeting on port {port} ({last}):\n{self.log()}")

    def stop(self) -> None:
        """Kill the whole process group, wait, remove the folder. Safe to call twice."""
        proc, self.proc = self.proc, None
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            # Children that outlived the master (none expected) go too.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        root, self.root = self.root, None
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)

    def kill(self) -> None:
        """SIGKILL the whole process group at once, as a crash or a pulled plug would: open
        connections die mid-command. Unlike stop(), the folder (config, users, mail) stays, so
        restart() brings the same server back on the same ports."""
        proc, self.proc = self.proc, None
        if proc is None:
            raise RuntimeError("Dovecot not running")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def restart(self, timeout: float = _GREETING_TIMEOUT) -> DovecotServer:
        """Start again after kill(): same folder, ports, users and mail; returns once both
        ports greet. A port still held by someone else gives up after `timeout`."""
        if self.proc is not None or self.root is None:
            raise RuntimeError("restart() follows kill()")
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._launch()
                return self
            except _PortTaken:
                self.proc = None
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def __enter__(self) -> DovecotServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- TLS ----------------------------------------------------------------------------------

    @property
    def ca_file(self) -> str:
        """PEM of the server's self-signed certificate (its own CA): verification passes."""
        assert self._cert is not None, "Dovecot not started"
        return str(self._cert)

    @property
    def other_ca_file(self) -> str:
        """PEM of an unrelated self-signed CA: verification against it fails."""
        assert self._other_ca is not None, "Dovecot not started"
        return str(self._other_ca)

    def client_context(self, cafile: str | None = None) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=cafile or self.ca_file)

    # -- users and mail -----------------------------------------------------------------------

    def add_user(self, name: str, password: str) -> None:
        """Create (or re-password) a user on a running server, no restart.

        Each user has a passwd-file of its own (users/NAME): Dovecot stats a passwd-file at
        most once a second and serves its cached copy in between, so a line added to one shared
        file could stay unseen for up to a second. A new user's file is new to Dovecot and read
        at once; changing an existing user's password waits for the next second instead."""
        if not re.fullmatch(r"[A-Za-z0-9._@+-]+", name) or name.startswith("."):
            raise ValueError(f"unusable user name for a passwd-file path: {name!r}")
        if any(c in password for c in ":\n"):
            raise ValueError("a passwd-file password cannot hold ':' or a newline")
        existed = name in self.users
        self.users[name] = password
        if self.root is not None:
            self._write_user(name)
            if existed:
                time.sleep(math.ceil(time.time()) - time.time() + 0.01)

    def _write_user(self, name: str) -> None:
        assert self.root is not None
        path = self.root / "users" / name
        old = path.stat() if path.exists() else None
        tmp = path.with_name(f".{name}.tmp")
        # The six trailing colons: the same file is the userdb (uid, gid, home come from
        # default_fields), so the fields after the password stay empty.
        tmp.write_text(f"{name}:{{PLAIN}}{self.users[name]}::::::\n")
        if self.as_root:
            shutil.chown(tmp, self.run_user, self.run_group)
        if old is not None:
            # Dovecot re-reads on a new mtime or size: a same-length password rewritten in
            # the same second must still move the mtime.
            mtime = max(time.time(), old.st_mtime + 1)
            os.utime(tmp, (mtime, mtime))
        os.replace(tmp, path)

    def password(self, user: str) -> str:
        return self.users[user]

    def maildir(self, user: str | None = None) -> Path:
        assert self.root is not None, "Dovecot not started"
        return self.root / "home" / (user or self.default_user) / "Maildir"

    def client(self, user: str | None = None, *, login: bool = True, timeout: float = 10):  # type: ignore[no-untyped-def]
        """An IMAPClient over plain IMAP on 127.0.0.1, logged in as `user` unless told not."""
        from imapclient import IMAPClient

        c = IMAPClient(self.host, self.imap_port, ssl=False, timeout=timeout)
        if login:
            user = user or self.default_user
            c.login(user, self.users[user])
        return c

    def append(
        self,
        user: str | None,
        folder: str,
        raw: bytes,
        flags: Iterable[bytes | str] = (),
    ) -> int | None:
        """APPEND `raw` to `folder` (created if missing) as `user`; the new UID (UIDPLUS)."""
        c = self.client(user)
        try:
            if not c.folder_exists(folder):
                c.create_folder(folder)
            resp = c.append(folder, raw, flags=tuple(flags))
        finally:
            c.logout()
        m = re.search(rb"\[APPENDUID \d+ (\d+)\]", resp)
        return int(m.group(1)) if m else None

    def log(self) -> str:
        if self.root is None:
            return ""
        parts = []
        for name in ("stderr.log", "dovecot.log"):
            with contextlib.suppress(OSError):
                parts.append((self.root / name).read_text(errors="replace"))
        return "\n".join(p for p in parts if p)


class _PortTaken(RuntimeError):
    pass


def dovecot_fixture(oauth2_introspection_url: str | None = None) -> Iterator[DovecotServer]:
    """Body of a session fixture: `yield from dovecot_fixture()`; with an introspection URL
    (`FakeIdP.introspection_url`) it also takes XOAUTH2 / OAUTHBEARER logins."""
    server = DovecotServer(oauth2_introspection_url=oauth2_introspection_url).start()
    try:
        yield server
    finally:
        server.stop()
