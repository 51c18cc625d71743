"""The headless door: cron, the MTA pipe and scripting. Never imports Textual (the console is
started through `tuidesk.screens` only when no command is given)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand

from tuidesk.exit_codes import ExitCode
from tuidesk.paths import Paths, resolve_paths, tighten_notice

app = typer.Typer(
    help="tuidesk: a terminal-first helpdesk. Run with no command to open the console.",
    no_args_is_help=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    add_completion=False,
)
ticket_app = typer.Typer(help="Read tickets.", no_args_is_help=True)
branch_app = typer.Typer(help="Branches: where tickets go, by support address or domain.")
quarantine_app = typer.Typer(help="Mail that could not be processed.", no_args_is_help=True)
config_app = typer.Typer(help="Export and import every rule as TOML.", no_args_is_help=True)
db_app = typer.Typer(help="The database.", no_args_is_help=True)
app.add_typer(ticket_app, name="ticket")
app.add_typer(branch_app, name="branch")
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(config_app, name="config")
app.add_typer(db_app, name="db")


class Context:
    """Paths and the database, opened on first use so `--help` and `paths` stay instant."""

    def __init__(self, db_url: str | None) -> None:
        self.paths: Paths = resolve_paths()
        self.db_url = db_url or self.paths.database_url
        self._engine = None

    @property
    def engine(self):  # type: ignore[no-untyped-def]
        """The database, which must exist: only `create_database` makes one."""
        if self._engine is None:
            from tuidesk.storage.schema import open_database

            self._engine = open_database(self.db_url)
        return self._engine

    def create_database(self):  # type: ignore[no-untyped-def]
        """The console and `db upgrade`: the database, made if missing (in an existing folder,
        or in the default data folder)."""
        if self._engine is None:
            from tuidesk.storage.schema import open_database

            self._engine = open_database(self.db_url, create=True, home=self.paths.data)
        return self._engine

    @property
    def blobs(self):  # type: ignore[no-untyped-def]
        from tuidesk.storage.blobs import BlobStore

        return BlobStore(self.paths.blobs)

    def session(self):  # type: ignore[no-untyped-def]
        from tuidesk.storage.db import session_scope

        return session_scope(self.engine)

    def close(self) -> None:
        """The connections go when the command ends (a long-lived caller runs many)."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def ctx_of(ctx: typer.Context) -> Context:
    return ctx.obj


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def print_fields(data: dict[str, Any], as_json: bool) -> None:
    """A `show` command's output: JSON, or one `key: value` line each."""
    if as_json:
        print_json(data)
        return
    for key, value in data.items():
        typer.echo(f"{key + ':':<20} {value}")


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


@app.callback(invoke_without_command=True)
def main_callback(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option("--db", envvar="TUIDESK_DATABASE_URL", help="Database URL (SQLAlchemy)."),
    ] = None,
    agent: Annotated[
        str | None,
        typer.Option("--agent", envvar="TUIDESK_AGENT", help="Who you are (default: OS user)."),
    ] = None,
    no_engine: Annotated[
        bool, typer.Option("--no-engine", help="Console only: no mail watching or sending.")
    ] = False,
) -> None:
    ctx.obj = Context(db)
    ctx.call_on_close(ctx.obj.close)
    notice = tighten_notice(ctx.obj.paths)
    if notice:
        typer.echo(notice, err=True)
    if ctx.invoked_subcommand is None:
        from tuidesk.storage.agents import UnknownAgent, current_login, identify

        c = ctx.obj
        c.create_database()
        try:
            with c.session() as session:
                agent_id = identify(session, current_login(agent)).id
        except UnknownAgent as exc:
            raise fail(str(exc), ExitCode.USAGE) from exc
        from tuidesk.screens.app import run_console
        from tuidesk.screens.keymap import KeymapError

        try:
            run_console(c.engine, c.paths.config, agent_id, run_engine=not no_engine)
        except KeymapError as exc:
            raise fail(str(exc), ExitCode.USAGE) from exc


