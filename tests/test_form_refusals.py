"""What the admin forms refuse, checked where it is refused: in the storage save function each
form calls (edit_channel, save_branch, save_queue, save_ticket_type), and for what the channel
form reads itself (a date, mapping lines, a typed password) in its section's save. Each refusal
names the field the form shows it under, in the form's words, and nothing is saved.

One pilot test per form (tests/test_console_admin*.py) proves that a refusal lands under its
field; the values are here, without the console. A refusal that the value alone decides runs
on SQLite only; one that rows decide (another branch's address, the ticket types there are) runs
on both databases."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from tests.conftest import route_support
from tuidesk.screens.admin_channels import ChannelsSection
from tuidesk.storage.branches import list_branches, save_branch
from tuidesk.storage.channels import edit_channel, list_channels
from tuidesk.storage.checks import Invalid
from tuidesk.storage.models import TicketType
from tuidesk.storage.queues import list_queues, save_queue
from tuidesk.storage.ticket_types import list_ticket_types, parse_field_spec, save_ticket_type

# The value alone decides these refusals, no row: one database is enough.
ONCE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

IMAP_SCOPE = "https://outlook.office.com/IMAP.AccessAsUser.All"

# A new IMAP channel as the form's Connection group leaves it (fill_connection in
# test_console_admin_channels.py), as the section hands it to edit_channel: numbers still text.
SUPPORT: dict[str, Any] = {
    "name": "support", "kind": "imap", "host": "imap.example.com", "port": "993",
    "username": "support@example.com", "secret_kind": "env", "secret_ref": "SUPPORT_PW",
}  # fmt: skip
# fill_oauth in test_console_admin_oauth.py: a public client (no secret) on Microsoft 365.
OAUTH: dict[str, Any] = {
    "auth_type": "oauth2", "secret_kind": None, "secret_ref": None,
    "oauth_tenant": "contoso.onmicrosoft.com",
    "oauth_client_id": "00000000-0000-0000-0000-00000000c0de", "oauth_scopes": [IMAP_SCOPE],
}  # fmt: skip


def refused(save: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, str]:
    """What `save` refused, by field."""
    with pytest.raises(Invalid) as caught:
        save(*args, **kwargs)
    return caught.value.errors


# -- channels: edit_channel, behind the channel form and `channel add|edit` -------------------


@ONCE
@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("host", "imap example com", "is not a host name or IP address"),
        ("port", "70000", "port must be 1-65535, not 70000"),
        ("port", "nine", "port must be a number from 1 to 65535"),
        ("max_tries", "0", "max tries must be 1 to 100, not 0"),
        ("reply_to", "support at example.com", "is not a mail address"),
        ("allowed_domains", ["customer.test", "localhost"], "'localhost' is not a domain"),
        ("skip_windows", ["02:00-25:00"], "is not a time window HH:MM-HH:MM"),
        ("folders", ["INBOX", "*"], "'*' is not a folder name"),
        (
            "field_mappings",
            [{"field": "title", "property": "smell", "default": "", "restricted": False}],
            "'smell' is not a mail property",
        ),
    ],
)
def test_a_bad_channel_value_is_refused_under_its_field_and_nothing_is_saved(
    session: Session, field: str, value: Any, message: str
) -> None:
    errors = refused(edit_channel, session, None, SUPPORT | {field: value})
    assert list(errors) == [field]
    assert message in errors[field]
    assert list_channels(session) == []


def test_an_update_type_that_is_no_ticket_type_here_is_refused(session: Session) -> None:
    session.add(TicketType(name="Incident"))
    session.flush()
    errors = refused(edit_channel, session, None, SUPPORT | {"update_types": ["Incident", "Nope"]})
    assert list(errors) == ["update_types"]
    assert "'Nope' is not a ticket type" in errors["update_types"]
    assert list_channels(session) == []


@ONCE
@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("oauth_client_id", None, "client ID must not be empty"),  # the form's "" is None
        ("oauth_authority", "http://login.example.com/contoso", "authority must be an https URL"),
        ("oauth_scopes", [IMAP_SCOPE, "IMAP AccessAsUser"], "must be one word"),
        ("oauth_tenant", "contoso/common", "is not a tenant ID"),
        ("oauth_redirect_url", "ftp://example.com/cb", "redirect URL must be an https or http"),
        ("auth_type", "", "auth type must be one of password, oauth2"),  # nothing chosen
    ],
)
def test_a_bad_oauth2_setting_is_refused_under_its_field_and_nothing_is_saved(
    session: Session, field: str, value: Any, message: str
) -> None:
    errors = refused(edit_channel, session, None, SUPPORT | OAUTH | {field: value})
    assert list(errors) == [field]
    assert message in errors[field]
    assert list_channels(session) == []


# The form filled as fill_connection fills it, as Form.read gives it to the section.
CONNECTION = {
    "name": "support", "host": "imap.example.com", "port": "993",
    "username": "support@example.com", "password_from": "stored", "password": "Tr0ub4dor&3-imap",
}  # fmt: skip


@ONCE
@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("since", "31/01/2026", "is not a date like 2026-01-31"),
        ("field_mappings", ["title <- subject | loudly"], "'loudly' is neither `default VALUE`"),
        ("password", "", "type the password to store"),
        ("auth_type", None, "auth type must be one of password, oauth2"),  # none chosen
    ],
)
def test_what_the_channel_form_reads_itself_is_refused_under_its_field(
    session: Session, tmp_path: Path, field: str, value: Any, message: str
) -> None:
    """A date, the mapping lines, the typed password and the authentication chosen are read
    by the channel section before edit_channel sees the channel."""
    section = ChannelsSection(tmp_path)
    values = section.form(session, None).values | CONNECTION | {field: value}
    errors = refused(section.save, session, None, values)
    assert list(errors) == [field]
    assert message in errors[field]
    assert list_channels(session) == []


# -- branches, queues and ticket types ---------------------------------------------------------

SALES: dict[str, Any] = {
    "name": "Sales", "key": "SAL", "addresses": ["sales@example.com"], "domains": [],
}  # fmt: skip


@ONCE
@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("key", "9X", "key must be a letter"),
        ("addresses", ["help@example.com", "not an address"], "is not a mail address"),
        ("domains", ["customer"], "is not a domain"),
        ("name", "", "name must not be empty"),
    ],
)
def test_a_bad_branch_value_is_refused_under_its_field_and_nothing_is_saved(
    session: Session, field: str, value: Any, message: str
) -> None:
    errors = refused(save_branch, session, **SALES | {field: value})
    assert list(errors) == [field]
    assert message in errors[field]
    assert [b.key for b in list_branches(session)] == ["SUP"]


def test_an_address_another_branch_routes_is_refused_under_addresses(session: Session) -> None:
    route_support(session)
    errors = refused(save_branch, session, **SALES | {"addresses": ["support@example.com"]})
    assert list(errors) == ["addresses"]
    assert "support@example.com already routes to Support" in errors["addresses"]
    assert [b.key for b in list_branches(session)] == ["SUP"]


@ONCE
@pytest.mark.parametrize(
    ("colour", "message"),
    [("blurple", "'blurple' is not a colour"), ("#12345", "'#12345' is not a colour")],
)
def test_a_queue_colour_that_is_no_colour_is_refused_under_colour(
    session: Session, colour: str, message: str
) -> None:
    errors = refused(save_queue, session, name="Billing", colour=colour)
    assert list(errors) == ["colour"]  # the name is fine
    assert message in errors["colour"]
    assert list_queues(session) == []


@ONCE
@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("impact:colour", "field 'impact': kind must be one of text, number, date, choice"),
        ("hours:number=soon", "field 'hours': the default must be a number, not 'soon'"),
    ],
)
def test_a_bad_custom_field_line_is_refused_under_fields(
    session: Session, line: str, message: str
) -> None:
    fields = [parse_field_spec(spec) for spec in ("due:date", line)]
    errors = refused(save_ticket_type, session, name="Incident", fields=fields)
    assert list(errors) == ["fields"]  # the name is fine
    assert message in errors["fields"]
    assert list_ticket_types(session) == []
