"""The admin console's mail channels: the IMAP channel form in the seed's four groups filled,
saved and refused next to the field; Test connection against the suite's Dovecot; the
outgoing channels with Send test mail; the preview with unsaved settings; secrets never shown."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from tests.admin_pilot import (
    admin_app,
    error_of,
    open_section,
    rows,
    set_field,
    until,
)
from tests.conftest import CORPUS
from tests.snapshots import assert_snapshot
from tuidesk.auth.credentials import resolve
from tuidesk.screens.admin import AdminScreen
from tuidesk.screens.edit import EditScreen
from tuidesk.screens.preview import PreviewScreen
from tuidesk.storage.branches import get_branch, remove_branch, save_branch
from tuidesk.storage.db import read_session, session_scope
from tuidesk.storage.models import Channel, OutgoingChannel, Queue, TicketType
from tuidesk.storage.outgoing import save_outgoing

SIZE = (120, 50)
PASSWORD = "Tr0ub4dor&3-imap"
CORPUS_MAIL = CORPUS / "django-helpdesk" / "tests" / "test_files" / "all-special-chars.eml"


@pytest.fixture
def desk(admin_db, tmp_path: Path) -> tuple[Engine, int, Path]:
    """The admin database with what a channel's Ticket mapping names: a second branch, a
    queue, a ticket type and an outgoing channel; and a config folder for secrets."""
    engine, admin = admin_db
    with session_scope(engine) as s:
        save_branch(s, name="Sales", key="SAL", addresses=["sales@example.com"], domains=[])
        s.add(Queue(name="Billing", colour="green"))
        s.add(TicketType(name="Incident"))
        out = OutgoingChannel(
            name="main", host="smtp.example.com", port=587, security="starttls",
            username="support", secret_kind="env", secret_ref="SMTP_PW",
            from_address="support@example.com",
        )  # fmt: skip
        save_outgoing(s, out)
    config = tmp_path / "config"
    config.mkdir()
    return engine, admin, config


def channel(engine: Engine, name: str = "support") -> Channel | None:
    with read_session(engine) as s:
        return s.exec(select(Channel).where(Channel.name == name)).first()


async def new_form(pilot, section: str) -> None:  # type: ignore[no-untyped-def]
    await open_section(pilot, section)
    await pilot.press("n")
    await until(pilot, lambda: isinstance(pilot.app.screen, EditScreen), f"the {section} form")


def fill_connection(app, host: str = "imap.example.com", port: int = 993) -> None:  # type: ignore[no-untyped-def]
    set_field(app, "name", "support")
    set_field(app, "host", host)
    set_field(app, "port", str(port))
    set_field(app, "username", "support@example.com")
    set_field(app, "password_from", "stored")
    set_field(app, "password", PASSWORD)


async def save(pilot) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("ctrl+s")
    await until(pilot, lambda: isinstance(pilot.app.screen, AdminScreen), "the list again")


def on_screen(app) -> str:  # type: ignore[no-untyped-def]
    """Everything the screen shows, as text: the SVG escapes `&`, `<` and spaces."""
    return html.unescape(app.export_screenshot()).replace("\xa0", " ")


def result_text(app) -> str:  # type: ignore[no-untyped-def]
    """The test's report, one space between words (the lines may be shown run together)."""
    return " ".join(str(app.screen.query_one("#edit-result").render()).split())


def steps(app) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    """(ok or FAILED, step, detail) for each step reported."""
    found = re.findall(r"(ok|FAILED) ([a-z ]+): (.*?)(?= ok | FAILED| PASSED$|$)", result_text(app))
    return [tuple(f) for f in found]


