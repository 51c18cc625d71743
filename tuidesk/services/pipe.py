"""`tuidesk pipe`: one mail from stdin, for an MTA. It has its own tiny argument parser so that
delivery never pays for typer's start-up (typer pulls in pydantic: about 70 ms a mail); the
typer command of the same name calls `deliver` too, so both spellings behave the same."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tuidesk.exit_codes import ExitCode


def deliver(
    raw: bytes, *, db_url: str, channel: str | None, as_json: bool, dry_run: bool
) -> ExitCode:
    """Exit 0 only once the outcome is committed; 64 for a channel that does not exist (the
    MTA's pipe command is wrong: retrying cannot help); 75 on any other failure before commit,
    a missing database included (a mistyped URL must not create one where nobody looks)."""
    try:
        from tuidesk.paths import resolve_paths, tighten_notice
        from tuidesk.services.ingest import Ingestor, UnknownChannel
        from tuidesk.storage.blobs import BlobStore
        from tuidesk.storage.schema import open_database

        paths = resolve_paths()
        notice = tighten_notice(paths)
        if notice:
            sys.stderr.write(notice + "\n")
        blobs = BlobStore(paths.blobs)
        try:
            ingestor = Ingestor(open_database(db_url), blobs, source="pipe", channel=channel)
        except UnknownChannel as exc:
            sys.stderr.write(f"tuidesk pipe: --channel: {exc}\n")
            return ExitCode.EX_USAGE
        if dry_run:
            decision = ingestor.dry_run(raw).as_dict()
            _write(
                json.dumps(decision, ensure_ascii=False, indent=2) if as_json else _steps(decision)
            )
            return ExitCode.OK
        outcome = ingestor.ingest(raw)
    except Exception as exc:  # noqa: BLE001 - any failure before commit: let the MTA retry
        sys.stderr.write(f"tuidesk: not delivered, try again: {exc}\n")
        return ExitCode.TEMPFAIL
    if as_json:
        _write(json.dumps(outcome.as_dict(), ensure_ascii=False, indent=2))
    else:
        _write(" ".join(part for part in (outcome.action, outcome.ticket, outcome.reason) if part))
    return ExitCode.OK


def _write(text: str) -> None:
    sys.stdout.write(text + "\n")


def _steps(decision: dict[str, Any]) -> str:
    lines = [
        f"action: {decision['action']}  ticket: {decision['ticket'] or '-'}",
        f"reason: {decision['reason']}",
    ]
    lines += [f"  {s['step']:<9} {s['outcome']:<12} {s['rule']}" for s in decision["steps"]]
    return "\n".join(lines)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        """A mistyped pipe command in the MTA's config fails every mail alike: deferring would
        retry it for days unseen, so the mail bounces (64) and the postmaster reads why."""
        self.print_usage(sys.stderr)
        sys.stderr.write(f"tuidesk pipe: {message}\n")
        sys.exit(ExitCode.EX_USAGE)


def main(argv: list[str]) -> int:
    parser = _Parser(prog="tuidesk pipe", description="Read one mail from stdin.")
    parser.add_argument("--channel", help="Channel whose mapping applies.")
    parser.add_argument("--json", dest="as_json", action="store_true", help="Outcome as JSON.")
    parser.add_argument("--dry-run", action="store_true", help="Write nothing; print why.")
    parser.add_argument("--db", help="Database URL (SQLAlchemy).")
    args = parser.parse_args(argv)
    from tuidesk.paths import resolve_paths

    return deliver(
        sys.stdin.buffer.read(),
        db_url=args.db or resolve_paths().database_url,
        channel=args.channel,
        as_json=args.as_json,
        dry_run=args.dry_run,
    )
