"""Channels as the admin sees them: validated, shown with the secret masked, removed."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlmodel import Session

from tuidesk.credentials import describe
from tuidesk.storage.channel_state import ChannelError, parse_window
from tuidesk.storage.models import Channel, OutgoingChannel

SECURITIES = ("ssl", "starttls", "plain")
STATUSES = ("draft", "active", "paused", "failing")


def get_channel(session: Session, name: str) -> Channel:
    from sqlmodel import select as orm_select

    channel = session.exec(orm_select(Channel).where(Channel.name == name)).first()
    if channel is None:
        raise ChannelError(f"no channel named {name!r}")
    return channel


def list_channels(session: Session) -> list[Channel]:
    from sqlmodel import select as orm_select

    return list(session.exec(orm_select(Channel).order_by(Channel.name)))


def validate(channel: Channel) -> None:
    if channel.security not in SECURITIES:
        raise ChannelError(f"security must be one of {', '.join(SECURITIES)}")
    if channel.status not in STATUSES:
        raise ChannelError(f"status must be one of {', '.join(STATUSES)}")
    if channel.kind == "imap":
        if not channel.host or not channel.port or not channel.username:
            raise ChannelError("an IMAP channel needs --host, --port and --username")
        if not 0 < channel.port < 65536:
            raise ChannelError("port must be 1-65535")
        if not channel.folders:
            raise ChannelError("at least one folder to read")
    for window in channel.skip_windows:
        parse_window(window)
    for value in (channel.host, channel.username, *channel.folders):
        if value and any(c in value for c in "\r\n\x00"):
            raise ChannelError("CR, LF and NUL are not allowed in channel settings")


def channel_dict(channel: Channel | OutgoingChannel) -> dict[str, Any]:
    """Everything about a channel (incoming or outgoing) that is safe to show: the secret is
    described, not given."""
    fields = type(channel).model_fields
    data = {k: getattr(channel, k) for k in fields if k not in ("id", "secret_ref")}
    data["password"] = describe(channel.secret_kind, channel.secret_ref)
    data.pop("secret_kind")
    for key, value in data.items():
        if isinstance(value, datetime | date):
            data[key] = value.isoformat()
    return data