@app.command()
def paths(ctx: typer.Context) -> None:
    """Where everything lives."""
    c = ctx_of(ctx)
    typer.echo(f"data:       {c.paths.data}")
    typer.echo(f"config:     {c.paths.config}")
    from tuidesk.storage.schema import shown_url

    typer.echo(f"database:   {shown_url(c.db_url)}")
    typer.echo(f"blobs:      {c.paths.blobs}")


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Create the database, or bring its schema up to date (every command does that on start;
    only this and the console create one)."""
    from tuidesk.storage.schema import HEAD_REVISION

    ctx_of(ctx).create_database()
    typer.echo(f"schema at revision {HEAD_REVISION}")


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
        a: counts.get(a, 0) for a in ("created", "commented", "ignored", "duplicate", "quarantined")
    }
    if as_json:
        print_json(summary)
    else:
        typer.echo(", ".join(f"{v} {k}" for k, v in summary.items()))


@ticket_app.command("list")
def ticket_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
    branch: Annotated[str | None, typer.Option(help="Only this branch (key or name).")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Every ticket that matches, newest first."""
    from tuidesk.storage.checks import Invalid
    from tuidesk.storage.views import list_tickets

    try:
        with ctx_of(ctx).session() as session:
            tickets = list_tickets(session, status=status, branch=branch, limit=limit)
    except Invalid as exc:
        raise fail(str(exc), ExitCode.USAGE) from exc
    if as_json:
        print_json(tickets)
        return
    from tuidesk.engine.text import clean_line

    for t in tickets:
        who = t["requester"]["email"] if t["requester"] else "-"
        title = clean_line(t["title"], 80)
        typer.echo(f"{t['ref']:<10} {t['status']:<8} {t['priority']:<7} {who:<32} {title}")


@ticket_app.command("show")
def ticket_show(
    ctx: typer.Context, ref: str, as_json: Annotated[bool, typer.Option("--json")] = False
) -> None:
    """One ticket with its conversation."""
    from tuidesk.engine.text import clean_line, strip_controls
    from tuidesk.storage.views import custom_field_rows, show_ticket

    with ctx_of(ctx).session() as session:
        ticket = show_ticket(session, ref)
    if ticket is None:
        raise fail(f"no ticket {ref}", ExitCode.USAGE)
    if as_json:
        print_json(ticket)
        return
    typer.echo(f"{ticket['ref']}  {ticket['title']}")
    typer.echo(
        f"status {ticket['status']}, priority {ticket['priority']}, branch {ticket['branch']}"
    )
    if ticket["linked"]:
        typer.echo(f"opened by a reply to {ticket['linked']} from someone not taking part in it")
    if ticket["linked_from"]:
        typer.echo(f"replies to it from others opened {', '.join(ticket['linked_from'])}")
    for name, value, restricted in custom_field_rows(ticket, admin=True):
        shown = clean_line(name, 60) + ": " + clean_line("-" if value is None else str(value), 500)
        typer.echo(shown + ("  (restricted)" if restricted else ""))
    for m in ticket["messages"]:
        sent = m["delivery"]
        state = (
            f" [{sent['status']}{': ' + sent['error'] if sent['error'] else ''}]" if sent else ""
        )
        typer.echo(f"\n--- {m['direction']} from {m['from']['email']} at {m['created_at']}{state}")
        typer.echo(strip_controls(m["body"]))
        for a in m["attachments"]:
            typer.echo(f"[attachment] {a['filename']} ({a['content_type']}, {a['size']} bytes)")


BranchAddresses = Annotated[list[str] | None, typer.Option("--address", help="Support address.")]
BranchDomains = Annotated[list[str] | None, typer.Option("--domain", help="Customer domain.")]


@branch_app.command("add")
def branch_add(
    ctx: typer.Context,
    name: str,
    key: Annotated[str, typer.Option(help="Ticket ref prefix, e.g. SUP.")],
    address: BranchAddresses = None,
    domain: BranchDomains = None,
    default: Annotated[bool, typer.Option("--default", help="Make it the default branch.")] = False,
) -> None:
    """Add a branch."""
    from tuidesk.storage.branches import BranchError, save_branch

    try:
        with ctx_of(ctx).session() as session:
            b = save_branch(
                session, name=name, key=key, addresses=address or [], domains=domain or [],
                default=default,
            )  # fmt: skip
            typer.echo(f"added branch {b.name} ({b.key})")
    except BranchError as exc:
        raise fail(str(exc), ExitCode.USAGE) from exc


@branch_app.command("edit")
def branch_edit(
    ctx: typer.Context,
    name: str,
    new_name: Annotated[str | None, typer.Option("--name")] = None,
    key: Annotated[str | None, typer.Option()] = None,
    address: BranchAddresses = None,
    domain: BranchDomains = None,
    default: Annotated[bool, typer.Option("--default")] = False,
) -> None:
    """Change a branch; --address/--domain replace the lists."""
    from tuidesk.storage.branches import BranchError, get_branch, save_branch

    try:
        with ctx_of(ctx).session() as session:
            b = get_branch(session, name)
            save_branch(
                session,
                name=new_name or b.name,
                key=key or b.key,
                addresses=address if address is not None else b.addresses,
                domains=domain if domain is not None else b.domains,
                default=default,
                branch=b,
            )
            typer.echo(f"saved branch {b.name} ({b.key})")
    except BranchError as exc:
        raise fail(str(exc), ExitCode.USAGE) from exc


