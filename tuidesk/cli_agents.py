"""`tuidesk agent ...` and `tuidesk ticket set`: who works the queue, and changing a ticket's
fields with the same function the console uses."""

from __future__ import annotations

from typing import Annotated

import typer

from tuidesk.cli import app, ctx_of, fail, print_json, ticket_app
from tuidesk.exit_codes import ExitCode

agent_app = typer.Typer(help="Agents: who may open the console.", no_args_is_help=True)
app.add_typer(agent_app, name="agent")


@agent_app.command("add")
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
    from tuidesk.storage.agents import _LOGIN, AgentError, find_agent, save_agent

    login = login or (name if _LOGIN.match(name) else None)
    try:
        with ctx_of(ctx).session() as session:
            if find_agent(session, name):
                raise AgentError(f"an agent named {name!r} exists already")
            save_agent(
                session, name=name, email=email, login=login, role="admin" if admin else "agent"
            )
    except AgentError as exc:
        raise fail(str(exc), ExitCode.USAGE) from exc
    typer.echo(f"added agent {name}" + (" (admin)" if admin else ""))


@agent_app.command("edit")
def agent_edit(
    ctx: typer.Context,
    name: str,
    email: Annotated[str | None, typer.Option()] = None,
    login: Annotated[str | None, typer.Option()] = None,
    admin: Annotated[bool | None, typer.Option("--admin/--no-admin")] = None,
) -> None:
    """Change an agent's address, login or role."""
    from tuidesk.storage.agents import AgentError, find_agent, save_agent

    try:
        with ctx_of(ctx).session() as session:
            agent = find_agent(session, name)
            if agent is None:
                raise AgentError(f"no agent {name!r}")
            role = agent.role if admin is None else ("admin" if admin else "agent")
            save_agent(
                session, name=agent.name, email=email or agent.email, role=role,
                login=login or agent.login, agent=agent,
            )  # fmt: skip
    except AgentError as exc:
        raise fail(str(exc), ExitCode.USAGE) from exc
    typer.echo(f"saved agent {name}")


@agent_app.command("list")
def agent_list(
    ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False
) -> None:
    """Agents with their role and login."""
    from tuidesk.storage.agents import list_agents

    with ctx_of(ctx).session() as session:
        rows = [
            {"name": a.name, "email": a.email, "role": a.role, "login": a.login}
            for a in list_agents(session)
        ]
    if as_json:
        print_json(rows)
        return
    for r in rows:
        typer.echo(f"{r['name']:<20} {r['email']:<32} {r['role']:<6} {r['login'] or '-'}")


@agent_app.command("remove")
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


@ticket_app.command("set")
def ticket_set(
    ctx: typer.Context,
    ref: str,
    status: Annotated[str | None, typer.Option()] = None,
    priority: Annotated[str | None, typer.Option()] = None,
    assign: Annotated[str | None, typer.Option(help="Agent (email, login or name).")] = None,
    unassign: Annotated[bool, typer.Option("--unassign")] = False,
    branch: Annotated[str | None, typer.Option(help="Move to this branch (key or name).")] = None,
    queue: Annotated[str | None, typer.Option(help="Queue name ('' clears it).")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Change a ticket's status, priority, assignee, branch or queue."""
    from tuidesk.storage.db import transaction
    from tuidesk.storage.ticket_actions import UNSET, TicketError, update_ticket

    if assign and unassign:
        raise fail("choose one of --assign, --unassign", ExitCode.USAGE)
    try:
        with transaction(ctx_of(ctx).engine) as conn:
            done = update_ticket(
                conn, ref, status=status, priority=priority, branch=branch,
                assignee=None if unassign else (assign or UNSET),
                queue=UNSET if queue is None else (queue or None),
            )  # fmt: skip
    except TicketError as exc:
        raise fail(str(exc), ExitCode.USAGE) from exc
    if as_json:
        print_json({"ticket": done.ref, "changes": done.changes})
    else:
        changed = ", ".join(f"{k} {v if v is not None else '-'}" for k, v in done.changes.items())
        typer.echo(f"{done.ref}: {changed}")
