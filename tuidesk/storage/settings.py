"""Rules and options as rows (`setting` table), and loading them into the engine's RuleSet."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert, select, update

from tuidesk.engine.parse import Limits
from tuidesk.engine.quotes import OwnSignatures
from tuidesk.engine.rules import (
    DEFAULT_FORM_SENDERS,
    BranchRule,
    ChannelRule,
    CustomFieldRule,
    FieldMapping,
    ReplyMode,
    RuleSet,
)
from tuidesk.storage.tables import tables

# key -> (default, help). Every rule the engine reads; `config export` writes them all.
SETTINGS: dict[str, tuple[Any, str]] = {
    "allowed_domains": ([], "sender domains allowed to open tickets; empty allows all"),
    "blocked_senders": ([], "sender patterns whose mail is ignored (shell globs)"),
    "autoreply_keywords": ([], "extra subject keywords that mark automatic mail"),
    "autoreply_senders": ([], "sender patterns whose mail is automatic (shell globs)"),
    "reply_separators": (None, "regexes that end the new text of a reply; unset = built-in list"),
    "aliases": ({}, "alias address -> primary support address"),
    "outgoing_addresses": ([], "addresses we send from; mail from them is a loop"),
    "restrict_replies": (
        "participants",
        "who may add to a ticket by mail: participants (the requester, anyone in To/Cc of its"
        " mails, agents, the requester's colleagues), true (the requester and agents) or false"
        " (anyone); anyone else opens a new ticket linked to it",
    ),
    "free_mail_domains": ([], "more free-mail domains: sharing one makes nobody a colleague"),
    "reopen_max_age_days": (None, "a reply to a ticket closed longer ago opens a new one"),
    "default_queue": (None, "queue for new tickets when the channel names none"),
    "default_ticket_type": (None, "ticket type for new tickets when the channel names none"),
    "field_defaults": ({}, "custom field values for new tickets"),
    "attach_original": (False, "attach the original mail to new tickets as an .eml file"),
    "acknowledge": (False, "send an acknowledgement when mail opens a ticket"),
    "ack_subject": ("Received: {title} [{ref}]", "acknowledgement subject; {ref} {title}"),
    "ack_body": (
        "Hello {requester_name},\n\nthank you for your message: we have opened ticket {ref},"
        ' "{title}", and will answer soon. Reply to this mail to add to it.\n',
        "acknowledgement text; {ref} {title} {requester_name}",
    ),
    "ack_max_per_hour": (3, "at most this many acknowledgements per recipient per hour"),
    "outbox_max_tries": (5, "a mail that failed this many times is marked failed"),
    "outbox_retry_seconds": ([60, 300, 900, 3600], "wait before each retry; the last repeats"),
    "message_id_domain": (None, "domain of our Message-IDs; unset = the From address's"),
    "max_message_bytes": (Limits.max_bytes, "larger mail is quarantined"),
    "max_mime_parts": (Limits.max_parts, "mail with more MIME parts is quarantined"),
    # Who the requester is (issue 17): web forms' Reply-To.
    "form_senders": (
        list(DEFAULT_FORM_SENDERS),
        "From patterns of web forms (shell globs): their one Reply-To address is the requester",
    ),
    "requester_from_reply_to": (
        False,
        "the one Reply-To address of any mail is the requester, not only of form_senders",
    ),
    # Notifications to agents (storage.notify)
    "notify_min_interval_seconds": (
        120,
        "at most one notification per agent and ticket this often; later events are folded in",
    ),
    # agentmail: agents working tickets by replying to mail
    "trusted_authserv_ids": (
        [],
        "mail servers (the first word of their Authentication-Results) whose dkim/spf/dmarc"
        " results count: an agent's mail they fail is quarantined as spoofed, one they pass"
        " may reply to customers and run commands",
    ),
    "agent_mail_commands": (
        False,
        "let an agent's mail that no trusted server vouches for reply to customers and run"
        " #status/#assign/#priority (else it is kept as a note)",
    ),
    # Service levels (storage.escalate)
    "sla_near": (
        "1h",
        "a target due within this long is near: it escalates, and the console shows it as near"
        " (30m, 2h, 1d = 24 hours)",
    ),
}


def get_settings(conn: Connection) -> dict[str, Any]:
    values = {key: default for key, (default, _) in SETTINGS.items()}
    setting = tables(conn).setting
    for key, value in conn.execute(select(setting.c.key, setting.c.value)):
        if key in SETTINGS:
            values[key] = value
    return values


def set_setting(conn: Connection, key: str, value: Any) -> None:
    if key not in SETTINGS:
        raise KeyError(f"unknown setting {key!r}")
    setting = tables(conn).setting
    if conn.execute(update(setting).where(setting.c.key == key).values(value=value)).rowcount:
        return
    conn.execute(insert(setting).values(key=key, value=value))


def load_rules(conn: Connection, overrides: dict[str, Any] | None = None) -> RuleSet:
    """The rules as stored, with `overrides` (settings not saved yet: the admin preview)
    taking the place of the stored values."""
    s = get_settings(conn) | (overrides or {})
    t = tables(conn)
    branches = tuple(
        BranchRule(row.name, row.key, tuple(row.addresses), tuple(row.domains), row.is_default)
        for row in conn.execute(select(t.branch).order_by(t.branch.c.created_at, t.branch.c.id))
    )
    types: dict[str, list[CustomFieldRule]] = {}
    field = t.custom_field
    for row in conn.execute(
        select(
            t.ticket_type.c.name.label("type_name"),
            field.c.name.label("field_name"),
            field.c.kind,
            field.c.required,
            field.c.default,
        )
        .outerjoin(field, field.c.ticket_type_id == t.ticket_type.c.id)
        .order_by(field.c.id)
    ):
        fields = types.setdefault(row.type_name, [])
        if row.field_name is not None:
            fields.append(CustomFieldRule(row.field_name, row.kind, row.required, row.default))
    separators = s["reply_separators"]
    out, agent = t.outgoing_channel, t.agent
    outgoing = conn.execute(select(out.c.from_address, out.c.reply_to, out.c.signature)).all()
    sending = [a for row in outgoing for a in row[:2]]
    agents = conn.execute(select(agent.c.name, agent.c.signature)).all()
    signatures = OwnSignatures(
        templates=tuple(sig for *_, sig in [*outgoing, *agents] if sig and sig.strip()),
        agent_names=tuple(row.name for row in agents),
        branch_names=tuple(b.name for b in branches),
    )
    return RuleSet(
        branches=branches,
        aliases={k.lower(): v.lower() for k, v in s["aliases"].items()},
        outgoing_addresses=tuple(dict.fromkeys([*s["outgoing_addresses"], *filter(None, sending)])),
        allowed_domains=tuple(s["allowed_domains"]),
        blocked_senders=tuple(s["blocked_senders"]),
        autoreply_keywords=tuple(s["autoreply_keywords"]),
        autoreply_senders=tuple(s["autoreply_senders"]),
        reply_separators=tuple(separators) if separators is not None else None,
        restrict_replies=ReplyMode.of(s["restrict_replies"]),
        free_mail_domains=tuple(s["free_mail_domains"]),
        reopen_max_age_days=s["reopen_max_age_days"],
        default_queue=s["default_queue"],
        default_ticket_type=s["default_ticket_type"],
        field_defaults=dict(s["field_defaults"]),
        attach_original=bool(s["attach_original"]),
        acknowledge=bool(s["acknowledge"]),
        ack_max_per_hour=int(s["ack_max_per_hour"]),
        ticket_types={name: tuple(fields) for name, fields in types.items()},
        limits=Limits(int(s["max_message_bytes"]), int(s["max_mime_parts"])),
        form_senders=tuple(s["form_senders"]),
        requester_from_reply_to=bool(s["requester_from_reply_to"]),
        trusted_authserv_ids=tuple(a.lower() for a in s["trusted_authserv_ids"]),
        agent_mail_commands=bool(s["agent_mail_commands"]),
        own_signatures=signatures,
    )


def load_channel(conn: Connection, name: str) -> ChannelRule | None:
    channel = tables(conn).channel
    row = conn.execute(select(channel).where(channel.c.name == name)).first()
    return None if row is None else channel_rule(row)


def channel_rule(row: Any) -> ChannelRule:
    """The engine's view of a channel, from a stored row or a Channel not saved yet."""
    return ChannelRule(
        name=row.name,
        branch=row.branch,
        queue=row.queue,
        ticket_type=row.ticket_type,
        field_defaults=dict(row.field_defaults),
        allowed_domains=tuple(row.allowed_domains),
        attach_original=row.attach_original,
        autoreply_keywords=tuple(row.autoreply_keywords),
        autoreply_senders=tuple(row.autoreply_senders),
        aliases=dict(row.aliases),
        field_mappings=tuple(
            FieldMapping(
                field=m["field"],
                property=m.get("property") or None,
                default=m.get("default") or None,
                restricted=bool(m.get("restricted")),
            )
            for m in row.field_mappings
        ),
        update_types=tuple(row.update_types),
    )
