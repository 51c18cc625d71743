"""IMAP channels: connect with verified TLS, test a channel step by step, and poll it.

A thin adapter: it fetches raw bytes and hands them to the Ingestor; the order of work is what
makes it safe. Each batch is committed first, then its messages are moved, then the folder
position is saved, so a crash anywhere leaves mail to be fetched again, and the dedupe key
turns that second fetch into duplicates that are simply moved on."""

from __future__ import annotations

import socket
import ssl
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime
from pathlib import Path
from threading import Event
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, select

from tuidesk.auth.credentials import SecretError, resolve
from tuidesk.auth.oauth import OAuthConfig, Token, TokenError, TokenStore, bearer, xoauth2
from tuidesk.intervals import LEASE_RENEW_S
from tuidesk.net import explain, tls_context
from tuidesk.redact import redact
from tuidesk.storage.apply import Outcome
from tuidesk.storage.blobs import BlobStore
from tuidesk.storage.channel_state import (
    acquire_lease,
    cooling_off,
    folder_position,
    in_skip_window,
    record_failure,
    record_success,
    release_lease,
    save_folder_position,
)
from tuidesk.storage.db import transaction
from tuidesk.storage.oauth_tokens import DbTokenStore
from tuidesk.storage.tables import tables

if TYPE_CHECKING:
    from tuidesk.services.ingest import Ingestor

FETCH_BATCH = 50
_TUPLES = ("folders", "skip_windows", "oauth_scopes")


@dataclass(frozen=True)
class ImapChannel:
    """A channel row as plain values: what connecting and polling need."""

    id: int
    name: str
    host: str
    port: int
    security: str
    username: str
    auth_type: str
    secret_kind: str | None
    secret_ref: str | None
    oauth_tenant: str | None
    oauth_client_id: str | None
    oauth_scopes: tuple[str, ...]
    oauth_authority: str | None
    oauth_certificate: str | None
    ca_file: str | None
    timeout_ms: int
    folders: tuple[str, ...]
    success_folder: str | None
    fail_folder: str | None
    exclusion_folder: str | None
    since: date | None
    status: str
    cooloff_until: datetime | None
    skip_windows: tuple[str, ...]

    @property
    def timeout(self) -> float:
        return self.timeout_ms / 1000

    def target_folder(self, outcome: str) -> str | None:
        """Where a message goes once its outcome is committed (None: leave it in place)."""
        return {
            "created": self.success_folder,
            "commented": self.success_folder,
            "worked": self.success_folder,
            "ignored": self.exclusion_folder,
            "quarantined": self.fail_folder,
        }.get(outcome)


_IMAP_FIELDS = tuple(f.name for f in fields(ImapChannel))


def load_imap_channels(engine: Engine, names: list[str] | None = None) -> list[ImapChannel]:
    with engine.connect() as conn:
        channel = tables(conn).channel
        query = select(channel).where(channel.c.kind == "imap").order_by(channel.c.name)
        if names:
            query = query.where(channel.c.name.in_(names))
        rows = conn.execute(query).all()
    return [imap_channel(r._mapping) for r in rows]


def imap_channel(values: Mapping[str, Any]) -> ImapChannel:
    """From a channel row, or from the values of one not saved yet (the admin's Test
    connection)."""
    return ImapChannel(**{n: tuple(values[n]) if n in _TUPLES else values[n] for n in _IMAP_FIELDS})


def why_not_now(channel: ImapChannel, now: datetime) -> str | None:
    """The reason a channel must not be read at this moment, if any."""
    if channel.status not in ("active", "failing"):
        return f"status {channel.status}"
    if cooling_off(channel.cooloff_until, now):
        return "cooling off after failures"
    window = in_skip_window(list(channel.skip_windows), now.astimezone())
    return f"skip window {window}" if window else None


class LeaseLost(Exception):
    """Another poller holds the channel now (this one stalled past its lease): stop at once.
    What was committed stays; the rest is the new holder's, never read by both."""


class StepFailed(Exception):
    """A connection step failed; `step` names which, the message says why in plain words.
    `permanent`: no retry can mend it before an admin acts (a revoked sign-in)."""

    def __init__(self, step: str, message: str, *, permanent: bool = False) -> None:
        super().__init__(f"{step}: {message}")
        self.step = step
        self.message = message
        self.permanent = permanent


