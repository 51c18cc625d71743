"""The `tuidesk` command. Delivery from an MTA (`tuidesk pipe`) goes straight to its own small
parser; everything else goes through the typer CLI."""

from __future__ import annotations

import sys


def run(argv: list[str]) -> int:
    """The exit code of `tuidesk ARGV...`."""
    if argv[:1] == ["pipe"]:
        from tuidesk.services.pipe import main as pipe_main

        return pipe_main(argv[1:])
    from tuidesk.cli import run as cli_run

    return cli_run(argv)


def main() -> None:
    sys.exit(run(sys.argv[1:]))
