"""The background engine: a watcher thread per IMAP channel, the outbox sender and (for `tuidesk
watch`) escalation every minute. `tuidesk watch` runs it in the foreground; the console runs it
behind the UI and hears from it only through the `log` callback (which it turns into
messages). A channel whose lease another process holds is left to that process."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine

from tuidesk.storage.blobs import BlobStore

ESCALATE_INTERVAL_S = 60  # due times are to the minute


class Daemon:
    def __init__(
        self,
        engine: Engine,
        blobs: BlobStore,
        config_dir: Path,
        holder: str,
        log: Callable[[str], None],
        *,
        send: bool = True,
        escalate: bool = False,
        polled: Callable[[str], None] = lambda _name: None,
    ) -> None:
        self.engine = engine
        self.blobs = blobs
        self.config_dir = config_dir
        self.holder = holder
        self.log = log
        self.send = send
        self.escalate = escalate
        self.polled = polled
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self, names: list[str]) -> None:
        """Watch these channels and, unless told not to, send the outbox; escalate if told."""
        from tuidesk.outbound.worker import run_sender
        from tuidesk.sources.watch import Watcher

        watcher = Watcher(
            self.engine, self.blobs, self.config_dir, self.holder, self.stop_event, self.log,
            self.polled,
        )  # fmt: skip
        self.threads = watcher.start(names)
        if self.send:
            sender = threading.Thread(
                target=run_sender,
                args=(self.engine, self.config_dir, self.holder, self.stop_event, self.log),
                name="outbox",
                daemon=True,
            )
            sender.start()
            self.threads.append(sender)
        if self.escalate:
            escalation = threading.Thread(target=self._escalate, name="escalate", daemon=True)
            escalation.start()
            self.threads.append(escalation)

    def _escalate(self, interval: float = ESCALATE_INTERVAL_S) -> None:
        """Until stopped: one escalation run (its own transaction), what it did logged, a
        wait. An error is logged and the next run tries again: nothing was half-escalated."""
        from tuidesk.storage.escalate import escalate_now, said

        while not self.stop_event.is_set():
            try:
                done = escalate_now(self.engine)
            except Exception as exc:  # noqa: BLE001 - a database hiccup must not end the daemon
                self.log(f"escalate: {exc.__class__.__name__}: {exc}")
            else:
                for e in done:
                    self.log(f"escalate: {said(e)}")
            self.stop_event.wait(interval)

    def stop(self, timeout: float = 30) -> None:
        """Ask every thread to stop and wait for them (each finishes the mail in hand)."""
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=timeout)
