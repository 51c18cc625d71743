"""`tuidesk db upgrade`: making the database, or bringing its schema up to date."""

from __future__ import annotations

import typer

from tuidesk.cli.context import ctx_of

app = typer.Typer(help="The database.", no_args_is_help=True)


@app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Create the database, or bring its schema up to date (every command does that on start;
    only this and the console create one)."""
    from tuidesk.storage.schema import HEAD_REVISION

    ctx_of(ctx).create_database()
    typer.echo(f"schema at revision {HEAD_REVISION}")
