"""The admin console: who may open it, and the organisation forms (queues, branches, agents)
filled, refused next to the field, saved, and removed."""

from __future__ import annotations

import html

import pytest
from sqlmodel import select
from textual.widgets import DataTable, Select, Static

from tests.admin_pilot import (
    admin_app,
    error_of,
    open_section,
    rows,
    set_field,
    until,
)
from tests.snapshots import assert_snapshot
from tuidesk.screens.admin import AdminScreen
from tuidesk.screens.edit import EditScreen
from tuidesk.storage.canned import list_canned, save_canned
from tuidesk.storage.db import read_session, session_scope
from tuidesk.storage.models import Agent, Branch, Channel, Queue
from tuidesk.storage.queues import save_queue


async def test_an_agent_who_is_not_admin_has_no_admin_key(admin_db) -> None:
    engine, _ = admin_db
    app = admin_app(engine, agent_id=2)
    async with app.run_test() as pilot:
        await until(pilot, lambda: app.is_admin is not None, "the role, read by a worker")
        assert app.check_action("admin", ()) is False
        await pilot.press("A")
        await pilot.pause()
        assert not isinstance(app.screen, AdminScreen)
        assert "Admin" not in on_screen(app)


async def test_an_admin_demoted_while_the_console_runs_is_refused_at_the_door(admin_db) -> None:
    engine, admin = admin_db
    with session_scope(engine) as s:
        dana = s.exec(select(Agent).where(Agent.email == "dana@example.com")).one()
        dana.role = "admin"  # so that Ada is not the last admin
        s.add(dana)
    app = admin_app(engine, admin)
    async with app.run_test() as pilot:
        await until(pilot, lambda: "Admin" in on_screen(app), "the Admin key")
        with session_scope(engine) as s:
            ada = s.exec(select(Agent).where(Agent.email == "ada@example.com")).one()
            ada.role = "agent"
            s.add(ada)
        await pilot.press("A")
        await until(pilot, lambda: bool(app._notifications), "the refusal")
        assert "Only admins" in next(iter(app._notifications)).message
        assert not isinstance(app.screen, AdminScreen)
        assert "Admin" not in on_screen(app)


def on_screen(app) -> str:  # type: ignore[no-untyped-def]
    """The screen's text, as the SVG export draws it (spaces are escaped there)."""
    return html.unescape(app.export_screenshot()).replace("\xa0", " ")


async def test_a_queue_with_a_bad_colour_is_refused_next_to_the_field(admin_db) -> None:
    """The queue form's one refusal through the console (the colours refused:
    test_form_refusals.py); fixed, it saves."""
    engine, admin = admin_db
    app = admin_app(engine, admin)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_section(pilot, "Queues")
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, EditScreen), "the queue form")
        set_field(app, "name", "Billing")
        set_field(app, "colour", "blurple")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: error_of(app, "colour") != "", "the colour error")
        assert "'blurple' is not a colour" in error_of(app, "colour")
        assert error_of(app, "name") == ""
        with read_session(engine) as s:
            assert s.exec(select(Queue)).all() == []
        set_field(app, "colour", "magenta")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: rows(screen) == [["Billing", "magenta"]], "the queue listed")
        assert app.screen is screen


async def new_form(pilot, section: str) -> AdminScreen:  # type: ignore[no-untyped-def]
    screen = await open_section(pilot, section)
    await pilot.press("n")
    await until(pilot, lambda: isinstance(pilot.app.screen, EditScreen), f"the {section} form")
    return screen


async def save_refused(pilot, field: str) -> str:  # type: ignore[no-untyped-def]
    await pilot.press("ctrl+s")
    await until(pilot, lambda: error_of(pilot.app, field) != "", f"the error under {field}")
    assert isinstance(pilot.app.screen, EditScreen), "a refused form stays open"
    return error_of(pilot.app, field)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # no row decides it: once
async def test_a_branch_form_refuses_a_bad_key_under_its_field_and_saves_nothing(admin_db) -> None:
    """The branch form's one refusal through the console; the values each field refuses are in
    test_form_refusals.py."""
    engine, admin = admin_db
    app = admin_app(engine, admin)
    async with app.run_test(size=(120, 40)) as pilot:
        await new_form(pilot, "Branches")
        for name, text in {
            "name": "Sales", "key": "9X", "addresses": "sales@example.com", "domains": "",
        }.items():  # fmt: skip
            set_field(app, name, text)
        assert "key must be a letter" in await save_refused(pilot, "key")
    with read_session(engine) as s:
        assert [b.key for b in s.exec(select(Branch))] == ["SUP"]


