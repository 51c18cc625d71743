"""Ticket types and their custom fields. One save function behind the admin form, the CLI and
`config import`: a field's default is checked against its kind before anything is written, so
a new ticket never starts with a number field holding "soon"."""

from __future__ import annotations

import math
from typing import Any

from sqlmodel import Session, col, func, select

from tuidesk.storage import checks
from tuidesk.storage.checks import Collector, Invalid
from tuidesk.storage.models import Channel, CustomField, Ticket, TicketType
from tuidesk.storage.queues import check_name
from tuidesk.storage.settings import get_settings, set_setting

# "choice" is free text until the schema can hold a field's choices.
FIELD_KINDS = ("text", "number", "date", "choice")
FIELD_KEYS = ("name", "kind", "required", "default")
# They separate the parts of a field spec on the command line (NAME:KIND!=DEFAULT).
_SPEC_MARKS = ":!="


class TicketTypeError(Invalid):
    pass


def get_ticket_type(session: Session, name: str) -> TicketType:
    found = session.exec(select(TicketType).where(TicketType.name == name)).first()
    if found is None:
        raise TicketTypeError(f"no ticket type named {name!r}", field="name")
    return found


def fields_of(session: Session, ticket_type: TicketType) -> list[dict[str, Any]]:
    rows = session.exec(
        select(CustomField)
        .where(CustomField.ticket_type_id == ticket_type.id)
        .order_by(col(CustomField.id))
    )
    return [{k: getattr(f, k) for k in FIELD_KEYS} for f in rows]


def list_ticket_types(session: Session) -> list[dict[str, Any]]:
    """Each type as plain values, its fields in the order they were given."""
    types = session.exec(select(TicketType).order_by(col(TicketType.name)))
    return [{"name": tt.name, "fields": fields_of(session, tt)} for tt in types]


def check_default(kind: str, value: Any, what: str = "the default") -> str | None:
    """The default (or a ticket's value, `what` naming it) as stored (text), read the way its
    kind will be."""
    if value is None or value == "":
        return None
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise Invalid(f"{what} must be a number, not {value!r}")
        try:
            number = float(value)
        except ValueError:
            raise Invalid(f"{what} must be a number, not {value!r}") from None
        if not math.isfinite(number):
            raise Invalid(f"{what} must be a number, not {value!r}")
        return str(value).strip()
    if not isinstance(value, str):
        raise Invalid(f"{what} must be text, not {value!r}")
    if kind == "date":
        day = checks.iso_date(value)
        return day.isoformat() if day else None
    return checks.text(value, what)


def check_field(item: Any) -> dict[str, Any]:
    """One field as given by a form, a CLI spec or a TOML table, cleaned."""
    if not isinstance(item, dict):
        raise Invalid("a field is a table with name, kind, required and default")
    unknown = sorted(set(item) - set(FIELD_KEYS))
    if unknown:
        raise Invalid(f"unknown key {unknown[0]!r} (a field has {', '.join(FIELD_KEYS)})")
    name = check_name(item.get("name"), "a field name")
    if any(mark in name for mark in _SPEC_MARKS):
        raise Invalid(f"a field name must not contain {' '.join(_SPEC_MARKS)}")
    kind = item.get("kind") or "text"
    if not isinstance(kind, str) or kind.strip().lower() not in FIELD_KINDS:
        raise Invalid(f"kind must be one of {', '.join(FIELD_KINDS)}, not {kind!r}")
    kind = kind.strip().lower()
    required = item.get("required", False)
    if not isinstance(required, bool):
        raise Invalid(f"required must be true or false, not {required!r}")
    return {
        "name": name,
        "kind": kind,
        "required": required,
        "default": check_default(kind, item.get("default")),
    }


def check_fields(items: Any) -> list[dict[str, Any]]:
    """Every field, each problem named by its field so one message says all that is wrong."""
    if not isinstance(items, list):
        raise Invalid("fields must be a list")
    problems: list[str] = []
    fields: list[dict[str, Any]] = []
    seen: set[str] = set()
    for number, item in enumerate(items, 1):
        label = item.get("name") if isinstance(item, dict) and item.get("name") else number
        try:
            field = check_field(item)
        except Invalid as exc:
            problems.append(f"field {label!r}: {exc}")
            continue
        if field["name"].lower() in seen:
            problems.append(f"field {label!r}: the name is given twice")
        seen.add(field["name"].lower())
        fields.append(field)
    if problems:
        raise Invalid("; ".join(problems))
    return fields


