"""`tuidesk watch`: a daemon that keeps each channel's mailbox open and waits on IMAP IDLE, so
a mail becomes a ticket seconds after it lands. Servers without IDLE are polled at an interval.
Each channel has its own thread and connection; one failing never stops the others."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from tuidesk.intervals import NOT_NOW_WAIT_S, POLL_INTERVAL_S
from tuidesk.net import explain
from tuidesk.sources.imap import (
    ImapChannel,
    LeaseLost,
    MailboxSession,
    Poller,
    PollResult,
    StepFailed,
    load_imap_channels,
    why_not_now,
)
from tuidesk.storage.blobs import BlobStore
from tuidesk.storage.channel_state import (
    acquire_lease,
    record_failure,
    record_success,
    release_lease,
)
from tuidesk.storage.db import transaction

# RFC 2177: clients should re-issue IDLE at least every 29 minutes; servers drop it at 30.
IDLE_RENEW_S = 25 * 60
BACKOFF_S = (2, 5, 15, 30, 60, 120, 300)


class Watcher:
    def __init__(
        self,
        engine: Engine,
        blobs: BlobStore,
        config_dir: Path,
        holder: str,
        stop: threading.Event,
        log: Callable[[str], None],
        polled: Callable[[str], None] = lambda _name: None,
    ) -> None:
        """`log` gets lines worth reading; `polled` the name of each channel after every
        successful pass (the console's "last poll")."""
        self.poller = Poller(engine, blobs, config_dir, holder)
        self.engine = engine
        self.holder = holder
        self.stop = stop
        self.log = log
        self.polled = polled

    def start(self, names: list[str]) -> list[threading.Thread]:
        """A thread per channel, running until `stop` is set."""
        threads = [
            threading.Thread(target=self._watch, args=(name,), name=f"watch-{name}", daemon=True)
            for name in names
        ]
        for thread in threads:
            thread.start()
        return threads

    def run(self, names: list[str]) -> None:
        for thread in self.start(names):
            while thread.is_alive():  # a timed join lets signal handlers run promptly
                thread.join(timeout=0.5)

    def _channel(self, name: str) -> ImapChannel | None:
        found = load_imap_channels(self.engine, [name])
        return found[0] if found else None

    def _watch(self, name: str) -> None:
        """Connect, poll, IDLE, repeat; on errors back off and reconnect."""
        failures = 0
        while not self.stop.is_set():
            channel = self._channel(name)
            if channel is None:
                self.log(f"{name}: channel removed, no longer watching")
                return
            reason = why_not_now(channel, datetime.now(UTC))
            if reason:
                self.stop.wait(NOT_NOW_WAIT_S)
                continue
            with transaction(self.engine) as conn:
                leased = acquire_lease(conn, channel.id, self.holder)
            if not leased:
                self.stop.wait(NOT_NOW_WAIT_S / 3)
                continue
            try:
                self._session(name, channel)
                failures = 0
            except LeaseLost as exc:  # it stalled and another watcher took over: stand by
                self.log(f"{name}: {exc}; standing by")
                self.stop.wait(NOT_NOW_WAIT_S / 3)
            except Exception as exc:  # noqa: BLE001 - log, count, back off, reconnect
                failures += 1
                permanent = isinstance(exc, StepFailed) and exc.permanent
                with transaction(self.engine) as conn:
                    record_failure(conn, channel.id, explain(exc), permanent=permanent)
                delay = BACKOFF_S[min(failures, len(BACKOFF_S)) - 1]
                self.log(f"{name}: {explain(exc)}; reconnecting in {delay} s")
                self.stop.wait(delay)
            finally:
                with transaction(self.engine) as conn:
                    release_lease(conn, channel.id, self.holder)

    def _session(self, name: str, channel: ImapChannel) -> None:
        session = MailboxSession(self.poller, channel, parallel=False)
        idle = session.client.has_capability("IDLE")
        self.log(f"{name}: connected, {'waiting on IDLE' if idle else 'polling'}")
        try:
            while not self.stop.is_set():
                # Settings may have changed while we waited: never poll with stale ones.
                current = self._channel(name)
                if current is None or why_not_now(current, datetime.now(UTC)):
                    return
                if current != channel:
                    return  # reconnect with the new settings
                result = PollResult(name)
                session.poll(result)
                with transaction(self.engine) as conn:
                    record_success(conn, channel.id)
                self.polled(name)
                if result.fetched:
                    counts = ", ".join(f"{n} {k}" for k, n in sorted(result.counts.items()))
                    self.log(f"{name}: {result.fetched} fetched: {counts}")
                wait = IDLE_RENEW_S if idle and len(channel.folders) == 1 else POLL_INTERVAL_S
                session.wait_for_mail(wait, self.stop, lambda: self._renew(name, channel))
        finally:
            session.close()

    def _renew(self, name: str, channel: ImapChannel) -> bool:
        """Keep the lease while waiting; True when the channel's settings changed meanwhile
        (a folder added, a new password, paused), so they apply within seconds, not at the
        next mail or the next IDLE renewal."""
        with transaction(self.engine) as conn:
            kept = acquire_lease(conn, channel.id, self.holder)
        if not kept:
            raise LeaseLost("another watcher took the lease")
        return self._channel(name) != channel
