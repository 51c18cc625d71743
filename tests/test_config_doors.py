"""Queues, ticket types and rules reach the database through one set of save functions: the
CLI and `config import` refuse the same input with the same words, and save nothing."""

from __future__ import annotations

import json

import pytest

from tests.engine.conftest import mail

# (what the CLI is given, the same thing as a TOML file, the words both must print)
REFUSED = {
    "bad colour": (
        ["queue", "add", "Tier 2", "--colour", "blurple"],
        '[[queue]]\nname = "Tier 2"\ncolour = "blurple"\n',
        "queue 'Tier 2': 'blurple' is not a colour",
    ),
    "duplicate queue": (
        ["queue", "add", "tier 1"],
        '[[queue]]\nname = "tier 1"\n',
        "queue 'tier 1': a queue named 'Tier 1' exists already",
    ),
    "bad field kind": (
        ["type", "add", "Incident", "--field", "impact:colour"],
        '[[ticket_type]]\nname = "Incident"\nfield = [{ name = "impact", kind = "colour" }]\n',
        "ticket type 'Incident': field 'impact': kind must be one of text, number, date, choice",
    ),
    "number default not a number": (
        ["type", "add", "Incident", "--field", "hours:number=soon"],
        '[[ticket_type]]\nname = "Incident"\n'
        'field = [{ name = "hours", kind = "number", default = "soon" }]\n',
        "ticket type 'Incident': field 'hours': the default must be a number, not 'soon'",
    ),
    "bad domain in allowed_domains": (
        ["config", "set", "allowed_domains", "good.test", "not a domain"],
        '[settings]\nallowed_domains = ["good.test", "not a domain"]\n',
        "setting 'allowed_domains': 'not a domain' is not a domain",
    ),
    "bad regex in reply_separators": (
        ["config", "set", "reply_separators", "^-- above --$", "(unclosed"],
        '[settings]\nreply_separators = ["^-- above --$", "(unclosed"]\n',
        "setting 'reply_separators': '(unclosed' is not a regular expression",
    ),
    "unknown placeholder in ack_subject": (
        ["config", "set", "ack_subject", "Ticket {ticket}"],
        '[settings]\nack_subject = "Ticket {ticket}"\n',
        "setting 'ack_subject': {ticket} is not a placeholder",
    ),
    "retry list empty": (
        ["config", "set", "outbox_retry_seconds"],
        "[settings]\noutbox_retry_seconds = []\n",
        "setting 'outbox_retry_seconds': at least one wait in seconds is needed",
    ),
    "default_queue that does not exist": (
        ["config", "set", "default_queue", "Nowhere"],
        '[settings]\ndefault_queue = "Nowhere"\n',
        "setting 'default_queue': no queue named 'Nowhere'",
    ),
}


def js(cli, *args: str):  # type: ignore[no-untyped-def]
    return json.loads(cli(*args, "--json").stdout)


def refusal(proc) -> str:  # type: ignore[no-untyped-def]
    """The one line a refused command prints, without the program name."""
    lines = proc.stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0].removeprefix("tuidesk: ")


@pytest.mark.parametrize("case", REFUSED)
def test_the_cli_and_config_import_refuse_the_same_input_in_the_same_words(cli, tmp_path, case):
    args, toml, words = REFUSED[case]
    cli("queue", "add", "Tier 1", "--colour", "green")
    before = cli("config", "export").stdout
    by_cli = cli(*args, check=False)
    (tmp_path / "bad.toml").write_text(toml)
    by_file = cli("config", "import", str(tmp_path / "bad.toml"), check=False)
    assert by_cli.returncode == by_file.returncode == 2
    assert refusal(by_cli) == refusal(by_file)
    assert refusal(by_cli).startswith(words)
    assert cli("config", "export").stdout == before


def test_config_import_names_every_bad_setting_at_once_and_saves_none(cli, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[settings]\nacknowledge = true\nack_max_per_hour = -1\nmessage_id_domain = "x"\n'
    )
    proc = cli("config", "import", str(bad), check=False)
    message = refusal(proc)
    assert "setting 'ack_max_per_hour': acknowledgements per hour must be 0 or more" in message
    assert "setting 'message_id_domain': 'x' is not a domain" in message
    assert js(cli, "config", "get", "acknowledge") is False


