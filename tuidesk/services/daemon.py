"""The background engine: a watcher thread per IMAP channel and the outbox sender. `tuidesk
watch` runs it in the foreground; the console runs it behind the UI and hears from it only
through the `log` callback (which it turns into messages). A channel whose lease another
process holds is left to that process."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine

from tuidesk.storage.blobs import BlobStore


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
        polled: Callable[[str], None] = lambda _name: None,
    ) -> None:
        self.engine = engine
        self.blobs = blobs
        self.config_dir = config_dir
        self.holder = holder
        self.log = log
        self.send = send
        self.polled = polled
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self, names: list[str]) -> None:
        """Watch these channels and, unless told not to, send the outbox."""
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

    def stop(self, timeout: float = 30) -> None:
        """Ask every thread to stop and wait for them (each finishes the mail in hand)."""
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=timeout)
