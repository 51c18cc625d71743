"""`tuidesk branch ...`: where tickets go, by support address or customer domain."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from tuidesk.cli.context import ctx_of
from tuidesk.cli.options import Json
from tuidesk.cli.output import print_rows, refusals

app = typer.Typer(help="Branches: where tickets go, by support address or domain.")

BranchAddresses = Annotated[list[str] | None, typer.Option("--address", help="Support address.")]
BranchDomains = Annotated[list[str] | None, typer.Option("--domain", help="Customer domain.")]


@app.command("add")
def branch_add(
    ctx: typer.Context,
    name: str,
    key: Annotated[str, typer.Option(help="Ticket ref prefix, e.g. SUP.")],
    address: BranchAddresses = None,
    domain: BranchDomains = None,
    default: Annotated[bool, typer.Option("--default", help="Make it the default branch.")] = False,
) -> None:
    """Add a branch."""
    from tuidesk.storage.branches import save_branch

    with refusals(), ctx_of(ctx).session() as session:
        b = save_branch(
            session, name=name, key=key, addresses=address or [], domains=domain or [],
            default=default,
        )  # fmt: skip
        typer.echo(f"added branch {b.name} ({b.key})")


@app.command("edit")
def branch_edit(
    ctx: typer.Context,
    name: str,
    new_name: Annotated[str | None, typer.Option("--name")] = None,
    key: Annotated[str | None, typer.Option()] = None,
    address: BranchAddresses = None,
    domain: BranchDomains = None,
    default: Annotated[bool, typer.Option("--default")] = False,
    escalate: Annotated[
        list[str] | None,
        typer.Option(
            help="An agent told when a ticket nears or breaches its SLA (repeat; '' clears)."
        ),
    ] = None,
) -> None:
    """Change a branch; --address/--domain/--escalate replace the lists."""
    from tuidesk.storage.branches import get_branch, save_branch
    from tuidesk.storage.sla import set_escalation_agents

    with refusals(), ctx_of(ctx).session() as session:
        b = get_branch(session, name)
        save_branch(
            session,
            name=new_name or b.name,
            key=key or b.key,
            addresses=address if address is not None else b.addresses,
            domains=domain if domain is not None else b.domains,
            default=default,
            branch=b,
        )
        if escalate is not None:
            set_escalation_agents(session, b, escalate)
        typer.echo(f"saved branch {b.name} ({b.key})")


@app.command("remove")
def branch_remove(ctx: typer.Context, name: str) -> None:
    """Remove a branch (never the default one)."""
    from tuidesk.storage.branches import get_branch, remove_branch

    with refusals(), ctx_of(ctx).session() as session:
        remove_branch(session, get_branch(session, name))
    typer.echo(f"removed branch {name}")


@app.command("list")
def branch_list(ctx: typer.Context, as_json: Json = False) -> None:
    """Branches, the default marked."""
    from tuidesk.storage.branches import default_branch, list_branches

    with ctx_of(ctx).session() as session:
        default = default_branch(session)
        rows = [
            {
                "name": b.name,
                "key": b.key,
                "addresses": b.addresses,
                "domains": b.domains,
                "default": default is not None and b.id == default.id,
            }
            for b in list_branches(session)
        ]

    def line(r: dict[str, Any]) -> str:
        mark = "*" if r["default"] else " "
        return f"{mark} {r['key']:<8} {r['name']:<20} {', '.join(r['addresses'] + r['domains'])}"

    print_rows(rows, as_json, line)
