"""Admin sections for what the engine does with mail: ticket types with their custom fields, and
the rules (the `[settings]` of `config export`). Both save through the storage functions the CLI
and `config import` use; the preview runs the engine on a mail with the rules not yet saved."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlmodel import Session

from tuidesk.engine.decision import Decision
from tuidesk.engine.rules import ReplyMode
from tuidesk.screens.section import FormSpec, Row, Section
from tuidesk.services.ingest import dry_run
from tuidesk.storage.checks import Collector, Invalid
from tuidesk.storage.queues import list_queues
from tuidesk.storage.setting_checks import check_setting, describe, save_settings
from tuidesk.storage.settings import SETTINGS, get_settings, load_rules
from tuidesk.storage.ticket_types import (
    field_spec,
    fields_of,
    get_ticket_type,
    list_ticket_types,
    parse_field_spec,
    remove_ticket_type,
    save_ticket_type,
)
from tuidesk.widgets.form import FieldSpec

FIELDS_HELP = (
    "One field per line, as NAME[:KIND][!][=DEFAULT]: KIND is text (the default), number, date "
    "or choice; ! makes it required; the default must suit the kind. "
    "E.g. impact:choice!=low, hours:number=2.5, due:date=2026-01-31."
)


class TicketTypesSection(Section):
    title = "Ticket types"
    columns = ("Name", "Custom fields")
    fields = (
        FieldSpec("name", "Name", help="As agents see it on a ticket."),
        FieldSpec("fields", "Custom fields", "lines", help=FIELDS_HELP),
    )

    def rows(self, session: Session) -> list[Row]:
        return [
            Row(t["name"], (t["name"], ", ".join(field_spec(f) for f in t["fields"])))
            for t in list_ticket_types(session)
        ]

    def form(self, session: Session, key: str | None) -> FormSpec:
        if key is None:
            return FormSpec("New ticket type", self.fields, {})
        ticket_type = get_ticket_type(session, key)
        fields = [field_spec(f) for f in fields_of(session, ticket_type)]
        values = {"name": ticket_type.name, "fields": fields}
        return FormSpec(f"Ticket type {ticket_type.name}", self.fields, values)

    def save(self, session: Session, key: str | None, values: dict[str, Any]) -> str:
        ticket_type = get_ticket_type(session, key) if key is not None else None
        saved = save_ticket_type(
            session,
            name=values["name"],
            fields=[parse_field_spec(line) for line in values["fields"]],
            ticket_type=ticket_type,
        )
        return saved.name

    def remove(self, session: Session, key: str) -> None:
        remove_ticket_type(session, get_ticket_type(session, key))


# How each kind of box is typed in, added to the setting's own help.
_HOW = {"list": "separate with commas", "lines": "one per line"}


def _setting(key: str, label: str, kind: str, group: str, how: str = "", **extra: Any) -> FieldSpec:
    how = how or _HOW.get(kind, "")
    text = SETTINGS[key][1] + (f"; {how}" if how else "")
    return FieldSpec(key, label, kind, group=group, help=text, **extra)


_WHO = "Who may open tickets"
_LOOPS = "Automatic mail and loops"
_ACK = "Acknowledgement"
_NEW = "New tickets"
_OUTBOX = "Outbox"
_AGENTS = "Agents' mail"
RULE_FIELDS: tuple[FieldSpec, ...] = (
    _setting("allowed_domains", "Allowed sender domains", "list", _WHO, placeholder="example.com"),
    _setting("blocked_senders", "Blocked senders", "list", _WHO, placeholder="*@spam.example"),
    _setting(
        "restrict_replies",
        "Who may reply",
        "choice",
        _WHO,
        choices=(
            ("Participants", "participants"),
            ("Requester and agents", "true"),
            ("Anyone", "false"),
        ),
    ),
    _setting(
        "free_mail_domains", "More free-mail domains", "list", _WHO, placeholder="mail.example"
    ),
    _setting("form_senders", "Web form senders", "list", _WHO, placeholder="*@forms.example"),
    _setting("requester_from_reply_to", "Reply-To is the requester", "flag", _WHO),
    _setting("reopen_max_age_days", "Reopen within (days)", "number", _WHO, "empty: no limit"),
    _setting("autoreply_keywords", "Auto-reply keywords", "lines", _LOOPS),
    _setting("autoreply_senders", "Auto-reply senders", "list", _LOOPS),
    _setting("outgoing_addresses", "Our sending addresses", "list", _LOOPS),
    _setting(
        "aliases",
        "Aliases",
        "pairs",
        _LOOPS,
        "one per line: help@example.com = support@example.com",
    ),
    _setting("ack_max_per_hour", "Acknowledgements/hour", "number", _LOOPS),
    _setting("max_message_bytes", "Largest mail (bytes)", "number", _LOOPS),
    _setting("max_mime_parts", "Most MIME parts", "number", _LOOPS),
    _setting(
        "reply_separators",
        "Reply separators",
        "lines",
        "Replies",
        "one regular expression per line; empty: the built-in list",
    ),
    _setting("acknowledge", "Acknowledge new tickets", "flag", _ACK),
    _setting("ack_subject", "Subject", "text", _ACK),
    _setting("ack_body", "Text", "block", _ACK),
    _setting("default_queue", "Queue", "choice", _NEW),
    _setting("default_ticket_type", "Ticket type", "choice", _NEW),
    _setting("field_defaults", "Custom field values", "pairs", _NEW, "one per line: field = value"),
    _setting("attach_original", "Attach the original mail", "flag", _NEW),
    _setting("outbox_max_tries", "Tries before failing", "number", _OUTBOX),
    _setting("outbox_retry_seconds", "Retry waits (seconds)", "list", _OUTBOX),
    _setting("message_id_domain", "Message-ID domain", "text", _OUTBOX),
    _setting("trusted_authserv_ids", "Trusted mail servers", "list", _AGENTS),
    _setting("agent_mail_commands", "Untrusted agent commands", "flag", _AGENTS),
    _setting("notify_min_interval_seconds", "Notify at most every (s)", "number", _AGENTS),
)

RULES_KEY = "rules"  # the section's one row


class RulesSection(Section):
    """One form over every setting. What the form gives is passed on as `tuidesk config set`
    passes its words (text, lists of text, pairs, switches): save_settings checks it all."""

    title = "Rules"
    columns = ("Rules", "Now")
    can_preview = True

    def rows(self, session: Session) -> list[Row]:
        s = get_settings(session.connection())
        separators = s["reply_separators"]
        summary = "; ".join(
            (
                f"allowed domains: {', '.join(s['allowed_domains']) or 'any'}",
                f"acknowledgements: {'on' if s['acknowledge'] else 'off'}",
                f"reply separators: {'built-in' if separators is None else len(separators)}",
            )
        )
        return [Row(RULES_KEY, ("Rules", summary))]

    def form(self, session: Session, key: str | None) -> FormSpec:
        stored = get_settings(session.connection())
        values = dict(stored)
        # The form shows lists of text; waits are stored as numbers.
        values["outbox_retry_seconds"] = [str(v) for v in stored["outbox_retry_seconds"]]
        values["restrict_replies"] = ReplyMode.of(stored["restrict_replies"]).value
        choices = {
            "default_queue": tuple((q.name, q.name) for q in list_queues(session)),
            "default_ticket_type": tuple(
                (t["name"], t["name"]) for t in list_ticket_types(session)
            ),
        }
        fields = tuple(
            replace(f, choices=choices[f.name]) if f.name in choices else f for f in RULE_FIELDS
        )
        return FormSpec("Rules", fields, values)

    def _given(self, values: dict[str, Any]) -> dict[str, Any]:
        """The form's values as the CLI gives them; an empty separator box means the built-in
        list, as the help says, not "no separators"."""
        given = {key: values[key] for key in SETTINGS if key in values}
        given["reply_separators"] = given.get("reply_separators") or None
        return given

    def save(self, session: Session, key: str | None, values: dict[str, Any]) -> str:
        save_settings(session, self._given(values))
        return RULES_KEY

    def remove(self, session: Session, key: str) -> None:
        raise Invalid("the rules cannot be removed; change them in the form instead")

    def preview(
        self, session: Session, key: str | None, values: dict[str, Any], raw: bytes
    ) -> Decision:
        """The same checks as a save first, so what is previewed is what would be saved."""
        c = Collector()
        cleaned = {k: c.check(k, check_setting, k, v) for k, v in self._given(values).items()}
        if c.errors:
            raise Invalid(describe(Invalid.of(c.errors)))
        conn = session.connection()
        return dry_run(conn, raw, load_rules(conn, overrides=cleaned), None)
