"""One pass over the outbox: claim what is due, send it through its outgoing channel, mark it.
`tuidesk send` (cron), `tuidesk watch` and the console all run this same pass."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Row, select, update

from tuidesk.outbound.smtp import SendError, SmtpSettings, close, connect, send
from tuidesk.storage.db import transaction
from tuidesk.storage.oauth_tokens import DbTokenStore
from tuidesk.storage.outbox import Claimed, claim_due, mark_attempt_failed, mark_sent
from tuidesk.storage.tables import tables, utcnow


def smtp_settings(row: Row) -> SmtpSettings:
    return SmtpSettings(
        name=row.name, host=row.host, port=row.port, security=row.security,
        username=row.username, secret_kind=row.secret_kind, secret_ref=row.secret_ref,
        ca_file=row.ca_file, timeout_ms=row.timeout_ms, auth_type=row.auth_type,
        oauth_tenant=row.oauth_tenant, oauth_client_id=row.oauth_client_id,
        oauth_scopes=tuple(row.oauth_scopes or ()), oauth_authority=row.oauth_authority,
        oauth_certificate=row.oauth_certificate,
    )  # fmt: skip


@dataclass
class FlushReport:
    mails: list[dict[str, Any]] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for m in self.mails if m["status"] == status)

    @property
    def ok(self) -> bool:
        """Every mail tried was sent."""
        return all(m["status"] == "sent" for m in self.mails)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": self.count("sent"),
            "queued": self.count("queued"),
            "failed": self.count("failed"),
            "mails": self.mails,
        }


def flush(
    engine: Engine, config_dir: Path, holder: str, *, batch: int = 100, now: datetime | None = None
) -> FlushReport:
    """Send everything due at the start of the pass, `batch` mails at a time. Each mail is
    marked in its own short transaction right after the server answers, so a crash loses at
    most the mark of one mail (see storage.outbox). A mail put back for a retry is due after
    the pass began, so one pass tries each mail once."""
    report = FlushReport()
    start = now or utcnow()
    while True:
        with transaction(engine) as conn:
            claimed = claim_due(conn, holder, start, batch)
            out = tables(conn).outgoing_channel
            channels = {r.name: r for r in conn.execute(select(out))} if claimed else {}
        if not claimed:
            return report
        groups: dict[str, list[Claimed]] = defaultdict(list)
        for mail in claimed:
            groups[mail.outgoing].append(mail)
        for name, mails in groups.items():
            _send_group(engine, config_dir, holder, channels.get(name), name, mails, report)


def _send_group(
    engine: Engine,
    config_dir: Path,
    holder: str,
    row: Row | None,
    name: str,
    mails: list[Claimed],
    report: FlushReport,
) -> None:
    """One connection per outgoing channel per pass. A channel problem (connection, TLS,
    login) is not the mail's fault: every mail of the group waits for the next try."""
    if row is None:
        for mail in mails:
            _failed(
                engine, holder, mail, f"outgoing channel {name} no longer exists", False, report
            )
        return
    try:
        tokens = DbTokenStore(engine, "outgoing_channel", row.id, config_dir)
        client = connect(smtp_settings(row), config_dir, tokens=tokens)
    except SendError as exc:
        _channel_error(engine, row.id, str(exc))
        for mail in mails:
            _failed(engine, holder, mail, str(exc), False, report)
        return
    try:
        for n, mail in enumerate(mails):
            try:
                refused = send(client, mail.mail_from, mail.recipients, mail.raw)
            except SendError as exc:
                _failed(engine, holder, mail, str(exc), exc.permanent, report)
                if exc.code is None and not exc.permanent:  # the connection is gone
                    for rest in mails[n + 1 :]:  # they wait for the next pass
                        _failed(engine, holder, rest, str(exc), False, report)
                    _channel_error(engine, row.id, str(exc))
                    return
                continue
            with transaction(engine) as conn:
                mark_sent(conn, mail, holder, refused, utcnow())
            report.mails.append(_entry(mail, "sent", None))
        _channel_error(engine, row.id, None)
    finally:
        close(client)


def _failed(
    engine: Engine, holder: str, mail: Claimed, error: str, permanent: bool, report: FlushReport
) -> None:
    with transaction(engine) as conn:
        status = mark_attempt_failed(conn, mail, holder, error, permanent=permanent, now=utcnow())
    report.mails.append(_entry(mail, status, error))


def _channel_error(engine: Engine, channel_id: int, error: str | None) -> None:
    with transaction(engine) as conn:
        out = tables(conn).outgoing_channel
        values = {"last_error": error, "last_error_at": utcnow() if error else None}
        conn.execute(update(out).where(out.c.id == channel_id).values(**values))


def _entry(mail: Claimed, status: str, error: str | None) -> dict[str, Any]:
    return {
        "id": mail.id,
        "ticket_id": mail.ticket_id,
        "recipients": mail.recipients,
        "status": status,
        "error": error,
    }
