"""Field mappings and the update-type whitelist through the real CLI and database: a channel
set with `channel edit --map ...`, then mail piped in through it."""

from __future__ import annotations

import json

import pytest

from tests.conftest import CORPUS
from tests.engine.conftest import mail

# Importance: high, two inline images and a PDF attached, From: <meteo@regione.vda.it>.
METEO = CORPUS / "mail-parser" / "tests" / "mails" / "mail_test_2"


@pytest.fixture
def desk(cli, tmp_path):  # type: ignore[no-untyped-def]
    """A Support branch, the ticket types Incident (three custom fields) and Change (none), and
    a pipe channel `support` that opens Incident tickets."""
    cli("branch", "edit", "Support", "--address", "support@example.com", "--default")
    conf = tmp_path / "types.toml"
    conf.write_text(
        '[[ticket_type]]\nname = "Incident"\nfield = [{ name = "impact" }, { name = "files" },'
        ' { name = "reporter" }]\n\n[[ticket_type]]\nname = "Change"\n\n'
        '[[channel]]\nname = "support"\nticket_type = "Incident"\n'
    )
    cli("config", "import", str(conf))
    return cli


def pipe(cli, raw: bytes, *args: str) -> dict:  # type: ignore[no-untyped-def]
    return json.loads(cli("pipe", "--json", "--channel", "support", *args, input=raw).stdout)


def show(cli, ref: str) -> dict:  # type: ignore[no-untyped-def]
    return json.loads(cli("ticket", "show", ref, "--json").stdout)


def test_mail_properties_fill_the_mapped_fields_with_defaults_for_what_is_missing(desk):
    desk("channel", "edit", "support", "--map", "title=subject", "--map", "impact=importance",
         "--map", "files=attachments", "--map", "reporter=sender",
         "--map-default", "impact=low", "--restricted", "reporter")  # fmt: skip
    shown = json.loads(desk("channel", "show", "support", "--json").stdout)
    assert shown["field_mappings"][1] == {
        "field": "impact", "property": "importance", "default": "low", "restricted": False
    }  # fmt: skip
    assert pipe(desk, METEO.read_bytes())["ticket"] == "SUP-1"
    t = show(desk, "SUP-1")
    assert (t["title"], t["type"]) == ("Bollettino Meteorologico del 29/11/2015", "Incident")
    assert t["custom_fields"] == {
        "impact": "high",
        "files": "intestazione.jpg, logometeo.jpg, Bollettino.pdf",
        "reporter": "meteo@regione.vda.it",
    }
    assert t["restricted"] == ["reporter"]
    text = desk("ticket", "show", "SUP-1").stdout.decode()
    assert "impact: high\n" in text and "reporter: meteo@regione.vda.it  (restricted)" in text
    exported = desk("config", "export").stdout.decode()  # TOML has no null: none is stored
    assert 'field = "reporter"' in exported and 'property = "sender"' in exported
    # No importance header and no attachments: the default, and nothing for `files`.
    pipe(desk, mail("From: Bob <bob@customer.test>\nSubject: Re: plain"))
    assert show(desk, "SUP-2")["custom_fields"] == {
        "impact": "low",
        "reporter": "Bob <bob@customer.test>",
    }


def test_a_priority_mapping_and_its_default(desk):
    desk("channel", "edit", "support", "--map", "priority=importance",
         "--map-default", "priority=urgent")  # fmt: skip
    decision = pipe(desk, mail("From: a@customer.test\nSubject: calm"), "--dry-run")
    assert decision["fields"]["priority"] == "urgent"
    assert {"step": "map", "outcome": "mappings", "rule": "priority from default (importance "
            "absent)"} in decision["steps"]  # fmt: skip
    pipe(desk, mail("From: a@customer.test\nSubject: calm"))
    assert show(desk, "SUP-1")["priority"] == "urgent"
    desk("channel", "edit", "support", "--no-maps")
    pipe(desk, mail("From: a@customer.test\nSubject: calm again"))
    assert show(desk, "SUP-2")["priority"] == "normal"
    assert json.loads(desk("channel", "show", "support", "--json").stdout)["field_mappings"] == []


def test_a_required_field_gets_its_default_or_the_ticket_says_it_needs_it(desk):
    desk("type", "edit", "Incident", "--field", "impact:choice!=low", "--field", "files!",
         "--field", "due:date")  # fmt: skip
    desk("channel", "edit", "support", "--map", "files=attachments")
    pipe(desk, METEO.read_bytes())  # three attachments: files is filled
    plain = mail("From: Bob <bob@customer.test>\nSubject: printer")  # none: files stays empty
    steps = pipe(desk, plain, "--dry-run")["steps"]
    assert {"step": "map", "outcome": "required", "rule": "needs: files"} in steps
    pipe(desk, plain)
    assert (show(desk, "SUP-1")["needs"], show(desk, "SUP-2")["needs"]) == ([], ["files"])
    assert show(desk, "SUP-2")["custom_fields"] == {"impact": "low"}
    listed = desk("ticket", "list").stdout.decode().splitlines()
    assert listed[0].startswith("SUP-2") and listed[0].endswith("printer  needs: files")
    assert "needs" not in listed[1]
    assert "\nneeds: files\n" in desk("ticket", "show", "SUP-2").stdout.decode()

    done = desk("ticket", "set", "SUP-2", "--field", "files=photo.jpg", "--field",
                "due=2026-12-01", "--json")  # fmt: skip
    assert json.loads(done.stdout)["changes"] == {
        "fields": {"files": "photo.jpg", "due": "2026-12-01"}
    }
    assert show(desk, "SUP-2")["needs"] == []
    for field, said in [
        ("due=tomorrow", "'tomorrow' is not a date"),
        ("nosuch=1", "SUP-2 has type 'Incident': no field 'nosuch' (its fields: impact, files, "
                     "due)"),
        ("files=", "files is required: give it a value"),
        ("impact", "--field 'impact': give NAME=VALUE"),
    ]:  # fmt: skip
        proc = desk("ticket", "set", "SUP-2", "--field", field, check=False)
        assert proc.returncode == 2 and said in proc.stderr.decode(), field
    # Every bad value is said at once, not only the first (the console shows each by its field).
    proc = desk("ticket", "set", "SUP-2", "--field", "due=tomorrow", "--field", "files=",
                check=False)  # fmt: skip
    said = proc.stderr.decode()
    assert "'tomorrow' is not a date" in said and "files is required" in said
    assert desk("ticket", "set", "SUP-2", "--field", "due=").stdout == b"SUP-2: due -\n"
    assert show(desk, "SUP-2")["custom_fields"] == {"impact": "low", "files": "photo.jpg"}


