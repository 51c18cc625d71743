"""Mail coming in: `tuidesk pipe` (an MTA's delivery), `import` (files), `poll` (one pass over
the IMAP channels, for cron) and `watch` (keep reading and sending)."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperCommand

from tuidesk.cli.context import ctx_of
from tuidesk.cli.options import Json
from tuidesk.cli.output import fail, print_json
from tuidesk.exit_codes import ExitCode

app = typer.Typer()


class _MtaCommand(TyperCommand):
    """`pipe` as an MTA runs it: a command line it cannot parse bounces (64), in this spelling
    as in `tuidesk pipe`'s own parser (tuidesk/services/pipe.py)."""

    def parse_args(self, ctx, args):  # type: ignore[no-untyped-def]
        try:
            return super().parse_args(ctx, args)
        except Exception as exc:
            if getattr(exc, "exit_code", None) == ExitCode.USAGE:  # click's UsageError
                exc.exit_code = int(ExitCode.EX_USAGE)  # type: ignore[attr-defined]
            raise


@app.command(cls=_MtaCommand)
def pipe(
    ctx: typer.Context,
    channel: Annotated[str | None, typer.Option(help="Channel whose mapping applies.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Write nothing; print the whole decision.")
    ] = False,
) -> None:
    """Read one mail from stdin (for an MTA: `|tuidesk pipe`). Exit 0 only once committed,
    64 for an unknown channel or option (the MTA bounces), 75 when the database is unavailable
    (the MTA retries)."""
    from tuidesk.services.pipe import deliver

    raw = sys.stdin.buffer.read()
    code = deliver(
        raw, db_url=ctx_of(ctx).db_url, channel=channel, as_json=as_json, dry_run=dry_run
    )
    raise typer.Exit(int(code))


@app.command("import")
def import_(
    ctx: typer.Context,
    paths_: Annotated[
        list[Path], typer.Argument(metavar="PATH...", help=".eml, folder, mbox, Maildir")
    ],
    channel: Annotated[str | None, typer.Option(help="Channel whose mapping applies.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Import mail from files. Running it again changes nothing."""
    from collections import Counter

    from tuidesk.services.ingest import Ingestor, UnknownChannel
    from tuidesk.sources.files import count_mails, iter_mails

    c = ctx_of(ctx)
    try:
        ingestor = Ingestor(c.engine, c.blobs, source="import", channel=channel)
        total = count_mails(paths_)
    except (UnknownChannel, FileNotFoundError) as exc:
        raise fail(str(exc), ExitCode.USAGE) from exc
    counts: Counter[str] = Counter()
    mails = iter_mails(paths_)
    outcomes = ingestor.ingest_many((m.raw for m in mails), batch=200, parallel=True)
    if sys.stderr.isatty() and not as_json:
        from rich.progress import Progress

        with Progress(transient=True) as progress:
            task = progress.add_task("importing", total=total)
            for outcome in outcomes:
                counts[outcome.action] += 1
                progress.advance(task)
    else:
        for outcome in outcomes:
            counts[outcome.action] += 1
    summary = {"total": sum(counts.values())} | {
        a: counts.get(a, 0)
        for a in ("created", "commented", "worked", "ignored", "duplicate", "quarantined")
    }
    if as_json:
        print_json(summary)
    else:
        typer.echo(", ".join(f"{v} {k}" for k, v in summary.items()))


def _imap_channels(ctx: typer.Context, names: list[str] | None):  # type: ignore[no-untyped-def]
    """The named IMAP channels (all of them without names); a name that is none is an error."""
    from tuidesk.sources.imap import load_imap_channels

    channels = load_imap_channels(ctx_of(ctx).engine, names or None)
    missing = set(names or ()) - {ch.name for ch in channels}
    if missing:
        raise fail(f"no IMAP channel named {', '.join(sorted(missing))}", ExitCode.USAGE)
    return channels


@app.command()
def poll(
    ctx: typer.Context,
    names: Annotated[list[str] | None, typer.Argument(metavar="[NAME]...")] = None,
    max_messages: Annotated[
        int | None, typer.Option("--max", help="At most N messages per channel.")
    ] = None,
    as_json: Json = False,
) -> None:
    """One pass over the active channels, for cron. Exit 1 when any channel failed."""
    from tuidesk.sources.imap import Poller
    from tuidesk.storage.channel_state import lease_holder

    c = ctx_of(ctx)
    channels = _imap_channels(ctx, names)
    poller = Poller(c.engine, c.blobs, c.paths.config, lease_holder())
    polled = [poller.poll(ch, max_messages) for ch in channels]
    results = [p.as_dict() for p in polled]
    if as_json:
        print_json({"channels": results})
    else:
        for p, r in zip(polled, results, strict=True):
            state = f"skipped: {p.skipped}" if p.skipped else ("ok" if r["ok"] else "FAILED")
            counts = ", ".join(
                f"{r[k]} {k}"
                for k in (
                    "fetched",
                    "created",
                    "commented",
                    "worked",
                    "ignored",
                    "duplicates",
                    "quarantined",
                )
            )
            typer.echo(
                f"{r['name']}: {state}; {counts}" + (f"; {r['error']}" if r["error"] else "")
            )
    if not all(r["ok"] for r in results):
        raise typer.Exit(ExitCode.FAILURE)


@app.command()
def watch(
    ctx: typer.Context,
    names: Annotated[list[str] | None, typer.Argument(metavar="[NAME]...")] = None,
    no_send: Annotated[
        bool, typer.Option("--no-send", help="Do not flush the outbox (another host does).")
    ] = False,
) -> None:
    """Keep watching channels (IMAP IDLE where the server has it), sending the outbox and
    escalating service-level targets (as `tuidesk escalate`, every minute), until SIGTERM or
    Ctrl-C."""
    import signal

    from tuidesk.services.daemon import Daemon
    from tuidesk.storage.channel_state import lease_holder

    c = ctx_of(ctx)
    channels = _imap_channels(ctx, names)
    if not channels and (names or no_send):
        raise fail("no IMAP channels to watch", ExitCode.USAGE)

    def log(line: str) -> None:
        typer.echo(f"{datetime.now().astimezone():%Y-%m-%d %H:%M:%S} {line}", err=True)

    daemon = Daemon(
        c.engine, c.blobs, c.paths.config, lease_holder(), log, send=not no_send, escalate=True
    )
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: daemon.stop_event.set())
    watched = ", ".join(ch.name for ch in channels) or "no mailboxes"
    log(f"watching {watched}{'' if no_send else '; sending the outbox'}; escalating every minute")
    daemon.start([ch.name for ch in channels])
    while not daemon.stop_event.wait(0.5):  # a timed wait lets the signal handlers run
        pass
    daemon.stop()
    log("stopped")
