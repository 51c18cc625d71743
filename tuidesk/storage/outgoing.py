"""Outgoing (SMTP) channels as the admin sees them: validated, one default, the secret masked.
The CLI, the TOML import and the admin console all save through `save_outgoing`."""

from __future__ import annotations

import os

from sqlmodel import Session, col, select

from tuidesk.storage import checks
from tuidesk.storage.checks import Collector, Invalid
from tuidesk.storage.models import Channel, OutgoingChannel
from tuidesk.storage.oauth_settings import check_oauth

SECURITIES = ("ssl", "starttls")


class OutgoingError(Invalid):
    pass


def get_outgoing(session: Session, name: str) -> OutgoingChannel:
    found = session.exec(select(OutgoingChannel).where(OutgoingChannel.name == name)).first()
    if found is None:
        raise OutgoingError(f"no outgoing channel named {name!r}")
    return found


def list_outgoing(session: Session) -> list[OutgoingChannel]:
    return list(session.exec(select(OutgoingChannel).order_by(col(OutgoingChannel.name))))


def validate(out: OutgoingChannel) -> None:
    """Every field at once, in the words an admin needs, cleaned in place; nothing invalid
    is saved."""
    c = Collector()
    if not out.name or any(ch.isspace() for ch in out.name):
        c.add("name", "a name without spaces is needed")
    c.check("security", checks.one_of, out.security, SECURITIES, "security")
    out.host = c.check("host", checks.host, out.host) or out.host
    out.port = c.check("port", checks.port, out.port) or out.port
    check_oauth(c, out)
    if out.auth_type == "oauth2" and not out.username:
        c.add("username", "OAuth2 needs the mailbox to send as (--username)")
    if out.username:
        c.check("username", checks.text, out.username, "username")
    out.from_address = c.check("from_address", checks.address, out.from_address) or out.from_address
    c.check("from_name", checks.text, out.from_name, "from name", required=False)
    if out.reply_to:
        out.reply_to = c.check("reply_to", checks.address, out.reply_to) or out.reply_to
    else:
        out.reply_to = None
    signature = c.check("signature", checks.signature, out.signature)
    out.signature = signature if signature is not None else out.signature
    if out.ca_file and not os.path.isfile(out.ca_file):
        c.add("ca_file", f"{out.ca_file}: no such file")
    timeout = c.check("timeout_ms", checks.number, out.timeout_ms, "timeout", low=100, high=600000)
    out.timeout_ms = timeout if timeout is not None else out.timeout_ms
    c.raise_if_any(OutgoingError)


def save_outgoing(session: Session, out: OutgoingChannel, *, default: bool = False) -> None:
    """Validate and save; the first one, or one saved with `default`, becomes the default."""
    validate(out)
    others = [o for o in list_outgoing(session) if o.id != out.id]
    if any(o.name == out.name for o in others):
        raise OutgoingError(f"an outgoing channel named {out.name!r} exists already", "name")
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