async def test_a_channel_filled_in_every_group_is_saved(desk) -> None:
    engine, admin, config = desk
    app = admin_app(engine, admin, secrets_dir=config)
    async with app.run_test(size=SIZE) as pilot:
        await new_form(pilot, "Channels")
        assert_snapshot(app.export_screenshot(), "admin_channel_form")
        fill_connection(app)
        set_field(app, "security", "starttls")
        set_field(app, "reply_to", "Help@Example.com")
        set_field(app, "max_tries", "5")
        set_field(app, "cooloff_minutes", "30")
        set_field(app, "skip_windows", "02:00-04:00, 22:00-23:30")
        set_field(app, "timeout_ms", "5000")
        set_field(app, "since", "2026-01-31")
        set_field(app, "status", "active")
        set_field(app, "folders", "INBOX, Support")
        set_field(app, "success_folder", "Done")
        set_field(app, "fail_folder", "Failed")
        set_field(app, "exclusion_folder", "Ignored")
        set_field(app, "allowed_domains", "customer.test, Example.org")
        set_field(app, "autoreply_keywords", "Out of office\nAbwesenheit")
        set_field(app, "autoreply_senders", "*@noreply.example.com")
        set_field(app, "aliases", "help@example.com = support@example.com")
        set_field(app, "branch", "Sales")
        set_field(app, "queue", "Billing")
        set_field(app, "ticket_type", "Incident")
        set_field(app, "outgoing", "main")
        set_field(
            app, "field_mappings", "title <- subject\nregion <- sender | default EU | restricted"
        )
        set_field(app, "update_types", "Incident")
        set_field(app, "attach_original", True)
        await save(pilot)
        assert rows(app.screen) == [
            ["support", "imap", "active", "imap.example.com:993", "never", "", "password"]
        ]
        assert_snapshot(app.export_screenshot(), "admin_channel_list")
        assert PASSWORD not in on_screen(app)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, EditScreen), "the channel again")
        assert PASSWORD not in on_screen(app)
        assert "stored encrypted (********)" in on_screen(app)

    saved = channel(engine)
    assert saved is not None
    assert (saved.kind, saved.host, saved.port, saved.security, saved.username) == (
        "imap", "imap.example.com", 993, "starttls", "support@example.com",
    )  # fmt: skip
    assert saved.secret_kind == "stored" and PASSWORD not in (saved.secret_ref or "")
    assert resolve(saved.secret_kind, saved.secret_ref, config) == PASSWORD
    assert saved.reply_to == "help@example.com"
    assert (saved.max_tries, saved.cooloff_minutes, saved.timeout_ms) == (5, 30, 5000)
    assert saved.skip_windows == ["02:00-04:00", "22:00-23:30"]
    assert (str(saved.since), saved.status) == ("2026-01-31", "active")
    assert saved.folders == ["INBOX", "Support"]
    assert (saved.success_folder, saved.fail_folder, saved.exclusion_folder) == (
        "Done", "Failed", "Ignored",
    )  # fmt: skip
    assert saved.allowed_domains == ["customer.test", "example.org"]
    assert saved.autoreply_keywords == ["Out of office", "Abwesenheit"]
    assert saved.autoreply_senders == ["*@noreply.example.com"]
    assert saved.aliases == {"help@example.com": "support@example.com"}
    assert (saved.branch, saved.queue, saved.ticket_type, saved.outgoing) == (
        "Sales", "Billing", "Incident", "main",
    )  # fmt: skip
    assert saved.field_mappings == [
        {"field": "title", "property": "subject", "default": "", "restricted": False},
        {"field": "region", "property": "sender", "default": "EU", "restricted": True},
    ]
    assert saved.update_types == ["Incident"]
    assert saved.attach_original is True


async def test_an_empty_password_keeps_the_stored_one(desk) -> None:
    engine, admin, config = desk
    app = admin_app(engine, admin, secrets_dir=config)
    async with app.run_test(size=SIZE) as pilot:
        await new_form(pilot, "Channels")
        fill_connection(app)
        await save(pilot)
        before = channel(engine)
        assert before is not None
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, EditScreen), "the channel again")
        set_field(app, "host", "imap2.example.com")
        await save(pilot)
    after = channel(engine)
    assert after is not None and after.host == "imap2.example.com"
    assert after.secret_ref == before.secret_ref


