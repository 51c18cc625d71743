"""`tuidesk config ...`: every rule as TOML (export, import), and one rule at a time (get, set),
checked by the same save functions the admin forms use."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from tuidesk.cli.context import ctx_of
from tuidesk.cli.options import JsonHelp
from tuidesk.cli.output import fail, print_json
from tuidesk.exit_codes import ExitCode

app = typer.Typer(help="Export and import every rule as TOML.", no_args_is_help=True)


@app.command("export")
def config_export(
    ctx: typer.Context, file: Annotated[Path | None, typer.Argument()] = None
) -> None:
    """Write every rule, branch, queue, ticket type, channel, calendar and SLA policy as TOML
    (stdout without FILE)."""
    from tuidesk.storage.config_file import export_config

    with ctx_of(ctx).session() as session:
        text = export_config(session)
    if file:
        try:
            file.write_text(text, encoding="utf-8")
        except OSError as exc:  # no such folder, no right to write there: say so, no traceback
            raise fail(f"{file}: {exc.strerror or exc}", ExitCode.USAGE) from exc
    else:
        sys.stdout.write(text)


@app.command("import")
def config_import(ctx: typer.Context, file: Path) -> None:
    """Read a TOML file written by `config export` (or by hand); all of it or none of it."""
    from tuidesk.storage.config_file import ConfigError, import_config

    try:
        with ctx_of(ctx).session() as session:
            counts = import_config(session, file.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise fail(f"{file}: not UTF-8 text", ExitCode.USAGE) from exc
    except (ConfigError, OSError) as exc:
        raise fail(str(exc), ExitCode.USAGE) from exc
    due = counts.pop("open_tickets_due", None)
    again = f" (due times of {due} open tickets worked out again)" if due is not None else ""
    typer.echo(", ".join(f"{v} {k}" for k, v in counts.items()) + again)


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


@app.command("get")
def config_get(
    ctx: typer.Context,
    key: Annotated[str | None, typer.Argument(help="One setting; all of them without.")] = None,
    as_json: JsonHelp = False,
) -> None:
    """Print the rules (the [settings] of `config export`), defaults included."""
    from tuidesk.storage.settings import SETTINGS, get_settings

    if key is not None and key not in SETTINGS:
        raise fail(f"setting {key!r}: no such setting", ExitCode.USAGE)
    with ctx_of(ctx).session() as session:
        values = get_settings(session.connection())
    if key is not None:
        if as_json:
            print_json(values[key])
        else:
            typer.echo(_shown(values[key]))
        return
    if as_json:
        print_json(values)
        return
    for name, value in values.items():
        typer.echo(f"{name + ':':<22} {json.dumps(value, ensure_ascii=False)}")


def _given(key: str, values: list[str]) -> Any:
    """The command line's words as the value `save_settings` checks."""
    from tuidesk.storage.setting_checks import shape

    kind = shape(key)
    if kind == "list":
        return values
    if kind == "dict":
        pairs = [v.partition("=") for v in values]
        if any(not eq for _, eq, _ in pairs):
            raise fail(f"setting {key!r}: give K=V pairs", ExitCode.USAGE)
        return {k.strip(): v.strip() for k, _, v in pairs}
    if len(values) != 1:
        raise fail(f"setting {key!r}: give one value (--unset for the default)", ExitCode.USAGE)
    return values[0]


@app.command("set")
def config_set(
    ctx: typer.Context,
    key: str,
    values: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="VALUE...",
            help="One value; several for a list (none empties it); K=V pairs for aliases and "
            "field_defaults; true/false for a switch.",
        ),
    ] = None,
    unset: Annotated[bool, typer.Option("--unset", help="Back to the default.")] = False,
) -> None:
    """Change one rule, checked as `config import` checks it. `config get` lists the keys."""
    from tuidesk.storage.checks import Invalid
    from tuidesk.storage.setting_checks import describe, save_settings
    from tuidesk.storage.settings import SETTINGS

    if key not in SETTINGS:
        raise fail(f"setting {key!r}: no such setting", ExitCode.USAGE)
    if unset and values:
        raise fail("give values or --unset, not both", ExitCode.USAGE)
    value = SETTINGS[key][0] if unset else _given(key, values or [])
    try:
        with ctx_of(ctx).session() as session:
            saved = save_settings(session, {key: value})
    except Invalid as exc:
        raise fail(describe(exc), ExitCode.USAGE) from exc
    typer.echo(f"{key} = {_shown(saved[key])}")
