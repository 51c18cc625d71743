"""What a poller keeps per channel: its lease, folder positions, failures and cool-off.
SQLAlchemy Core on the ingest path's connection."""

from __future__ import annotations

import os
import re
import socket
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, case, delete, insert, select, update

from tuidesk.intervals import LEASE_SECONDS
from tuidesk.storage.apply import insert_ignoring_conflict
from tuidesk.storage.checks import Invalid
from tuidesk.storage.tables import aware, tables, utcnow

_WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


class ChannelError(Invalid):
    pass


def parse_window(text: str) -> tuple[int, int]:
    """`02:00-04:00` as minutes of the day; a window may cross midnight (`23:00-01:00`)."""
    match = _WINDOW.match(text.strip())
    if not match:
        raise ChannelError(f"skip window {text!r} is not HH:MM-HH:MM")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    return h1 * 60 + m1, h2 * 60 + m2


def in_skip_window(windows: list[str], now: datetime) -> str | None:
    minute = now.hour * 60 + now.minute
    for window in windows:
        start, end = parse_window(window)
        inside = start <= minute < end if start <= end else minute >= start or minute < end
        if inside:
            return window
    return None


def lease_holder() -> str:
    """Who holds a lease (`poll`, `watch`, `send`): unique across processes and hosts."""
    return f"{socket.gethostname()}:{os.getpid()}"


def holder_is_dead(holder: str) -> bool:
    """True only when `holder` ("hostname:pid", or "hostname:pid:console") names a process
    on this host that no longer exists. A holder on another host, or one we cannot read, is
    never called dead: we cannot see its processes, so only its lease's expiry frees it.
    A reused pid makes a dead holder look alive: that only costs the wait for expiry."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit() or int(pid) <= 0:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # EPERM: it exists, as another user
        return False
    return False


def acquire_lease(conn: Connection, channel_id: int, holder: str) -> bool:
    """Take or renew the channel's lease; False when another live holder has it.

    A lease normally frees itself LEASE_SECONDS after its last renewal. A holder that was
    killed on this very host (SIGKILL, the OOM killer, a crashed cron run) is taken over at
    once instead: its pid is gone, so nothing can still be working the channel, and the next
    poller need not wait half a minute. The takeover is a compare-and-set on the dead
    holder's name, so two pollers racing for it cannot both win."""
    lease = tables(conn).channel_lease
    now = utcnow()
    expires = now + timedelta(seconds=LEASE_SECONDS)
    taken = conn.execute(
        update(lease)
        .where(lease.c.channel_id == channel_id)
        .where((lease.c.holder == holder) | (lease.c.expires_at < now))
        .values(holder=holder, expires_at=expires)
    ).rowcount
    if taken:
        return True
    current = conn.execute(select(lease.c.holder).where(lease.c.channel_id == channel_id)).first()
    if current:
        if not holder_is_dead(current.holder):
            return False
        return bool(
            conn.execute(
                update(lease)
                .where(lease.c.channel_id == channel_id)
                .where(lease.c.holder == current.holder)
                .values(holder=holder, expires_at=expires)
            ).rowcount
        )
    insert_ignoring_conflict(
        conn,
        lease,
        "channel_id",
        {"channel_id": channel_id, "holder": holder, "expires_at": expires},
    )
    row = conn.execute(select(lease.c.holder).where(lease.c.channel_id == channel_id)).one()
    return row.holder == holder


def release_lease(conn: Connection, channel_id: int, holder: str) -> None:
    lease = tables(conn).channel_lease
    conn.execute(
        delete(lease).where(lease.c.channel_id == channel_id).where(lease.c.holder == holder)
    )


def folder_position(conn: Connection, channel_id: int, folder: str) -> tuple[int, int] | None:
    state = tables(conn).folder_state
    row = conn.execute(
        select(state.c.uidvalidity, state.c.last_uid)
        .where(state.c.channel_id == channel_id)
        .where(state.c.folder == folder)
    ).first()
    return (row.uidvalidity, row.last_uid) if row else None


def save_folder_position(
    conn: Connection, channel_id: int, folder: str, uidvalidity: int, last_uid: int
) -> None:
    state = tables(conn).folder_state
    where = (state.c.channel_id == channel_id) & (state.c.folder == folder)
    values = {"uidvalidity": uidvalidity, "last_uid": last_uid}
    if not conn.execute(update(state).where(where).values(**values)).rowcount:
        conn.execute(insert(state), {"channel_id": channel_id, "folder": folder, **values})


def record_failure(
    conn: Connection, channel_id: int, error: str, *, permanent: bool = False
) -> None:
    """Count a failed run; after max tries the channel is failing and cools off. A permanent
    failure (a revoked sign-in) makes it failing at once: retrying cannot mend it."""
    channel = tables(conn).channel
    row = conn.execute(
        select(channel.c.failures, channel.c.max_tries, channel.c.cooloff_minutes).where(
            channel.c.id == channel_id
        )
    ).one()
    failures = row.failures + 1
    now = utcnow()
    values: dict[str, Any] = {"failures": failures, "last_error": error[:500], "last_error_at": now}
    if permanent or failures >= row.max_tries:
        values["status"] = "failing"
        values["cooloff_until"] = now + timedelta(minutes=row.cooloff_minutes)
    conn.execute(update(channel).where(channel.c.id == channel_id).values(**values))


def record_success(conn: Connection, channel_id: int) -> None:
    """A clean read: the time is kept, and a failing channel is active again (a paused or
    draft one stays as the admin left it)."""
    channel = tables(conn).channel
    status = case((channel.c.status == "failing", "active"), else_=channel.c.status)
    conn.execute(
        update(channel)
        .where(channel.c.id == channel_id)
        .values(failures=0, cooloff_until=None, status=status, last_poll_at=utcnow())
    )


def cooling_off(until: datetime | None, now: datetime) -> bool:
    return until is not None and aware(until) > now
