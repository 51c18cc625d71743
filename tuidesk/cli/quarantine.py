"""`tuidesk quarantine ...`: mail that could not be processed, shown, retried or dropped."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from tuidesk.cli.context import ctx_of
from tuidesk.cli.options import Json
from tuidesk.cli.output import fail, print_json, print_rows
from tuidesk.exit_codes import ExitCode

app = typer.Typer(help="Mail that could not be processed.", no_args_is_help=True)


@app.command("list")
def quarantine_list(ctx: typer.Context, as_json: Json = False) -> None:
    """Quarantined mail, newest first."""
    from tuidesk.storage.quarantine import list_quarantine

    with ctx_of(ctx).session() as session:
        rows = list_quarantine(session)
    print_rows(
        rows, as_json, lambda r: f"{r['id']:>5} {r['created_at'][:19]} {r['size']:>9} {r['reason']}"
    )


@app.command("show")
def quarantine_show(
    ctx: typer.Context,
    qid: Annotated[int, typer.Argument(metavar="ID")],
    raw: Annotated[bool, typer.Option("--raw", help="Write the raw mail to stdout.")] = False,
) -> None:
    """One quarantined mail: its reason and headers, or its raw bytes with --raw."""
    from tuidesk.engine.text import strip_controls
    from tuidesk.storage.quarantine import get_quarantined

    with ctx_of(ctx).session() as session:
        item = get_quarantined(session, qid)
        if item is None:
            raise fail(f"no quarantined mail {qid}", ExitCode.USAGE)
        data = item.raw
    if raw:
        sys.stdout.buffer.write(data)
        return
    typer.echo(f"reason: {item.reason}\nsource: {item.source}\nsize:   {item.size}\n")
    head = data.split(b"\n\n", 1)[0][:4000]
    typer.echo(strip_controls(head.decode("utf-8", "replace")))


@app.command("retry")
def quarantine_retry(
    ctx: typer.Context,
    qid: Annotated[int, typer.Argument(metavar="ID")],
    as_json: Json = False,
) -> None:
    """Process a quarantined mail again (after a rule or limit changed)."""
    from tuidesk.services.ingest import retry_quarantined

    c = ctx_of(ctx)
    outcome = retry_quarantined(c.engine, c.blobs, qid)
    if outcome is None:
        raise fail(f"no quarantined mail {qid}", ExitCode.USAGE)
    if as_json:
        print_json(outcome.as_dict())
    else:
        typer.echo(f"{outcome.action} {outcome.ticket or ''} {outcome.reason}")


@app.command("drop")
def quarantine_drop(ctx: typer.Context, qid: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Delete a quarantined mail for good."""
    from tuidesk.storage.quarantine import drop_quarantined

    with ctx_of(ctx).session() as session:
        if not drop_quarantined(session, qid):
            raise fail(f"no quarantined mail {qid}", ExitCode.USAGE)
    typer.echo(f"dropped {qid}")