@branch_app.command("remove")
def branch_remove(ctx: typer.Context, name: str) -> None:
    """Remove a branch (never the default one)."""
    from tuidesk.storage.branches import BranchError, get_branch, remove_branch

    try:
        with ctx_of(ctx).session() as session:
            remove_branch(session, get_branch(session, name))
    except BranchError as exc:
        raise fail(str(exc), ExitCode.USAGE) from exc
    typer.echo(f"removed branch {name}")


@branch_app.command("list")
def branch_list(
    ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False
) -> None:
    """Branches, the default marked."""
    from tuidesk.storage.branches import default_branch, list_branches

    with ctx_of(ctx).session() as session:
        default = default_branch(session)
        rows = [
            {
                "name": b.name,
                "key": b.key,
                "addresses": b.addresses,
                "domains": b.domains,
                "default": default is not None and b.id == default.id,
            }
            for b in list_branches(session)
        ]
    if as_json:
        print_json(rows)
        return
    for r in rows:
        mark = "*" if r["default"] else " "
        typer.echo(
            f"{mark} {r['key']:<8} {r['name']:<20} {', '.join(r['addresses'] + r['domains'])}"
        )


@quarantine_app.command("list")
def quarantine_list(
    ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False
) -> None:
    """Quarantined mail, newest first."""
    from tuidesk.storage.quarantine import list_quarantine

    with ctx_of(ctx).session() as session:
        rows = list_quarantine(session)
    if as_json:
        print_json(rows)
        return
    for r in rows:
        typer.echo(f"{r['id']:>5} {r['created_at'][:19]} {r['size']:>9} {r['reason']}")


@quarantine_app.command("show")
def quarantine_show(
    ctx: typer.Context,
    qid: Annotated[int, typer.Argument(metavar="ID")],
    raw: Annotated[bool, typer.Option("--raw", help="Write the raw mail to stdout.")] = False,
) -> None:
    """One quarantined mail: its reason and headers, or its raw bytes with --raw."""
    from tuidesk.engine.text import strip_controls
    from tuidesk.storage.quarantine import get_quarantined

    with ctx_of(ctx).session() as session:
        item = get_quarantined(session, qid)
        if item is None:
            raise fail(f"no quarantined mail {qid}", ExitCode.USAGE)
        data = item.raw
    if raw:
        sys.stdout.buffer.write(data)
        return
    typer.echo(f"reason: {item.reason}\nsource: {item.source}\nsize:   {item.size}\n")
    head = data.split(b"\n\n", 1)[0][:4000]
    typer.echo(strip_controls(head.decode("utf-8", "replace")))


@quarantine_app.command("retry")
def quarantine_retry(
    ctx: typer.Context,
    qid: Annotated[int, typer.Argument(metavar="ID")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Process a quarantined mail again (after a rule or limit changed)."""
    from tuidesk.services.ingest import retry_quarantined

    c = ctx_of(ctx)
    outcome = retry_quarantined(c.engine, c.blobs, qid)
    if outcome is None:
        raise fail(f"no quarantined mail {qid}", ExitCode.USAGE)
    if as_json:
        print_json(outcome.as_dict())
    else:
        typer.echo(f"{outcome.action} {outcome.ticket or ''} {outcome.reason}")


@quarantine_app.command("drop")
def quarantine_drop(ctx: typer.Context, qid: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Delete a quarantined mail for good."""
    from tuidesk.storage.quarantine import drop_quarantined

    with ctx_of(ctx).session() as session:
        if not drop_quarantined(session, qid):
            raise fail(f"no quarantined mail {qid}", ExitCode.USAGE)
    typer.echo(f"dropped {qid}")


@config_app.command("export")
def config_export(
    ctx: typer.Context, file: Annotated[Path | None, typer.Argument()] = None
) -> None:
    """Write every rule, branch, queue, ticket type and channel as TOML (stdout without FILE)."""
    from tuidesk.storage.config_file import export_config

    with ctx_of(ctx).session() as session:
        text = export_config(session)
    if file:
        file.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


@config_app.command("import")
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
    typer.echo(", ".join(f"{v} {k}" for k, v in counts.items()))


# Command groups that live in their own modules register on `app` when imported.
from tuidesk import cli_agents, cli_channels, cli_config, cli_outbound  # noqa: E402, F401


def run(argv: list[str]) -> int:
    """The typer commands on `argv`; the exit code. `main` for the shell, and the tests' way of
    running a command in their own process."""
    from tuidesk.storage.db import DatabaseUnavailable
    from tuidesk.storage.schema import NoDatabase

    try:
        app(argv, prog_name="tuidesk")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    except DatabaseUnavailable as exc:
        typer.echo(f"tuidesk: database unavailable: {exc}", err=True)
        return ExitCode.TEMPFAIL
    except NoDatabase as exc:
        typer.echo(f"tuidesk: {exc}", err=True)
        return ExitCode.FAILURE
    return ExitCode.OK


def main() -> None:
    sys.exit(run(sys.argv[1:]))
