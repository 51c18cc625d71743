"""The engine's entry points: raw bytes and rules in, a Decision out.

Deciding is two steps. `analyse` settles everything the mail and the rules alone can settle
(parse, classify, filter, route, map); it asks nothing, so an import can run it in another
process. `resolve` asks storage the rest through the Lookup protocol (seen before? which
ticket?). `decide` is the two in a row."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from tuidesk.engine.acknowledge import acknowledge
from tuidesk.engine.agent_mail import NewTicket, agent_mail
from tuidesk.engine.classify import MachineVerdict, classify_machine_mail
from tuidesk.engine.decision import (
    Commented,
    Created,
    Decision,
    Duplicate,
    Ignored,
    Lookup,
    Quarantined,
    Step,
    TicketFields,
)
from tuidesk.engine.enums import Direction
from tuidesk.engine.fields import map_fields
from tuidesk.engine.filters import filter_sender
from tuidesk.engine.forwards import is_forward, is_forward_subject
from tuidesk.engine.parse import ParsedMail, ParseError, content_hash, parse_mail, read_body
from tuidesk.engine.quotes import strip_quoted_html, strip_quoted_reply
from tuidesk.engine.requester import Requester, agent_forward, choose_requester
from tuidesk.engine.route import route_branch
from tuidesk.engine.rules import BranchRule, ChannelRule, RuleSet
from tuidesk.engine.thread import find_ticket


@dataclass
class Analysis:
    """What the mail and the rules settle on their own. Holds no parser objects, so it can
    cross a process boundary."""

    content_hash: str
    steps: list[Step] = field(default_factory=list)
    mail: ParsedMail | None = None
    quarantine: str | None = None
    verdict: MachineVerdict | None = None
    ignore: str | None = None
    branch: BranchRule | None = None
    fields: TicketFields | None = None
    requester: Requester | None = None

    @property
    def body_deferred(self) -> bool:
        """Analysed with `defer_body` and the body left unread: enough to ignore the mail,
        not to store it."""
        return self.mail is not None and not self.mail.body_read

    @property
    def bounced_message_ids(self) -> tuple[str, ...]:
        """The Message-IDs a bounce names: a bounce of our own mail is a note on its ticket."""
        verdict = self.verdict
        return verdict.original_message_ids if verdict and verdict.kind == "bounce" else ()


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
    return resolve(analyse(raw, rules, channel), rules, lookup, now=now, channel=channel)


def analyse(
    raw: bytes, rules: RuleSet, channel: ChannelRule | None = None, *, defer_body: bool = False
) -> Analysis:
    """`defer_body` leaves the body of machine mail unread (most of the parsing time): it is
    only needed when a bounce turns out to be about our mail, and then `Analysis.body_deferred`
    tells the caller to analyse again without deferring."""
    analysis = Analysis(content_hash(raw))
    steps = analysis.steps
    try:
        mail = parse_mail(raw, rules.limits, body=False)
        verdict = classify_machine_mail(
            mail.message,
            subject=mail.subject,
            keywords=rules.autoreply_keywords,
            sender_patterns=rules.autoreply_senders,
        )
        if not (verdict and defer_body):
            mail = read_body(mail, rules.limits)
    except ParseError as exc:
        analysis.quarantine = str(exc)
        steps.append(Step("parse", "quarantined", str(exc)))
        return analysis
    steps.append(Step("parse", "ok", f"{mail.part_count} MIME parts"))
    analysis.mail = mail
    analysis.verdict = verdict
    if verdict:
        steps.append(Step("classify", verdict.kind, verdict.reason))
    else:
        steps.append(Step("classify", "human", "no automatic-mail markers"))
        _filter_route_map(analysis, mail, rules, channel)
    analysis.mail = replace(mail, message=None)
    return analysis


def internal_error(exc: BaseException) -> str:
    first_line = (str(exc).splitlines() or [""])[0][:200]
    return f"internal error: {exc.__class__.__name__}: {first_line}"


def analyse_safely(
    raw: bytes, rules: RuleSet, channel: ChannelRule | None, *, defer_body: bool = False
) -> Analysis:
    """No mail may stop an import: anything the engine cannot handle is quarantined."""
    try:
        return analyse(raw, rules, channel, defer_body=defer_body)
    except Exception as exc:  # noqa: BLE001
        reason = internal_error(exc)
        return Analysis(
            content_hash(raw), [Step("parse", "quarantined", reason)], quarantine=reason
        )


def analyse_chunk(
    chunk: list[bytes], rules: RuleSet, channel: ChannelRule | None
) -> list[Analysis]:
    """A batch of ingest, in a worker process that imports the engine and nothing else. Machine
    mail is mostly ignored: its body is read only if it turns out to be needed."""
    return [analyse_safely(raw, rules, channel, defer_body=True) for raw in chunk]


def _filter_route_map(
    analysis: Analysis, mail: ParsedMail, rules: RuleSet, channel: ChannelRule | None
) -> None:
    steps = analysis.steps
    if mail.sender is None:
        analysis.quarantine = "no sender address"
        steps.append(Step("filter", "quarantined", analysis.quarantine))
        return
    requester = analysis.requester = choose_requester(mail, mail.sender, rules)
    steps.extend(requester.steps)
    who = requester.address
    allowed = channel.allowed_domains if channel else ()
    analysis.ignore = filter_sender(mail.sender, rules, allowed, who)
    if analysis.ignore:
        steps.append(Step("filter", "ignored", analysis.ignore))
        return
    steps.append(Step("filter", "ok", f"sender {who.email} accepted"))
    analysis.branch, route_step = route_branch(
        mail, rules, channel.branch if channel else None, who
    )
    steps.append(route_step)
    if analysis.branch is None:
        analysis.quarantine = "no branch configured"
        return
    analysis.fields, map_steps = map_fields(mail, rules, channel)
    steps.extend(map_steps)


def resolve(
    analysis: Analysis,
    rules: RuleSet,
    lookup: Lookup,
    *,
    now: datetime,
    channel: ChannelRule | None = None,
) -> Decision:
    """Finish the decision with what storage knows: duplicates, the ticket a reply or a bounce
    belongs to. The steps gather as it goes; the decision is made once, at the end."""
    mail = analysis.mail
    steps: list[Step] = []
    about = dict(  # what every variant carries about the mail
        content_hash=analysis.content_hash,
        message_id=mail.message_id if mail else None,
        mail=mail,
        channel=channel.name if channel else None,
    )
    seen = lookup.already_ingested(analysis.content_hash)
    if seen is not None:
        reason = "already processed (same Message-ID and content)"
        return Duplicate(
            reason=reason,
            steps=(Step("dedupe", "duplicate", reason),),
            ticket=seen.ticket,
            first_outcome=seen.outcome,
            **about,
        )
    steps.append(Step("dedupe", "new", "content hash not seen before"))
    steps.extend(s for s in analysis.steps if s.step != "map")
    if analysis.quarantine:
        return Quarantined(reason=analysis.quarantine, steps=tuple(steps), **about)
    assert mail is not None  # only a mail that could not be parsed has none
    if mail.message_id and lookup.is_our_message(mail.message_id):
        reason = f"mail loop: our own message {mail.message_id} came back"
        steps.append(Step("loop", "ignored", reason))
        return Ignored(reason=reason, steps=tuple(steps), **about)
    verdict = analysis.verdict
    if verdict:
        bounced = analysis.bounced_message_ids
        ticket = lookup.ticket_by_message_ids(bounced, outbound_only=True) if bounced else None
        if ticket is None:
            reason = f"machine mail ({verdict.kind}): {verdict.reason}"
            return Ignored(reason=reason, steps=tuple(steps), **about)
        steps.append(Step("thread", ticket.ref, "the bounced message is ours"))
        return Commented(
            reason=f"bounce of our mail on {ticket.ref}: {verdict.reason}",
            steps=tuple(steps),
            ticket=ticket,
            direction=Direction.NOTE,
            body=mail.text,
            requester=mail.sender,
            bounced_message_ids=verdict.original_message_ids,
            **about,
        )
    if analysis.ignore:
        return Ignored(reason=analysis.ignore, steps=tuple(steps), **about)
    # Human mail neither quarantined nor ignored has a requester, a branch and its fields.
    requester, branch, fields = analysis.requester, analysis.branch, analysis.fields
    assert requester is not None and branch is not None and fields is not None
    sender = requester.address

    agent = lookup.agent_for(sender.email)
    # An agent's forward of someone's mail: a ticket of theirs, if it names none.
    forward = agent_forward(requester, mail, rules, lookup) if agent is not None else None
    if agent is not None:
        by_agent = agent_mail(
            mail, agent, rules, lookup, steps=steps, about=about,
            visible=lambda: _visible_reply(mail, rules), forwarded=is_forward(mail),
            for_customer=forward is not None,
        )  # fmt: skip
        if isinstance(by_agent, NewTicket):
            # The agent is the requester: a forwarded customer mail inside it, when one is
            # found, should make that customer the requester instead.
            steps.extend(s for s in analysis.steps if s.step == "map")
            priority = by_agent.priority
            return Created(
                reason=by_agent.reason,
                steps=tuple(steps),
                requester=sender,
                branch=branch,
                fields=replace(fields, priority=priority) if priority else fields,
                body=by_agent.body,
                attach_original=rules.attach_original or bool(channel and channel.attach_original),
                acknowledge=False,  # the agent knows: they opened it
                linked=None,
                **about,
            )
        if by_agent is not None:
            return by_agent

    thread = find_ticket(mail, rules, lookup, now, channel, sender)
    steps.extend(thread.steps)
    if thread.ticket:
        steps.append(Step("quotes", "stripped", "visible text is the new part of the reply"))
        return Commented(
            reason=thread.steps[-1].rule,
            steps=tuple(steps),
            ticket=thread.ticket,
            direction=Direction.IN,
            reopen=thread.reopen,
            body=_visible_reply(mail, rules),
            requester=sender,
            branch=branch,
            **about,
        )

    steps.extend(s for s in analysis.steps if s.step == "map")
    if forward:  # an agent forwarded someone's mail: the ticket is theirs
        requester = forward
        steps.extend(forward.steps)
    acknowledged, ack_step = acknowledge(requester, rules, lookup, now)
    steps.append(ack_step)
    return Created(
        reason=thread.refusal or f"new ticket in {branch.key}",
        steps=tuple(steps),
        requester=requester.address,
        forwarded_by=requester.forwarded_by,
        branch=branch,
        fields=fields,
        body=mail.text,
        attach_original=rules.attach_original or bool(channel and channel.attach_original),
        acknowledge=acknowledged,
        linked=thread.linked,
        **about,
    )


def _visible_reply(mail: ParsedMail, rules: RuleSet) -> str:
    """Plain text is what people typed; HTML-only replies are stripped by their markers in the
    HTML (the text made from it has lost them); both lose copies of our own signatures. A
    forward onto a ticket keeps everything: the forwarded mail is the point of it, and its
    header block looks exactly like a reply's."""
    if is_forward_subject(mail.subject):
        return mail.text
    if mail.html and (mail.text_from_html or not mail.text.strip()):
        return strip_quoted_html(mail.html, rules.reply_separators, rules.own_signatures)
    return strip_quoted_reply(mail.text, rules.reply_separators, rules.own_signatures)
