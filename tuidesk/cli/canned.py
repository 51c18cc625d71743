"""`tuidesk canned ...`: texts agents insert into replies, saved as the admin console saves them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from tuidesk.cli.context import ctx_of
from tuidesk.cli.options import JsonHelp, read_text
from tuidesk.cli.output import fail, print_json, print_rows, refused
from tuidesk.exit_codes import ExitCode

app = typer.Typer(help="Canned replies: texts agents insert into replies.", no_args_is_help=True)

_BODY_HELP = "The text, from a file ({requester_name}, {ref}, {title}, {agent_name})."
CannedBranch = Annotated[
    str | None, typer.Option(help="Offer it on this branch's tickets only (key or name).")
]


@app.command("add")
def canned_add(
    ctx: typer.Context,
    name: str,
    body_file: Annotated[Path, typer.Option(help=_BODY_HELP)],
    branch: CannedBranch = None,
) -> None:
    """Add a canned reply."""
    from tuidesk.storage.canned import CannedError, save_canned

    body = read_text(body_file)
    try:
        with ctx_of(ctx).session() as session:
            saved = save_canned(session, name=name, body=body, branch=branch)
            typer.echo(f"added canned reply {saved.name}")
    except CannedError as exc:
        raise refused("canned reply", name, exc) from exc


@app.command("edit")
def canned_edit(
    ctx: typer.Context,
    name: str,
    body_file: Annotated[Path | None, typer.Option(help=_BODY_HELP)] = None,
    branch: CannedBranch = None,
    no_branch: Annotated[
        bool, typer.Option("--no-branch", help="Offer it on every branch's tickets.")
    ] = False,
    new_name: Annotated[str | None, typer.Option("--name", help="Rename it.")] = None,
) -> None:
    """Change a canned reply's text, branch or name."""
    from tuidesk.storage.canned import CannedError, branch_of, get_canned, save_canned

    if branch and no_branch:
        raise fail("choose one of --branch, --no-branch", ExitCode.USAGE)
    body = read_text(body_file) if body_file else None
    try:
        with ctx_of(ctx).session() as session:
            canned = get_canned(session, name)
            save_canned(
                session,
                name=canned.name if new_name is None else new_name,
                body=canned.body if body is None else body,
                branch=None if no_branch else (branch or branch_of(session, canned)),
                canned=canned,
            )
            typer.echo(f"saved canned reply {canned.name}")
    except CannedError as exc:
        raise refused("canned reply", name, exc) from exc


@app.command("list")
def canned_list(ctx: typer.Context, as_json: JsonHelp = False) -> None:
    """Canned replies by name, with their branch and first line."""
    from tuidesk.engine.text import clean_line
    from tuidesk.storage.canned import list_canned

    with ctx_of(ctx).session() as session:
        rows = list_canned(session)

    def line(r: dict[str, Any]) -> str:
        first = clean_line(next(iter(r["body"].strip().splitlines()), ""), 60)
        return f"{r['name']:<40} {r['branch'] or '-':<6} {first}"

    print_rows(rows, as_json, line)


@app.command("show")
def canned_show(
    ctx: typer.Context,
    name: str,
    ticket: Annotated[
        str | None, typer.Option(help="Fill in the placeholders for this ticket (e.g. SUP-42).")
    ] = None,
    as_json: JsonHelp = False,
) -> None:
    """A canned reply's text; with --ticket, as it would go into a reply on that ticket from
    you (--agent, else the OS user)."""
    from tuidesk.storage.canned import CannedError, branch_of, get_canned, render_canned

    c = ctx_of(ctx)
    agent_id = c.known_agent_id() if ticket else None
    try:
        with c.session() as session:
            canned = get_canned(session, name)
            data = {"name": canned.name, "branch": branch_of(session, canned)}
            body = canned.body
            if ticket is not None:
                body = render_canned(session, body, ticket, agent_id)
                data["ticket"] = ticket
    except CannedError as exc:
        raise refused("canned reply", name, exc) from exc
    if as_json:
        print_json({**data, "body": body})
    else:
        typer.echo(body, nl=not body.endswith("\n"))


@app.command("remove")
def canned_remove(ctx: typer.Context, name: str) -> None:
    """Remove a canned reply."""
    from tuidesk.storage.canned import CannedError, remove_canned

    try:
        with ctx_of(ctx).session() as session:
            remove_canned(session, name)
    except CannedError as exc:
        raise refused("canned reply", name, exc) from exc
    typer.echo(f"removed canned reply {name}")
