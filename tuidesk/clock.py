"""The one clock stored times, due times, reports and the console's "due in" read: tests hold
it still (`fixed`) so service-level figures are exact; nothing else sets it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

_held: datetime | None = None


def utcnow() -> datetime:
    return _held if _held is not None else datetime.now(UTC)


@contextmanager
def fixed(at: datetime) -> Iterator[None]:
    """Hold the clock at `at` (aware) until the block ends; `set_to` moves it inside."""
    global _held
    before, _held = _held, at.astimezone(UTC)
    try:
        yield
    finally:
        _held = before


def set_to(at: datetime) -> None:
    """Move a held clock (inside `fixed`): a test walks a ticket through its day."""
    global _held
    if _held is None:
        raise RuntimeError("the clock is not held: use clock.fixed")
    _held = at.astimezone(UTC)
