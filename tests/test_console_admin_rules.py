"""The admin console's ticket types and rules: filled, refused next to the field with the words
the CLI uses, saved, and a corpus mail previewed under rules not yet saved."""

from __future__ import annotations

import pytest
from rich.text import Text
from textual.widgets import Input, Static, TextArea

from tests.admin_pilot import (
    admin_app,
    error_of,
    open_section,
    rows,
    set_field,
    until,
)
from tests.conftest import CORPUS, Cli
from tests.snapshots import assert_snapshot
from tuidesk.screens.admin import AdminScreen
from tuidesk.screens.edit import EditScreen
from tuidesk.screens.preview import PreviewScreen
from tuidesk.storage.db import read_session, session_scope
from tuidesk.storage.setting_checks import save_settings
from tuidesk.storage.settings import get_settings
from tuidesk.storage.ticket_types import list_ticket_types, save_ticket_type
from tuidesk.widgets.form import widget_id

# A customer writing in Czech from auto-mat.cz to a helpdesk address (django-helpdesk's tests).
CUSTOMER_MAIL = CORPUS / "django-helpdesk" / "tests" / "test_files" / "all-special-chars.eml"


def stored_rules(engine) -> dict:  # type: ignore[no-untyped-def]
    with read_session(engine) as s:
        return get_settings(s.connection())


def stored_types(engine) -> list:  # type: ignore[no-untyped-def]
    with read_session(engine) as s:
        return list_ticket_types(s)


async def open_form(pilot, section: str, key: str) -> AdminScreen:  # type: ignore[no-untyped-def]
    """The section from the sidebar, then `n` (key "new") or Enter on the row."""
    screen = await open_section(pilot, section)
    await pilot.press("n" if key == "new" else "enter")
    await until(pilot, lambda: isinstance(pilot.app.screen, EditScreen), f"the {section} form")
    return screen


async def save_refused(pilot, field: str) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("ctrl+s")
    await until(pilot, lambda: error_of(pilot.app, field) != "", f"the {field} error")
    assert isinstance(pilot.app.screen, EditScreen)


def preview_text(app) -> str:  # type: ignore[no-untyped-def]
    rendered = app.screen.query_one("#preview-result", Static).render()
    return rendered.plain if isinstance(rendered, Text) else str(rendered)


async def test_a_ticket_type_is_saved_with_its_fields_and_edits_as_it_was_typed(admin_db) -> None:
    engine, admin = admin_db
    app = admin_app(engine, admin)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_form(pilot, "Ticket types", "new")
        set_field(app, "name", "Incident")
        set_field(app, "fields", "impact:choice!=low\nhours:number\n")
        await pilot.pause()
        assert_snapshot(app.export_screenshot(), "admin_types_form")
        await pilot.press("ctrl+s")
        listed = [["Incident", "impact:choice!=low, hours:number"]]
        await until(pilot, lambda: rows(screen) == listed, "the type in the list")
        assert app.screen is screen
        assert_snapshot(app.export_screenshot(), "admin_types_list")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, EditScreen), "the Incident form")
        shown = app.screen.query_one(f"#{widget_id('fields')}", TextArea).text
        assert shown == "impact:choice!=low\nhours:number"
        set_field(app, "fields", shown + "\ndue:date=2026-01-31")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.screen is screen, "the list again")
    assert stored_types(engine) == [
        {
            "name": "Incident",
            "fields": [
                {"name": "impact", "kind": "choice", "required": True, "default": "low"},
                {"name": "hours", "kind": "number", "required": False, "default": None},
                {"name": "due", "kind": "date", "required": False, "default": "2026-01-31"},
            ],
        }
    ]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # no row decides it: once
async def test_a_bad_field_line_is_refused_next_to_the_fields(admin_db) -> None:
    """The ticket type form's one refusal through the console (the lines refused:
    test_form_refusals.py)."""
    engine, admin = admin_db
    app = admin_app(engine, admin)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_form(pilot, "Ticket types", "new")
        set_field(app, "name", "Incident")
        set_field(app, "fields", "due:date\nimpact:colour")
        await save_refused(pilot, "fields")
        kinds = "kind must be one of text, number, date, choice"
        assert f"field 'impact': {kinds}" in error_of(app, "fields")
        assert error_of(app, "name") == ""
    assert stored_types(engine) == []


