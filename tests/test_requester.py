"""Who the requester is, through the real pipe: a web form's customer, the customer behind an
agent's forward, the sender behind a forward rewritten to our own address. Acknowledgements go
out through the suite's aiosmtpd, so who receives one is read where it arrived."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select, update

from tests.conftest import Cli
from tests.engine.conftest import mail
from tests.engine.test_requester import GMAIL, forward
from tests.servers.smtp import SmtpServer
from tuidesk.storage.tables import tables

BOB = {"name": "Bob Customer", "email": "bob@customer.test"}


@pytest.fixture
def desk(mailer: Cli) -> Cli:
    """The suite's mailer set-up (support@example.com, an outgoing channel on aiosmtpd), with
    acknowledgements on and an agent, Ada."""
    mailer("config", "set", "acknowledge", "true")
    mailer("agent", "add", "Ada", "--email", "ada@example.com")
    return mailer


def pipe(cli: Cli, raw: bytes, *args: str) -> dict[str, Any]:
    return json.loads(cli("pipe", "--json", *args, input=raw).stdout)


def show(cli: Cli, ref: str) -> dict[str, Any]:
    return json.loads(cli("ticket", "show", ref, "--json").stdout)


def delivered(cli: Cli, smtp: SmtpServer) -> list[list[str]]:
    """Send the outbox; the recipients of each mail the server received."""
    cli("send")
    return [m.rcpt_tos for m in smtp.messages]


FORM = mail(
    "From: Shop website <noreply@shop.test>\nReply-To: Bob Customer <bob@customer.test>\n"
    "To: support@example.com\nMessage-ID: <form-1@shop.test>\nSubject: Contact form: printer",
    "Name: Bob Customer\nMessage: my printer is on fire\n",
)


def test_a_web_form_is_its_customer_s_ticket_and_they_are_acknowledged(
    desk: Cli, smtp_starttls: SmtpServer
) -> None:
    dry = pipe(desk, FORM, "--dry-run")
    step = next(s for s in dry["steps"] if s["step"] == "requester")
    assert step["rule"] == (
        "From noreply@shop.test is a web form (form_senders noreply@*): Reply-To bob@customer.test"
    )
    assert pipe(desk, FORM)["ticket"] == "SUP-1"
    ticket = show(desk, "SUP-1")
    assert ticket["requester"] == BOB
    assert ticket["messages"][0]["from"] == BOB  # replies and the list show the customer
    assert delivered(desk, smtp_starttls) == [["bob@customer.test"]]


def test_form_senders_and_reply_to_are_settings(desk: Cli, smtp_starttls: SmtpServer) -> None:
    desk("config", "set", "form_senders", "contact@*")
    assert pipe(desk, FORM)["ticket"] == "SUP-1"
    assert show(desk, "SUP-1")["requester"]["email"] == "noreply@shop.test"
    desk("config", "set", "requester_from_reply_to", "yes")
    again = FORM.replace(b"form-1@", b"form-2@")
    assert pipe(desk, again)["ticket"] == "SUP-2"
    assert show(desk, "SUP-2")["requester"] == BOB
    refused = desk("config", "set", "requester_from_reply_to", "sometimes", check=False)
    assert refused.returncode == 2 and b"requester_from_reply_to" in refused.stderr
    assert delivered(desk, smtp_starttls) == [["bob@customer.test"]]  # not to noreply@


def test_an_agent_s_forward_is_the_customer_s_ticket_and_sends_them_nothing(
    desk: Cli, smtp_starttls: SmtpServer, db_engine: Any
) -> None:
    out = pipe(desk, forward(GMAIL["en"]))
    assert (out["action"], out["ticket"]) == ("created", "SUP-1")
    ticket = show(desk, "SUP-1")
    assert (ticket["requester"], ticket["title"]) == (BOB, "Printer on fire")
    first = ticket["messages"][0]
    assert first["from"]["email"] == "ada@example.com"  # the forward is Ada's message
    assert "Bob wrote to me directly" in first["body"] and "printer is on fire" in first["body"]
    assert delivered(desk, smtp_starttls) == []  # Bob did not write to us: no acknowledgement

    with db_engine.begin() as conn:
        t = tables(conn)
        ada = conn.execute(select(t.agent.c.id)).scalar_one()
        assert conn.execute(select(t.message.c.agent_id)).scalar_one() == ada
        conn.execute(update(t.agent).values(aliases=["Ada.Private@mail.test"]))
    from_alias = forward(GMAIL["de"], "WG: Drucker", sender="ada.private@mail.test")
    assert pipe(desk, from_alias)["ticket"] == "SUP-2"
    assert show(desk, "SUP-2")["requester"] == BOB

    desk("reply", "SUP-1", "--body-stdin", input=b"We are on it.\n")
    assert delivered(desk, smtp_starttls) == [["bob@customer.test"]]  # answers go to Bob


def test_a_customer_s_forward_stays_theirs(desk: Cli, smtp_starttls: SmtpServer) -> None:
    pipe(desk, forward(GMAIL["en"], sender="Carol <carol@customer.test>"))
    assert show(desk, "SUP-1")["requester"]["email"] == "carol@customer.test"
    assert delivered(desk, smtp_starttls) == [["carol@customer.test"]]


def test_a_forward_rewritten_to_our_address_opens_a_ticket_and_a_plain_loop_does_not(
    desk: Cli, smtp_starttls: SmtpServer
) -> None:
    group = mail(
        "From: Support <support@example.com>\nReply-To: Bob Customer <bob@customer.test>\n"
        "To: support@example.com\nMessage-ID: <g-1@groups.example.com>\nSubject: Printer",
        "my printer is on fire\n",
    )
    assert pipe(desk, group)["ticket"] == "SUP-1"
    assert show(desk, "SUP-1")["requester"] == BOB
    loop = mail("From: Support <support@example.com>\nTo: support@example.com\nSubject: Hi")
    out = pipe(desk, loop)
    assert (out["action"], out["reason"]) == (
        "ignored",
        "mail loop: sent from our own address support@example.com",
    )
    assert delivered(desk, smtp_starttls) == [["bob@customer.test"]]
