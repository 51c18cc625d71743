"""How long a channel's lease lives, how often its holder renews it, how often a watcher polls
a server without IDLE, and how long it waits on a lease another process holds.

TUIDESK_TIME_SCALE, read once at start, multiplies all four; it is for tests only (0.25 makes
the 30 s lease 7.5 s, so a test of a lease that would lapse need not sleep through a real one).
Their ratios never change: the lease is renewed well inside its life, and a watcher without
IDLE waits longer than a lease lives, which is what renewing while it waits is for."""

from __future__ import annotations

import os


def _scale() -> float:
    """Anything but a number in (0, 1] is ignored: production keeps the real intervals."""
    try:
        value = float(os.environ.get("TUIDESK_TIME_SCALE", "1"))
    except ValueError:
        return 1.0
    return value if 0 < value <= 1 else 1.0


SCALE = _scale()
LEASE_SECONDS = 30 * SCALE
LEASE_RENEW_S = 10 * SCALE
POLL_INTERVAL_S = 60 * SCALE
NOT_NOW_WAIT_S = 30 * SCALE