async def test_a_ticket_type_in_use_is_not_removed_and_says_why(admin_db) -> None:
    engine, admin = admin_db
    with session_scope(engine) as s:
        save_ticket_type(s, name="Incident", fields=[])
        save_settings(s, {"default_ticket_type": "Incident"})
    app = admin_app(engine, admin)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_section(pilot, "Ticket types")
        await pilot.press("d")
        await pilot.press("y")
        message = screen.query_one("#admin-message", Static)
        await until(pilot, lambda: "Not removed" in str(message.render()), "the refusal")
        assert "is the default_ticket_type setting; change that first" in str(message.render())
    assert [t["name"] for t in stored_types(engine)] == ["Incident"]


async def test_the_rules_form_saves_domains_a_separator_and_the_ack_subject(admin_db) -> None:
    engine, admin = admin_db
    app = admin_app(engine, admin)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_form(pilot, "Rules", "rules")
        assert_snapshot(app.export_screenshot(), "admin_rules_form")
        set_field(app, "allowed_domains", "Example.com, customer.test")
        set_field(app, "reply_separators", "^-- reply above this line --$\n")
        set_field(app, "ack_subject", "We have it: {title} [{ref}]")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.screen is screen, "the list again")
        assert "allowed domains: example.com, customer.test" in rows(screen)[0][1]
    rules = stored_rules(engine)
    assert rules["allowed_domains"] == ["example.com", "customer.test"]
    assert rules["reply_separators"] == ["^-- reply above this line --$"]
    assert rules["ack_subject"] == "We have it: {title} [{ref}]"
    assert rules["outbox_retry_seconds"] == [60, 300, 900, 3600]  # shown as text, kept as numbers


async def test_an_empty_separator_box_means_the_built_in_list(admin_db) -> None:
    engine, admin = admin_db
    app = admin_app(engine, admin)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_form(pilot, "Rules", "rules")
        set_field(app, "reply_separators", "  \n")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.screen is screen, "the list again")
    assert stored_rules(engine)["reply_separators"] is None


async def test_every_bad_rule_is_shown_under_its_own_field_and_none_is_saved(admin_db) -> None:
    engine, admin = admin_db
    before = stored_rules(engine)
    app = admin_app(engine, admin)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_form(pilot, "Rules", "rules")
        set_field(app, "allowed_domains", "good.test, not a domain")
        set_field(app, "reply_separators", "^-- above --$\n(unclosed")
        set_field(app, "ack_subject", "Ticket {ticket}")
        set_field(app, "outbox_retry_seconds", "")
        set_field(app, "acknowledge", True)  # a good value in the same form is not saved either
        await save_refused(pilot, "allowed_domains")
        assert "'not a domain' is not a domain" in error_of(app, "allowed_domains")
        assert "'(unclosed' is not a regular expression" in error_of(app, "reply_separators")
        assert "{ticket} is not a placeholder" in error_of(app, "ack_subject")
        assert "at least one wait in seconds is needed" in error_of(app, "outbox_retry_seconds")
        assert error_of(app, "ack_body") == ""
        assert_snapshot(app.export_screenshot(), "admin_rules_errors")
    assert stored_rules(engine) == before


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # no row decides it: once
async def test_the_form_and_config_set_refuse_a_bad_domain_in_the_same_words(
    admin_db, _isolated_home
) -> None:
    engine, admin = admin_db
    app = admin_app(engine, admin)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_form(pilot, "Rules", "rules")
        set_field(app, "allowed_domains", "not a domain")
        await save_refused(pilot, "allowed_domains")
        shown = error_of(app, "allowed_domains")
    cli = Cli(_isolated_home, str(engine.url))
    proc = cli("config", "set", "allowed_domains", "not a domain", check=False)
    assert proc.returncode == 2
    assert proc.stderr.decode().strip() == f"tuidesk: setting 'allowed_domains': {shown}"


