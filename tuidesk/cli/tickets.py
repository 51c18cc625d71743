"""`tuidesk ticket ...`: reading tickets, and changing a ticket's fields with the same function
the console uses."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from tuidesk.cli.context import ctx_of
from tuidesk.cli.options import Json
from tuidesk.cli.output import fail, print_json, print_rows, refusals
from tuidesk.exit_codes import ExitCode

app = typer.Typer(help="Read tickets.", no_args_is_help=True)


@app.command("list")
def ticket_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
    branch: Annotated[str | None, typer.Option(help="Only this branch (key or name).")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many.")] = None,
    as_json: Json = False,
) -> None:
    """Every ticket that matches, newest first."""
    from tuidesk.engine.text import clean_line
    from tuidesk.storage.views import list_tickets

    with refusals(), ctx_of(ctx).session() as session:
        tickets = list_tickets(session, status=status, branch=branch, limit=limit)

    def line(t: dict[str, Any]) -> str:
        who = t["requester"]["email"] if t["requester"] else "-"
        title = clean_line(t["title"], 80)
        return f"{t['ref']:<10} {t['status']:<8} {t['priority']:<7} {who:<32} {title}"

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
    as_json: Json = False,
) -> None:
    """Change a ticket's status, priority, assignee, branch or queue."""
    from tuidesk.storage.agents import current_login
    from tuidesk.storage.db import transaction
    from tuidesk.storage.ticket_actions import UNSET, TicketError, agent_id_of, update_ticket

    if assign and unassign:
        raise fail("choose one of --assign, --unassign", ExitCode.USAGE)
    c = ctx_of(ctx)
    try:
        with transaction(c.engine) as conn:
            done = update_ticket(
                conn, ref, status=status, priority=priority, branch=branch,
                assignee=None if unassign else (assign or UNSET),
                queue=UNSET if queue is None else (queue or None),
                actor=agent_id_of(conn, current_login(c.agent)),
            )  # fmt: skip
    except TicketError as exc:
        raise fail(str(exc), ExitCode.USAGE) from exc
    if as_json:
        print_json({"ticket": done.ref, "changes": done.changes})
    else:
        changed = ", ".join(f"{k} {v if v is not None else '-'}" for k, v in done.changes.items())
        typer.echo(f"{done.ref}: {changed}")
