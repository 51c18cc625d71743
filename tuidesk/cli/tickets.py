"""`tuidesk ticket ...`: reading tickets, opening one for a customer, and changing a ticket's
fields with the same functions the console uses."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from tuidesk.cli.context import ctx_of
from tuidesk.cli.options import BodyFile, BodyStdin, Json, body_text
from tuidesk.cli.output import fail, print_json, print_rows, refusals
from tuidesk.exit_codes import ExitCode

app = typer.Typer(help="Read, open and change tickets.", no_args_is_help=True)


@app.command("list")
def ticket_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
    branch: Annotated[str | None, typer.Option(help="Only this branch (key or name).")] = None,
    channel: Annotated[
        str | None, typer.Option(help="Only tickets that came in on this channel.")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many.")] = None,
    as_json: Json = False,
) -> None:
    """Every ticket that matches, newest first; one still missing a required field says
    `needs: FIELD`."""
    from tuidesk.engine.text import clean_line
    from tuidesk.storage.views import list_tickets

    with refusals(), ctx_of(ctx).session() as session:
        tickets = list_tickets(session, status=status, branch=branch, channel=channel, limit=limit)

    def line(t: dict[str, Any]) -> str:
        who = t["requester"]["email"] if t["requester"] else "-"
        title = clean_line(t["title"], 80)
        needs = f"  needs: {clean_line(', '.join(t['needs']), 200)}" if t["needs"] else ""
        return f"{t['ref']:<10} {t['status']:<8} {t['priority']:<7} {who:<32} {title}{needs}"

    print_rows(tickets, as_json, line)


@app.command("show")
def ticket_show(ctx: typer.Context, ref: str, as_json: Json = False) -> None:
    """One ticket with its conversation."""
    from tuidesk.engine.text import clean_line, strip_controls
    from tuidesk.storage.views import custom_field_rows, show_ticket

    with ctx_of(ctx).session() as session:
        ticket = show_ticket(session, ref)
    if ticket is None:
        raise fail(f"no ticket {ref}", ExitCode.USAGE)
    if as_json:
        print_json(ticket)
        return
    typer.echo(f"{ticket['ref']}  {ticket['title']}")
    typer.echo(
        f"status {ticket['status']}, priority {ticket['priority']}, branch {ticket['branch']}"
    )
    if ticket["linked"]:
        typer.echo(f"opened by a reply to {ticket['linked']} from someone not taking part in it")
    if ticket["linked_from"]:
        typer.echo(f"replies to it from others opened {', '.join(ticket['linked_from'])}")
    if ticket["needs"]:
        typer.echo(f"needs: {clean_line(', '.join(ticket['needs']), 500)}")
    for name, value, restricted in custom_field_rows(ticket, admin=True):
        shown = clean_line(name, 60) + ": " + clean_line("-" if value is None else str(value), 500)
        typer.echo(shown + ("  (restricted)" if restricted else ""))
    for m in ticket["messages"]:
        sent = m["delivery"]
        state = (
            f" [{sent['status']}{': ' + sent['error'] if sent['error'] else ''}]" if sent else ""
        )
        by = f" by {clean_line(m['agent']['name'], 60)}" if m["agent"] else ""
        typer.echo(
            f"\n--- {m['direction']} from {m['from']['email']}{by} at {m['created_at']}{state}"
        )
        typer.echo(strip_controls(m["body"]))
        for a in m["attachments"]:
            typer.echo(f"[attachment] {a['filename']} ({a['content_type']}, {a['size']} bytes)")


@app.command("history")
def ticket_history(ctx: typer.Context, ref: str, as_json: Json = False) -> None:
    """Who changed what and when, oldest first: every change and every message, one a line
    (`2026-12-06 10:04  Ana Lima  status open → pending`, local time). --json prints
    {"ticket": REF, "events": [{"at", "kind", "actor_kind", "actor", "data"}]}: `at` in ISO
    8601 UTC, `actor_kind` agent, engine, cli or system, `data` as the README's table says."""
    from tuidesk.storage.history import describe, ticket_events
    from tuidesk.storage.outbox import OutboundError, find_ticket

    with ctx_of(ctx).engine.connect() as conn:
        try:
            found = find_ticket(conn, ref)
        except OutboundError as exc:
            raise fail(str(exc), ExitCode.USAGE) from exc
        events = ticket_events(conn, found.number)
    if as_json:
        print_json({"ticket": found.ref, "events": [e.as_dict() for e in events]})
        return
    for e in events:
        typer.echo(f"{e.at.astimezone():%Y-%m-%d %H:%M}  {e.who}  {describe(e)}")