def connect(  # type: ignore[no-untyped-def]
    channel: ImapChannel,
    config_dir: Path,
    steps: list[dict[str, Any]] | None = None,
    tokens: TokenStore | None = None,
):
    """A logged-in IMAPClient. Each step is reported to `steps` when given (channel test).
    An OAuth2 channel gets its token first (`tokens` keeps what MSAL renews), then logs in
    with AUTHENTICATE XOAUTH2."""
    from imapclient import IMAPClient
    from imapclient.exceptions import LoginError

    def done(step: str, detail: str) -> None:
        if steps is not None:
            steps.append({"step": step, "ok": True, "detail": detail})

    try:
        socket.getaddrinfo(channel.host, channel.port)
    except OSError as exc:
        raise StepFailed("dns", explain(exc)) from exc
    done("dns", f"{channel.host} resolves")
    try:
        socket.create_connection((channel.host, channel.port), timeout=channel.timeout).close()
    except OSError as exc:
        raise StepFailed("connect", explain(exc)) from exc
    done("connect", f"{channel.host}:{channel.port} accepts connections")
    try:
        if channel.security == "ssl":
            client = IMAPClient(
                channel.host, channel.port, ssl=True, ssl_context=tls_context(channel.ca_file),
                timeout=channel.timeout,
            )  # fmt: skip
            done("tls", "TLS handshake and certificate verified")
        else:
            client = IMAPClient(channel.host, channel.port, ssl=False, timeout=channel.timeout)
            if channel.security == "starttls":
                client.starttls(tls_context(channel.ca_file))
                done("tls", "STARTTLS and certificate verified")
            else:
                done("tls", "WARNING: plain text, no TLS (--insecure-plain)")
    except (OSError, ssl.SSLError) as exc:
        raise StepFailed("tls", explain(exc)) from exc
    except Exception as exc:  # noqa: BLE001 - imapclient raises its own errors for STARTTLS
        raise StepFailed("tls", explain(exc)) from exc
    token = None
    if channel.auth_type == "oauth2":
        if tokens is None:
            client.shutdown()
            raise StepFailed("token", "no place to keep OAuth2 tokens: save the channel first")
        try:
            token = _token(channel, tokens, config_dir, fresh=False)
        except StepFailed:
            client.shutdown()
            raise
        done("token", token.describe())
    sent: list[str] = []  # what the login sends: the server's refusal may echo any of it
    try:
        if token is not None:
            _oauth2_login(client, channel, config_dir, token, tokens, sent)  # type: ignore[arg-type]
        else:
            password = resolve(channel.secret_kind, channel.secret_ref, config_dir)
            sent.append(password)
            client.login(channel.username, password)
    except StepFailed:
        client.shutdown()
        raise
    except SecretError as exc:
        client.shutdown()
        raise StepFailed("login", str(exc)) from exc
    except LoginError as exc:
        client.shutdown()
        what = "token" if token is not None else "login"
        refused = f"{what} refused for {channel.username} ({explain(exc)})"
        # Not chained: a traceback would show the reply unmasked.
        raise StepFailed("login", redact(refused, sent)) from None
    done("login", f"logged in as {channel.username}" + (" (XOAUTH2)" if token else ""))
    return client


def _oauth2_login(  # type: ignore[no-untyped-def]
    client,
    channel: ImapChannel,
    config_dir: Path,
    token: Token,
    tokens: TokenStore,
    sent: list[str],
) -> None:
    """AUTHENTICATE XOAUTH2; a refused token is renewed once and tried again, so a token the
    server stopped taking before its time costs no failed poll. Each token tried, and the
    SASL string that carried it, goes to `sent`."""
    from imapclient.exceptions import LoginError

    def login(token: Token) -> None:
        sent.extend((token.access_token, xoauth2(channel.username, token.access_token)))
        client.oauth2_login(channel.username, token.access_token)

    try:
        login(token)
        return
    except LoginError:
        pass  # renewed outside this handler: the refusal may echo the token, never chain it
    login(_token(channel, tokens, config_dir, fresh=True))


def _token(channel: ImapChannel, tokens: TokenStore, config_dir: Path, *, fresh: bool) -> Token:
    try:
        return bearer(OAuthConfig.of(channel, "imap"), tokens, config_dir, fresh=fresh)
    except (TokenError, SecretError) as exc:
        raise StepFailed("token", str(exc), permanent=getattr(exc, "permanent", True)) from exc


