"""The outbox flushed in the background, for `tuidesk watch` and the console: a pass every few
seconds, so a reply queued by any process (CLI, console, another host) leaves promptly."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine

from tuidesk.outbound.sender import flush

SEND_INTERVAL_S = 5


def run_sender(
    engine: Engine,
    config_dir: Path,
    holder: str,
    stop: threading.Event,
    log: Callable[[str], None],
    interval: float = SEND_INTERVAL_S,
) -> None:
    """Until `stop`: flush, say what happened, wait. An error is logged and retried next
    pass; the mail itself is safe in the outbox."""
    while not stop.is_set():
        try:
            report = flush(engine, config_dir, holder)
        except Exception as exc:  # noqa: BLE001 - a database hiccup must not end the daemon
            log(f"outbox: {exc.__class__.__name__}: {exc}")
        else:
            for mail in report.mails:
                to = ", ".join(mail["recipients"])
                error = f": {mail['error']}" if mail["error"] else ""
                log(f"outbox: #{mail['id']} to {to} {mail['status']}{error}")
        stop.wait(interval)