async def test_a_line_the_form_cannot_read_is_refused_under_its_field_and_nothing_is_saved(
    desk,
) -> None:
    """The channel form's one refusal through the console; the values each field refuses are
    in test_form_refusals.py. An alias line without `=` is the form's own refusal, made after
    the rest of the channel was written: the save is rolled back, on either database."""
    engine, admin, config = desk
    app = admin_app(engine, admin, secrets_dir=config)
    async with app.run_test(size=SIZE) as pilot:
        await new_form(pilot, "Channels")
        fill_connection(app)
        set_field(app, "aliases", "help@example.com")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: error_of(app, "aliases") != "", "the aliases error")
        assert "line 1: write it as key = value" in error_of(app, "aliases")
        assert isinstance(app.screen, EditScreen)
    assert channel(engine) is None


async def test_a_form_with_errors_marks_each_field(desk) -> None:
    engine, admin, config = desk
    app = admin_app(engine, admin, secrets_dir=config)
    async with app.run_test(size=SIZE) as pilot:
        await new_form(pilot, "Channels")
        fill_connection(app)
        set_field(app, "name", "")
        set_field(app, "host", "imap..example.com")
        set_field(app, "port", "0")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: error_of(app, "port") != "", "the errors")
        assert error_of(app, "name") and error_of(app, "host")
        app.screen.query_one("#edit-form").scroll_home(animate=False)
        await pilot.pause()
        assert_snapshot(app.export_screenshot(), "admin_channel_errors")
    assert channel(engine) is None


async def test_a_branch_removed_meanwhile_is_refused_by_name(desk) -> None:
    engine, admin, config = desk
    app = admin_app(engine, admin, secrets_dir=config)
    async with app.run_test(size=SIZE) as pilot:
        await new_form(pilot, "Channels")
        fill_connection(app)
        set_field(app, "branch", "Sales")
        with session_scope(engine) as s:
            remove_branch(s, get_branch(s, "SAL"))
        await pilot.press("ctrl+s")
        await until(pilot, lambda: error_of(app, "branch") != "", "the branch error")
        assert error_of(app, "branch") == "no branch named 'Sales'"
    assert channel(engine) is None


async def test_connection_refused_is_reported_step_by_step(desk) -> None:
    engine, admin, config = desk
    app = admin_app(engine, admin, secrets_dir=config)
    async with app.run_test(size=SIZE) as pilot:
        await new_form(pilot, "Channels")
        fill_connection(app, host="127.0.0.1", port=1)
        await pilot.press("ctrl+t")
        await until(pilot, lambda: result_text(app).endswith("FAILED"), "the test's end")
        assert result_text(app) == (
            "Test connection... ok dns: 127.0.0.1 resolves FAILED connect: connection refused "
            "FAILED"
        )
        assert_snapshot(app.export_screenshot(), "admin_channel_test")
    assert channel(engine) is None  # a test saves nothing


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # no row decides it: once
async def test_test_connection_with_bad_values_marks_them_and_connects_nowhere(desk) -> None:
    engine, admin, config = desk
    app = admin_app(engine, admin, secrets_dir=config)
    async with app.run_test(size=SIZE) as pilot:
        await new_form(pilot, "Channels")
        fill_connection(app, port=0)
        set_field(app, "since", "yesterday")
        await pilot.press("ctrl+t")
        await until(pilot, lambda: result_text(app).endswith("FAILED"), "the test's end")
        assert error_of(app, "port") == "port must be 1-65535, not 0"
        assert "is not a date" in error_of(app, "since")
        assert steps(app) == []


