"""`tuidesk channel ...`: IMAP channels from the command line, added and changed through the
storage function the admin form uses."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import typer

from tuidesk.cli.context import ctx_of
from tuidesk.cli.login import CLEAR, auth_values, given, need_password, secret, sign_in
from tuidesk.cli.options import Json, Many, OAuthOptions, Text, ca_file_path, oauth_options
from tuidesk.cli.output import fail, print_fields, print_rows, print_steps, refusals
from tuidesk.exit_codes import ExitCode

app = typer.Typer(help="Mailboxes that mail is read from.", no_args_is_help=True)


def _security(ssl: bool, starttls: bool, insecure_plain: bool) -> str | None:
    chosen = [
        name for name, on in (("ssl", ssl), ("starttls", starttls), ("plain", insecure_plain)) if on
    ]
    if len(chosen) > 1:
        raise fail("choose one of --ssl, --starttls, --insecure-plain", ExitCode.USAGE)
    if chosen == ["plain"]:
        typer.echo("warning: --insecure-plain sends the password unencrypted", err=True)
    return chosen[0] if chosen else None


@app.command("add")
@oauth_options
def channel_add(
    ctx: typer.Context,
    name: str,
    host: Annotated[str, typer.Option()],
    port: Annotated[int, typer.Option()],
    username: Annotated[str, typer.Option()],
    ssl: Annotated[bool, typer.Option("--ssl", help="Implicit TLS (IMAPS, usually 993).")] = False,
    starttls: Annotated[bool, typer.Option("--starttls", help="STARTTLS (usually 143).")] = False,
    insecure_plain: Annotated[
        bool, typer.Option("--insecure-plain", help="No TLS at all: only when asked for.")
    ] = False,
    password_env: Annotated[str | None, typer.Option(help="Variable holding the password.")] = None,
    password_command: Annotated[
        str | None, typer.Option(help="Command printing the password, e.g. 'pass show support'.")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read it from stdin; stored encrypted.")
    ] = False,
    folder: Annotated[list[str] | None, typer.Option(help="Folder to read (repeatable).")] = None,
    success_folder: Text = None,
    fail_folder: Text = None,
    exclusion_folder: Text = None,
    since: Annotated[str | None, typer.Option(help="Sync start date, YYYY-MM-DD.")] = None,
    branch: Text = None,
    queue: Text = None,
    ca_file: Annotated[
        str | None, typer.Option(help="PEM of a private CA to trust (mail and sign-in servers).")
    ] = None,
    status: Annotated[str, typer.Option(help="active or draft.")] = "draft",
    *,
    oauth: OAuthOptions,
) -> None:
    """Add an IMAP channel, logging in with a password or OAuth2."""
    from tuidesk.storage.channels import edit_channel

    password = secret(ctx, password_env, password_command, password_stdin)
    if status not in ("active", "draft"):
        raise fail("--status is active or draft", ExitCode.USAGE)
    login = auth_values(ctx, oauth, current=None, password=password)
    need_password(password, oauth)
    fields = login | {
        "name": name, "kind": "imap", "host": host, "port": port, "username": username,
        "security": _security(ssl, starttls, insecure_plain) or "ssl",
        "folders": folder or ["INBOX"], "success_folder": success_folder,
        "fail_folder": fail_folder, "exclusion_folder": exclusion_folder, "since": _date(since),
        "branch": branch, "queue": queue, "ca_file": ca_file_path(ca_file), "status": status,
    }  # fmt: skip
    with refusals(), ctx_of(ctx).session() as session:
        edit_channel(session, None, given(fields))
    typer.echo(f"added channel {name} ({status})")


def _date(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise fail(f"--since {text!r} is not YYYY-MM-DD", ExitCode.USAGE) from exc


@app.command("edit")
@oauth_options
def channel_edit(
    ctx: typer.Context,
    name: str,
    host: Text = None,
    port: Annotated[int | None, typer.Option()] = None,
    username: Text = None,
    ssl: Annotated[bool, typer.Option("--ssl")] = False,
    starttls: Annotated[bool, typer.Option("--starttls")] = False,
    insecure_plain: Annotated[bool, typer.Option("--insecure-plain")] = False,
    password_env: Text = None,
    password_command: Text = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin")] = False,
    folder: Many = None,
    success_folder: Text = None,
    fail_folder: Text = None,
    exclusion_folder: Text = None,
    since: Text = None,
    branch: Text = None,
    queue: Text = None,
    ticket_type: Text = None,
    ca_file: Text = None,
    reply_to: Text = None,
    status: Annotated[str | None, typer.Option(help="draft, active or paused.")] = None,
    max_tries: Annotated[int | None, typer.Option()] = None,
    cooloff_minutes: Annotated[int | None, typer.Option()] = None,
    skip_window: Annotated[
        list[str] | None, typer.Option(help="HH:MM-HH:MM when not to connect (repeatable).")
    ] = None,
    timeout_ms: Annotated[int | None, typer.Option()] = None,
    allowed_domain: Many = None,
    autoreply_keyword: Many = None,
    autoreply_sender: Many = None,
    alias: Annotated[list[str] | None, typer.Option(help="ALIAS=PRIMARY (repeatable).")] = None,
    attach_original: Annotated[
        bool | None, typer.Option("--attach-original/--no-attach-original")
    ] = None,
    outgoing: Annotated[
        str | None, typer.Option(help="Outgoing channel for replies ('' for the default).")
    ] = None,
    field_map: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="FIELD=PROPERTY: fill a ticket field from subject, body, sender, importance or "
            "attachments; PROPERTY empty for a default only (repeatable).",
        ),
    ] = None,
    map_default: Annotated[
        list[str] | None,
        typer.Option(help="FIELD=VALUE: the value when the mail lacks the property (repeatable)."),
    ] = None,
    restricted: Annotated[
        list[str] | None, typer.Option(help="Mapped FIELD only admins see (repeatable).")
    ] = None,
    no_maps: Annotated[bool, typer.Option("--no-maps", help="Remove every mapping.")] = False,
    update_type: Annotated[
        list[str] | None,
        typer.Option(help="Ticket type whose tickets take replies by email (repeatable)."),
    ] = None,
    any_type_updates: Annotated[
        bool, typer.Option("--any-type-updates", help="Tickets of every type take replies.")
    ] = False,
    *,
    oauth: OAuthOptions,
) -> None:
    """Change a channel; list options replace the whole list."""
    from tuidesk.storage.channels import edit_channel, get_channel

    password = secret(ctx, password_env, password_command, password_stdin)
    aliases = None
    if alias is not None:
        pairs = [a.split("=", 1) for a in alias]
        if any(len(p) != 2 for p in pairs):
            raise fail("--alias takes ALIAS=PRIMARY", ExitCode.USAGE)
        aliases = dict(pairs)
    if update_type is not None and any_type_updates:
        raise fail("choose --update-type or --any-type-updates", ExitCode.USAGE)
    with refusals(), ctx_of(ctx).session() as session:
        channel = get_channel(session, name)
        changes = auth_values(ctx, oauth, current=channel.auth_type, password=password) | {
            "host": host, "port": port, "username": username,
            "security": _security(ssl, starttls, insecure_plain),
            "folders": folder, "success_folder": success_folder, "fail_folder": fail_folder,
            "exclusion_folder": exclusion_folder, "since": _date(since), "branch": branch,
            "queue": queue, "ticket_type": ticket_type, "ca_file": ca_file_path(ca_file),
            "reply_to": reply_to, "status": status, "max_tries": max_tries,
            "cooloff_minutes": cooloff_minutes, "skip_windows": skip_window,
            "timeout_ms": timeout_ms, "allowed_domains": allowed_domain,
            "autoreply_keywords": autoreply_keyword, "autoreply_senders": autoreply_sender,
            "aliases": aliases, "attach_original": attach_original,
            "outgoing": None if outgoing is None else outgoing or CLEAR,
            "field_mappings": _edit_mappings(
                channel.field_mappings, field_map, map_default, restricted, no_maps
            ),
            "update_types": [] if any_type_updates else update_type,
        }  # fmt: skip
        edit_channel(session, channel, given(changes))
    typer.echo(f"saved channel {name}")


def _pairs(option: str, syntax: str, values: list[str]) -> list[tuple[str, str]]:
    """FIELD=VALUE pairs; the value may be empty or hold more `=`."""
    pairs: list[tuple[str, str]] = []
    for value in values:
        field, eq, rest = value.partition("=")
        if not eq or not field.strip():
            raise fail(f"{option} takes {syntax}, not {value!r}", ExitCode.USAGE)
        pairs.append((field.strip(), rest))
    return pairs


def _edit_mappings(
    current: list[dict[str, Any]],
    field_map: list[str] | None,
    defaults: list[str] | None,
    restricted: list[str] | None,
    no_maps: bool,
) -> list[dict[str, Any]]:
    """The channel's mappings after the options: --map replaces the list, --map-default and
    --restricted change the mapping of their field (a default creates one)."""
    if no_maps:
        if field_map or defaults or restricted:
            raise fail(
                "--no-maps goes alone, without --map, --map-default or --restricted",
                ExitCode.USAGE,
            )
        return []
    if field_map is not None:
        mappings = [
            {"field": f, "property": p} for f, p in _pairs("--map", "FIELD=PROPERTY", field_map)
        ]
    else:
        mappings = [dict(m) for m in current]
    by_field = {m["field"]: m for m in mappings}
    for field, value in _pairs("--map-default", "FIELD=VALUE", defaults or []):
        if field not in by_field:
            by_field[field] = {"field": field}
            mappings.append(by_field[field])
        by_field[field]["default"] = value
    for field in restricted or []:
        if field.strip() not in by_field:
            raise fail(
                f"--restricted {field}: no mapping for it (add one with --map)", ExitCode.USAGE
            )
        by_field[field.strip()]["restricted"] = True
    return mappings


@app.command("list")
def channel_list(ctx: typer.Context, as_json: Json = False) -> None:
    """Channels with their status and last error."""
    from tuidesk.storage.channels import channel_dict, list_channels

    with ctx_of(ctx).session() as session:
        rows = [channel_dict(c) for c in list_channels(session)]

    def line(r: dict[str, Any]) -> str:
        where = f"{r['username']}@{r['host']}:{r['port']}" if r["kind"] == "imap" else r["kind"]
        error = f"  last error: {r['last_error']}" if r["last_error"] else ""
        return f"{r['name']:<16} {r['status']:<8} {where}{error}"

    print_rows(rows, as_json, line)


@app.command("show")
def channel_show(ctx: typer.Context, name: str, as_json: Json = False) -> None:
    """Every setting of a channel; the password is masked."""
    from tuidesk.storage.channels import channel_dict, get_channel

    with refusals(), ctx_of(ctx).session() as session:
        data = channel_dict(get_channel(session, name))
    print_fields(data, as_json)


@app.command("remove")
def channel_remove(ctx: typer.Context, name: str) -> None:
    """Remove a channel (its tickets stay)."""
    from tuidesk.storage.channels import get_channel

    with refusals(), ctx_of(ctx).session() as session:
        session.delete(get_channel(session, name))
    typer.echo(f"removed channel {name}")


@app.command("test")
def channel_test(ctx: typer.Context, name: str, as_json: Json = False) -> None:
    """Connect, TLS, log in, list folders and check them; say which step failed and why."""
    from tuidesk.sources.imap import load_imap_channels, test_channel
    from tuidesk.storage.oauth_tokens import DbTokenStore

    c = ctx_of(ctx)
    channels = load_imap_channels(c.engine, [name])
    if not channels:
        raise fail(f"no IMAP channel named {name!r}", ExitCode.USAGE)
    result = test_channel(
        channels[0],
        c.paths.config,
        DbTokenStore(c.engine, "channel", channels[0].id, c.paths.config),
    )
    print_steps(result, as_json)
    if not result["ok"]:
        raise typer.Exit(ExitCode.FAILURE)


@app.command("auth")
def channel_auth(ctx: typer.Context, name: str, as_json: Json = False) -> None:
    """Sign in with a device code: open the page it prints, from any browser, enter the code;
    the tokens are kept encrypted on the channel."""
    sign_in(ctx, "channel", name, as_json)
