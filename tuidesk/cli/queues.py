"""`tuidesk queue ...`: where agents look for work, saved as the admin form saves them."""

from __future__ import annotations

from typing import Annotated

import typer

from tuidesk.cli.context import ctx_of
from tuidesk.cli.options import JsonHelp
from tuidesk.cli.output import print_rows, refused

app = typer.Typer(help="Queues: where agents look for work.", no_args_is_help=True)

Colour = Annotated[
    str | None,
    typer.Option(
        "--colour", "--color", help="A colour name (green, bright_red...), #rrggbb or default."
    ),
]


@app.command("add")
def queue_add(ctx: typer.Context, name: str, colour: Colour = None) -> None:
    """Add a queue."""
    from tuidesk.storage.queues import QueueError, save_queue

    try:
        with ctx_of(ctx).session() as session:
            queue = save_queue(session, name=name, colour=colour)
            typer.echo(f"added queue {queue.name} ({queue.colour})")
    except QueueError as exc:
        raise refused("queue", name, exc) from exc


@app.command("edit")
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
        raise refused("queue", name, exc) from exc


@app.command("list")
def queue_list(ctx: typer.Context, as_json: JsonHelp = False) -> None:
    """Queues by name, with their colour."""
    from tuidesk.storage.queues import list_queues

    with ctx_of(ctx).session() as session:
        rows = [{"name": q.name, "colour": q.colour} for q in list_queues(session)]
    print_rows(rows, as_json, lambda r: f"{r['name']:<40} {r['colour']}")


@app.command("remove")
def queue_remove(ctx: typer.Context, name: str) -> None:
    """Remove a queue that no ticket, channel or default_queue uses."""
    from tuidesk.storage.queues import QueueError, get_queue, remove_queue

    try:
        with ctx_of(ctx).session() as session:
            remove_queue(session, get_queue(session, name))
    except QueueError as exc:
        raise refused("queue", name, exc) from exc
    typer.echo(f"removed queue {name}")