def test_channel(
    channel: ImapChannel, config_dir: Path, tokens: TokenStore | None = None
) -> dict[str, Any]:
    """Every step, and on failure which one failed and why. Works whatever the status."""
    steps: list[dict[str, Any]] = []
    result: dict[str, Any] = {"name": channel.name, "ok": True, "steps": steps, "failed_step": None}
    try:
        client = connect(channel, config_dir, steps, tokens)
        try:
            names = {f[2] for f in client.list_folders()}
            steps.append({"step": "folders", "ok": True, "detail": f"{len(names)} folders"})
            missing = [f for f in channel.folders if f not in names]
            if missing:
                raise StepFailed("folders", f"folder to read does not exist: {', '.join(missing)}")
            targets = [
                f for f in (channel.success_folder, channel.fail_folder, channel.exclusion_folder)
                if f
            ]  # fmt: skip
            to_make = [f for f in targets if f not in names]
            detail = (
                "move targets exist"
                if not to_make
                else (f"will be created on first use: {', '.join(to_make)}")
            )
            steps.append({"step": "move folders", "ok": True, "detail": detail})
        finally:
            client.logout()
    except StepFailed as exc:
        steps.append({"step": exc.step, "ok": False, "detail": exc.message})
        result.update(ok=False, failed_step=exc.step, error=exc.message)
    return result


@dataclass
class PollResult:
    name: str
    ok: bool = True
    fetched: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    error: str | None = None
    skipped: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ok": self.ok,
            "fetched": self.fetched,
            "created": self.counts["created"],
            "commented": self.counts["commented"],
            "worked": self.counts["worked"],
            "ignored": self.counts["ignored"],
            "duplicates": self.counts["duplicate"],
            "quarantined": self.counts["quarantined"],
            "error": self.error,
            "skipped": self.skipped,  # why the channel was not read (paused, leased, ...)
        }


class Poller:
    """One pass over channels; each on its own, so one failing never stops the others."""

    def __init__(self, engine: Engine, blobs: BlobStore, config_dir: Path, holder: str) -> None:
        self.engine = engine
        self.blobs = blobs
        self.config_dir = config_dir
        self.holder = holder

    def tokens(self, channel: ImapChannel) -> DbTokenStore:
        return DbTokenStore(self.engine, "channel", channel.id, self.config_dir)

    def poll(self, channel: ImapChannel, max_messages: int | None = None) -> PollResult:
        result = PollResult(channel.name)
        result.skipped = why_not_now(channel, datetime.now(UTC))
        if result.skipped:
            return result
        permanent = False
        with transaction(self.engine) as conn:
            if not acquire_lease(conn, channel.id, self.holder):
                result.skipped = "another poller holds the lease"
                return result
        try:
            self._poll(channel, result, max_messages)
        except LeaseLost as exc:
            result.skipped = str(exc)
            return result
        except Exception as exc:  # noqa: BLE001 - one channel's failure is its own
            result.ok, result.error = False, explain(exc)
            permanent = isinstance(exc, StepFailed) and exc.permanent
        with transaction(self.engine) as conn:
            if result.ok:
                record_success(conn, channel.id)
            else:
                record_failure(conn, channel.id, result.error or "failed", permanent=permanent)
            release_lease(conn, channel.id, self.holder)
        return result

    def _poll(self, channel: ImapChannel, result: PollResult, max_messages: int | None) -> None:
        session = MailboxSession(self, channel)
        try:
            session.poll(result, max_messages)
        finally:
            session.close()


