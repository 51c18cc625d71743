"""The configuration the engine decides with: a frozen snapshot, loaded by storage from rows."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from tuidesk.engine.parse import Limits
from tuidesk.engine.quotes import OwnSignatures


class ReplyMode(StrEnum):
    """Who may add to a ticket by mail: the `restrict_replies` setting's three values."""

    ANYONE = "false"
    REQUESTER = "true"  # the requester and agents
    PARTICIPANTS = "participants"  # see engine.participants

    @classmethod
    def of(cls, value: bool | str) -> ReplyMode:
        """A stored value: true/false as before this mode existed, or the mode's word."""
        if isinstance(value, bool):
            return cls.REQUESTER if value else cls.ANYONE
        return cls(value)


@dataclass(frozen=True)
class BranchRule:
    name: str
    key: str
    addresses: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    is_default: bool = False


@dataclass(frozen=True)
class CustomFieldRule:
    name: str
    kind: str = "text"
    required: bool = False
    default: str | None = None


# What a field mapping may read from a mail, and the ticket fields every ticket has (besides
# the custom fields of its type).
MAIL_PROPERTIES = ("subject", "body", "sender", "importance", "attachments")
BUILTIN_FIELDS = ("title", "priority")


@dataclass(frozen=True)
class FieldMapping:
    """One ticket field filled from a mail property, or from `default` when the mail lacks it
    (or no property is named). `restricted`: only admins may see the field."""

    field: str
    property: str | None = None
    default: str | None = None
    restricted: bool = False


@dataclass(frozen=True)
class ChannelRule:
    """Per-channel ticket mapping; empty values fall back to the global rules."""

    name: str
    branch: str | None = None
    queue: str | None = None
    ticket_type: str | None = None
    field_defaults: dict[str, Any] = field(default_factory=dict)
    allowed_domains: tuple[str, ...] = ()
    attach_original: bool = False
    autoreply_keywords: tuple[str, ...] = ()
    autoreply_senders: tuple[str, ...] = ()
    aliases: dict[str, str] = field(default_factory=dict)
    field_mappings: tuple[FieldMapping, ...] = ()
    # Ticket types whose tickets take replies by email; empty: every type does.
    update_types: tuple[str, ...] = ()


# Web forms send From one of these and put the customer in Reply-To (`form_senders`).
DEFAULT_FORM_SENDERS = ("noreply@*", "no-reply@*", "*@forms.*", "wordpress@*")


@dataclass(frozen=True)
class RuleSet:
    branches: tuple[BranchRule, ...] = ()
    aliases: dict[str, str] = field(default_factory=dict)
    outgoing_addresses: tuple[str, ...] = ()
    allowed_domains: tuple[str, ...] = ()
    blocked_senders: tuple[str, ...] = ()
    autoreply_keywords: tuple[str, ...] = ()
    autoreply_senders: tuple[str, ...] = ()
    reply_separators: tuple[str, ...] | None = None
    restrict_replies: ReplyMode = ReplyMode.PARTICIPANTS
    free_mail_domains: tuple[str, ...] = ()
    reopen_max_age_days: int | None = None
    default_queue: str | None = None
    default_ticket_type: str | None = None
    field_defaults: dict[str, Any] = field(default_factory=dict)
    attach_original: bool = False
    acknowledge: bool = False
    ack_max_per_hour: int = 3
    ticket_types: dict[str, tuple[CustomFieldRule, ...]] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    # Who the requester is (engine.requester): From patterns whose Reply-To is the requester,
    # or the Reply-To of any mail.
    form_senders: tuple[str, ...] = DEFAULT_FORM_SENDERS
    requester_from_reply_to: bool = False
    # agentmail: whose Authentication-Results count, and whether an agent's mail that no
    # trusted server vouches for may still mail customers and change tickets.
    trusted_authserv_ids: tuple[str, ...] = ()
    agent_mail_commands: bool = False
    # tickets: our signatures, kept out of the visible text of a customer's reply
    own_signatures: OwnSignatures = field(default_factory=OwnSignatures)

    @property
    def default_branch(self) -> BranchRule | None:
        """The marked default, else the branch created first (branches come in creation order)."""
        for branch in self.branches:
            if branch.is_default:
                return branch
        return self.branches[0] if self.branches else None

    @property
    def own_addresses(self) -> frozenset[str]:
        """Every address that is us: mail from any of these is a loop."""
        addrs = {a.lower() for b in self.branches for a in b.addresses}
        addrs |= {a.lower() for a in self.aliases} | {a.lower() for a in self.aliases.values()}
        addrs |= {a.lower() for a in self.outgoing_addresses}
        return frozenset(addrs)

    def for_channel(self, channel: ChannelRule | None) -> RuleSet:
        """The global rules plus what a channel adds: its aliases and machine-mail markers."""
        if channel is None:
            return self
        return replace(
            self,
            aliases=self.aliases | {k.lower(): v.lower() for k, v in channel.aliases.items()},
            autoreply_keywords=self.autoreply_keywords + channel.autoreply_keywords,
            autoreply_senders=self.autoreply_senders + channel.autoreply_senders,
        )

    def primary(self, address: str) -> str:
        return self.aliases.get(address.lower(), address.lower()).lower()

    def branch_by_key(self, key: str) -> BranchRule | None:
        key = key.upper()
        return next((b for b in self.branches if b.key.upper() == key), None)
