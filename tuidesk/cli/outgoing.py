"""`tuidesk outgoing ...`: the SMTP servers mail goes out through."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from tuidesk.cli.context import ctx_of
from tuidesk.cli.login import apply, auth_values, need_password, secret, sign_in
from tuidesk.cli.options import (
    Json,
    OAuthOptions,
    SignatureFile,
    Text,
    ca_file_path,
    oauth_options,
    read_text,
)
from tuidesk.cli.output import fail, print_fields, print_rows, print_steps, refusals
from tuidesk.exit_codes import ExitCode

app = typer.Typer(help="SMTP servers that mail goes out through.", no_args_is_help=True)


def _security(ssl: bool, starttls: bool, port: int | None) -> str | None:
    if ssl and starttls:
        raise fail("choose one of --ssl, --starttls", ExitCode.USAGE)
    if ssl or starttls:
        return "ssl" if ssl else "starttls"
    return None if port is None else ("ssl" if port == 465 else "starttls")


@app.command("add")
@oauth_options
def outgoing_add(
    ctx: typer.Context,
    name: str,
    host: Annotated[str, typer.Option()],
    port: Annotated[int, typer.Option()],
    username: Annotated[str, typer.Option()],
    from_address: Annotated[str, typer.Option("--from", help="The address mail is sent from.")],
    ssl: Annotated[bool, typer.Option("--ssl", help="Implicit TLS (usually 465).")] = False,
    starttls: Annotated[bool, typer.Option("--starttls", help="STARTTLS (usually 587).")] = False,
    password_env: Annotated[str | None, typer.Option(help="Variable holding the password.")] = None,
    password_command: Annotated[
        str | None, typer.Option(help="Command printing the password, e.g. 'pass show smtp'.")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read it from stdin; stored encrypted.")
    ] = False,
    display_name: Annotated[str, typer.Option("--name", help="Display name, e.g. Support.")] = "",
    reply_to: Text = None,
    ca_file: Annotated[str | None, typer.Option(help="PEM of a private CA to trust.")] = None,
    default: Annotated[bool, typer.Option("--default", help="Use it for system mail.")] = False,
    signature_file: SignatureFile = None,
    *,
    oauth: OAuthOptions,
) -> None:
    """Add an outgoing (SMTP) channel, logging in with a password or OAuth2. The first one is
    the default."""
    from tuidesk.storage.models import OutgoingChannel
    from tuidesk.storage.outgoing import OutgoingError, get_outgoing, save_outgoing

    password = secret(ctx, password_env, password_command, password_stdin)
    login = auth_values(ctx, oauth, current=None, password=password)
    need_password(password, oauth)
    out = OutgoingChannel(
        name=name, host=host, port=port, security=_security(ssl, starttls, port),
        username=username, from_address=from_address, from_name=display_name,
        reply_to=reply_to, ca_file=ca_file_path(ca_file),
        signature=read_text(signature_file) if signature_file else "",
    )  # fmt: skip
    apply(out, login)
    with refusals(), ctx_of(ctx).session() as session:
        try:
            get_outgoing(session, name)
            raise fail(f"an outgoing channel named {name!r} exists already", ExitCode.USAGE)
        except OutgoingError:
            save_outgoing(session, out, default=default)
    typer.echo(f"added outgoing channel {name}")


@app.command("edit")
@oauth_options
def outgoing_edit(
    ctx: typer.Context,
    name: str,
    host: Text = None,
    port: Annotated[int | None, typer.Option()] = None,
    username: Text = None,
    from_address: Annotated[str | None, typer.Option("--from")] = None,
    ssl: Annotated[bool, typer.Option("--ssl")] = False,
    starttls: Annotated[bool, typer.Option("--starttls")] = False,
    password_env: Text = None,
    password_command: Text = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin")] = False,
    display_name: Annotated[str | None, typer.Option("--name")] = None,
    reply_to: Text = None,
    ca_file: Text = None,
    timeout_ms: Annotated[int | None, typer.Option()] = None,
    default: Annotated[bool, typer.Option("--default")] = False,
    signature_file: SignatureFile = None,
    *,
    oauth: OAuthOptions,
) -> None:
    """Change an outgoing channel."""
    from tuidesk.storage.outgoing import get_outgoing, save_outgoing

    password = secret(ctx, password_env, password_command, password_stdin)
    values: dict[str, Any] = {
        "host": host, "port": port, "username": username, "from_address": from_address,
        "security": _security(ssl, starttls, None), "from_name": display_name,
        "reply_to": reply_to, "ca_file": ca_file_path(ca_file), "timeout_ms": timeout_ms,
        "signature": read_text(signature_file) if signature_file else None,
    }  # fmt: skip
    with refusals(), ctx_of(ctx).session() as session:
        out = get_outgoing(session, name)
        apply(out, auth_values(ctx, oauth, current=out.auth_type, password=password))
        apply(out, values)
        save_outgoing(session, out, default=default)
    typer.echo(f"saved outgoing channel {name}")


@app.command("list")
def outgoing_list(ctx: typer.Context, as_json: Json = False) -> None:
    """Outgoing channels, the default marked."""
    from tuidesk.storage.channels import channel_dict
    from tuidesk.storage.outgoing import list_outgoing

    with ctx_of(ctx).session() as session:
        rows = [channel_dict(o) for o in list_outgoing(session)]

    def line(r: dict[str, Any]) -> str:
        mark = " (default)" if r["is_default"] else ""
        error = f"  last error: {r['last_error']}" if r["last_error"] else ""
        return f"{r['name']:<16} {r['from_address']} via {r['host']}:{r['port']}{mark}{error}"

    print_rows(rows, as_json, line)


@app.command("show")
def outgoing_show(ctx: typer.Context, name: str, as_json: Json = False) -> None:
    """Every setting; the password is masked."""
    from tuidesk.storage.channels import channel_dict
    from tuidesk.storage.outgoing import get_outgoing

    with refusals(), ctx_of(ctx).session() as session:
        data = channel_dict(get_outgoing(session, name))
    print_fields(data, as_json)


@app.command("remove")
def outgoing_remove(ctx: typer.Context, name: str) -> None:
    """Remove an outgoing channel; channels mapped to it use the default again."""
    from tuidesk.storage.outgoing import remove_outgoing

    with refusals(), ctx_of(ctx).session() as session:
        remove_outgoing(session, name)
    typer.echo(f"removed outgoing channel {name}")


@app.command("test")
def outgoing_test(
    ctx: typer.Context,
    name: str,
    send_to: Annotated[str | None, typer.Option(help="Also send a test mail there.")] = None,
    as_json: Json = False,
) -> None:
    """Connect, TLS, log in (and send a test mail); say which step failed and why."""
    from tuidesk.outbound.sender import smtp_settings
    from tuidesk.outbound.smtp import test_outgoing
    from tuidesk.storage.oauth_tokens import DbTokenStore
    from tuidesk.storage.outbox import test_mail
    from tuidesk.storage.tables import tables

    c = ctx_of(ctx)
    with c.engine.connect() as conn:
        out = tables(conn).outgoing_channel
        row = conn.execute(out.select().where(out.c.name == name)).first()
    if row is None:
        raise fail(f"no outgoing channel named {name!r}", ExitCode.USAGE)
    raw = test_mail(row, send_to) if send_to else None
    tokens = DbTokenStore(c.engine, "outgoing_channel", row.id, c.paths.config)
    result = test_outgoing(
        smtp_settings(row), c.paths.config, send_to=send_to, raw=raw,
        mail_from=row.from_address, tokens=tokens,
    )  # fmt: skip
    print_steps(result, as_json)
    if not result["ok"]:
        raise typer.Exit(ExitCode.FAILURE)


@app.command("auth")
def outgoing_auth(ctx: typer.Context, name: str, as_json: Json = False) -> None:
    """Sign in with a device code: open the page it prints, from any browser, enter the code;
    the tokens are kept encrypted on the outgoing channel."""
    sign_in(ctx, "outgoing_channel", name, as_json)
