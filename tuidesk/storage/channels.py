"""Channels as the admin sees them: validated, shown with the secret masked, removed."""

from __future__ import annotations

import os
from datetime import date, datetime
from typing import Any

from sqlmodel import Session

from tuidesk.auth.credentials import describe
from tuidesk.storage import checks
from tuidesk.storage.channel_state import ChannelError
from tuidesk.storage.checks import Collector
from tuidesk.storage.models import Channel, OutgoingChannel
from tuidesk.storage.oauth_settings import check_oauth

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


KINDS = ("imap", "pipe")


def validate(channel: Channel) -> None:
    """Every field at once, cleaned in place; raises ChannelError naming each bad field."""
    c = Collector()
    c.check("name", _name, channel.name)
    c.check("kind", checks.one_of, channel.kind, KINDS, "kind")
    c.check("security", checks.one_of, channel.security, SECURITIES, "security")
    c.check("status", checks.one_of, channel.status, STATUSES, "status")
    if channel.kind == "imap":
        check_oauth(c, channel)
        channel.host = c.check("host", checks.host, channel.host) or channel.host
        channel.port = c.check("port", checks.port, channel.port) or channel.port
        channel.username = c.check("username", checks.text, channel.username, "username")
        folders = c.check("folders", checks.each, channel.folders, checks.folder)
        if folders == []:
            c.add("folders", "at least one folder to read")
        channel.folders = folders or channel.folders
    for key in ("success_folder", "fail_folder", "exclusion_folder"):
        value = getattr(channel, key)
        if value:
            setattr(channel, key, c.check(key, checks.folder, value) or value)
        else:
            setattr(channel, key, None)
    if channel.reply_to:
        channel.reply_to = c.check("reply_to", checks.address, channel.reply_to)
    if channel.ca_file and not os.path.isfile(channel.ca_file):
        c.add("ca_file", f"{channel.ca_file}: no such file")
    limits = (
        ("max_tries", "max tries", 1, 100),
        ("cooloff_minutes", "cool-off", 0, 10080),
        ("timeout_ms", "timeout", 100, 600000),
    )
    for key, what, low, high in limits:
        value = c.check(key, checks.number, getattr(channel, key), what, low=low, high=high)
        if value is not None:
            setattr(channel, key, value)
    channel.skip_windows = (
        c.check("skip_windows", checks.each, channel.skip_windows, checks.window) or []
    )
    channel.allowed_domains = (
        c.check("allowed_domains", checks.each, channel.allowed_domains, checks.domain) or []
    )
    channel.autoreply_keywords = (
        c.check("autoreply_keywords", checks.each, channel.autoreply_keywords, _keyword) or []
    )
    channel.autoreply_senders = (
        c.check("autoreply_senders", checks.each, channel.autoreply_senders, checks.glob) or []
    )
    aliases = c.check("aliases", _aliases, channel.aliases)
    channel.aliases = aliases if aliases is not None else channel.aliases
    c.raise_if_any(ChannelError)


def _name(value: str | None) -> str:
    name = checks.text(value, "name")
    if any(ch.isspace() for ch in name):
        raise checks.Invalid("a name without spaces is needed")
    return name


def _keyword(value: str) -> str:
    return checks.text(value, "keyword")


def _aliases(aliases: dict[str, str]) -> dict[str, str]:
    return {checks.address(k): checks.address(v) for k, v in aliases.items()}


