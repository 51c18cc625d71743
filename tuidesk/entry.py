"""The `tuidesk` command. Delivery from an MTA (`tuidesk pipe`) goes straight to its own small
parser; everything else goes through the typer CLI."""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:2] == ["pipe"]:
        from tuidesk.pipe import main as pipe_main

        sys.exit(pipe_main(sys.argv[2:]))
    from tuidesk.cli import main as cli_main

    cli_main()