def save_ticket_type(
    session: Session,
    *,
    name: str,
    fields: list[dict[str, Any]],
    ticket_type: TicketType | None = None,
) -> TicketType:
    """Add a ticket type, or change `ticket_type`; `fields` replace its custom fields. A
    rename follows into the channels and the default_ticket_type setting that name it."""
    c = Collector()
    clean_name = c.check("name", check_name, name)
    clean_fields = c.check("fields", check_fields, fields)
    if clean_name is not None:
        same = session.exec(
            select(TicketType).where(
                func.lower(TicketType.name) == clean_name.lower(),
                TicketType.id != (ticket_type.id if ticket_type else None),
            )
        ).first()
        if same is not None:
            c.add("name", f"a ticket type named {same.name!r} exists already")
    c.raise_if_any(TicketTypeError)
    assert clean_name is not None and clean_fields is not None
    if ticket_type is not None and ticket_type.name != clean_name:
        _rename_references(session, ticket_type.name, clean_name)
    ticket_type = ticket_type or TicketType(name=clean_name)
    ticket_type.name = clean_name
    session.add(ticket_type)
    session.flush()
    _delete_fields(session, ticket_type)
    for field in clean_fields:
        session.add(CustomField(ticket_type_id=ticket_type.id, **field))
    session.flush()
    return ticket_type


def _delete_fields(session: Session, ticket_type: TicketType) -> None:
    for old in session.exec(
        select(CustomField).where(CustomField.ticket_type_id == ticket_type.id)
    ):
        session.delete(old)
    session.flush()


def _rename_references(session: Session, old: str, new: str) -> None:
    for channel in session.exec(select(Channel)):
        if channel.ticket_type == old or old in channel.update_types:
            if channel.ticket_type == old:
                channel.ticket_type = new
            channel.update_types = [new if t == old else t for t in channel.update_types]
            session.add(channel)
    if get_settings(session.connection())["default_ticket_type"] == old:
        set_setting(session.connection(), "default_ticket_type", new)


def remove_ticket_type(session: Session, ticket_type: TicketType) -> None:
    """Only a type nothing uses: a channel or the default_ticket_type setting naming it would
    quietly create it again, without its fields, with the next mail."""
    name = ticket_type.name
    tickets = session.exec(
        select(func.count()).select_from(Ticket).where(Ticket.ticket_type_id == ticket_type.id)
    ).one()
    if tickets:
        raise TicketTypeError(
            f"ticket type {name!r} has {tickets} ticket(s); it stays while they use it",
            field="name",
        )
    for channel in session.exec(select(Channel)):
        if channel.ticket_type == name:
            raise TicketTypeError(
                f"channel {channel.name!r} gives its tickets type {name!r}; change it first",
                field="name",
            )
        if name in channel.update_types:
            raise TicketTypeError(
                f"channel {channel.name!r} takes replies for type {name!r}; change it first",
                field="name",
            )
    if get_settings(session.connection())["default_ticket_type"] == name:
        raise TicketTypeError(
            f"ticket type {name!r} is the default_ticket_type setting; change that first",
            field="name",
        )
    _delete_fields(session, ticket_type)
    session.delete(ticket_type)
    session.flush()


def parse_field_spec(spec: str) -> dict[str, Any]:
    """NAME[:KIND][!][=DEFAULT] as the dict save_ticket_type checks; what is wrong with it
    (an unknown kind, a default that is not a number) is for that check to say."""
    head, _, default = spec.partition("=")
    required = head.endswith("!")
    name, _, kind = head.removesuffix("!").partition(":")
    return {"name": name, "kind": kind or "text", "required": required, "default": default or None}


def field_spec(field: dict[str, Any]) -> str:
    """A field written back the way `parse_field_spec` (and `--field`) takes it."""
    required = "!" if field["required"] else ""
    default = f"={field['default']}" if field["default"] is not None else ""
    return f"{field['name']}:{field['kind']}{required}{default}"
