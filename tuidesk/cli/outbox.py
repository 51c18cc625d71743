"""`tuidesk outbox ...`: mail waiting to go out, sent, or failed; a failed one queued again."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from tuidesk.cli.context import ctx_of
from tuidesk.cli.options import Json
from tuidesk.cli.output import fail, print_rows
from tuidesk.exit_codes import ExitCode

app = typer.Typer(help="Mail waiting to go out, sent, or failed.", no_args_is_help=True)


@app.command("list")
def outbox_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="queued, sending, sent or failed.")] = None,
    as_json: Json = False,
) -> None:
    """The newest outgoing mail, with status, tries and the server's last answer."""
    from tuidesk.storage.outbox import OutboundError, list_outbox

    try:
        with ctx_of(ctx).engine.connect() as conn:
            rows = list_outbox(conn, status)
    except OutboundError as exc:
        raise fail(str(exc), ExitCode.USAGE) from exc

    def line(r: dict[str, Any]) -> str:
        error = f"  {r['error']}" if r["error"] else ""
        return (
            f"#{r['id']:<5} {r['status']:<8} {r['kind']:<6} {r['ticket'] or '-':<10} "
            f"{', '.join(r['recipients'])}  tries {r['tries']}{error}"
        )

    print_rows(rows, as_json, line)


@app.command("retry")
def outbox_retry(ctx: typer.Context, mail_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Queue a failed mail again (once its cause is fixed)."""
    from tuidesk.storage.db import transaction
    from tuidesk.storage.outbox import retry

    with transaction(ctx_of(ctx).engine) as conn:
        if not retry(conn, mail_id):
            raise fail(f"no failed mail #{mail_id}", ExitCode.USAGE)
    typer.echo(f"queued #{mail_id} again")
