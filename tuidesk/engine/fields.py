"""Mapping a mail to ticket fields: title, priority, queue, type and custom fields."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from tuidesk.engine.decision import Step, TicketFields
from tuidesk.engine.enums import Priority
from tuidesk.engine.parse import TITLE_LIMIT, ParsedMail
from tuidesk.engine.rules import ChannelRule, CustomFieldRule, FieldMapping, RuleSet
from tuidesk.engine.text import clean_line

FALLBACK_TITLE = "(no subject)"
PRIORITIES = tuple(Priority)
# The headers that say how important a mail is, in the order priority_from_headers reads them.
PRIORITY_HEADERS = ("X-Priority", "Importance", "Priority", "X-MSMail-Priority")
# A body mapped into a field is capped: a field is not the place for a whole mail thread.
BODY_LIMIT = 10_000
_REPLY_PREFIX = re.compile(
    r"^\s*((re|fwd?|aw|wg|sv|vs|antw|rif|r|tr|rv|odp|res)\s*(\[\d+\])?\s*:\s*)+", re.I
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
    for name in PRIORITY_HEADERS[1:]:
        value = mail.header(name).strip().lower()
        if value in ("high", "urgent"):
            return "high", f"{name}: {value}"
        if value in ("low", "non-urgent"):
            return "low", f"{name}: {value}"
    return "normal", "no priority header"


def mail_property(mail: ParsedMail, name: str) -> str:
    """A mail property as a field mapping reads it; "" when the mail lacks it."""
    if name == "subject":
        return title_from_subject(mail.subject) if mail.subject.strip() else ""
    if name == "body":
        return mail.text[:BODY_LIMIT] if mail.text.strip() else ""
    if name == "sender":
        sender = mail.sender
        if sender is None:
            return ""
        return f"{sender.name} <{sender.email}>" if sender.name else sender.email
    if name == "importance":
        # Most mail says nothing about importance: then a default should apply, not "normal".
        if not any(mail.header(h).strip() for h in PRIORITY_HEADERS):
            return ""
        return priority_from_headers(mail)[0]
    if name == "attachments":
        return ", ".join(a.filename for a in mail.attachments)
    return ""


def _fit(target: str, value: str) -> str:
    """The value as the target field takes it; "" when it cannot take it."""
    if target == "title":
        return clean_line(value, TITLE_LIMIT)
    if target == "priority":
        value = value.strip().lower()
        return value if value in PRIORITIES else ""
    return value if value.strip() else ""


def _apply_mapping(mapping: FieldMapping, mail: ParsedMail) -> tuple[str, str]:
    """(the value for the mapping's field or "", how it was found): the mail's property
    first, the default when the mail lacks it or its value does not fit the field."""
    missed = ""
    if mapping.property:
        found = mail_property(mail, mapping.property)
        value = _fit(mapping.field, found)
        if value:
            return value, f"{mapping.field} from {mapping.property}"
        missed = f"{mapping.property} {'unusable' if found else 'absent'}"
    value = _fit(mapping.field, mapping.default or "")
    if value:
        return value, f"{mapping.field} from default" + (f" ({missed})" if missed else "")
    return "", f"{mapping.field} unchanged ({missed or 'no property'}, no usable default)"


def map_fields(
    mail: ParsedMail, rules: RuleSet, channel: ChannelRule | None
) -> tuple[TicketFields, list[Step]]:
    """The new ticket's fields and the map steps that explain them. Without field mappings the
    title is the subject and the priority comes from the importance headers; a channel's
    mappings then override those and the custom-field defaults, in order."""
    priority, priority_rule = priority_from_headers(mail)
    title = title_from_subject(mail.subject)
    ticket_type = (channel.ticket_type if channel else None) or rules.default_ticket_type
    custom = default_fields(rules, ticket_type, channel)
    mappings = channel.field_mappings if channel else ()
    notes: list[str] = []
    restricted: list[str] = []
    for mapping in mappings:
        value, note = _apply_mapping(mapping, mail)
        if value and mapping.restricted:
            restricted.append(mapping.field)
            note += " (restricted)"
        notes.append(note)
        if not value:
            continue
        if mapping.field == "title":
            title = value
        elif mapping.field == "priority":
            priority, priority_rule = value, "set by a field mapping"
        else:
            custom[mapping.field] = value
    required_note = required_fields(custom, rules.ticket_types.get(ticket_type or "", ()))
    fields = TicketFields(
        title=title,
        priority=priority,
        queue=(channel.queue if channel else None) or rules.default_queue,
        ticket_type=ticket_type,
        custom_fields=custom,
        restricted=tuple(dict.fromkeys(restricted)),
    )
    steps = [Step("map", "fields", f"priority {priority_rule}")]
    if mappings:
        steps.append(Step("map", "mappings", "; ".join(notes)))
    if required_note:
        steps.append(Step("map", "required", required_note))
    return fields, steps


def default_fields(
    rules: RuleSet, ticket_type: str | None, channel: ChannelRule | None = None
) -> dict[str, Any]:
    """A new ticket's custom fields before anything is mapped: the type's defaults, then the
    global and the channel's field defaults."""
    custom: dict[str, Any] = {
        spec.name: spec.default
        for spec in rules.ticket_types.get(ticket_type or "", ())
        if spec.default is not None
    }
    custom.update(rules.field_defaults)
    if channel:
        custom.update(channel.field_defaults)
    return custom


def is_empty(value: Any) -> bool:
    return value is None or not str(value).strip()


def missing(required: Sequence[str], custom_fields: dict[str, Any]) -> list[str]:
    """The required fields a ticket has no value for: what it shows as "needs: ..."."""
    return [name for name in required if is_empty(custom_fields.get(name))]


def required_fields(custom: dict[str, Any], specs: Sequence[CustomFieldRule]) -> str:
    """Fill each required field left empty with its default, in place; what the map step says
    about it ("" when every required field has a value). One without a default stays empty and
    the ticket shows that it needs it (storage.views computes that when it is read)."""
    filled, needs = [], []
    for spec in specs:
        if spec.required and is_empty(custom.get(spec.name)):
            if spec.default is not None:
                custom[spec.name] = spec.default
                filled.append(spec.name)
            else:
                needs.append(spec.name)
    said = [f"{', '.join(filled)} from default (left empty)"] if filled else []
    said += [f"needs: {', '.join(needs)}"] if needs else []
    return "; ".join(said)
