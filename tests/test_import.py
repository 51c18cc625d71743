"""`tuidesk import`: .eml files, folders, mbox and Maildir; a second run changes nothing."""

from __future__ import annotations

import json
import mailbox

import pytest

from tests.engine.conftest import mail


@pytest.fixture
def desk(cli):  # type: ignore[no-untyped-def]
    cli("branch", "edit", "Support", "--address", "support@example.com")
    return cli


def summary(cli, *paths) -> dict:  # type: ignore[no-untyped-def]
    return json.loads(cli("import", *map(str, paths), "--json").stdout)


def mails(n: int, prefix: str) -> list[bytes]:
    return [
        mail(f"From: c{i}@customer.test\nMessage-ID: <{prefix}{i}@c>\nSubject: {prefix} {i}")
        for i in range(n)
    ]


def test_import_reads_eml_files_folders_mbox_and_maildir(desk, tmp_path):
    single = tmp_path / "one.eml"
    single.write_bytes(mails(1, "eml")[0])
    folder = tmp_path / "folder" / "nested"
    folder.mkdir(parents=True)
    for i, raw in enumerate(mails(3, "dir")):
        (folder / f"{i}.eml").write_bytes(raw)
    box = mailbox.mbox(tmp_path / "archive.mbox")
    for raw in mails(4, "mbox"):
        box.add(raw)
    box.flush()
    maildir = mailbox.Maildir(tmp_path / "Maildir")
    for raw in mails(2, "md"):
        maildir.add(raw)
    paths = [single, tmp_path / "folder", tmp_path / "archive.mbox", tmp_path / "Maildir"]
    first = summary(desk, *paths)
    assert first == {
        "total": 10, "created": 10, "commented": 0, "worked": 0, "ignored": 0, "duplicate": 0,
        "quarantined": 0,
    }  # fmt: skip
    titles = {t["title"] for t in json.loads(desk("ticket", "list", "--json").stdout)}
    assert {"mbox 3", "md 1", "dir 2", "eml 0"} <= titles and len(titles) == 10
    again = summary(desk, *paths)
    assert (again["total"], again["duplicate"], again["created"]) == (10, 10, 0)
    assert len(json.loads(desk("ticket", "list", "--json").stdout)) == 10


def test_a_reply_later_in_the_same_import_joins_its_ticket(desk, tmp_path):
    (tmp_path / "1.eml").write_bytes(mail("From: a@c.test\nMessage-ID: <t1@c>\nSubject: start"))
    (tmp_path / "2.eml").write_bytes(
        mail("From: a@c.test\nMessage-ID: <t2@c>\nIn-Reply-To: <t1@c>\nSubject: Re: start")
    )
    out = summary(desk, tmp_path)
    assert (out["created"], out["commented"]) == (1, 1)


def test_a_missing_path_is_a_usage_error(desk, tmp_path):
    proc = desk("import", str(tmp_path / "nope"), check=False)
    assert proc.returncode == 2 and b"nope" in proc.stderr


def test_analysing_in_a_second_process_gives_the_same_outcomes_in_the_same_order(
    db_url, _isolated_home
):
    from tuidesk.services.ingest import Ingestor
    from tuidesk.storage.blobs import BlobStore
    from tuidesk.storage.db import make_engine

    engine = make_engine(db_url)
    raws = mails(7, "par") + [b"", mails(1, "par")[0]] + mails(5, "more")
    raws.insert(3, mail("From: c0@customer.test\nIn-Reply-To: <par0@c>\nSubject: Re: par 0"))
    ingestor = Ingestor(engine, BlobStore(_isolated_home / "blobs"), source="import")
    outcomes = list(ingestor.ingest_many(raws, batch=4, parallel=True))
    engine.dispose()
    expected = ["created"] * 3 + ["commented"] + ["created"] * 4 + ["quarantined", "duplicate"]
    assert [o.action for o in outcomes] == expected + ["created"] * 5
    assert [o.ticket for o in outcomes][:4] == ["SUP-1", "SUP-2", "SUP-3", "SUP-1"]


def test_a_mail_another_process_logged_meanwhile_is_a_duplicate_and_its_batch_still_commits(
    db_url, _isolated_home, monkeypatch
):
    """Ignored mail is logged a batch at a time, in one statement. When one of its rows
    collides with a row another process committed after the batch asked what is new, that
    mail is a duplicate and the others are logged all the same."""
    from sqlalchemy import func, select

    from tuidesk.services.ingest import Ingestor
    from tuidesk.storage.blobs import BlobStore
    from tuidesk.storage.db import make_engine
    from tuidesk.storage.lookup import StorageLookup
    from tuidesk.storage.tables import tables

    engine = make_engine(db_url)
    ingestor = Ingestor(engine, BlobStore(_isolated_home / "blobs"), source="import")
    away = [
        mail(f"From: c{i}@customer.test\nAuto-Submitted: auto-replied\nSubject: away {i}")
        for i in range(3)
    ]
    human = mails(1, "held")[0]
    outcomes = ingestor.ingest_many([away[0], away[0], human, away[1]], batch=4)
    assert [o.action for o in outcomes] == ["ignored", "duplicate", "created", "ignored"]

    def unseen(self: StorageLookup, hashes: list[str]) -> None:  # asked before the other commit
        self._not_seen = set(hashes)

    monkeypatch.setattr(StorageLookup, "prefetch_unseen", unseen)
    outcomes = ingestor.ingest_many([away[2], away[1], away[2]], batch=3)
    assert [o.action for o in outcomes] == ["ignored", "duplicate", "duplicate"]
    with engine.connect() as conn:
        log = tables(conn).ingest_log
        rows = conn.execute(select(log.c.outcome, func.count()).group_by(log.c.outcome)).all()
    engine.dispose()
    assert dict(rows) == {"ignored": 3, "duplicate": 3, "created": 1}