@app.command("set")
def ticket_set(
    ctx: typer.Context,
    ref: str,
    status: Annotated[str | None, typer.Option()] = None,
    priority: Annotated[str | None, typer.Option()] = None,
    assign: Annotated[str | None, typer.Option(help="Agent (email, login or name).")] = None,
    unassign: Annotated[bool, typer.Option("--unassign")] = False,
    branch: Annotated[str | None, typer.Option(help="Move to this branch (key or name).")] = None,
    queue: Annotated[str | None, typer.Option(help="Queue name ('' clears it).")] = None,
    field: Annotated[
        list[str] | None,
        typer.Option(help="NAME=VALUE: a custom field of its type (repeatable; VALUE '' clears)."),
    ] = None,
    as_json: Json = False,
) -> None:
    """Change a ticket's status, priority, assignee, branch, queue or custom fields."""
    from tuidesk.storage.db import transaction
    from tuidesk.storage.ticket_actions import UNSET, TicketError, update_ticket

    if assign and unassign:
        raise fail("choose one of --assign, --unassign", ExitCode.USAGE)
    c = ctx_of(ctx)
    fields: dict[str, str] = {}
    for given in field or []:
        name, equals, value = given.partition("=")
        if not equals or not name.strip():
            raise fail(f"--field {given!r}: give NAME=VALUE", ExitCode.USAGE)
        fields[name.strip()] = value
    actor = c.actor()  # told apart from the new assignee: nobody hears of their own
    try:
        with transaction(c.engine) as conn:
            done = update_ticket(
                conn, ref, status=status, priority=priority, branch=branch,
                assignee=None if unassign else (assign or UNSET),
                queue=UNSET if queue is None else (queue or None), fields=fields,
                actor=actor,
            )  # fmt: skip
    except TicketError as exc:
        raise fail(str(exc), ExitCode.USAGE) from exc
    if as_json:
        print_json({"ticket": done.ref, "changes": done.changes})
    else:
        typer.echo(f"{done.ref}: {_changes(done.changes)}")


def _changes(changes: dict[str, Any]) -> str:
    """`status pending, impact high, due -`: a cleared value is a dash."""
    flat = {**{k: v for k, v in changes.items() if k != "fields"}, **changes.get("fields", {})}
    return ", ".join(f"{k} {v if v is not None else '-'}" for k, v in flat.items())


@app.command("new")
def ticket_new(
    ctx: typer.Context,
    to: Annotated[str, typer.Option(help="The customer: an address, or 'Name <address>'.")],
    subject: Annotated[str, typer.Option(help="The title, and the first mail's subject.")],
    body_file: BodyFile = None,
    body_stdin: BodyStdin = False,
    cc: Annotated[list[str] | None, typer.Option(help="Copy to (repeatable).")] = None,
    branch: Annotated[
        str | None, typer.Option(help="Branch (key or name; default: the default branch).")
    ] = None,
    queue: Annotated[str | None, typer.Option(help="An existing queue.")] = None,
    attach: Annotated[list[Path] | None, typer.Option(help="Attach a file (repeatable).")] = None,
    note_only: Annotated[
        bool,
        typer.Option("--note-only", help="A phone call: keep the text as a note, send nothing."),
    ] = False,
    as_json: Json = False,
) -> None:
    """Open a ticket for a customer as you (--agent, else the OS user): the text is mailed to
    them through the outbox, signed, the ref in the subject; with --note-only it is an
    internal note and nothing is sent."""
    from tuidesk.storage.db import transaction
    from tuidesk.storage.new_ticket import open_ticket
    from tuidesk.storage.outbox import OutboundError, read_attachment

    text = body_text(body_file, body_stdin)
    c = ctx_of(ctx)
    agent_id = c.agent_id()
    try:
        files = [read_attachment(p) for p in attach or []]
    except OutboundError as exc:
        raise fail(str(exc), ExitCode.USAGE) from exc
    with refusals(), transaction(c.engine) as conn:
        opened = open_ticket(
            conn, c.blobs, agent_id=agent_id, to=to, subject=subject, body=text, cc=cc or [],
            branch=branch, queue=queue, attachments=files, note_only=note_only, source="cli",
        )  # fmt: skip
    if as_json:
        print_json(opened.as_dict())
    elif opened.mail is None:
        typer.echo(f"opened {opened.ref} with a note; nothing sent")
    else:
        typer.echo(f"opened {opened.ref}; mail to {', '.join(opened.mail.recipients)} queued")