def check_channel(session: Session, channel: Channel) -> None:
    """Validate a channel (cleaned in place), its field mappings and what it names; raises
    ChannelError naming every bad field. A queue or ticket type that does not exist yet is
    made with the first ticket; a branch or outgoing channel must exist."""
    from sqlmodel import select as orm_select

    from tuidesk.storage.mappings import (
        check_mappings,
        check_update_types,
        field_names_for,
        known_ticket_types,
    )
    from tuidesk.storage.models import Branch

    c = Collector()
    try:
        validate(channel)
    except ChannelError as exc:
        c.errors.update(exc.errors)
    same = session.exec(
        orm_select(Channel).where(Channel.name == channel.name, Channel.id != channel.id)
    ).first()
    if same is not None:
        c.add("name", f"a channel named {channel.name!r} exists already")
    for key in ("branch", "queue", "ticket_type", "outgoing"):
        setattr(channel, key, (getattr(channel, key) or "").strip() or None)
    if (
        channel.branch
        and not session.exec(
            orm_select(Branch).where(
                (Branch.name == channel.branch) | (Branch.key == channel.branch.upper())
            )
        ).first()
    ):
        c.add("branch", f"no branch named {channel.branch!r}")
    if (
        channel.outgoing
        and not session.exec(
            orm_select(OutgoingChannel).where(OutgoingChannel.name == channel.outgoing)
        ).first()
    ):
        c.add("outgoing", f"no outgoing channel named {channel.outgoing!r}")
    fields = field_names_for(session, channel.ticket_type)
    mappings = c.check("field_mappings", check_mappings, channel.field_mappings, fields)
    known = known_ticket_types(session) | {channel.ticket_type or ""}
    types = c.check("update_types", check_update_types, channel.update_types, known)
    c.raise_if_any(ChannelError)
    channel.field_mappings, channel.update_types = mappings or [], types or []


def save_channel(session: Session, channel: Channel) -> Channel:
    """Check a channel whole, then add it: `config import` saves through here."""
    check_channel(session, channel)
    session.add(channel)
    session.flush()
    return channel


RESTARTING = ("draft", "active", "paused")


def edit_channel(
    session: Session,
    channel: Channel | None,
    changes: dict[str, Any],
    refused: dict[str, str] | None = None,
) -> Channel:
    """Add a channel (`channel` None) or change one, for `channel add|edit` and the admin form
    alike, so both refuse the same input in the same words. The channel the changes would
    make is checked whole, with `refused` (what the door itself could not read), before any
    change reaches `channel`: a refusal leaves it as it was. A status set by hand to draft,
    active or paused starts the channel afresh: no failures, no cool-off."""
    stored = channel.model_dump(exclude={"id"}) if channel is not None else {}
    draft = Channel(**stored | changes, id=channel.id if channel is not None else None)
    if changes.get("status") in RESTARTING:
        draft.failures, draft.cooloff_until = 0, None
    errors: dict[str, str] = {}
    try:
        check_channel(session, draft)
    except ChannelError as exc:
        errors = exc.errors
    if errors or refused:
        raise ChannelError.of(errors | (refused or {}))
    if channel is None:
        channel = draft
    else:
        for key, value in draft.model_dump(exclude={"id"}).items():
            setattr(channel, key, value)
    session.add(channel)
    session.flush()
    return channel


def channel_dict(channel: Channel | OutgoingChannel) -> dict[str, Any]:
    """Everything about a channel (incoming or outgoing) that is safe to show: the secret is
    described, not given."""
    fields = type(channel).model_fields
    hidden = ("id", "secret_ref", "oauth_refresh_token", "token_cache")
    data = {k: getattr(channel, k) for k in fields if k not in hidden}
    data["password"] = describe(channel.secret_kind, channel.secret_ref)
    data.pop("secret_kind")
    if channel.auth_type == "oauth2":
        data["client_secret"] = data.pop("password")
        if channel.oauth_certificate:
            data["client_secret"] = f"certificate {channel.oauth_certificate}"
        data["sign_in"] = sign_in_state(channel)
    for key, value in data.items():
        if isinstance(value, datetime | date):
            data[key] = value.isoformat()
    return data


def sign_in_state(channel: Channel | OutgoingChannel) -> str:
    """What an OAuth2 channel holds to get tokens, safe to show: never a token."""
    if channel.token_cache:
        return "token cache stored encrypted"
    if channel.oauth_refresh_token:
        return "refresh token stored encrypted, not used yet"
    if channel.secret_kind or channel.oauth_certificate:
        return "client credentials (app-only)"
    return "not signed in: sign in with a device code (`channel auth` or `outgoing auth`)"
