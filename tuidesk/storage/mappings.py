"""Checking a channel's field mappings and the ticket types that take updates by email, before
they are saved: the engine trusts what it is given, so every door that saves these (CLI, admin
forms, `config import`) checks them here."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlmodel import Session, col, select

from tuidesk.engine.rules import BUILTIN_FIELDS, MAIL_PROPERTIES
from tuidesk.storage.checks import Invalid, text
from tuidesk.storage.models import PRIORITIES, Channel, CustomField, Setting, TicketType

_KEYS = ("field", "property", "default", "restricted")


def _invalid(message: str) -> Invalid:
    return Invalid(message, field="field_mappings")


def _text(value: Any, what: str, *, required: bool) -> str:
    """One line of text, with the error naming the field_mappings setting."""
    if value is not None and not isinstance(value, str):
        raise _invalid(f"{what} must be text, not {value!r}")
    try:
        return text(value, what, required=required)
    except Invalid as exc:
        raise _invalid(str(exc)) from None


def _check_field(value: Any, n: int, field_names: set[str]) -> str:
    name = _text(value, f"mapping {n}: the field", required=True)
    if name.lower() in BUILTIN_FIELDS:
        return name.lower()
    if field_names and name not in field_names:
        known = ", ".join([*BUILTIN_FIELDS, *sorted(field_names)])
        raise _invalid(f"{name!r} is not a field of the channel's ticket type ({known})")
    return name


def check_mappings(entries: list[dict[str, Any]], field_names: set[str]) -> list[dict[str, Any]]:
    """The mappings as stored: every key present, property and builtin field names lower-case,
    "" for no property or no default (TOML, which `config export` writes, has no null).
    `field_names` are the custom fields of the channel's ticket type; with none defined, any
    field name is taken."""
    checked: list[dict[str, Any]] = []
    seen: set[str] = set()
    for n, entry in enumerate(entries, 1):
        if not isinstance(entry, dict):
            raise _invalid(f"mapping {n} must have {', '.join(_KEYS)}")
        unknown = sorted(set(entry) - set(_KEYS))
        if unknown:
            raise _invalid(
                f"mapping {n}: unknown key {unknown[0]!r}; a mapping has {', '.join(_KEYS)}"
            )
        field = _check_field(entry.get("field"), n, field_names)
        if field in seen:
            raise _invalid(f"two mappings for {field!r}: one field takes one mapping")
        seen.add(field)
        prop = _text(entry.get("property"), f"the property of {field}", required=False).lower()
        if prop and prop not in MAIL_PROPERTIES:
            raise _invalid(f"{prop!r} is not a mail property (one of {', '.join(MAIL_PROPERTIES)})")
        default = _text(entry.get("default"), f"the default of {field}", required=False)
        if field == "priority" and default:
            default = default.lower()
            if default not in PRIORITIES:
                raise _invalid(f"the default priority must be one of {', '.join(PRIORITIES)}")
        if not prop and not default:
            raise _invalid(f"the mapping for {field!r} needs a mail property or a default")
        restricted = entry.get("restricted", False)
        if not isinstance(restricted, bool):
            raise _invalid(f"restricted for {field!r} must be true or false")
        checked.append(
            {"field": field, "property": prop, "default": default, "restricted": restricted}
        )
    return checked


def check_update_types(names: Iterable[str], known_types: set[str]) -> list[str]:
    """The ticket types, spelt as they are known, without repeats; an unknown one is refused
    (a typo would silently stop every reply from reaching its ticket)."""
    by_lower = {t.lower(): t for t in known_types}
    checked: list[str] = []
    for raw in names:
        try:
            name = text(raw, "a ticket type")
        except Invalid as exc:
            raise Invalid(str(exc), field="update_types") from None
        known = name if name in known_types else by_lower.get(name.lower())
        if known is None:
            listed = ", ".join(sorted(known_types)) or "none yet"
            raise Invalid(f"{name!r} is not a ticket type (known: {listed})", field="update_types")
        if known not in checked:
            checked.append(known)
    return checked


def field_names_for(session: Session, ticket_type: str | None) -> set[str]:
    """The custom fields of a ticket type: what its channels' mappings may fill."""
    if not ticket_type:
        return set()
    query = (
        select(CustomField.name)
        .join(TicketType, col(TicketType.id) == CustomField.ticket_type_id)
        .where(TicketType.name == ticket_type)
    )
    return set(session.exec(query))


def known_ticket_types(session: Session) -> set[str]:
    """Every ticket type a ticket can have: those defined, and those named by a channel or the
    default_ticket_type setting (a type is created with its first ticket)."""
    types = set(session.exec(select(TicketType.name)))
    types |= {t for t in session.exec(select(Channel.ticket_type)) if t}
    default = session.get(Setting, "default_ticket_type")
    if default is not None and isinstance(default.value, str) and default.value:
        types.add(default.value)
    return types
