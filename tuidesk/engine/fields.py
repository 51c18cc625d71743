"""Mapping a mail to ticket fields: title, priority, queue, type and custom fields."""

from __future__ import annotations

import re
from typing import Any

from tuidesk.engine.decision import TicketFields
from tuidesk.engine.parse import ParsedMail
from tuidesk.engine.rules import ChannelRule, RuleSet

FALLBACK_TITLE = "(no subject)"
_REPLY_PREFIX = re.compile(
    r"^\s*((re|fwd?|aw|wg|sv|vs|antw|rif|r|tr|odp|res)\s*(\[\d+\])?\s*:\s*)+", re.I
)


def title_from_subject(subject: str) -> str:
    """The subject without reply/forward prefixes; a fallback when nothing is left."""
    return _REPLY_PREFIX.sub("", subject).strip() or subject.strip() or FALLBACK_TITLE


def priority_from_headers(mail: ParsedMail) -> tuple[str, str]:
    """(priority, the header that set it). X-Priority 1-2 high, 4-5 low; Importance and
    Priority by name. Nobody gets 'urgent' by shouting in a header: that is an agent's call."""
    x_priority = mail.header("X-Priority").strip()
    if x_priority[:1].isdigit():
        n = int(x_priority[0])
        if n <= 2:
            return "high", f"X-Priority {x_priority}"
        if n >= 4:
            return "low", f"X-Priority {x_priority}"
    for name in ("Importance", "Priority", "X-MSMail-Priority"):
        value = mail.header(name).strip().lower()
        if value in ("high", "urgent"):
            return "high", f"{name}: {value}"
        if value in ("low", "non-urgent"):
            return "low", f"{name}: {value}"
    return "normal", "no priority header"


def map_fields(mail: ParsedMail, rules: RuleSet, channel: ChannelRule | None) -> TicketFields:
    priority, _ = priority_from_headers(mail)
    ticket_type = (channel.ticket_type if channel else None) or rules.default_ticket_type
    custom: dict[str, Any] = {}
    for spec in rules.ticket_types.get(ticket_type or "", ()):
        if spec.default is not None:
            custom[spec.name] = spec.default
    custom.update(rules.field_defaults)
    if channel:
        custom.update(channel.field_defaults)
    return TicketFields(
        title=title_from_subject(mail.subject),
        priority=priority,
        queue=(channel.queue if channel else None) or rules.default_queue,
        ticket_type=ticket_type,
        custom_fields=custom,
    )