async def test_rules_cannot_be_removed(admin_db) -> None:
    engine, admin = admin_db
    app = admin_app(engine, admin)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_section(pilot, "Rules")
        await pilot.press("d")
        await pilot.press("y")
        message = screen.query_one("#admin-message", Static)
        await until(pilot, lambda: "Not removed" in str(message.render()), "the refusal")
        assert "the rules cannot be removed" in str(message.render())


async def test_a_preview_decides_a_corpus_mail_under_rules_not_yet_saved(admin_db) -> None:
    engine, admin = admin_db
    app = admin_app(engine, admin)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_form(pilot, "Rules", "rules")
        edit = app.screen
        set_field(app, "allowed_domains", "example.com")
        await pilot.press("ctrl+r")
        await until(pilot, lambda: isinstance(app.screen, PreviewScreen), "the preview")
        app.screen.query_one("#preview-path", Input).value = str(CUSTOMER_MAIL)
        app.screen.query_one("#preview-path", Input).focus()
        await pilot.press("enter")
        await until(pilot, lambda: preview_text(app) != "", "the decision")
        assert preview_text(app).startswith("This mail is ignored: ")
        assert "sender domain auto-mat.cz is not in the allowed domains" in preview_text(app)
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is edit, "the rules form again")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, AdminScreen), "the list again")
        assert stored_rules(engine)["allowed_domains"] == []

        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, EditScreen), "the rules form")
        set_field(app, "allowed_domains", "example.com, auto-mat.cz")
        set_field(app, "reply_separators", "(unclosed")
        await pilot.press("ctrl+r")
        await until(pilot, lambda: isinstance(app.screen, PreviewScreen), "the preview")
        app.screen.query_one("#preview-paste", TextArea).text = CUSTOMER_MAIL.read_text()
        await pilot.press("ctrl+r")
        await until(pilot, lambda: preview_text(app) != "", "the refusal")
        assert preview_text(app).startswith(
            "Cannot preview: setting 'reply_separators': '(unclosed' is not a regular expression"
        )
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, EditScreen), "the rules form again")
        set_field(app, "reply_separators", "")
        await pilot.press("ctrl+r")
        await until(pilot, lambda: isinstance(app.screen, PreviewScreen), "the preview")
        app.screen.query_one("#preview-paste", TextArea).text = CUSTOMER_MAIL.read_text()
        await pilot.press("ctrl+r")
        await until(pilot, lambda: preview_text(app) != "", "the decision")
        shown = preview_text(app)
        assert shown.startswith("This mail opens a new ticket: ")
        assert "Branch: Support (SUP)" in shown
        assert "Requester: Timothy Hobbs <timothy.hobbs@auto-mat.cz>" in shown
        assert_snapshot(app.export_screenshot(), "admin_preview_result")
    assert stored_rules(engine)["allowed_domains"] == []
    with read_session(engine) as s:
        assert s.connection().exec_driver_sql("SELECT count(*) FROM ticket").scalar() == 0


async def test_the_rules_form_saves_the_requester_agent_mail_and_notify_settings(admin_db) -> None:
    engine, admin = admin_db
    app = admin_app(engine, admin)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_form(pilot, "Rules", "rules")
        set_field(app, "notify_min_interval_seconds", "soon")
        await save_refused(pilot, "notify_min_interval_seconds")
        set_field(app, "notify_min_interval_seconds", "30")
        set_field(app, "form_senders", "*@forms.example, wordpress@*")
        set_field(app, "requester_from_reply_to", True)
        set_field(app, "trusted_authserv_ids", "mx.example.com")
        set_field(app, "agent_mail_commands", True)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.screen is screen, "the list again")
    rules = stored_rules(engine)
    assert rules["notify_min_interval_seconds"] == 30
    assert rules["form_senders"] == ["*@forms.example", "wordpress@*"]
    assert rules["requester_from_reply_to"] is True
    assert rules["trusted_authserv_ids"] == ["mx.example.com"]
    assert rules["agent_mail_commands"] is True
