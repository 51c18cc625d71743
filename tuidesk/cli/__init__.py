"""The headless door: cron, the MTA pipe and scripting. Never imports Textual (the console is
started through `tuidesk.screens` only when no command is given).

Each command group lives in its own module with its own typer app; this one adds them to
`app`, in the order `--help` lists them. They import `context`, `output` and `options`, never
this module or each other."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from tuidesk.cli import (
    agents,
    branches,
    canned,
    channels,
    config,
    database,
    mail,
    outbox,
    outgoing,
    quarantine,
    queues,
    replies,
    sla,
    ticket_types,
    tickets,
)
from tuidesk.cli.context import Context, ctx_of
from tuidesk.cli.output import fail
from tuidesk.exit_codes import ExitCode
from tuidesk.paths import tighten_notice

app = typer.Typer(
    help="tuidesk: a terminal-first helpdesk. Run with no command to open the console.",
    no_args_is_help=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback(invoke_without_command=True)
def main_callback(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option("--db", envvar="TUIDESK_DATABASE_URL", help="Database URL (SQLAlchemy)."),
    ] = None,
    agent: Annotated[
        str | None,
        typer.Option("--agent", envvar="TUIDESK_AGENT", help="Who you are (default: OS user)."),
    ] = None,
    no_engine: Annotated[
        bool, typer.Option("--no-engine", help="Console only: no mail watching or sending.")
    ] = False,
) -> None:
    ctx.obj = Context(db, agent)
    ctx.call_on_close(ctx.obj.close)
    notice = tighten_notice(ctx.obj.paths)
    if notice:
        typer.echo(notice, err=True)
    if ctx.invoked_subcommand is None:
        c = ctx.obj
        c.create_database()
        agent_id = c.agent_id()
        from tuidesk.screens.app import run_console
        from tuidesk.screens.keymap import KeymapError

        try:
            run_console(c.engine, c.paths.config, agent_id, run_engine=not no_engine)
        except KeymapError as exc:
            raise fail(str(exc), ExitCode.USAGE) from exc


@app.command()
def paths(ctx: typer.Context) -> None:
    """Where everything lives."""
    c = ctx_of(ctx)
    typer.echo(f"data:       {c.paths.data}")
    typer.echo(f"config:     {c.paths.config}")
    from tuidesk.storage.schema import shown_url

    typer.echo(f"database:   {shown_url(c.db_url)}")
    typer.echo(f"blobs:      {c.paths.blobs}")


app.add_typer(mail.app)  # pipe, import, poll, watch
app.add_typer(replies.app)  # reply, note, send
app.add_typer(tickets.app, name="ticket")
app.add_typer(branches.app, name="branch")
app.add_typer(quarantine.app, name="quarantine")
app.add_typer(config.app, name="config")
app.add_typer(database.app, name="db")
app.add_typer(agents.app, name="agent")
app.add_typer(channels.app, name="channel")
app.add_typer(queues.app, name="queue")
app.add_typer(ticket_types.app, name="type")
app.add_typer(outgoing.app, name="outgoing")
app.add_typer(outbox.app, name="outbox")
app.add_typer(canned.app, name="canned")
app.add_typer(sla.sla_app, name="sla")
app.add_typer(sla.calendar_app, name="calendar")
app.command("report")(sla.report)
app.command("escalate")(sla.escalate)


def run(argv: list[str]) -> int:
    """The typer commands on `argv`; the exit code. `main` for the shell, and the tests' way of
    running a command in their own process."""
    from tuidesk.storage.db import DatabaseUnavailable
    from tuidesk.storage.schema import NoDatabase

    try:
        app(argv, prog_name="tuidesk")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    except DatabaseUnavailable as exc:
        typer.echo(f"tuidesk: database unavailable: {exc}", err=True)
        return ExitCode.TEMPFAIL
    except NoDatabase as exc:
        typer.echo(f"tuidesk: {exc}", err=True)
        return ExitCode.FAILURE
    return ExitCode.OK


def main() -> None:
    sys.exit(run(sys.argv[1:]))