@pytest.mark.parametrize("case", ["good", "wrong password", "untrusted"])
async def test_test_connection_against_dovecot(desk, dovecot, case) -> None:
    engine, admin, config = desk
    user = f"console{case.replace(' ', '')}"
    dovecot.add_user(user, PASSWORD)
    app = admin_app(engine, admin, secrets_dir=config)
    async with app.run_test(size=SIZE) as pilot:
        await new_form(pilot, "Channels")
        fill_connection(app, host="127.0.0.1", port=dovecot.imaps_port)
        set_field(app, "username", user)
        set_field(app, "ca_file", "" if case == "untrusted" else dovecot.ca_file)
        if case == "wrong password":
            set_field(app, "password", "not-the-password")
        await pilot.press("ctrl+t")
        await until(pilot, lambda: result_text(app).endswith(("PASSED", "FAILED")), "the end")
        reported, text = steps(app), result_text(app)
    outcome = text.rsplit(" ", 1)[-1]
    if case == "good":
        assert outcome == "PASSED"
        assert [(ok, step) for ok, step, _ in reported] == [
            ("ok", "dns"), ("ok", "connect"), ("ok", "tls"), ("ok", "login"), ("ok", "folders"),
            ("ok", "move folders"),
        ]  # fmt: skip
    elif case == "wrong password":
        assert outcome == "FAILED" and reported[-1][:2] == ("FAILED", "login")
        assert reported[-1][2].startswith(f"login refused for {user}")
        assert "not-the-password" not in text
    else:
        assert outcome == "FAILED" and reported[-1][:2] == ("FAILED", "tls")
        assert reported[-1][2].startswith("certificate not trusted")


async def test_an_outgoing_channel_is_saved_and_sends_a_test_mail(desk, smtp_starttls) -> None:
    engine, admin, config = desk
    smtp_starttls.clear()
    smtp_starttls.add_user("console", PASSWORD)
    app = admin_app(engine, admin, secrets_dir=config)
    async with app.run_test(size=SIZE) as pilot:
        await new_form(pilot, "Outgoing")
        assert_snapshot(app.export_screenshot(), "admin_outgoing_form")
        set_field(app, "name", "relay")
        set_field(app, "host", "127.0.0.1")
        set_field(app, "port", str(smtp_starttls.port))
        set_field(app, "security", "starttls")
        set_field(app, "username", "console")
        set_field(app, "password_from", "stored")
        set_field(app, "password", PASSWORD)
        set_field(app, "from_address", "help@example.com")
        set_field(app, "from_name", "Example Help")
        set_field(app, "ca_file", smtp_starttls.ca_file)
        set_field(app, "default", True)
        await save(pilot)
        assert rows(app.screen) == [
            ["main", "smtp.example.com:587", "support@example.com", "", "password"],
            ["relay", f"127.0.0.1:{smtp_starttls.port}", "help@example.com", "yes", "password"],
        ]
        assert PASSWORD not in on_screen(app)
        app.screen.query_one("#admin-rows").move_cursor(row=1)
        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, EditScreen), "the outgoing form")
        await until(pilot, lambda: result_text(app).endswith(("PASSED", "FAILED")), "the test")
        assert result_text(app).endswith("PASSED") and smtp_starttls.messages == []
        set_field(app, "test_to", "agent@customer.test")
        await pilot.press("ctrl+t")
        await until(pilot, lambda: result_text(app).endswith("PASSED"), "the mail sent")
        assert steps(app)[-1] == ("ok", "send", "accepted for agent@customer.test")
        (mail,) = smtp_starttls.wait_for(1)
    assert mail.rcpt_tos == ["agent@customer.test"] and mail.auth_user == "console"
    assert b"tuidesk test mail from relay" in mail.data
    with read_session(engine) as s:
        relay = s.exec(select(OutgoingChannel).where(OutgoingChannel.name == "relay")).one()
    assert relay.is_default and resolve(relay.secret_kind, relay.secret_ref, config) == PASSWORD