async def test_a_branch_is_saved_made_default_and_the_default_cannot_be_removed(admin_db):
    engine, admin = admin_db
    app = admin_app(engine, admin)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await new_form(pilot, "Branches")
        for name, text in {
            "name": "Sales", "key": "sal", "addresses": "Sales@Example.com, deals@example.com",
            "domains": "bigcorp.test",
        }.items():  # fmt: skip
            set_field(app, name, text)
        set_field(app, "default", True)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: len(rows(screen)) == 2, "the branch listed")
        assert app.screen is screen
        assert rows(screen)[1] == [
            "SAL", "Sales", "deals@example.com, sales@example.com", "bigcorp.test", "yes"
        ]  # fmt: skip
        await pilot.press("d", "y")
        await until(pilot, lambda: "default branch" in message_of(screen), "the refusal")
    with read_session(engine) as s:
        sales = s.exec(select(Branch).where(Branch.key == "SAL")).one()
        assert sales.is_default and sales.domains == ["bigcorp.test"]


def message_of(screen: AdminScreen) -> str:
    return str(screen.query_one("#admin-message", Static).render())


async def test_an_agent_form_refuses_a_bad_address_and_the_last_admin_keeps_the_role(admin_db):
    engine, admin = admin_db
    app = admin_app(engine, admin)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await new_form(pilot, "Agents")
        set_field(app, "name", "Sam")
        set_field(app, "email", "sam at example.com")
        assert "is not a mail address" in await save_refused(pilot, "email")
        set_field(app, "email", "sam@example.com")
        set_field(app, "role", "agent")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.screen is screen, "the agent list")
        # Ada, the only admin, cannot make herself an agent: nobody could configure anything.
        screen.query_one("#admin-rows", DataTable).move_cursor(row=0)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, EditScreen), "Ada's form")
        set_field(app, "role", "agent")
        assert "last admin" in await save_refused(pilot, "role")
    with read_session(engine) as s:
        roles = {a.email: a.role for a in s.exec(select(Agent))}
    assert roles == {
        "ada@example.com": "admin",
        "dana@example.com": "agent",
        "sam@example.com": "agent",
    }


async def test_a_queue_in_use_is_not_removed(admin_db) -> None:
    engine, admin = admin_db
    with session_scope(engine) as s:
        save_queue(s, name="Billing", colour="magenta")
        s.add(Channel(name="billing-mail", kind="pipe", queue="Billing"))
    app = admin_app(engine, admin)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_section(pilot, "Queues")
        await pilot.press("d", "y")
        await until(pilot, lambda: "Not removed" in message_of(screen), "the refusal")
        assert "billing-mail" in message_of(screen)
    with read_session(engine) as s:
        assert [q.name for q in s.exec(select(Queue))] == ["Billing"]


async def test_snapshots_of_the_admin_list_and_a_refused_form(admin_db) -> None:
    engine, admin = admin_db
    with session_scope(engine) as s:
        save_queue(s, name="Billing", colour="magenta")
        save_queue(s, name="Returns", colour="#00aa88")
    app = admin_app(engine, admin)
    async with app.run_test(size=(110, 30)) as pilot:
        await open_section(pilot, "Queues")
        await pilot.pause()
        assert_snapshot(app.export_screenshot(), "admin_queues")
        await new_form(pilot, "Branches")
        set_field(app, "name", "Sales")
        set_field(app, "key", "S A L")
        set_field(app, "domains", "not_a_domain")
        await save_refused(pilot, "key")
        await pilot.pause()
        assert_snapshot(app.export_screenshot(), "admin_branch_errors")


async def test_snapshots_of_the_branch_and_agent_lists_and_an_agent_form(admin_db) -> None:
    engine, admin = admin_db
    app = admin_app(engine, admin)
    async with app.run_test(size=(110, 30)) as pilot:
        await open_section(pilot, "Branches")
        await pilot.pause()
        assert_snapshot(app.export_screenshot(), "admin_branches")
        screen = await open_section(pilot, "Agents")
        await pilot.pause()
        assert_snapshot(app.export_screenshot(), "admin_agents")
        screen.query_one("#admin-rows", DataTable).move_cursor(row=1)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, EditScreen), "Dana's form")
        await pilot.pause()
        assert_snapshot(app.export_screenshot(), "admin_agent_form")


