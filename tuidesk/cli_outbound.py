"""`tuidesk outgoing ...`, `reply`, `note`, `send` and `outbox ...`: mail going out."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from tuidesk.cli import app, ctx_of, fail, print_fields, print_json, print_steps
from tuidesk.cli_auth import (
    Auth,
    Authority,
    ClientCertificate,
    ClientId,
    ClientSecretCommand,
    ClientSecretEnv,
    RedirectUrl,
    RefreshTokenStdin,
    Scope,
    Tenant,
    apply,
    auth_values,
    secret,
    sign_in,
)
from tuidesk.cli_channels import _ca_file, _holder
from tuidesk.exit_codes import ExitCode

outgoing_app = typer.Typer(help="SMTP servers that mail goes out through.", no_args_is_help=True)
outbox_app = typer.Typer(help="Mail waiting to go out, sent, or failed.", no_args_is_help=True)
app.add_typer(outgoing_app, name="outgoing")
app.add_typer(outbox_app, name="outbox")

Text = Annotated[str | None, typer.Option()]
Json = Annotated[bool, typer.Option("--json")]


def _security(ssl: bool, starttls: bool, port: int | None) -> str | None:
    if ssl and starttls:
        raise fail("choose one of --ssl, --starttls", ExitCode.USAGE)
    if ssl or starttls:
        return "ssl" if ssl else "starttls"
    return None if port is None else ("ssl" if port == 465 else "starttls")


@outgoing_app.command("add")
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
    auth: Auth = None,
    tenant: Tenant = None,
    client_id: ClientId = None,
    client_secret_env: ClientSecretEnv = None,
    client_secret_command: ClientSecretCommand = None,
    client_certificate: ClientCertificate = None,
    scope: Scope = None,
    authority: Authority = None,
    redirect_url: RedirectUrl = None,
    refresh_token_stdin: RefreshTokenStdin = False,
) -> None:
    """Add an outgoing (SMTP) channel, logging in with a password or OAuth2. The first one is
    the default."""
    from tuidesk.storage.models import OutgoingChannel
    from tuidesk.storage.outgoing import OutgoingError, get_outgoing, save_outgoing

    password = secret(ctx, password_env, password_command, password_stdin)
    login = auth_values(
        ctx, current=None, password=password, auth=auth, tenant=tenant, client_id=client_id,
        client_secret_env=client_secret_env, client_secret_command=client_secret_command,
        client_certificate=client_certificate, scope=scope, authority=authority,
        redirect_url=redirect_url, refresh_token_stdin=refresh_token_stdin,
    )  # fmt: skip
    if password is None and auth != "oauth2":
        raise fail(
            "a password is needed: --password-env, --password-command or --password-stdin "
            "(or --auth oauth2)",
            ExitCode.USAGE,
        )
    out = OutgoingChannel(
        name=name, host=host, port=port, security=_security(ssl, starttls, port),
        username=username, from_address=from_address, from_name=display_name,
        reply_to=reply_to, ca_file=_ca_file(ca_file),
    )  # fmt: skip
    apply(out, login)
    try:
        with ctx_of(ctx).session() as session:
            try:
                get_outgoing(session, name)
                raise fail(f"an outgoing channel named {name!r} exists already", ExitCode.USAGE)
            except OutgoingError:
                save_outgoing(session, out, default=default)
    except OutgoingError as exc:
        raise fail(str(exc), ExitCode.USAGE) from exc
    typer.echo(f"added outgoing channel {name}")


@outgoing_app.command("edit")
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
    auth: Auth = None,
    tenant: Tenant = None,
    client_id: ClientId = None,
    client_secret_env: ClientSecretEnv = None,
    client_secret_command: ClientSecretCommand = None,
    client_certificate: ClientCertificate = None,
    scope: Scope = None,
    authority: Authority = None,
    redirect_url: RedirectUrl = None,
    refresh_token_stdin: RefreshTokenStdin = False,
) -> None:
    """Change an outgoing channel."""
    from tuidesk.storage.outgoing import OutgoingError, get_outgoing, save_outgoing

    password = secret(ctx, password_env, password_command, password_stdin)
    values: dict[str, Any] = {
        "host": host, "port": port, "username": username, "from_address": from_address,
        "security": _security(ssl, starttls, None), "from_name": display_name,
        "reply_to": reply_to, "ca_file": _ca_file(ca_file), "timeout_ms": timeout_ms,
    }  # fmt: skip
    try:
        with ctx_of(ctx).session() as session:
            out = get_outgoing(session, name)
            apply(out, auth_values(
                ctx, current=out.auth_type, password=password, auth=auth, tenant=tenant,
                client_id=client_id, client_secret_env=client_secret_env,
                client_secret_command=client_secret_command, client_certificate=client_certificate,
                scope=scope, authority=authority, redirect_url=redirect_url,
                refresh_token_stdin=refresh_token_stdin,
            ))  # fmt: skip
            apply(out, values)
            save_outgoing(session, out, default=default)
    except OutgoingError as exc:
        raise fail(str(exc), ExitCode.USAGE) from exc
    typer.echo(f"saved outgoing channel {name}")


@outgoing_app.command("list")
def outgoing_list(ctx: typer.Context, as_json: Json = False) -> None:
    """Outgoing channels, the default marked."""
    from tuidesk.storage.channels import channel_dict
    from tuidesk.storage.outgoing import list_outgoing

    with ctx_of(ctx).session() as session:
        rows = [channel_dict(o) for o in list_outgoing(session)]
    if as_json:
        print_json(rows)
        return
    for r in rows:
        mark = " (default)" if r["is_default"] else ""
        error = f"  last error: {r['last_error']}" if r["last_error"] else ""
        typer.echo(f"{r['name']:<16} {r['from_address']} via {r['host']}:{r['port']}{mark}{error}")


@outgoing_app.command("show")
def outgoing_show(ctx: typer.Context, name: str, as_json: Json = False) -> None:
    """Every setting; the password is masked."""
    from tuidesk.storage.channels import channel_dict
    from tuidesk.storage.outgoing import OutgoingError, get_outgoing

    try:
        with ctx_of(ctx).session() as session:
            data = channel_dict(get_outgoing(session, name))
    except OutgoingError as exc:
        raise fail(str(exc), ExitCode.USAGE) from exc
    print_fields(data, as_json)


@outgoing_app.command("remove")
def outgoing_remove(ctx: typer.Context, name: str) -> None:
    """Remove an outgoing channel; channels mapped to it use the default again."""
    from tuidesk.storage.outgoing import OutgoingError, remove_outgoing

    try:
        with ctx_of(ctx).session() as session:
            remove_outgoing(session, name)
    except OutgoingError as exc:
        raise fail(str(exc), ExitCode.USAGE) from exc
    typer.echo(f"removed outgoing channel {name}")


@outgoing_app.command("test")
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


@outgoing_app.command("auth")
def outgoing_auth(ctx: typer.Context, name: str, as_json: Json = False) -> None:
    """Sign in with a device code: open the page it prints, from any browser, enter the code;
    the tokens are kept encrypted on the outgoing channel."""
    sign_in(ctx, "outgoing_channel", name, as_json)


def _body(body_file: Path | None, body_stdin: bool) -> str:
    if (body_file is None) == (not body_stdin):
        raise fail("give the text with one of --body-file or --body-stdin", ExitCode.USAGE)
    try:
        data = sys.stdin.buffer.read() if body_stdin else body_file.read_bytes()  # type: ignore[union-attr]
    except OSError as exc:
        raise fail(f"cannot read the text: {exc}", ExitCode.USAGE) from exc
    return data.decode("utf-8", errors="replace").replace("\r\n", "\n")


BodyFile = Annotated[Path | None, typer.Option(help="The text, from a file.")]
BodyStdin = Annotated[bool, typer.Option("--body-stdin", help="The text, from stdin.")]


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
    """Reply to a ticket's requester: stored on the ticket and queued, sent by `tuidesk send`."""
    from tuidesk.engine.compose import HeaderInjection
    from tuidesk.storage.db import transaction
    from tuidesk.storage.outbox import OutboundError, queue_reply, read_attachment

    text = _body(body_file, body_stdin)
    c = ctx_of(ctx)
    try:
        html = html_file.read_text(encoding="utf-8", errors="replace") if html_file else None
    except OSError as exc:
        raise fail(f"cannot read {html_file}: {exc}", ExitCode.USAGE) from exc
    try:
        files = [read_attachment(p) for p in attach or []]
        with transaction(c.engine) as conn:
            queued = queue_reply(
                conn, c.blobs, ref, text, cc=cc or [], reply_all=reply_all, attachments=files,
                status=status, quote=quote, html=html,
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

    text = _body(body_file, body_stdin)
    try:
        with transaction(ctx_of(ctx).engine) as conn:
            done = add_note(conn, ref, text)
    except OutboundError as exc:
        raise fail(str(exc), ExitCode.USAGE) from exc
    typer.echo(f"added note to {done}")


@app.command()
def send(ctx: typer.Context, as_json: Json = False) -> None:
    """Send what is due in the outbox, once (for cron). Exit 1 when any mail was not sent."""
    from tuidesk.outbound.sender import flush

    c = ctx_of(ctx)
    report = flush(c.engine, c.paths.config, _holder())
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


@outbox_app.command("list")
def outbox_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="queued, sending, sent or failed.")] = None,
    as_json: Json = False,
) -> None:
    """The newest outgoing mail, with status, tries and the server's last answer."""
    from tuidesk.storage.outbox import OutboundError, list_outbox

    try:
        with ctx_of(ctx).engine.connect() as conn:
            rows = list_outbox(conn, status)
    except OutboundError as exc:
        raise fail(str(exc), ExitCode.USAGE) from exc
    if as_json:
        print_json(rows)
        return
    for r in rows:
        error = f"  {r['error']}" if r["error"] else ""
        typer.echo(
            f"#{r['id']:<5} {r['status']:<8} {r['kind']:<6} {r['ticket'] or '-':<10} "
            f"{', '.join(r['recipients'])}  tries {r['tries']}{error}"
        )


@outbox_app.command("retry")
def outbox_retry(ctx: typer.Context, mail_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Queue a failed mail again (once its cause is fixed)."""
    from tuidesk.storage.db import transaction
    from tuidesk.storage.outbox import retry

    with transaction(ctx_of(ctx).engine) as conn:
        if not retry(conn, mail_id):
            raise fail(f"no failed mail #{mail_id}", ExitCode.USAGE)
    typer.echo(f"queued #{mail_id} again")
