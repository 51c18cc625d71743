"""Tags: one spelling each, added and removed through `ticket tag`, recorded as one event with
what changed, and shown wherever tickets are listed or shown."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from tests.engine.conftest import mail
from tests.test_merge import engine_of, events
from tests.test_pipe import pipe, show
from tuidesk.storage.tables import tables
from tuidesk.storage.tags import TAG_LIMIT, TagError, normalize_tag, parse_changes
from tuidesk.storage.ticket_list import ticket_lines


def test_tags_are_normalized_and_changes_parsed() -> None:
    assert normalize_tag("  Billing ") == "billing"
    assert normalize_tag("É-tÜde_2") == "é-tüde_2"
    assert normalize_tag("x" * TAG_LIMIT) == "x" * TAG_LIMIT
    for bad, why in (("", "not empty"), ("a\x07b", "control"), ("a\u0085b", "control"),
                     ("x" * (TAG_LIMIT + 1), f"at most {TAG_LIMIT}")):  # fmt: skip
        with pytest.raises(TagError, match=why):
            normalize_tag(bad)
    assert parse_changes(["+A", "-b", "c,D", "a", "+e -f"]) == (["a", "c", "d", "e"], ["b", "f"])
    with pytest.raises(TagError, match="both added and removed: vip"):
        parse_changes(["+vip", "-VIP"])


def test_ticket_tag_adds_removes_records_and_shows_them(cli) -> None:
    cli("branch", "edit", "Support", "--address", "support@example.com", "--default")
    pipe(cli, mail("From: alice@customer.test\nSubject: Invoice wrong"))
    pipe(cli, mail("From: bob@customer.test\nSubject: Other"))
    out = json.loads(cli("ticket", "tag", "SUP-1", "+Billing", "vip", "--json").stdout)
    assert out == {"ticket": "SUP-1", "tags": ["billing", "vip"], "added": ["billing", "vip"],
                   "removed": []}  # fmt: skip
    said = cli("ticket", "tag", "SUP-1", "-vip", "+urgent", "-nothere").stdout.decode()
    assert said == "SUP-1: +urgent -vip; tags now billing, urgent\n"
    said = cli("ticket", "tag", "1", "billing", "-vip").stdout.decode()
    assert said == "SUP-1: no change; tags billing, urgent\n"
    assert events(cli) == [
        (1, "tags", {"added": ["billing", "vip"], "removed": []}),
        (1, "tags", {"added": ["urgent"], "removed": ["vip"]}),
    ]
    for args, why in ((("SUP-9", "+a"), "no ticket SUP-9"),
                      (("SUP-1", "+a\x01"), "control characters")):  # fmt: skip
        proc = cli("ticket", "tag", *args, check=False)
        assert proc.returncode == 2 and why in proc.stderr.decode()

    assert show(cli, "SUP-1")["tags"] == ["billing", "urgent"]
    assert "tags: billing, urgent" in cli("ticket", "show", "SUP-1").stdout.decode()
    listed = json.loads(cli("ticket", "list", "--json").stdout)
    assert [(t["ref"], t["tags"]) for t in listed] == [
        ("SUP-2", []),
        ("SUP-1", ["billing", "urgent"]),
    ]
    lines = cli("ticket", "list").stdout.decode().splitlines()
    assert lines[1].endswith("Invoice wrong  #billing #urgent") and "#" not in lines[0]
    engine = engine_of(cli)
    with engine.connect() as conn:
        rows = ticket_lines(conn, [1, 2])
        stored = conn.execute(select(tables(conn).ticket_tag.c.tag)).scalars().all()
    engine.dispose()
    assert (rows[1].tags, rows[2].tags) == (("billing", "urgent"), ())
    assert sorted(stored) == ["billing", "urgent"]