async def test_an_agent_form_saves_notify_aliases_and_signature_as_agent_edit_does(admin_db):
    """Each bad value refused under its own field at once (the checks of `agent edit`), then
    saved; the form opens again with what was saved."""
    engine, admin = admin_db
    app = admin_app(engine, admin)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_section(pilot, "Agents")
        screen.query_one("#admin-rows", DataTable).move_cursor(row=1)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, EditScreen), "Dana's form")
        set_field(app, "notify", "reply, bogus")
        set_field(app, "aliases", "ada@example.com, dana at home")
        set_field(app, "signature", "Dana\n{nope}")
        assert "'bogus' is not an event" in await save_refused(pilot, "notify")
        assert "is not a mail address" in error_of(app, "aliases")
        assert "nope" in error_of(app, "signature")
        set_field(app, "notify", "assigned, new")
        set_field(app, "aliases", "Dana.Home@Example.org")
        set_field(app, "signature", "Dana Agent\nSupport, {branch}\n")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.screen is screen, "the agent list")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, EditScreen), "Dana's form again")
        values, _ = app.screen.form.read()
        assert values["notify"] == ["new", "assigned"]
        assert values["aliases"] == ["dana.home@example.org"]
    with read_session(engine) as s:
        dana = s.exec(select(Agent).where(Agent.email == "dana@example.com")).one()
        assert dana.notify == ["new", "assigned"]
        assert dana.aliases == ["dana.home@example.org"]
        assert dana.signature == "Dana Agent\nSupport, {branch}"


async def test_an_alias_that_is_another_agents_address_is_refused(admin_db) -> None:
    engine, admin = admin_db
    app = admin_app(engine, admin)
    async with app.run_test(size=(120, 40)) as pilot:
        await new_form(pilot, "Agents")
        set_field(app, "name", "Sam")
        set_field(app, "email", "sam@example.com")
        set_field(app, "role", "agent")
        set_field(app, "aliases", "dana@example.com")
        assert "is already Dana Agent" in await save_refused(pilot, "aliases")
    with read_session(engine) as s:
        assert s.exec(select(Agent).where(Agent.email == "sam@example.com")).first() is None


def canned_rows(engine) -> list[tuple[str, str | None, str]]:  # type: ignore[no-untyped-def]
    with read_session(engine) as s:
        return [(c["name"], c["branch"], c["body"]) for c in list_canned(s)]


async def test_a_canned_reply_is_added_refused_edited_and_removed(admin_db) -> None:
    engine, admin = admin_db
    app = admin_app(engine, admin)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await new_form(pilot, "Canned replies")
        set_field(app, "name", "Thanks")
        set_field(app, "branch", "SUP")
        set_field(app, "body", "\nHello {requester_name},\n\nthanks for {oops}.\n")
        assert "oops" in await save_refused(pilot, "body")
        assert canned_rows(engine) == []
        set_field(app, "body", "\nHello {requester_name},\n\nthanks for {title}.\n")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.screen is screen, "the canned list")
        assert rows(screen) == [["Thanks", "SUP", "Hello {requester_name},"]]
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, EditScreen), "the canned form")
        set_field(app, "branch", Select.NULL)
        set_field(app, "name", "Thank you")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: rows(screen)[0][0] == "Thank you", "the renamed one")
        assert rows(screen) == [["Thank you", "every", "Hello {requester_name},"]]
        assert canned_rows(engine) == [
            ("Thank you", None, "\nHello {requester_name},\n\nthanks for {title}.\n")
        ]
        await pilot.press("d", "y")
        await until(pilot, lambda: rows(screen) == [], "the canned reply removed")
    assert canned_rows(engine) == []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # a picture: once
async def test_snapshot_of_the_canned_replies_list(admin_db) -> None:
    engine, admin = admin_db
    with session_scope(engine) as s:
        save_canned(s, name="Thanks", body="Hello {requester_name},\n\nthanks!", branch="SUP")
        save_canned(s, name="Closing", body="\n\nWe close {ref} now.\nBye")
    app = admin_app(engine, admin)
    async with app.run_test(size=(110, 30)) as pilot:
        await open_section(pilot, "Canned replies")
        await pilot.pause()
        assert_snapshot(app.export_screenshot(), "admin_canned")