def test_what_the_cli_saves_exports_and_imports_back_the_same(cli, tmp_path):
    cli("queue", "add", "Tier 1", "--colour", "Green")
    cli("queue", "add", "Billing", "--colour", "#ff8800")
    cli("queue", "edit", "Billing", "--name", "Invoices")
    cli(
        "type", "add", "Incident", "--field", "impact:choice!=low", "--field", "hours:number=2.5",
        "--field", "due:date=2026-01-31", "--field", "note",
    )  # fmt: skip
    cli("config", "set", "allowed_domains", "Customer.test", "partner.test")
    cli("config", "set", "aliases", "Help@Example.com=support@example.com")
    cli("config", "set", "field_defaults", "impact=high")
    cli("config", "set", "acknowledge", "yes")
    cli("config", "set", "reopen_max_age_days", "14")
    cli("config", "set", "outbox_retry_seconds", "30", "600")
    cli("config", "set", "default_queue", "Invoices")
    cli("config", "set", "default_ticket_type", "Incident")
    cli("config", "set", "ack_subject", "We have it: {title} [{ref}]")

    assert js(cli, "queue", "list") == [
        {"name": "Invoices", "colour": "#ff8800"},
        {"name": "Tier 1", "colour": "green"},
    ]
    assert js(cli, "type", "list") == [
        {
            "name": "Incident",
            "fields": [
                {"name": "impact", "kind": "choice", "required": True, "default": "low"},
                {"name": "hours", "kind": "number", "required": False, "default": "2.5"},
                {"name": "due", "kind": "date", "required": False, "default": "2026-01-31"},
                {"name": "note", "kind": "text", "required": False, "default": None},
            ],
        }
    ]
    rules = js(cli, "config", "get")
    assert rules["allowed_domains"] == ["customer.test", "partner.test"]
    assert rules["aliases"] == {"help@example.com": "support@example.com"}
    assert rules["acknowledge"] is True and rules["reopen_max_age_days"] == 14
    assert rules["outbox_retry_seconds"] == [30, 600]

    exported = tmp_path / "out.toml"
    cli("config", "export", str(exported))
    (tmp_path / "h2").mkdir()
    other = cli.__class__(tmp_path / "h2", f"sqlite:///{tmp_path / 'other.sqlite3'}")
    other("db", "upgrade")
    other("config", "import", str(exported))
    assert other("config", "export").stdout.decode() == exported.read_text()
    other("config", "import", str(exported))  # again: an update, not a duplicate
    assert other("config", "export").stdout.decode() == exported.read_text()

    cli("config", "set", "default_queue", "--unset")
    assert js(cli, "config", "get", "default_queue") is None


def test_type_edit_replaces_the_fields_and_a_rename_follows_into_the_rules(cli):
    cli("type", "add", "Incident", "--field", "impact:choice!=low")
    cli("config", "set", "default_ticket_type", "Incident")
    cli("type", "edit", "Incident", "--name", "Outage")
    assert js(cli, "config", "get", "default_ticket_type") == "Outage"
    assert js(cli, "type", "list")[0]["fields"][0]["name"] == "impact"
    cli("type", "edit", "Outage", "--field", "since:date")
    assert [f["name"] for f in js(cli, "type", "list")[0]["fields"]] == ["since"]
    proc = cli("type", "remove", "Outage", check=False)
    assert proc.returncode == 2 and "default_ticket_type" in refusal(proc)


def test_a_queue_in_use_cannot_be_removed(cli):
    cli("branch", "edit", "Support", "--address", "support@example.com")
    cli("queue", "add", "Tier 1")
    cli("pipe", input=mail("From: c@customer.test\nTo: support@example.com\nSubject: help"))
    cli("ticket", "set", "SUP-1", "--queue", "Tier 1")
    proc = cli("queue", "remove", "Tier 1", check=False)
    assert proc.returncode == 2
    assert refusal(proc) == (
        "queue 'Tier 1': queue 'Tier 1' has 1 ticket(s); move them to another queue first"
    )
    assert js(cli, "queue", "list") == [{"name": "Tier 1", "colour": "default"}]
    cli("ticket", "set", "SUP-1", "--queue", "")
    cli("config", "set", "default_queue", "Tier 1")
    proc = cli("queue", "remove", "Tier 1", check=False)
    assert proc.returncode == 2 and "is the default_queue setting" in refusal(proc)
    cli("config", "set", "default_queue", "--unset")
    cli("queue", "remove", "Tier 1")
    assert js(cli, "queue", "list") == []