async def test_removing_the_default_outgoing_channel_is_refused(desk) -> None:
    engine, admin, config = desk
    with session_scope(engine) as s:
        spare = OutgoingChannel(
            name="spare", host="smtp2.example.com", port=465, security="ssl",
            secret_kind="env", secret_ref="SMTP_PW", from_address="spare@example.com",
        )  # fmt: skip
        save_outgoing(s, spare)
    app = admin_app(engine, admin, secrets_dir=config)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_section(pilot, "Outgoing")
        screen.query_one("#admin-rows").focus()
        await pilot.press("d")
        await until(pilot, lambda: app.screen is not screen, "the question")
        await pilot.press("y")
        message = lambda: str(screen.query_one("#admin-message").render())  # noqa: E731
        await until(pilot, lambda: "Not removed" in message(), "why not")
        assert "main is the default: make another one the default first" in message()
        assert [row[0] for row in rows(screen)] == ["main", "spare"]


async def test_preview_decides_a_corpus_mail_with_the_unsaved_branch(desk) -> None:
    engine, admin, config = desk
    app = admin_app(engine, admin, secrets_dir=config)
    async with app.run_test(size=SIZE) as pilot:
        await new_form(pilot, "Channels")
        fill_connection(app)
        set_field(app, "branch", "Support")
        await save(pilot)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, EditScreen), "the channel again")
        set_field(app, "branch", "Sales")
        await pilot.press("ctrl+r")
        await until(pilot, lambda: isinstance(app.screen, PreviewScreen), "the preview")
        set_field_preview = app.screen.query_one("#preview-path")
        set_field_preview.value = str(CORPUS_MAIL)
        await pilot.press("ctrl+r")
        shown = lambda: str(app.screen.query_one("#preview-result").render())  # noqa: E731
        await until(pilot, lambda: "Branch:" in shown(), "the decision")
        assert "This mail opens a new ticket" in shown()
        assert "Branch: Sales (SAL)" in shown()
        assert "channel branch Sales" in shown()
        assert "Title: Testovácí email" in shown()
        set_field_preview.value = "<corpus>/all-special-chars.eml"  # no checkout path in it
        await pilot.pause()
        assert_snapshot(app.export_screenshot(), "admin_channel_preview")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, EditScreen), "the form again")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, AdminScreen), "the list")
    saved = channel(engine)
    assert saved is not None and saved.branch == "Support"


def test_the_channel_list_shows_when_a_channel_was_last_read(admin_db) -> None:
    """`never` until a clean read, then its time in local time; an error stays beside it."""
    from tuidesk.screens.admin_channels import ChannelsSection
    from tuidesk.storage.channel_state import record_failure, record_success
    from tuidesk.storage.db import transaction

    engine, _ = admin_db
    with session_scope(engine) as s:
        s.add(Channel(name="support", kind="pipe"))
    section = ChannelsSection(None)
    with read_session(engine) as s:
        assert section.rows(s)[0].cells[4] == "never"
    with transaction(engine) as conn:
        record_success(conn, 1)
        record_failure(conn, 1, "login: refused")
    with read_session(engine) as s:
        cells = section.rows(s)[0].cells
    shown = datetime.strptime(cells[4], "%Y-%m-%d %H:%M")
    assert abs(shown - datetime.now().replace(second=0, microsecond=0)) <= timedelta(minutes=1)
    assert cells[5] == "login: refused"


async def test_an_outgoing_channels_signature_is_checked_and_saved(desk) -> None:
    engine, admin, config = desk
    app = admin_app(engine, admin, secrets_dir=config)
    async with app.run_test(size=SIZE) as pilot:
        await open_section(pilot, "Outgoing")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, EditScreen), "the outgoing form")
        set_field(app, "signature", "-- \n{agent_name}, {nope}")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: error_of(app, "signature") != "", "the signature error")
        assert "nope" in error_of(app, "signature")
        set_field(app, "signature", "-- \n{agent_name}\nExample Support, {branch}\n\n")
        await save(pilot)
    with read_session(engine) as s:
        main = s.exec(select(OutgoingChannel).where(OutgoingChannel.name == "main")).one()
    assert main.signature == "-- \n{agent_name}\nExample Support, {branch}"