def test_the_ticket_list_filters_by_the_channel_a_ticket_came_in_on(desk, tmp_path, db_engine):
    from tuidesk.storage.ticket_list import TicketFilter, ticket_ids

    conf = tmp_path / "web.toml"
    conf.write_text('[[channel]]\nname = "web"\n')
    desk("config", "import", str(conf))
    pipe(desk, mail("From: a@customer.test\nSubject: one"))
    desk("pipe", "--channel", "web", input=mail("From: b@customer.test\nSubject: two"))
    desk("pipe", input=mail("From: c@customer.test\nSubject: three"))  # no channel

    def refs(*args: str) -> list[str]:
        return [t["ref"] for t in json.loads(desk("ticket", "list", *args, "--json").stdout)]

    assert refs() == ["SUP-3", "SUP-2", "SUP-1"]
    assert (refs("--channel", "support"), refs("--channel", "web")) == (["SUP-1"], ["SUP-2"])
    proc = desk("ticket", "list", "--channel", "nope", check=False)
    assert proc.returncode == 2 and "no channel 'nope'" in proc.stderr.decode()
    with db_engine.connect() as conn:
        assert ticket_ids(conn, TicketFilter(channel="web")) == [2]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # validation: once
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--map", "impact=colour"], "'colour' is not a mail property"),
        (["--map", "nosuch=subject"], "'nosuch' is not a field of the channel's ticket type"),
        (["--map", "impact"], "--map takes FIELD=PROPERTY"),
        (["--map", "impact=body", "--map", "impact=subject"], "two mappings for 'impact'"),
        (["--map-default", "priority=asap"], "the default priority must be one of"),
        (["--restricted", "impact"], "--restricted impact: no mapping for it"),
        (["--update-type", "Nope"], "'Nope' is not a ticket type"),
    ],
)
def test_bad_mappings_are_refused_with_a_plain_message(desk, args, message):
    proc = desk("channel", "edit", "support", *args, check=False)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr.decode() and b"Traceback" not in proc.stderr
    shown = json.loads(desk("channel", "show", "support", "--json").stdout)
    assert (shown["field_mappings"], shown["update_types"]) == ([], [])


def test_a_reply_to_a_ticket_of_a_type_not_taking_updates_opens_a_new_ticket(desk):
    desk("channel", "edit", "support", "--ticket-type", "Change")
    pipe(desk, mail("From: a@customer.test\nMessage-ID: <change@c>\nSubject: new switch"))
    desk("channel", "edit", "support", "--ticket-type", "Incident", "--update-type", "incident")
    pipe(desk, mail("From: a@customer.test\nMessage-ID: <inc@c>\nSubject: switch down"))
    assert [show(desk, r)["type"] for r in ("SUP-1", "SUP-2")] == ["Change", "Incident"]
    assert json.loads(desk("channel", "show", "support", "--json").stdout)["update_types"] == [
        "Incident"
    ]

    on_change = mail("From: a@customer.test\nIn-Reply-To: <change@c>\nSubject: Re: new switch")
    decision = pipe(desk, on_change, "--dry-run")
    thread = [s["rule"] for s in decision["steps"] if s["step"] == "thread"]
    assert thread[-1] == "SUP-1 is a Change ticket, which does not take updates by email"
    assert pipe(desk, on_change) == {
        "action": "created", "ticket": "SUP-3", "reason": "new ticket in SUP"
    }  # fmt: skip
    on_incident = mail("From: a@customer.test\nIn-Reply-To: <inc@c>\nSubject: Re: switch down")
    assert pipe(desk, on_incident)["ticket"] == "SUP-2"

    desk("channel", "edit", "support", "--any-type-updates")
    again = mail("From: a@customer.test\nIn-Reply-To: <change@c>\nSubject: Re: new switch 2")
    assert pipe(desk, again)["action"] == "commented"


def test_channels_from_before_mappings_get_none(_isolated_home):
    from alembic import command
    from sqlalchemy import text

    from tuidesk.storage.db import make_engine
    from tuidesk.storage.schema import alembic_config, upgrade_schema

    engine = make_engine(f"sqlite:///{_isolated_home / 'old.sqlite3'}")
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0004")
        conn.execute(
            text(
                "INSERT INTO channel (name, kind, field_defaults, allowed_domains, attach_original)"
                " VALUES ('old', 'pipe', '{}', '[]', false)"
            )
        )
    upgrade_schema(engine)
    with engine.connect() as conn:
        row = conn.execute(text("SELECT field_mappings, update_types FROM channel")).one()
    engine.dispose()
    assert [json.loads(v) if isinstance(v, str) else v for v in row] == [[], []]
