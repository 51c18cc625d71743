"""Mail going out to customers: `tuidesk reply` and `note` on a ticket, and `send`, which
flushes the outbox (for cron)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tuidesk.cli.context import ctx_of
from tuidesk.cli.options import BodyFile, BodyStdin, Json, body_text
from tuidesk.cli.output import fail, print_json
from tuidesk.exit_codes import ExitCode

app = typer.Typer()


@app.command()
def reply(
    ctx: typer.Context,
    ref: str,
    body_file: BodyFile = None,
    body_stdin: BodyStdin = False,
    cc: Annotated[list[str] | None, typer.Option(help="Copy to (repeatable).")] = None,
    attach: Annotated[list[Path] | None, typer.Option(help="Attach a file (repeatable).")] = None,
    status: Annotated[str | None, typer.Option(help="Set the ticket's status too.")] = None,
    quote: Annotated[bool, typer.Option("--quote", help="Quote the message answered.")] = False,
    reply_all: Annotated[
        bool, typer.Option("--reply-all", help="Copy the Cc of the message answered.")
    ] = False,
    html_file: Annotated[
        Path | None, typer.Option(help="An HTML version of the text, sent beside it.")
    ] = None,
    as_json: Json = False,
) -> None:
    """Reply to a ticket's requester: stored on the ticket and queued, sent by `tuidesk send`.
    Signed as the agent running it (--agent, else the OS user) when that is an agent."""
    from tuidesk.engine.compose import HeaderInjection
    from tuidesk.storage.db import transaction
    from tuidesk.storage.outbox import OutboundError, queue_reply, read_attachment

    text = body_text(body_file, body_stdin)
    c = ctx_of(ctx)
    try:
        html = html_file.read_text(encoding="utf-8", errors="replace") if html_file else None
    except OSError as exc:
        raise fail(f"cannot read {html_file}: {exc}", ExitCode.USAGE) from exc
    try:
        files = [read_attachment(p) for p in attach or []]
        actor = c.actor()
        with transaction(c.engine) as conn:
            queued = queue_reply(
                conn, c.blobs, ref, text, cc=cc or [], reply_all=reply_all, attachments=files,
                status=status, quote=quote, html=html, agent_id=actor.agent_id, actor=actor,
            )  # fmt: skip
    except (OutboundError, HeaderInjection) as exc:
        raise fail(str(exc), ExitCode.USAGE) from exc
    if as_json:
        print_json(queued.as_dict())
    else:
        typer.echo(f"queued reply on {queued.ticket} to {', '.join(queued.recipients)}")


@app.command()
def note(
    ctx: typer.Context, ref: str, body_file: BodyFile = None, body_stdin: BodyStdin = False
) -> None:
    """Add an internal note to a ticket (never mailed)."""
    from tuidesk.storage.db import transaction
    from tuidesk.storage.outbox import OutboundError, add_note

    text = body_text(body_file, body_stdin)
    c = ctx_of(ctx)
    actor = c.actor()
    try:
        with transaction(c.engine) as conn:
            done = add_note(conn, ref, text, agent_id=actor.agent_id, actor=actor)
    except OutboundError as exc:
        raise fail(str(exc), ExitCode.USAGE) from exc
    typer.echo(f"added note to {done}")


@app.command()
def send(ctx: typer.Context, as_json: Json = False) -> None:
    """Send what is due in the outbox, once (for cron). Exit 1 when any mail was not sent."""
    from tuidesk.outbound.sender import flush
    from tuidesk.storage.channel_state import lease_holder

    c = ctx_of(ctx)
    report = flush(c.engine, c.paths.config, lease_holder())
    if as_json:
        print_json(report.as_dict())
    else:
        for m in report.mails:
            error = f": {m['error']}" if m["error"] else ""
            typer.echo(f"#{m['id']} to {', '.join(m['recipients'])}: {m['status']}{error}")
        data = report.as_dict()
        typer.echo(f"{data['sent']} sent, {data['queued']} to retry, {data['failed']} failed")
    if not report.ok:
        raise typer.Exit(ExitCode.FAILURE)
