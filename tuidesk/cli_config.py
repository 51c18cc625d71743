"""`tuidesk queue ...`, `tuidesk type ...` and `tuidesk config get|set`: the same save functions
the admin forms and `config import` use, so a value one door refuses every door refuses, with
the same words."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from tuidesk.cli import app, config_app, ctx_of, fail, print_json
from tuidesk.exit_codes import ExitCode

queue_app = typer.Typer(help="Queues: where agents look for work.", no_args_is_help=True)
type_app = typer.Typer(help="Ticket types and their custom fields.", no_args_is_help=True)
app.add_typer(queue_app, name="queue")
app.add_typer(type_app, name="type")

Json = Annotated[bool, typer.Option("--json", help="Print as JSON.")]
Colour = Annotated[
    str | None,
    typer.Option(
        "--colour", "--color", help="A colour name (green, bright_red...), #rrggbb or default."
    ),
]
FIELD_HELP = (
    "A custom field as NAME[:KIND][!][=DEFAULT]: KIND is text (the default), number, date or "
    "choice; ! makes it required; DEFAULT must suit the kind (a number, or a date like "
    "2026-01-31). Repeatable; the fields given replace the type's list."
)
Fields = Annotated[list[str] | None, typer.Option("--field", metavar="SPEC", help=FIELD_HELP)]


def _refused(what: str, name: str, exc: Exception) -> typer.Exit:
    """Worded as `config import` words it, so both doors say the same thing."""
    return fail(f"{what} {name!r}: {exc}", ExitCode.USAGE)


@queue_app.command("add")
def queue_add(ctx: typer.Context, name: str, colour: Colour = None) -> None:
    """Add a queue."""
    from tuidesk.storage.queues import QueueError, save_queue

    try:
        with ctx_of(ctx).session() as session:
            queue = save_queue(session, name=name, colour=colour)
            typer.echo(f"added queue {queue.name} ({queue.colour})")
    except QueueError as exc:
        raise _refused("queue", name, exc) from exc


@queue_app.command("edit")
def queue_edit(
    ctx: typer.Context,
    name: str,
    new_name: Annotated[str | None, typer.Option("--name", help="Rename it.")] = None,
    colour: Colour = None,
) -> None:
    """Rename a queue or change its colour; channels and default_queue follow a rename."""
    from tuidesk.storage.queues import QueueError, get_queue, save_queue

    try:
        with ctx_of(ctx).session() as session:
            queue = get_queue(session, name)
            save_queue(
                session,
                name=queue.name if new_name is None else new_name,
                colour=queue.colour if colour is None else colour,
                queue=queue,
            )
            typer.echo(f"saved queue {queue.name} ({queue.colour})")
    except QueueError as exc:
        raise _refused("queue", name, exc) from exc


@queue_app.command("list")
def queue_list(ctx: typer.Context, as_json: Json = False) -> None:
    """Queues by name, with their colour."""
    from tuidesk.storage.queues import list_queues

    with ctx_of(ctx).session() as session:
        rows = [{"name": q.name, "colour": q.colour} for q in list_queues(session)]
    if as_json:
        print_json(rows)
        return
    for r in rows:
        typer.echo(f"{r['name']:<40} {r['colour']}")


@queue_app.command("remove")
def queue_remove(ctx: typer.Context, name: str) -> None:
    """Remove a queue that no ticket, channel or default_queue uses."""
    from tuidesk.storage.queues import QueueError, get_queue, remove_queue

    try:
        with ctx_of(ctx).session() as session:
            remove_queue(session, get_queue(session, name))
    except QueueError as exc:
        raise _refused("queue", name, exc) from exc
    typer.echo(f"removed queue {name}")


@type_app.command("add")
def type_add(ctx: typer.Context, name: str, field: Fields = None) -> None:
    """Add a ticket type with its custom fields."""
    from tuidesk.storage.ticket_types import TicketTypeError, parse_field_spec, save_ticket_type

    try:
        with ctx_of(ctx).session() as session:
            save_ticket_type(session, name=name, fields=[parse_field_spec(f) for f in field or []])
    except TicketTypeError as exc:
        raise _refused("ticket type", name, exc) from exc
    typer.echo(f"added ticket type {name.strip()}")


@type_app.command("edit")
def type_edit(
    ctx: typer.Context,
    name: str,
    new_name: Annotated[str | None, typer.Option("--name", help="Rename it.")] = None,
    field: Fields = None,
    no_fields: Annotated[
        bool, typer.Option("--no-fields", help="Remove every custom field.")
    ] = False,
) -> None:
    """Rename a ticket type or replace its fields; channels and default_ticket_type follow a
    rename. Tickets keep the field values they have."""
    from tuidesk.storage.ticket_types import (
        TicketTypeError,
        fields_of,
        get_ticket_type,
        parse_field_spec,
        save_ticket_type,
    )

    if field and no_fields:
        raise fail("choose one of --field, --no-fields", ExitCode.USAGE)
    try:
        with ctx_of(ctx).session() as session:
            ticket_type = get_ticket_type(session, name)
            if no_fields:
                fields: list[dict[str, Any]] = []
            elif field:
                fields = [parse_field_spec(f) for f in field]
            else:
                fields = fields_of(session, ticket_type)
            save_ticket_type(
                session,
                name=ticket_type.name if new_name is None else new_name,
                fields=fields,
                ticket_type=ticket_type,
            )
            typer.echo(f"saved ticket type {ticket_type.name}")
    except TicketTypeError as exc:
        raise _refused("ticket type", name, exc) from exc


@type_app.command("list")
def type_list(ctx: typer.Context, as_json: Json = False) -> None:
    """Ticket types by name, each with its fields as --field specs."""
    from tuidesk.storage.ticket_types import field_spec, list_ticket_types

    with ctx_of(ctx).session() as session:
        rows = list_ticket_types(session)
    if as_json:
        print_json(rows)
        return
    for r in rows:
        typer.echo(f"{r['name']:<30} {'  '.join(field_spec(f) for f in r['fields'])}")


@type_app.command("remove")
def type_remove(ctx: typer.Context, name: str) -> None:
    """Remove a ticket type that no ticket, channel or default_ticket_type uses."""
    from tuidesk.storage.ticket_types import (
        TicketTypeError,
        get_ticket_type,
        remove_ticket_type,
    )

    try:
        with ctx_of(ctx).session() as session:
            remove_ticket_type(session, get_ticket_type(session, name))
    except TicketTypeError as exc:
        raise _refused("ticket type", name, exc) from exc
    typer.echo(f"removed ticket type {name}")


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


@config_app.command("get")
def config_get(
    ctx: typer.Context,
    key: Annotated[str | None, typer.Argument(help="One setting; all of them without.")] = None,
    as_json: Json = False,
) -> None:
    """Print the rules (the [settings] of `config export`), defaults included."""
    from tuidesk.storage.settings import SETTINGS, get_settings

    if key is not None and key not in SETTINGS:
        raise fail(f"setting {key!r}: no such setting", ExitCode.USAGE)
    with ctx_of(ctx).session() as session:
        values = get_settings(session.connection())
    if key is not None:
        if as_json:
            print_json(values[key])
        else:
            typer.echo(_shown(values[key]))
        return
    if as_json:
        print_json(values)
        return
    for name, value in values.items():
        typer.echo(f"{name + ':':<22} {json.dumps(value, ensure_ascii=False)}")


def _given(key: str, values: list[str]) -> Any:
    """The command line's words as the value `save_settings` checks."""
    from tuidesk.storage.setting_checks import shape

    kind = shape(key)
    if kind == "list":
        return values
    if kind == "dict":
        pairs = [v.partition("=") for v in values]
        if any(not eq for _, eq, _ in pairs):
            raise fail(f"setting {key!r}: give K=V pairs", ExitCode.USAGE)
        return {k.strip(): v.strip() for k, _, v in pairs}
    if len(values) != 1:
        raise fail(f"setting {key!r}: give one value (--unset for the default)", ExitCode.USAGE)
    return values[0]


@config_app.command("set")
def config_set(
    ctx: typer.Context,
    key: str,
    values: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="VALUE...",
            help="One value; several for a list (none empties it); K=V pairs for aliases and "
            "field_defaults; true/false for a switch.",
        ),
    ] = None,
    unset: Annotated[bool, typer.Option("--unset", help="Back to the default.")] = False,
) -> None:
    """Change one rule, checked as `config import` checks it. `config get` lists the keys."""
    from tuidesk.storage.checks import Invalid
    from tuidesk.storage.setting_checks import describe, save_settings
    from tuidesk.storage.settings import SETTINGS

    if key not in SETTINGS:
        raise fail(f"setting {key!r}: no such setting", ExitCode.USAGE)
    if unset and values:
        raise fail("give values or --unset, not both", ExitCode.USAGE)
    value = SETTINGS[key][0] if unset else _given(key, values or [])
    try:
        with ctx_of(ctx).session() as session:
            saved = save_settings(session, {key: value})
    except Invalid as exc:
        raise fail(describe(exc), ExitCode.USAGE) from exc
    typer.echo(f"{key} = {_shown(saved[key])}")
