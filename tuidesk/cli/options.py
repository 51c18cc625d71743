"""Options more than one command takes, declared once: their names and help stay the same
everywhere. The OAuth2 options of `channel add|edit` and `outgoing add|edit` come as one
`OAuthOptions` (typer has no option groups: `oauth_options` adds them to a command)."""

from __future__ import annotations

import functools
import inspect
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any, TypeVar, get_type_hints

import typer

from tuidesk.cli.output import fail
from tuidesk.exit_codes import ExitCode

Json = Annotated[bool, typer.Option("--json")]
JsonHelp = Annotated[bool, typer.Option("--json", help="Print as JSON.")]
Text = Annotated[str | None, typer.Option()]
Many = Annotated[list[str] | None, typer.Option()]
BodyFile = Annotated[Path | None, typer.Option(help="The text, from a file.")]
BodyStdin = Annotated[bool, typer.Option("--body-stdin", help="The text, from stdin.")]
SignatureFile = Annotated[
    Path | None,
    typer.Option(help="The signature, from a file ({agent_name}, {branch}, {ref}; empty: none)."),
]


def read_text(path: Path) -> str:
    """A text file an operator names (a body, a signature): UTF-8, LF line ends; a file that
    cannot be read is a refusal."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc}", ExitCode.USAGE) from exc
    return data.decode("utf-8", errors="replace").replace("\r\n", "\n")


def body_text(body_file: Path | None, body_stdin: bool) -> str:
    """The text of a reply, a note or a new ticket: from exactly one of the file or stdin."""
    if (body_file is None) == (not body_stdin):
        raise fail("give the text with one of --body-file or --body-stdin", ExitCode.USAGE)
    if body_file is not None:
        return read_text(body_file)
    data = sys.stdin.buffer.read()
    return data.decode("utf-8", errors="replace").replace("\r\n", "\n")


@dataclass(frozen=True)
class OAuthOptions:
    """How a channel logs in with OAuth2, as given on the command line (None: not given)."""

    auth: Annotated[str | None, typer.Option("--auth", help="password (default) or oauth2.")] = None
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="OAuth2: tenant ID or domain (Microsoft 365).")
    ] = None
    client_id: Annotated[
        str | None, typer.Option("--client-id", help="OAuth2: application ID.")
    ] = None
    client_secret_env: Annotated[
        str | None,
        typer.Option("--client-secret-env", help="OAuth2: variable holding the secret."),
    ] = None
    client_secret_command: Annotated[
        str | None,
        typer.Option("--client-secret-command", help="OAuth2: command printing the client secret."),
    ] = None
    client_certificate: Annotated[
        str | None,
        typer.Option(
            "--client-certificate",
            help="OAuth2: PEM file with the private key and certificate, instead of a secret.",
        ),
    ] = None
    scope: Annotated[
        list[str] | None,
        typer.Option("--scope", help="OAuth2 scope (repeatable; default: Microsoft 365's)."),
    ] = None
    authority: Annotated[
        str | None,
        typer.Option(
            "--authority",
            help="OAuth2 authority URL (default https://login.microsoftonline.com/T).",
        ),
    ] = None
    redirect_url: Annotated[
        str | None, typer.Option("--redirect-url", help="OAuth2 redirect URL.")
    ] = None
    refresh_token_stdin: Annotated[
        bool,
        typer.Option(
            "--refresh-token-stdin",
            help="OAuth2: read a refresh token from stdin; stored encrypted.",
        ),
    ] = False


Command = TypeVar("Command", bound=Callable[..., Any])


def oauth_options(command: Command) -> Command:
    """The OAuth2 options after the command's own (as typer lists them in --help), handed to
    it as one `oauth: OAuthOptions` argument."""
    own = inspect.signature(command, eval_str=True).parameters.values()
    hints = get_type_hints(OAuthOptions, include_extras=True)
    added = [
        inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default,
                          annotation=hints[f.name])
        for f in fields(OAuthOptions)
    ]  # fmt: skip

    @functools.wraps(command)
    def with_oauth(*args: Any, **kwargs: Any) -> Any:
        given = {f.name: kwargs.pop(f.name) for f in fields(OAuthOptions)}
        return command(*args, oauth=OAuthOptions(**given), **kwargs)

    parameters = [p for p in own if p.name != "oauth"] + added
    with_oauth.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    with_oauth.__annotations__ = {p.name: p.annotation for p in parameters}
    return with_oauth  # type: ignore[return-value]


def ca_file_path(path: str | None) -> str | None:
    """--ca-file as an absolute path, which must exist."""
    if path is None:
        return None
    if not os.path.isfile(path):
        raise fail(f"--ca-file {path}: no such file", ExitCode.USAGE)
    return os.path.abspath(path)