def test_a_queue_or_type_a_channel_names_cannot_be_removed_and_a_rename_follows_into_it(
    session,
):
    from sqlmodel import select

    from tuidesk.storage.models import Channel
    from tuidesk.storage.queues import QueueError, remove_queue, save_queue
    from tuidesk.storage.ticket_types import (
        TicketTypeError,
        remove_ticket_type,
        save_ticket_type,
    )

    queue = save_queue(session, name="Tier 1", colour="default")
    ticket_type = save_ticket_type(session, name="Incident", fields=[])
    session.add(Channel(name="mx", queue="Tier 1", ticket_type="Incident"))
    session.flush()
    with pytest.raises(QueueError, match="channel 'mx' puts its tickets in queue 'Tier 1'"):
        remove_queue(session, queue)
    with pytest.raises(TicketTypeError, match="channel 'mx' gives its tickets type 'Incident'"):
        remove_ticket_type(session, ticket_type)
    replies = Channel(name="replies", update_types=["Incident"])
    session.add(replies)
    save_ticket_type(session, name="Outage", fields=[], ticket_type=ticket_type)
    assert replies.update_types == ["Outage"]
    mx = session.exec(select(Channel).where(Channel.name == "mx")).one()
    mx.ticket_type = None
    session.flush()
    with pytest.raises(TicketTypeError, match="channel 'replies' takes replies for type 'Outage'"):
        remove_ticket_type(session, ticket_type)


def test_every_rule_has_a_check_and_its_default_passes_it():
    from tuidesk.storage.setting_checks import check_setting
    from tuidesk.storage.settings import SETTINGS

    for key, (default, _) in SETTINGS.items():
        assert check_setting(key, default) == default, key


def test_errors_carry_the_field_they_belong_to():
    from tuidesk.storage.checks import Invalid
    from tuidesk.storage.setting_checks import check_setting

    with pytest.raises(Invalid) as caught:
        check_setting("restrict_replies", "maybe")
    assert list(caught.value.errors) == ["restrict_replies"]
    assert check_setting("restrict_replies", "No") is False
    assert check_setting("max_mime_parts", "12") == 12
    with pytest.raises(Invalid, match="must be a whole number"):
        check_setting("max_mime_parts", True)


# (what `channel edit support` is given, the same change in the admin form, the words of both)
CHANNEL_REFUSED = {
    "alias to a bad address": (
        ["--host", "other.example.com", "--alias", "help@example.com=not an address"],
        {"host": "other.example.com", "aliases": {"help@example.com": "not an address"}},
        "'not an address' is not a mail address",
    ),
    "outgoing channel that does not exist": (
        ["--max-tries", "5", "--outgoing", "nowhere"],
        {"max_tries": 5, "outgoing": "nowhere"},
        "no outgoing channel named 'nowhere'",
    ),
    "update type that does not exist": (
        ["--status", "paused", "--update-type", "Nope"],
        {"status": "paused", "update_types": ["Nope"]},
        "'Nope' is not a ticket type",
    ),
    "mapping from no mail property": (
        ["--folder", "Support", "--map", "title=smell"],
        {"folders": ["Support"], "field_mappings": ["title <- smell"]},
        "'smell' is not a mail property",
    ),
}


@pytest.mark.parametrize("case", CHANNEL_REFUSED)
def test_the_cli_and_the_admin_form_refuse_the_same_channel_edit_in_the_same_words(
    cli, db_engine, tmp_path, case
):
    """Both save through storage's edit_channel, which checks the whole channel before any of
    the changes (the good ones too) reaches it."""
    from tuidesk.screens.admin_channels import ChannelsSection
    from tuidesk.storage.channel_state import ChannelError
    from tuidesk.storage.db import session_scope

    args, form_changes, words = CHANNEL_REFUSED[case]
    cli("channel", "add", "support", "--host", "imap.example.com", "--port", "993",
        "--username", "support@example.com", "--password-env", "SUPPORT_PW")  # fmt: skip
    before = js(cli, "channel", "show", "support")
    by_cli = cli("channel", "edit", "support", *args, check=False)
    section = ChannelsSection(tmp_path)
    with session_scope(db_engine) as session:  # commits: what a refusal left must be nothing
        values = section.form(session, "support").values | form_changes
        with pytest.raises(ChannelError) as by_form:
            section.save(session, "support", values)
    assert by_cli.returncode == 2
    assert refusal(by_cli) == str(by_form.value)
    assert refusal(by_cli).startswith(words)
    assert js(cli, "channel", "show", "support") == before
