"""The engine's one entry point: raw bytes and rules in, a Decision out."""

from __future__ import annotations

import re
from datetime import datetime

from tuidesk.engine.classify import classify_machine_mail
from tuidesk.engine.decision import Action, Decision, Lookup, Step
from tuidesk.engine.fields import map_fields, priority_from_headers
from tuidesk.engine.filters import filter_sender
from tuidesk.engine.parse import ParsedMail, ParseError, content_hash, parse_mail
from tuidesk.engine.quotes import strip_quoted_html, strip_quoted_reply
from tuidesk.engine.route import route_branch
from tuidesk.engine.rules import ChannelRule, RuleSet
from tuidesk.engine.thread import find_ticket


def decide(
    raw: bytes,
    rules: RuleSet,
    lookup: Lookup,
    *,
    now: datetime,
    channel: ChannelRule | None = None,
) -> Decision:
    """Parse, classify, filter, route, thread, strip quotes and map: each step leaves a Step
    naming the rule that settled it, so --dry-run explains itself."""
    channel_name = channel.name if channel else None
    digest = content_hash(raw)
    seen = lookup.already_ingested(digest)
    if seen is not False:
        reason = "already processed (same Message-ID and content)"
        return Decision(
            Action.DUPLICATE,
            reason,
            digest,
            ticket=seen or None,
            steps=[Step("dedupe", "duplicate", reason)],
            channel=channel_name,
        )
    try:
        mail = parse_mail(raw, rules.limits)
    except ParseError as exc:
        return Decision(
            Action.QUARANTINED,
            str(exc),
            digest,
            steps=[Step("dedupe", "new", "content hash not seen before")]
            + [Step("parse", "quarantined", str(exc))],
            channel=channel_name,
        )
    decision = Decision(Action.CREATED, "", digest, mail.message_id, mail, channel=channel_name)
    steps = decision.steps
    steps.append(Step("dedupe", "new", "content hash not seen before"))
    steps.append(Step("parse", "ok", f"{mail.part_count} MIME parts"))

    verdict = classify_machine_mail(
        mail.message,
        subject=mail.subject,
        keywords=rules.autoreply_keywords,
        sender_patterns=rules.autoreply_senders,
    )
    if verdict:
        steps.append(Step("classify", verdict.kind, verdict.reason))
        ticket = (
            lookup.ticket_by_message_ids(verdict.original_message_ids, outbound_only=True)
            if verdict.kind == "bounce" and verdict.original_message_ids
            else None
        )
        if ticket:
            decision.action, decision.ticket, decision.direction = Action.COMMENTED, ticket, "note"
            decision.reason = f"bounce of our mail on {ticket.ref}: {verdict.reason}"
            decision.body = mail.text
            decision.requester = mail.sender
            steps.append(Step("thread", ticket.ref, "the bounced message is ours"))
        else:
            decision.action = Action.IGNORED
            decision.reason = f"machine mail ({verdict.kind}): {verdict.reason}"
        return decision
    steps.append(Step("classify", "human", "no automatic-mail markers"))

    if mail.sender is None:
        decision.action, decision.reason = Action.QUARANTINED, "no sender address"
        steps.append(Step("filter", "quarantined", decision.reason))
        return decision
    ignore = filter_sender(mail.sender, rules, channel.allowed_domains if channel else ())
    if ignore:
        decision.action, decision.reason = Action.IGNORED, ignore
        steps.append(Step("filter", "ignored", ignore))
        return decision
    steps.append(Step("filter", "ok", f"sender {mail.sender.email} accepted"))
    decision.requester = mail.sender

    decision.branch, route_step = route_branch(mail, rules, channel.branch if channel else None)
    steps.append(route_step)
    if decision.branch is None:
        decision.action, decision.reason = Action.QUARANTINED, "no branch configured"
        return decision

    ticket, reopen, thread_steps = find_ticket(mail, rules, lookup, now)
    steps.extend(thread_steps)
    if ticket:
        decision.action, decision.ticket, decision.reopen = Action.COMMENTED, ticket, reopen
        decision.reason = thread_steps[-1].rule
        decision.body = _visible_reply(mail, rules)
        steps.append(Step("quotes", "stripped", "visible text is the new part of the reply"))
        return decision

    decision.fields = map_fields(mail, rules, channel)
    decision.body = mail.text
    decision.attach_original = rules.attach_original or bool(channel and channel.attach_original)
    decision.reason = f"new ticket in {decision.branch.key}"
    steps.append(Step("map", "fields", f"priority {priority_from_headers(mail)[1]}"))
    return decision


_FORWARD = re.compile(r"^\s*(fwd?|wg|tr|rv|i|doorst)\s*:", re.I)


def _visible_reply(mail: ParsedMail, rules: RuleSet) -> str:
    """Plain text is what people typed; HTML-only replies are stripped with their markers.
    A forward onto a ticket keeps everything: the forwarded mail is the point of it, and its
    header block looks exactly like a reply's."""
    if _FORWARD.match(mail.subject):
        return mail.text
    if mail.text.strip():
        return strip_quoted_reply(mail.text, rules.reply_separators)
    if mail.html:
        return strip_quoted_html(mail.html, rules.reply_separators)
    return ""
