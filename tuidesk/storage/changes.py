"""Waiting for "something changed" in tickets, messages or the quarantine, in any process on any
host. On PostgreSQL a raw psycopg connection LISTENs on the channel that migration 0008's
triggers notify, so a waiter wakes the moment another process commits. SQLite has no such
thing: the waiter just waits, and the caller compares `change_token` as before.

Either way the caller keeps asking for `change_token` when `wait` returns, whatever it says: a
notification missed while the connection was down is caught by the next periodic check."""

from __future__ import annotations

import contextlib
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Engine

CHANNEL = "tuidesk_changes"  # as in migrations/versions/0008_change_notify.py
MIN_GAP_S = 0.2  # a burst of commits (a watcher taking 500 mails) wakes the caller 5 times a s
SLICE_S = 0.2  # how often a wait looks at `stop`
RETRY_S = 5.0  # how often a lost LISTEN connection is tried again
CONNECT_TIMEOUT_S = 5


class ChangeWaiter:
    """`wait(timeout)` returns True as soon as something changed (PostgreSQL), False after
    `timeout` or once `stop` is set. Use it on one thread, and close it (or use `with`)."""

    def __init__(
        self,
        engine: Engine,
        *,
        stop: threading.Event | None = None,
        min_gap: float = MIN_GAP_S,
    ) -> None:
        self.engine = engine
        self.stop = stop or threading.Event()
        self.min_gap = min_gap
        self.postgresql = engine.dialect.name == "postgresql"
        self._conn: Any = None  # psycopg.Connection while listening
        self._tried_at: float | None = None
        self._woke_at = float("-inf")
        if self.postgresql:
            self._listen()

    @property
    def listening(self) -> bool:
        """True while notifications can arrive: the caller may then check less often."""
        return self._conn is not None

    def __enter__(self) -> ChangeWaiter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        if self.postgresql and self._conn is None and self._due():
            self._listen()
        if self._conn is None:
            self._sleep_until(deadline)
            return False
        # Notifications that come meanwhile wait in the socket, and are seen right after.
        self._sleep_until(min(deadline, self._woke_at + self.min_gap))
        try:
            while not self.stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                if list(self._conn.notifies(timeout=min(left, SLICE_S), stop_after=1)):
                    list(self._conn.notifies(timeout=0))  # the rest of the burst
                    self._woke_at = time.monotonic()
                    return True
            return False
        except Exception:  # noqa: BLE001 - server gone, network down: listen again later
            self.close()
            self._tried_at = time.monotonic()
            return True  # we may have missed one: let the caller look

    # -- inside ----------------------------------------------------------------------------

    def _due(self) -> bool:
        return self._tried_at is None or time.monotonic() - self._tried_at >= RETRY_S

    def _listen(self) -> None:
        import psycopg

        self._tried_at = time.monotonic()
        args, params = self.engine.dialect.create_connect_args(self.engine.url)
        params.pop("context", None)  # SQLAlchemy's adapters: a plain connection needs none
        params.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
        try:
            conn = psycopg.connect(*args, **params, autocommit=True)
        except Exception:  # noqa: BLE001 - the caller polls meanwhile and we try again
            return
        try:
            conn.execute(f"LISTEN {CHANNEL}")
        except Exception:  # noqa: BLE001
            with contextlib.suppress(Exception):
                conn.close()
            return
        self._conn = conn

    def _sleep_until(self, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left > 0:
            self.stop.wait(left)
