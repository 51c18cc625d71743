"""How commands print: data on stdout (JSON or lines), why a command failed on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import typer

from tuidesk.exit_codes import ExitCode
from tuidesk.storage.checks import Invalid


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def print_fields(data: dict[str, Any], as_json: bool) -> None:
    """A `show` command's output: JSON, or one `key: value` line each."""
    if as_json:
        print_json(data)
        return
    for key, value in data.items():
        typer.echo(f"{key + ':':<20} {value}")


def print_rows(rows: list[dict[str, Any]], as_json: bool, line: Callable[[Any], str]) -> None:
    """A `list` command's output: JSON, or `line` of each row."""
    if as_json:
        print_json(rows)
        return
    for row in rows:
        typer.echo(line(row))


def print_steps(result: dict[str, Any], as_json: bool) -> None:
    """A `test` command's output: each connection step, ok or FAILED, with why."""
    if as_json:
        print_json(result)
        return
    for step in result["steps"]:
        typer.echo(f"{'ok' if step['ok'] else 'FAILED':<7} {step['step']:<13} {step['detail']}")


def fail(message: str, code: ExitCode = ExitCode.FAILURE) -> typer.Exit:
    """Say why on stderr. A refusal, nothing done, passes USAGE (2); 1 is for a command that
    ran and failed (the README's exit code table)."""
    typer.echo(f"tuidesk: {message}", err=True)
    return typer.Exit(int(code))


def refused(what: str, name: str, exc: Exception) -> typer.Exit:
    """A refusal worded as `config import` words it, so both doors say the same thing."""
    return fail(f"{what} {name!r}: {exc}", ExitCode.USAGE)


@contextmanager
def refusals() -> Iterator[None]:
    """Storage's refusals (`Invalid`: bad input, nothing saved) as the CLI says them: the words
    on stderr, exit 2. Outside the session, so its transaction rolls back first."""
    try:
        yield
    except Invalid as exc:
        raise fail(str(exc), ExitCode.USAGE) from exc
