"""The tables. Rows stay inside storage; callers get plain values (see storage.views)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary, Text, UniqueConstraint, func, text
from sqlmodel import Field, SQLModel

from tuidesk.engine.enums import Direction, Priority, TicketStatus
from tuidesk.storage.tables import utcnow

TICKET_STATUSES = tuple(TicketStatus)  # the choices a form or a check offers, in this order
PRIORITIES = tuple(Priority)
SOURCES = ("email", "console", "cli")
DEFAULT_NOTIFY = ("reply", "assigned", "failed")


class Branch(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    key: str = Field(unique=True)
    addresses: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    domains: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    is_default: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    # Agents (ids) told when one of the branch's tickets nears or breaches a target.
    escalation_agents: list[int] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )


class Queue(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    colour: str = "default"


class SlaCalendar(SQLModel, table=True):
    """Business hours per weekday (Monday first, [start, end] minutes of the local day) in a
    time zone, and the holidays it is closed on (ISO dates)."""

    __tablename__ = "sla_calendar"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    tz: str = "UTC"
    hours: list[list[list[int]]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    holidays: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class SlaPolicy(SQLModel, table=True):
    """Response and resolution targets as typed (`4h`, `3d`: a day is the calendar's business
    day, so they are read with it) for the tickets of a branch, priority and queue (None: any)."""

    __tablename__ = "sla_policy"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    first_response: str | None = None
    next_response: str | None = None
    resolution: str | None = None
    branch_id: int | None = Field(default=None, foreign_key="branch.id")
    priority: str | None = None
    queue_id: int | None = Field(default=None, foreign_key="queue.id")
    calendar_id: int | None = Field(default=None, foreign_key="sla_calendar.id")


class TicketType(SQLModel, table=True):
    __tablename__ = "ticket_type"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)


class CustomField(SQLModel, table=True):
    __tablename__ = "custom_field"
    __table_args__ = (UniqueConstraint("ticket_type_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    ticket_type_id: int = Field(foreign_key="ticket_type.id", ondelete="CASCADE")
    name: str
    kind: str = "text"
    required: bool = False
    default: str | None = None


class Contact(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    email: str
    email_key: str = Field(unique=True, description="lower-cased email: unique regardless of case")
    name: str = ""
    created_at: datetime = Field(default_factory=utcnow)


class Agent(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str
    email: str = Field(unique=True)
    role: str = "agent"
    login: str | None = Field(default=None, unique=True, index=True, description="OS user name")
    # The events the agent is mailed about: new, reply, assigned, failed.
    notify: list[str] = Field(
        default_factory=lambda: list(DEFAULT_NOTIFY), sa_column=Column(JSON, nullable=False)
    )
    # Other addresses the agent mails from: their mail on a ticket is the agent's too.
    aliases: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    signature: str = Field(default="", sa_column=Column(Text, nullable=False))


class OAuthFields(SQLModel):
    """OAuth2 settings that incoming and outgoing channels share (auth_type `oauth2`). The
    client secret is the channel's secret (secret_kind/secret_ref), or a certificate file
    signs for the application instead; the refresh token an admin
    pasted and MSAL's token cache are stored encrypted, and only the cache is kept once the
    pasted token has been exchanged."""

    oauth_tenant: str | None = None
    oauth_client_id: str | None = None
    oauth_scopes: list[str] = Field(default_factory=list, sa_type=JSON, nullable=False)
    oauth_authority: str | None = Field(default=None, description="None: Microsoft's, by tenant")
    oauth_redirect_url: str | None = None
    oauth_certificate: str | None = Field(
        default=None, description="PEM file with the key and certificate, instead of a secret"
    )
    oauth_refresh_token: str | None = Field(default=None, description="ciphertext, until used")
    token_cache: str | None = Field(default=None, description="MSAL's cache, ciphertext")
    token_expires_at: datetime | None = Field(default=None, description="the access token's end")


class Channel(OAuthFields, table=True):
    """Where mail comes from: an IMAP mailbox (or `pipe` for MTA delivery), how to read it and
    how its mail maps onto tickets. The password itself is never stored in clear."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    kind: str = "pipe"
    # Connection
    host: str | None = None
    port: int | None = None
    security: str = "ssl"
    username: str | None = None
    auth_type: str = "password"
    secret_kind: str | None = Field(default=None, description="env, command or stored")
    secret_ref: str | None = Field(default=None, description="variable name, command or ciphertext")
    ca_file: str | None = None
    reply_to: str | None = None
    status: str = "draft"
    last_error: str | None = None
    last_error_at: datetime | None = None
    last_poll_at: datetime | None = Field(default=None, description="last read without error")
    failures: int = 0
    cooloff_until: datetime | None = None
    max_tries: int = 3
    cooloff_minutes: int = 15
    skip_windows: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    timeout_ms: int = 30000
    since: date | None = None
    # Reading
    folders: list[str] = Field(
        default_factory=lambda: ["INBOX"], sa_column=Column(JSON, nullable=False)
    )
    success_folder: str | None = None
    fail_folder: str | None = None
    exclusion_folder: str | None = None
    autoreply_keywords: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    autoreply_senders: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    aliases: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Ticket mapping
    branch: str | None = None
    queue: str | None = None
    ticket_type: str | None = None
    field_defaults: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    allowed_domains: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    attach_original: bool = False
    # Mail properties into ticket fields: {field, property, default, restricted} each, in order
    # (checked by storage.mappings).
    field_mappings: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    # Ticket types whose tickets take replies by email; empty: every type does.
    update_types: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Replies on its tickets go out through this outgoing channel (None: the one sending from
    # the same address, else the default).
    outgoing: str | None = None


class OutgoingChannel(OAuthFields, table=True):
    """Where mail goes out: an SMTP server and the From it sends as. The password itself is
    never stored in clear."""

    __tablename__ = "outgoing_channel"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    host: str
    port: int
    security: str = "starttls"
    username: str | None = None
    auth_type: str = "password"
    secret_kind: str | None = Field(default=None, description="env, command or stored")
    secret_ref: str | None = Field(default=None, description="variable name, command or ciphertext")
    ca_file: str | None = None
    from_address: str
    from_name: str = ""
    reply_to: str | None = None
    # Below every reply and notification sent through it ({agent_name}, {branch}, {ref}).
    signature: str = Field(default="", sa_column=Column(Text, nullable=False))
    is_default: bool = False
    timeout_ms: int = 30000
    last_error: str | None = None
    last_error_at: datetime | None = None


class FolderState(SQLModel, table=True):
    """Where reading a folder got to. A new UIDVALIDITY means the UIDs were renumbered: rescan
    from the start and let the dedupe key sort out what was seen."""

    __tablename__ = "folder_state"
    channel_id: int = Field(foreign_key="channel.id", primary_key=True, ondelete="CASCADE")
    folder: str = Field(primary_key=True)
    uidvalidity: int
    last_uid: int = 0


class ChannelLease(SQLModel, table=True):
    """Who is reading a channel now. A holder renews it while it works; one that died stops
    renewing and the lease is free again once it expires."""

    __tablename__ = "channel_lease"
    channel_id: int = Field(foreign_key="channel.id", primary_key=True, ondelete="CASCADE")
    holder: str
    expires_at: datetime


class Ticket(SQLModel, table=True):
    """The ticket number is the primary key: allocation is concurrency-safe on every database."""

    __table_args__ = (
        Index("ix_ticket_status_updated", "status", "updated_at"),
        Index("ix_ticket_updated", "updated_at"),
        # The report reads a period's tickets from these alone (storage.report): what it
        # counts of those opened, and of those resolved (the resolved only: the open tickets,
        # written on every mail, stay out of it).
        Index(
            "ix_ticket_opened",
            "created_at",
            "assignee_id",
            "branch_id",
            "first_response_minutes",
            "sla_policy",
        ),
        Index(
            "ix_ticket_resolved",
            "resolved_at",
            "assignee_id",
            "branch_id",
            "resolution_minutes",
            "sla_policy",
            sqlite_where=text("resolved_at IS NOT NULL"),
            postgresql_where=text("resolved_at IS NOT NULL"),
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    title: str
    status: str = TicketStatus.NEW
    priority: str = "normal"
    ticket_type_id: int | None = Field(default=None, foreign_key="ticket_type.id")
    custom_fields: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    branch_id: int = Field(foreign_key="branch.id", index=True)
    queue_id: int | None = Field(default=None, foreign_key="queue.id")
    channel_id: int | None = Field(default=None, foreign_key="channel.id")
    requester_id: int | None = Field(default=None, foreign_key="contact.id", index=True)
    assignee_id: int | None = Field(default=None, foreign_key="agent.id")
    source: str = "email"
    created_at: datetime = Field(default_factory=utcnow, index=True)
    updated_at: datetime = Field(default_factory=utcnow)
    linked_ticket_id: int | None = Field(
        default=None,
        index=True,
        description="the ticket a non-participant's reply that opened this answered",
    )
    # Merged into that ticket: closed, kept whole, and mail threading here lands there.
    merged_into_id: int | None = Field(default=None, index=True)
    # Service level (storage.sla keeps these with every event that moves them): the policy
    # that applies, each target's due time while unmet, the earliest of them (the list sorts
    # and filters by it), and when the first answer and the resolution came, in business
    # minutes too (reports read these, not the events).
    sla_policy: str | None = None
    first_response_due: datetime | None = None
    next_response_due: datetime | None = None
    resolution_due: datetime | None = None
    due_at: datetime | None = Field(default=None, index=True)
    first_response_at: datetime | None = None
    first_response_minutes: float | None = None
    resolved_at: datetime | None = None
    resolution_minutes: float | None = None


class TicketTag(SQLModel, table=True):
    __tablename__ = "ticket_tag"
    ticket_id: int = Field(foreign_key="ticket.id", primary_key=True, ondelete="CASCADE")
    tag: str = Field(primary_key=True, index=True)


class TicketEvent(SQLModel, table=True):
    """One change to a ticket or one message on it: what (`kind`, `data`), who and when,
    written in the change's own transaction. `actor_kind` is agent, engine (`actor` names the
    rule or the source), cli (`actor` is the OS user) or system."""

    __tablename__ = "ticket_event"
    __table_args__ = (Index("ix_ticket_event_ticket", "ticket_id", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", ondelete="CASCADE")
    at: datetime = Field(default_factory=utcnow)
    kind: str
    actor_kind: str = "system"
    actor_id: int | None = None  # the agent's id, when an agent did it
    actor: str = ""
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Message(SQLModel, table=True):
    # A sender's mail newest first, whatever the case of the address: PostgreSQL's `from:`
    # (SQLite's full-text index finds a sender's mail as fast itself).
    __table_args__ = (
        Index("ix_message_sender", func.lower(text("from_email")), "id").ddl_if(
            dialect="postgresql"
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True, ondelete="CASCADE")
    direction: str = Direction.IN
    message_id: str | None = Field(default=None, index=True)
    in_reply_to: str | None = None
    references: str | None = Field(default=None, sa_column=Column(Text))
    from_name: str = ""
    from_email: str = ""
    to: list[dict[str, str]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    cc: list[dict[str, str]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    subject: str = ""
    body: str = Field(default="", sa_column=Column(Text, nullable=False))
    full_body: str = Field(default="", sa_column=Column(Text, nullable=False))
    html: str | None = Field(default=None, sa_column=Column(Text))
    raw_sha256: str | None = None
    # The agent who wrote it (console, CLI or mail); None for the customer's and the engine's.
    agent_id: int | None = None
    created_at: datetime = Field(default_factory=utcnow)


class Attachment(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="message.id", index=True, ondelete="CASCADE")
    filename: str
    content_type: str = "application/octet-stream"
    size: int = 0
    sha256: str
    content_id: str | None = None
    inline: bool = False


class OutboxMail(SQLModel, table=True):
    """A mail to send, stored whole before any attempt, so nothing is lost to a crash or a
    server that says "later". `claimed_until` is the sender's lease: a sender that died
    mid-send leaves the mail to be sent again once it expires."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)
    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int | None = Field(default=None, foreign_key="ticket.id", index=True)
    message_row_id: int | None = Field(default=None, foreign_key="message.id")
    kind: str = Field(default="reply", description="reply, ack, notify or test")
    outgoing: str
    mail_from: str
    recipients: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    recipient_key: str = Field(default="", index=True, description="lower-cased first recipient")
    message_id: str = Field(index=True)
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    status: str = Field(default="queued", description="queued, sending, sent or failed")
    tries: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow)
    claimed_by: str | None = None
    claimed_until: datetime | None = None
    last_error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None


class Draft(SQLModel, table=True):
    """A reply being written: it outlives the editor, the console and the SSH session."""

    __table_args__ = (UniqueConstraint("ticket_id", "agent_id"),)
    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", ondelete="CASCADE")
    agent_id: int = Field(foreign_key="agent.id", ondelete="CASCADE")
    body: str = Field(default="", sa_column=Column(Text, nullable=False))
    cc: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    attachments: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow)


class CannedReply(SQLModel, table=True):
    """A reply agents insert and adapt ({requester_name}, {ref}, {title}, {agent_name});
    with a branch, offered only on that branch's tickets."""

    __tablename__ = "canned_reply"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    body: str = Field(default="", sa_column=Column(Text, nullable=False))
    branch_id: int | None = Field(default=None, foreign_key="branch.id", ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Notification(SQLModel, table=True):
    """What an agent was last mailed about a ticket: events within the minimum interval are
    folded into one mail (`outbox_id`, still waiting) instead of one mail each."""

    __table_args__ = (UniqueConstraint("agent_id", "ticket_id"),)
    id: int | None = Field(default=None, primary_key=True)
    agent_id: int = Field(foreign_key="agent.id", ondelete="CASCADE")
    ticket_id: int = Field(foreign_key="ticket.id", index=True, ondelete="CASCADE")
    events: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    outbox_id: int | None = None
    last_sent_at: datetime | None = None


class Setting(SQLModel, table=True):
    """One rule or option per row (allowed domains, separators, limits...), value as JSON."""

    key: str = Field(primary_key=True)
    value: Any = Field(default=None, sa_column=Column(JSON))


class IngestLog(SQLModel, table=True):
    """Every message processed. `dedupe_key` is set once per distinct mail: the unique index
    is what keeps two deliveries of one mail, even at the same instant, to one ticket."""

    __tablename__ = "ingest_log"
    id: int | None = Field(default=None, primary_key=True)
    source: str
    channel: str | None = None
    message_id: str | None = Field(default=None, index=True)
    content_hash: str = Field(index=True)
    dedupe_key: str | None = Field(default=None, unique=True)
    outcome: str
    ticket_id: int | None = Field(default=None, foreign_key="ticket.id")
    reason: str = ""
    created_at: datetime = Field(default_factory=utcnow)


class Quarantine(SQLModel, table=True):
    """Mail that could not be processed, kept whole with the reason."""

    id: int | None = Field(default=None, primary_key=True)
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    size: int
    sha256: str = Field(index=True)
    reason: str
    source: str
    channel: str | None = None
    message_id: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
