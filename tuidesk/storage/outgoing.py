"""Outgoing (SMTP) channels as the admin sees them: validated, one default, the secret masked.
The CLI, the TOML import and (later) the admin console all save through `validate`."""

from __future__ import annotations

import re

from sqlmodel import Session, col, select

from tuidesk.storage.models import Channel, OutgoingChannel

SECURITIES = ("ssl", "starttls")
_HOST = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9-]{1,63})*\.?$")
_ADDRESS = re.compile(r"^[^@\s<>()\[\],;:\"\\]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


class OutgoingError(ValueError):
    pass


def get_outgoing(session: Session, name: str) -> OutgoingChannel:
    found = session.exec(select(OutgoingChannel).where(OutgoingChannel.name == name)).first()
    if found is None:
        raise OutgoingError(f"no outgoing channel named {name!r}")
    return found


def list_outgoing(session: Session) -> list[OutgoingChannel]:
    return list(session.exec(select(OutgoingChannel).order_by(col(OutgoingChannel.name))))


def valid_address(address: str) -> bool:
    return bool(_ADDRESS.match(address))


def validate(out: OutgoingChannel) -> None:
    """Every field, in the words an admin needs; nothing invalid is saved."""
    if not out.name or any(c.isspace() for c in out.name):
        raise OutgoingError("a name without spaces is needed")
    if out.security not in SECURITIES:
        raise OutgoingError(f"security must be one of {', '.join(SECURITIES)}")
    if not _HOST.match(out.host or ""):
        raise OutgoingError(f"host {out.host!r} is not a host name or address")
    if not 0 < (out.port or 0) < 65536:
        raise OutgoingError("port must be 1-65535")
    if not valid_address(out.from_address or ""):
        raise OutgoingError(f"from address {out.from_address!r} is not an email address")
    if out.reply_to and not valid_address(out.reply_to):
        raise OutgoingError(f"reply-to {out.reply_to!r} is not an email address")
    if out.timeout_ms <= 0:
        raise OutgoingError("timeout must be positive")
    for value in (out.host, out.username, out.from_address, out.from_name, out.reply_to):
        if value and any(c in value for c in "\r\n\x00"):
            raise OutgoingError("CR, LF and NUL are not allowed in outgoing settings")
    out.from_address = out.from_address.lower()


def save_outgoing(session: Session, out: OutgoingChannel, *, default: bool = False) -> None:
    """Validate and save; the first one, or one saved with `default`, becomes the default."""
    validate(out)
    others = [o for o in list_outgoing(session) if o.id != out.id]
    if default or not any(o.is_default for o in others):
        out.is_default = True
        for other in others:
            if other.is_default:
                other.is_default = False
                session.add(other)
    session.add(out)


def remove_outgoing(session: Session, name: str) -> None:
    """Channels mapped to it fall back to the default; the default goes last."""
    out = get_outgoing(session, name)
    others = [o for o in list_outgoing(session) if o.id != out.id]
    if out.is_default and others:
        raise OutgoingError(f"{name} is the default: make another one the default first")
    for channel in session.exec(select(Channel).where(Channel.outgoing == name)):
        channel.outgoing = None
        session.add(channel)
    session.delete(out)
