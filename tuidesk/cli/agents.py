"""`tuidesk agent ...`: who works the queue, and who may open the admin screens."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tuidesk.cli.context import ctx_of
from tuidesk.cli.options import Json
from tuidesk.cli.output import fail, print_rows, refusals
from tuidesk.exit_codes import ExitCode

app = typer.Typer(help="Agents: who may open the console.", no_args_is_help=True)


@app.command("add")
def agent_add(
    ctx: typer.Context,
    name: str,
    email: Annotated[str, typer.Option(help="The agent's address.")],
    login: Annotated[
        str | None, typer.Option(help="OS user name (default: NAME when it is one).")
    ] = None,
    admin: Annotated[bool, typer.Option("--admin", help="May open the admin screens.")] = False,
) -> None:
    """Add an agent."""
    from tuidesk.storage.agents import AgentError, find_agent, is_login, save_agent

    login = login or (name if is_login(name) else None)
    with refusals(), ctx_of(ctx).session() as session:
        if find_agent(session, name):
            raise AgentError(f"an agent named {name!r} exists already")
        save_agent(session, name=name, email=email, login=login, role="admin" if admin else "agent")
    typer.echo(f"added agent {name}" + (" (admin)" if admin else ""))


@app.command("edit")
def agent_edit(
    ctx: typer.Context,
    name: str,
    email: Annotated[str | None, typer.Option()] = None,
    login: Annotated[str | None, typer.Option()] = None,
    admin: Annotated[bool | None, typer.Option("--admin/--no-admin")] = None,
    notify: Annotated[
        str | None,
        typer.Option(
            help="Events to be mailed about: new,reply,assigned,failed; '' or none for no mail."
        ),
    ] = None,
    alias: Annotated[
        list[str] | None,
        typer.Option(help="Another address they mail from (repeatable; replaces the list)."),
    ] = None,
    no_aliases: Annotated[bool, typer.Option("--no-aliases", help="Clear the aliases.")] = False,
    signature_file: Annotated[
        Path | None, typer.Option(help="Their signature, from a file (an empty file clears it).")
    ] = None,
) -> None:
    """Change an agent's address, login, role, notifications, aliases or signature."""
    from tuidesk.storage.agents import AgentError, find_agent, save_agent

    if alias and no_aliases:
        raise fail("choose one of --alias, --no-aliases", ExitCode.USAGE)
    signature = None
    if signature_file is not None:
        try:
            signature = signature_file.read_bytes().decode("utf-8", errors="replace")
        except OSError as exc:
            raise fail(f"cannot read {signature_file}: {exc}", ExitCode.USAGE) from exc
    with refusals(), ctx_of(ctx).session() as session:
        agent = find_agent(session, name)
        if agent is None:
            raise AgentError(f"no agent {name!r}")
        role = agent.role if admin is None else ("admin" if admin else "agent")
        save_agent(
            session, name=agent.name, email=email or agent.email, role=role,
            login=login or agent.login, agent=agent, notify=notify,
            aliases=[] if no_aliases else alias, signature=signature,
        )  # fmt: skip
    typer.echo(f"saved agent {name}")


@app.command("list")
def agent_list(ctx: typer.Context, as_json: Json = False) -> None:
    """Agents with their role, login, the events they are mailed about and their aliases."""
    from tuidesk.storage.agents import list_agents

    with ctx_of(ctx).session() as session:
        rows = [
            {"name": a.name, "email": a.email, "role": a.role, "login": a.login,
             "notify": list(a.notify), "aliases": list(a.aliases)}
            for a in list_agents(session)
        ]  # fmt: skip

    def line(r: dict) -> str:
        notify = ",".join(r["notify"]) or "none"
        return f"{r['name']:<20} {r['email']:<32} {r['role']:<6} {r['login'] or '-':<12} {notify}"

    print_rows(rows, as_json, line)


@app.command("remove")
def agent_remove(ctx: typer.Context, name: str) -> None:
    """Remove an agent; their tickets become unassigned."""
    from tuidesk.storage.agents import AgentError, find_agent, remove_agent

    with ctx_of(ctx).session() as session:
        agent = find_agent(session, name)
        if agent is None:
            raise fail(f"no agent {name!r}", ExitCode.USAGE)
        try:
            remove_agent(session, agent)
        except AgentError as exc:
            raise fail(str(exc), ExitCode.USAGE) from exc
    typer.echo(f"removed agent {name}")
