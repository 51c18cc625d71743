"""Per-channel field mappings (mail properties into ticket fields, with defaults) and the ticket
types whose tickets take updates by email, as the Email Channel seed's Ticket Mapping Settings
describe them."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.engine.conftest import NOW, MemoryLookup, mail
from tuidesk.engine.decision import Action
from tuidesk.engine.fields import BODY_LIMIT
from tuidesk.engine.process import decide
from tuidesk.engine.rules import ChannelRule, CustomFieldRule, FieldMapping, RuleSet

FROM = "From: Alice Customer <alice@customer.test>\nTo: support@example.com"


def mapped(raw: bytes, rules: RuleSet, lookup: MemoryLookup, *maps: FieldMapping, **kw):  # type: ignore[no-untyped-def]
    channel = ChannelRule("support", field_mappings=maps, **kw)
    return decide(raw, rules, lookup, now=NOW, channel=channel)


def with_attachments(*names: str) -> bytes:
    parts = "".join(
        f"--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; "
        f'filename="{name}"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n'
        for name in names
    )
    head = mail(f"{FROM}\nSubject: papers\nMIME-Version: 1.0\n"
                'Content-Type: multipart/mixed; boundary="b"', "")  # fmt: skip
    text = "--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"
    return head + (text + parts + "--b--\r\n").encode()


def step_rules(decision, name: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [s.rule for s in decision.steps if s.step == name]


# --- no mappings: as before ----------------------------------------------------------------


def test_without_mappings_the_title_is_the_subject_and_priority_comes_from_the_headers(
    rules, lookup
):
    d = mapped(mail(f"{FROM}\nSubject: Re: printer\nX-Priority: 1"), rules, lookup)
    assert (d.fields.title, d.fields.priority, d.fields.restricted) == ("printer", "high", ())
    assert step_rules(d, "map") == ["priority X-Priority 1"]


# --- each property ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prop", "headers", "expected"),
    [
        ("subject", "Subject: RE: Fwd: invoice 42", "invoice 42"),
        ("sender", "Subject: x", "Alice Customer <alice@customer.test>"),
        ("importance", "Subject: x\nImportance: low", "low"),
        ("importance", "Subject: x\nX-Priority: 3 (Normal)", "normal"),
        ("body", "Subject: x", "Hello, my printer is on fire."),
    ],
)
def test_each_mail_property_fills_a_custom_field(rules, lookup, prop, headers, expected):
    d = mapped(mail(f"{FROM}\n{headers}"), rules, lookup, FieldMapping("origin", prop))
    assert d.fields.custom_fields == {"origin": expected}
    assert step_rules(d, "map")[-1] == f"origin from {prop}"


def test_a_sender_without_a_name_is_its_address(rules, lookup):
    raw = mail("From: bob@customer.test\nSubject: x")
    d = mapped(raw, rules, lookup, FieldMapping("who", "sender"))
    assert d.fields.custom_fields["who"] == "bob@customer.test"


def test_attachments_are_their_file_names(rules, lookup):
    raw = with_attachments("contract.pdf", "annex.pdf")
    d = mapped(raw, rules, lookup, FieldMapping("files", "attachments"))
    assert d.fields.custom_fields["files"] == "contract.pdf, annex.pdf"


def test_a_mapped_body_is_capped(rules, lookup):
    raw = mail(f"{FROM}\nSubject: x", "y" * (BODY_LIMIT + 500))
    d = mapped(raw, rules, lookup, FieldMapping("details", "body"))
    assert len(d.fields.custom_fields["details"]) == BODY_LIMIT


def test_a_property_can_fill_the_title(rules, lookup):
    d = mapped(mail(f"{FROM}\nSubject: hi"), rules, lookup, FieldMapping("title", "sender"))
    assert d.fields.title == "Alice Customer <alice@customer.test>"


def test_a_body_mapped_to_the_title_is_one_line(rules, lookup):
    raw = mail(f"{FROM}\nSubject: hi", "line one\nline two\n")
    d = mapped(raw, rules, lookup, FieldMapping("title", "body"))
    assert d.fields.title == "line one line two"


# --- defaults -----------------------------------------------------------------------------


def test_the_default_applies_when_the_mail_lacks_the_property(rules, lookup):
    raw = mail(f"{FROM}\nSubject: no headers about importance")
    maps = (
        FieldMapping("urgency", "importance", default="normal"),
        FieldMapping("files", "attachments", default="none"),
    )
    d = mapped(raw, rules, lookup, *maps)
    assert d.fields.custom_fields == {"urgency": "normal", "files": "none"}
    assert step_rules(d, "map")[-1] == (
        "urgency from default (importance absent); files from default (attachments absent)"
    )


def test_a_mapping_without_a_property_always_sets_its_default(rules, lookup):
    d = mapped(mail(f"{FROM}\nSubject: x"), rules, lookup, FieldMapping("source", default="mail"))
    assert d.fields.custom_fields == {"source": "mail"}


def test_nothing_to_map_and_no_default_leaves_the_field_as_the_defaults_set_it(rules, lookup):
    rules = replace(rules, ticket_types={"Incident": (CustomFieldRule("impact", default="low"),)})
    raw = mail(f"{FROM}\nSubject: x")
    d = mapped(raw, rules, lookup, FieldMapping("impact", "importance"), ticket_type="Incident")
    assert d.fields.custom_fields == {"impact": "low"}
    assert "impact unchanged (importance absent, no usable default)" in step_rules(d, "map")


def test_mappings_override_the_channel_field_defaults(rules, lookup):
    raw = mail(f"{FROM}\nSubject: x")
    d = mapped(
        raw, rules, lookup, FieldMapping("team", "sender"), field_defaults={"team": "a", "b": 1}
    )
    assert d.fields.custom_fields == {"team": "Alice Customer <alice@customer.test>", "b": 1}


# --- required fields ------------------------------------------------------------------------

INCIDENT = (
    CustomFieldRule("impact", "choice", required=True, default="low"),
    CustomFieldRule("asset", required=True),
    CustomFieldRule("notes"),
)


def test_a_required_field_left_empty_gets_its_default(rules, lookup):
    """A field default of "" (global or the channel's) would blank it: the type's default wins."""
    rules = replace(rules, ticket_types={"Incident": INCIDENT})
    raw = mail(f"{FROM}\nSubject: broken laptop")
    d = mapped(
        raw, rules, lookup, FieldMapping("asset", "attachments"), ticket_type="Incident",
        field_defaults={"impact": "", "asset": "  "},
    )  # fmt: skip
    assert d.fields.custom_fields == {"impact": "low", "asset": "  "}
    assert step_rules(d, "map")[-1] == "impact from default (left empty); needs: asset"


def test_a_required_field_the_mail_fills_needs_nothing(rules, lookup):
    rules = replace(rules, ticket_types={"Incident": INCIDENT})
    d = mapped(
        with_attachments("serial.pdf"), rules, lookup, FieldMapping("asset", "attachments"),
        ticket_type="Incident",
    )  # fmt: skip
    assert d.fields.custom_fields == {"impact": "low", "asset": "serial.pdf"}
    assert not [rule for rule in step_rules(d, "map") if "needs" in rule]


# --- priority ------------------------------------------------------------------------------


def test_importance_mapped_to_priority(rules, lookup):
    raw = mail(f"{FROM}\nSubject: x\nImportance: high")
    d = mapped(raw, rules, lookup, FieldMapping("priority", "importance", default="low"))
    assert d.fields.priority == "high"
    assert step_rules(d, "map")[0] == "priority set by a field mapping"


def test_a_priority_default_applies_to_mail_without_importance(rules, lookup):
    raw = mail(f"{FROM}\nSubject: x")
    d = mapped(raw, rules, lookup, FieldMapping("priority", "importance", default="urgent"))
    assert d.fields.priority == "urgent"


def test_a_value_that_is_no_priority_falls_back_to_the_default(rules, lookup):
    raw = mail(f"{FROM}\nSubject: please hurry")
    d = mapped(raw, rules, lookup, FieldMapping("priority", "subject", default="low"))
    assert d.fields.priority == "low"
    assert "priority from default (subject unusable)" in step_rules(d, "map")[-1]


def test_an_unusable_priority_and_default_leave_the_header_priority(rules, lookup):
    raw = mail(f"{FROM}\nSubject: URGENT\nX-Priority: 5")
    d = mapped(raw, rules, lookup, FieldMapping("priority", "body", default="asap"))
    assert d.fields.priority == "low"
    raw = mail(f"{FROM}\nSubject: Urgent")
    assert mapped(raw, rules, lookup, FieldMapping("priority", "subject")).fields.priority == (
        "urgent"
    )


# --- restricted ---------------------------------------------------------------------------


def test_fields_set_by_restricted_mappings_are_named(rules, lookup):
    maps = (
        FieldMapping("who", "sender", restricted=True),
        FieldMapping("files", "attachments", restricted=True),  # nothing to set
        FieldMapping("title", "subject"),
    )
    d = mapped(mail(f"{FROM}\nSubject: x"), rules, lookup, *maps)
    assert d.fields.restricted == ("who",)
    assert "who from sender (restricted)" in step_rules(d, "map")[-1]
    assert d.as_dict()["fields"]["restricted"] == ("who",)


# --- update types ---------------------------------------------------------------------------


def typed(lookup: MemoryLookup, number: int, ticket_type: str | None) -> None:
    lookup.tickets[number] = replace(lookup.add_ticket(number), ticket_type=ticket_type)


def reply(number: int) -> bytes:
    return mail(f"{FROM}\nSubject: Re: printer [SUP-{number}]")


def test_a_reply_to_a_whitelisted_type_joins_its_ticket(rules, lookup):
    typed(lookup, 7, "Incident")
    d = mapped(reply(7), rules, lookup, update_types=("Incident", "Request"))
    assert (d.action, d.ticket.ref) == (Action.COMMENTED, "SUP-7")


@pytest.mark.parametrize(("ticket_type", "said"), [("Change", "Change"), (None, "untyped")])
def test_a_reply_to_a_type_not_whitelisted_opens_a_new_ticket(rules, lookup, ticket_type, said):
    typed(lookup, 7, ticket_type)
    d = mapped(reply(7), rules, lookup, update_types=("Incident",))
    assert d.action is Action.CREATED and d.ticket is None
    assert step_rules(d, "thread")[-1] == (
        f"SUP-7 is a {said} ticket, which does not take updates by email"
    )
    assert d.fields is not None and d.fields.title == "printer [SUP-7]"


def test_without_a_whitelist_every_type_takes_updates(rules, lookup):
    typed(lookup, 7, "Change")
    assert mapped(reply(7), rules, lookup).action is Action.COMMENTED
