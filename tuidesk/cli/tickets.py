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
    due: Annotated[
        str | None,
        typer.Option(help="before:2h: a service-level target due within 2h (or breached)."),
    ] = None,
    as_json: Json = False,
) -> None:
    """Every ticket that matches, newest first (with --due, soonest due first); one still
    missing a required field says `needs: FIELD`."""
    from tuidesk.clock import utcnow
    from tuidesk.engine.sla import parse_due
    from tuidesk.engine.text import clean_line
    from tuidesk.storage.views import list_tickets

    try:
        due_before = utcnow() + parse_due(due) if due is not None else None
    except ValueError as exc:
        raise fail(str(exc), ExitCode.USAGE) from exc
    with refusals(), ctx_of(ctx).session() as session:
        tickets = list_tickets(
            session, status=status, branch=branch, channel=channel, limit=limit,
            due_before=due_before,
        )  # fmt: skip

    def line(t: dict[str, Any]) -> str:
        who = t["requester"]["email"] if t["requester"] else "-"
        title = clean_line(t["title"], 80)
        needs = f"  needs: {clean_line(', '.join(t['needs']), 200)}" if t["needs"] else ""
        tags = "  " + " ".join(f"#{tag}" for tag in t["tags"]) if t["tags"] else ""
        when = f"  due {t['due_at'][:16].replace('T', ' ')} UTC" if due and t["due_at"] else ""
        return (
            f"{t['ref']:<10} {t['status']:<8} {t['priority']:<7} {who:<32} {title}{tags}{needs}"
            f"{when}"
        )

    print_rows(tickets, as_json, line)


@app.command("search")
def ticket_search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help='Words, "phrases", -word, from:, to:, status:, ...')],
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 50,
    as_json: Json = False,
) -> None:
    """Tickets by what was said in them, best match first (README: the search language)."""
    from tuidesk.engine.search_query import QueryError, parse_query
    from tuidesk.engine.text import clean_line
    from tuidesk.storage.db import read_session
    from tuidesk.storage.search import search

    try:
        parsed = parse_query(query)
    except QueryError as exc:
        raise fail(str(exc), ExitCode.USAGE) from exc
    if parsed.empty:
        raise fail("give words to search for, or a filter such as status:open", ExitCode.USAGE)
    c = ctx_of(ctx)
    agent_id = c.known_agent_id() if "me" in (a.lower() for a in parsed.assignees) else None
    with read_session(c.engine) as session:
        found = search(session.connection(), parsed, agent_id=agent_id, limit=limit)
    if as_json:
        tickets = [
            {
                "ref": t.ref,
                "title": t.title,
                "status": t.status,
                "updated_at": t.updated_at.isoformat(),
                "snippet": t.snippet,
            }
            for t in found.tickets
        ]
        print_json({"tickets": tickets, "total": found.total})
        return
    for t in found.tickets:
        when = t.updated_at.strftime("%Y-%m-%d %H:%M")
        typer.echo(f"{t.ref:<10} {t.status:<8} {when}  {clean_line(t.title, 80)}")
        if t.snippet:
            typer.echo(f"    {clean_line(t.snippet, 200)}")
    more = "" if found.exact else " (counted among the newest matches)"
    typer.echo(f"{found.total} found{more}", err=True)


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
    if ticket["merged_into"]:
        typer.echo(f"merged into {ticket['merged_into']}")
    if ticket["merged_from"]:
        typer.echo(f"merged into it: {', '.join(ticket['merged_from'])}")
    if ticket["tags"]:
        typer.echo(f"tags: {', '.join(ticket['tags'])}")
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
            f"\n--- #{m['number']} {m['direction']} from {m['from']['email']}{by}"
            f" at {m['created_at']}{state}"
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


def _joining(ctx: typer.Context, step: Any, *args: Any) -> Any:
    """A merge or a split in one transaction, by whoever runs the command; refused: exit 2."""
    from tuidesk.storage.db import transaction
    from tuidesk.storage.merge import MergeError

    c = ctx_of(ctx)
    actor = c.actor()
    try:
        with transaction(c.engine) as conn:
            return step(conn, *args, actor)
    except MergeError as exc:
        raise fail(str(exc), ExitCode.USAGE) from exc


@app.command("merge")
def ticket_merge(ctx: typer.Context, source: str, into: str, as_json: Json = False) -> None:
    """Merge SOURCE into INTO: its messages (attachments, Cc) and history move there; SOURCE is
    closed and mail to it lands in INTO. Nothing is deleted: `ticket split` takes messages out
    again. A ticket merged already is refused (the message names where it went)."""
    from tuidesk.storage.merge import merge

    done = _joining(ctx, merge, source, into)
    if as_json:
        print_json(done.as_dict())
    else:
        typer.echo(f"merged {done.source} into {done.into} ({done.messages} messages moved)")


@app.command("split")
def ticket_split(
    ctx: typer.Context,
    ref: str,
    from_message: Annotated[
        int,
        typer.Option(
            "--from-message", min=1, help="Its number in `ticket show` (#N): it and later ones."
        ),
    ],
    as_json: Json = False,
) -> None:
    """Open a new ticket from message N onward (N as `ticket show` numbers them, from 1); the
    new ticket's requester is that message's sender, its title the message's subject."""
    from tuidesk.storage.merge import split

    done = _joining(ctx, split, ref, from_message)
    if as_json:
        print_json(done.as_dict())
    else:
        typer.echo(f"split {done.messages} messages of {done.original} into {done.ticket}")


@app.command("tag", context_settings={"ignore_unknown_options": True})
def ticket_tag(
    ctx: typer.Context,
    ref: str,
    changes: Annotated[list[str], typer.Argument(help="+tag adds, -tag removes; tag adds.")],
    as_json: Json = False,
) -> None:
    """Add and remove tags: `ticket tag SUP-4 +billing -urgent`. Tags are one lower-case word
    each (at most 40 characters)."""
    from tuidesk.storage.db import transaction
    from tuidesk.storage.tags import TagError, change_tags, parse_changes

    c = ctx_of(ctx)
    try:
        added, removed = parse_changes(changes)
        actor = c.actor()
        with transaction(c.engine) as conn:
            done = change_tags(conn, ref, added, removed, actor)
    except TagError as exc:
        raise fail(str(exc), ExitCode.USAGE) from exc
    if as_json:
        print_json({"ticket": done.ref, "tags": list(done.tags), "added": list(done.added),
                    "removed": list(done.removed)})  # fmt: skip
    elif done.added or done.removed:
        said = [*(f"+{t}" for t in done.added), *(f"-{t}" for t in done.removed)]
        typer.echo(f"{done.ref}: {' '.join(said)}; tags now {', '.join(done.tags) or 'none'}")
    else:
        typer.echo(f"{done.ref}: no change; tags {', '.join(done.tags) or 'none'}")
