"""`tuidesk type ...`: ticket types and their custom fields, saved as the admin form saves
them."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from tuidesk.cli.context import ctx_of
from tuidesk.cli.options import JsonHelp
from tuidesk.cli.output import fail, print_rows, refused
from tuidesk.exit_codes import ExitCode

app = typer.Typer(help="Ticket types and their custom fields.", no_args_is_help=True)

FIELD_HELP = (
    "A custom field as NAME[:KIND][!][=DEFAULT]: KIND is text (the default), number, date or "
    "choice; ! makes it required; DEFAULT must suit the kind (a number, or a date like "
    "2026-01-31). Repeatable; the fields given replace the type's list."
)
Fields = Annotated[list[str] | None, typer.Option("--field", metavar="SPEC", help=FIELD_HELP)]


@app.command("add")
def type_add(ctx: typer.Context, name: str, field: Fields = None) -> None:
    """Add a ticket type with its custom fields."""
    from tuidesk.storage.ticket_types import TicketTypeError, parse_field_spec, save_ticket_type

    try:
        with ctx_of(ctx).session() as session:
            save_ticket_type(session, name=name, fields=[parse_field_spec(f) for f in field or []])
    except TicketTypeError as exc:
        raise refused("ticket type", name, exc) from exc
    typer.echo(f"added ticket type {name.strip()}")


@app.command("edit")
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
        raise refused("ticket type", name, exc) from exc


@app.command("list")
def type_list(ctx: typer.Context, as_json: JsonHelp = False) -> None:
    """Ticket types by name, each with its fields as --field specs."""
    from tuidesk.storage.ticket_types import field_spec, list_ticket_types

    with ctx_of(ctx).session() as session:
        rows = list_ticket_types(session)
    print_rows(
        rows, as_json, lambda r: f"{r['name']:<30} {'  '.join(field_spec(f) for f in r['fields'])}"
    )


@app.command("remove")
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
        raise refused("ticket type", name, exc) from exc
    typer.echo(f"removed ticket type {name}")