class MailboxSession:
    """One logged-in connection to a channel's mailbox: poll its folders, and (for the
    watcher) wait on IDLE for new mail between polls."""

    def __init__(self, poller: Poller, channel: ImapChannel, *, parallel: bool = True) -> None:
        self.poller = poller
        self.channel = channel
        # Analyse large batches in a second process while fetching and writing. The watcher
        # does not: IDLE brings mail a few at a time, not worth starting a process for.
        self.parallel = parallel
        self.polled_to: dict[str, int] = {}
        self.client = connect(channel, poller.config_dir, tokens=poller.tokens(channel))
        self.made: set[str] = set()

    def close(self) -> None:
        try:
            self.client.logout()
        except Exception:  # noqa: BLE001 - the connection may already be gone
            self.client.shutdown()

    def wait_for_mail(self, seconds: float, stop: Event, renew: Callable[[], bool]) -> bool:
        """IDLE on the first folder for up to `seconds`; True once the server announces mail.
        Without IDLE, just wait: the caller polls at an interval instead. Either way `renew`
        runs every LEASE_RENEW_S: it keeps the lease, and returns True to end the wait early
        (the channel's settings changed, so the caller reconnects with them)."""
        client = self.client
        deadline = time.monotonic() + seconds
        if not client.has_capability("IDLE"):
            while not stop.wait(max(0.0, min(LEASE_RENEW_S, deadline - time.monotonic()))):
                if time.monotonic() >= deadline or renew():
                    break
            return False
        folder = self.channel.folders[0]
        info = client.select_folder(folder)
        if int(info.get(b"UIDNEXT", 1)) - 1 > self.polled_to.get(folder, 0):
            return True  # arrived after the poll's SEARCH: IDLE would never announce it
        client.idle()
        try:
            renewed = time.monotonic()
            while not stop.is_set() and time.monotonic() < deadline:
                responses = client.idle_check(timeout=1)
                if any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses):
                    return True
                if time.monotonic() - renewed > LEASE_RENEW_S:
                    if renew():
                        return False
                    renewed = time.monotonic()
            return False
        finally:
            client.idle_done()

    def poll(self, result: PollResult, max_messages: int | None = None) -> None:
        """One pass over the folders, with the rules as they are now: a watcher that runs for
        days sees a branch or a filter added while it waited."""
        from tuidesk.services.ingest import Ingestor

        poller = self.poller
        ingestor = Ingestor(poller.engine, poller.blobs, source="imap", channel=self.channel.name)
        for folder in self.channel.folders:
            left = None if max_messages is None else max_messages - result.fetched
            if left is not None and left <= 0:
                break
            self._poll_folder(ingestor, folder, result, left)

    def _poll_folder(
        self, ingestor: Ingestor, folder: str, result: PollResult, left: int | None
    ) -> None:
        client, channel = self.client, self.channel
        info = client.select_folder(folder)
        uidvalidity = int(info[b"UIDVALIDITY"])
        with self.poller.engine.connect() as conn:
            position = folder_position(conn, channel.id, folder)
        last_uid = position[1] if position and position[0] == uidvalidity else 0
        criteria: list[Any] = ["UID", f"{last_uid + 1}:*"]
        if channel.since:
            criteria += ["SINCE", channel.since]
        found = sorted(u for u in client.search(criteria) if u > last_uid)
        uids = found if left is None else found[:left]
        # Everything below UIDNEXT was looked at (polled, or older than --since), unless
        # --max cut the list short: then only up to the last one taken.
        seen = int(info.get(b"UIDNEXT", 1)) - 1
        self.polled_to[folder] = max([seen, *found]) if uids == found else uids[-1]
        present: list[int] = []

        def bodies() -> Iterator[bytes]:
            """FETCH lazily, a batch at a time, so fetching overlaps analysing."""
            for start in range(0, len(uids), FETCH_BATCH):
                batch = uids[start : start + FETCH_BATCH]
                fetched = client.fetch(batch, ["BODY.PEEK[]"])
                for uid in batch:
                    if uid in fetched:
                        present.append(uid)
                        yield fetched[uid][b"BODY[]"]

        parallel = self.parallel and len(uids) > FETCH_BATCH
        outcomes = ingestor.ingest_many(bodies(), batch=FETCH_BATCH, parallel=parallel)
        committed: list[tuple[int, Outcome]] = []
        for n, outcome in enumerate(outcomes):
            committed.append((present[n], outcome))
            if len(committed) == FETCH_BATCH:
                self._settle(folder, uidvalidity, committed, result)
                committed = []
        if committed:
            self._settle(folder, uidvalidity, committed, result)

    def _settle(
        self,
        folder: str,
        uidvalidity: int,
        committed: list[tuple[int, Outcome]],
        result: PollResult,
    ) -> None:
        """After a batch is committed: move its messages, then save how far the folder is read."""
        moves: dict[str, list[int]] = {}
        for uid, outcome in committed:
            result.fetched += 1
            result.counts[outcome.action] += 1
            target = self.channel.target_folder(outcome.settled)
            if target and target != folder:
                moves.setdefault(target, []).append(uid)
        for target, target_uids in moves.items():
            self._move(target_uids, target)
        with transaction(self.poller.engine) as conn:
            save_folder_position(conn, self.channel.id, folder, uidvalidity, committed[-1][0])
            kept = acquire_lease(conn, self.channel.id, self.poller.holder)
        if not kept:
            raise LeaseLost("another poller took the lease")

    def _move(self, uids: list[int], target: str) -> None:
        """MOVE where the server has it, else COPY, flag \\Deleted and expunge those UIDs."""
        client = self.client
        if target not in self.made:
            if not client.folder_exists(target):
                client.create_folder(target)
            self.made.add(target)
        if client.has_capability("MOVE"):
            client.move(uids, target)
            return
        client.copy(uids, target)
        client.add_flags(uids, [b"\\Deleted"])
        if client.has_capability("UIDPLUS"):
            client.uid_expunge(uids)
        else:
            client.expunge()
