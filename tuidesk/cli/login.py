"""How a channel logs in, from the command line: the password and OAuth2 options that `channel
add|edit` and `outgoing add|edit` share, turned into the channel's fields, and the device-code
sign-in of `channel auth` / `outgoing auth` an admin on SSH completes in any browser."""

from __future__ import annotations

import os
import sys
from typing import Any

import typer

from tuidesk.cli.context import ctx_of
from tuidesk.cli.options import OAuthOptions
from tuidesk.cli.output import fail, print_json
from tuidesk.exit_codes import ExitCode


def secret(ctx: typer.Context, env: str | None, command: str | None, stdin: bool):  # type: ignore[no-untyped-def]
    """(kind, ref) for the password; never the password in clear."""
    chosen = [x for x in (env, command, stdin or None) if x]
    if len(chosen) > 1:
        raise fail(
            "choose one of --password-env, --password-command, --password-stdin", ExitCode.USAGE
        )
    if env:
        return "env", env
    if command:
        return "command", command
    if stdin:
        return "stored", _read_stdin(ctx, "password")
    return None


def _read_stdin(ctx: typer.Context, what: str) -> str:
    """One line from standard input, encrypted at once with the machine's key."""
    from tuidesk.auth.credentials import encrypt

    value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        raise fail(f"no {what} on standard input", ExitCode.USAGE)
    return encrypt(value, ctx_of(ctx).paths.config)


def auth_values(
    ctx: typer.Context,
    oauth: OAuthOptions,
    *,
    current: str | None,
    password: tuple[str, str] | None,
) -> dict[str, Any]:
    """The login fields the options set (None: unchanged). `current` is the channel's auth
    type before the change (None when adding). OAuth2 options need --auth oauth2 (or a channel
    that has it); a pasted refresh token replaces the sign-in held so far."""
    o = oauth
    kind = o.auth or current or "password"
    if kind not in ("password", "oauth2"):
        raise fail(f"--auth is password or oauth2, not {kind!r}", ExitCode.USAGE)
    given = {
        "--tenant": o.tenant, "--client-id": o.client_id,
        "--client-secret-env": o.client_secret_env,
        "--client-secret-command": o.client_secret_command,
        "--client-certificate": o.client_certificate, "--scope": o.scope,
        "--authority": o.authority, "--redirect-url": o.redirect_url,
        "--refresh-token-stdin": o.refresh_token_stdin or None,
    }  # fmt: skip
    oauth_given = [name for name, value in given.items() if value is not None]
    if kind == "password" and oauth_given:
        raise fail(f"{oauth_given[0]} is for --auth oauth2", ExitCode.USAGE)
    if kind == "oauth2" and password is not None:
        raise fail(
            "OAuth2 takes a client secret (--client-secret-env or --client-secret-command), "
            "not a password",
            ExitCode.USAGE,
        )
    client_secret = o.client_secret_env or o.client_secret_command
    if (
        len([x for x in (o.client_secret_env, o.client_secret_command, o.client_certificate) if x])
        > 1
    ):
        raise fail(
            "choose one of --client-secret-env, --client-secret-command, --client-certificate",
            ExitCode.USAGE,
        )
    values: dict[str, Any] = {"auth_type": o.auth}
    if password is not None:
        values["secret_kind"], values["secret_ref"] = password
    if client_secret:
        values["secret_kind"] = "env" if o.client_secret_env else "command"
        values["secret_ref"] = client_secret
        values["oauth_certificate"] = CLEAR
    if o.client_certificate:
        values["oauth_certificate"] = os.path.abspath(o.client_certificate)
        values["secret_kind"] = values["secret_ref"] = CLEAR
    values |= {
        "oauth_tenant": o.tenant, "oauth_client_id": o.client_id, "oauth_scopes": o.scope,
        "oauth_authority": o.authority, "oauth_redirect_url": o.redirect_url,
    }  # fmt: skip
    if o.refresh_token_stdin:
        values["oauth_refresh_token"] = _read_stdin(ctx, "refresh token")
    switched = current is not None and o.auth is not None and o.auth != current
    if switched and password is None and not (client_secret or o.client_certificate):
        if kind == "password":
            raise fail("--auth password needs the password: --password-env, --password-command "
                       "or --password-stdin", ExitCode.USAGE)  # fmt: skip
        # The password must not go to an identity provider as a client secret.
        values["secret_kind"] = values["secret_ref"] = CLEAR
    if o.refresh_token_stdin or switched:
        values["token_cache"] = CLEAR
        values["token_expires_at"] = CLEAR
    return values


class _Clear:
    """Set the field to None (None itself means: leave it)."""


CLEAR = _Clear()


def given(values: dict[str, Any]) -> dict[str, Any]:
    """The fields the options change: None leaves a field as it is, CLEAR empties it."""
    return {k: None if v is CLEAR else v for k, v in values.items() if v is not None}


def apply(row: Any, values: dict[str, Any]) -> None:
    for key, value in given(values).items():
        setattr(row, key, value)


def sign_in(ctx: typer.Context, table: str, name: str, as_json: bool) -> None:
    """The device-code flow for one channel: print the code and the page, wait for the
    sign-in, keep what it yields (encrypted) on the channel."""
    from tuidesk.auth.oauth import OAuthConfig, TokenError, device_sign_in
    from tuidesk.storage.oauth_tokens import DbTokenStore
    from tuidesk.storage.tables import tables

    c = ctx_of(ctx)
    with c.engine.connect() as conn:
        rows = getattr(tables(conn), table)
        row = conn.execute(rows.select().where(rows.c.name == name)).first()
    what = "channel" if table == "channel" else "outgoing channel"
    if row is None:
        raise fail(f"no {what} named {name!r}", ExitCode.USAGE)
    if row.auth_type != "oauth2":
        raise fail(
            f"{what} {name} logs in with a password: set --auth oauth2 first", ExitCode.USAGE
        )
    service = "imap" if table == "channel" else "smtp"
    store = DbTokenStore(c.engine, table, row.id, c.paths.config)

    def say(text: str) -> None:
        typer.echo(text, err=as_json)

    try:
        token = device_sign_in(OAuthConfig.of(row, service), store, c.paths.config, say)
    except TokenError as exc:
        raise fail(str(exc)) from exc
    if as_json:
        print_json({"name": name, "signed_in": True, "expires_at": token.expires_at.isoformat()})
    else:
        typer.echo(f"signed in; {token.describe()}. Kept encrypted on {what} {name}.")


def need_password(password: tuple[str, str] | None, oauth: OAuthOptions) -> None:
    """`channel add` and `outgoing add`: a new channel logs in with a password or OAuth2."""
    if password is None and oauth.auth != "oauth2":
        raise fail(
            "a password is needed: --password-env, --password-command or --password-stdin "
            "(or --auth oauth2)",
            ExitCode.USAGE,
        )
