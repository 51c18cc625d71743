"""An auto-responder that answers every mail it gets, without Auto-Submitted (the worst kind):
acknowledgements must not start a mail loop with it. The loop is real: our mail goes out
through the suite's aiosmtpd, the robot reads it there, and its answers come back through
`tuidesk pipe`, up to 100 rounds."""

from __future__ import annotations

import email
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli
from tests.servers.smtp import SmtpServer

ROUNDS = 100
ACK_MAX = 3
ROBOT = "robot@customer.test"

# Given the mail the robot received (parsed) and a counter, the subject of its answer and
# whether it threads (In-Reply-To / References).
Style = Callable[[EmailMessage, int], tuple[str, bool]]


@pytest.fixture
def desk(mailer: Cli, tmp_path: Path) -> Cli:
    """The suite's mailer set-up, with acknowledgements on: at most ACK_MAX per recipient and
    hour."""
    conf = tmp_path / "settings.toml"
    conf.write_text(f"[settings]\nacknowledge = true\nack_max_per_hour = {ACK_MAX}\n")
    mailer("config", "import", str(conf))
    return mailer


@dataclass
class Robot:
    """Answers every mail it receives, at once, with no Auto-Submitted header."""

    style: Style
    pending: list[bytes] = field(default_factory=list)
    seen: int = 0  # how many of the SMTP server's mails it has read
    _n: itertools.count[int] = field(default_factory=itertools.count)

    def write(self, subject: str, in_reply_to: str | None = None) -> None:
        n = next(self._n)
        msg = EmailMessage(policy=policy.SMTP)
        msg["From"] = f"Robot <{ROBOT}>"
        msg["To"] = "support@example.com"
        msg["Subject"] = subject
        msg["Date"] = format_datetime(datetime.now(UTC))
        msg["Message-ID"] = make_msgid(f"r{n}", domain="customer.test")
        if in_reply_to:
            msg["In-Reply-To"] = in_reply_to
            msg["References"] = in_reply_to
        msg.set_content(f"Thank you for your mail. This is answer {n}.\n")
        self.pending.append(msg.as_bytes())

    def read(self, smtp: SmtpServer) -> int:
        """Answer every mail the server received since the last call; how many there were."""
        new = smtp.messages[self.seen :]
        self.seen += len(new)
        for got in new:
            assert got.rcpt_tos == [ROBOT], got.rcpt_tos  # nobody else is in this loop
            received = email.message_from_bytes(got.data, policy=policy.default)
            assert isinstance(received, EmailMessage)
            subject, threads = self.style(received, self.seen)
            self.write(subject, received["Message-ID"] if threads else None)
        return len(new)


def threading_style(received: EmailMessage, n: int) -> tuple[str, bool]:
    return f"Re: {received['Subject']}", True


def new_subject_style(received: EmailMessage, n: int) -> tuple[str, bool]:
    """A fresh subject (no ticket token) and no threading headers: only the ack limit helps."""
    return f"Your request number {n} has been logged", False


@dataclass
class Run:
    rounds: int  # rounds run before the loop went quiet
    piped: list[int]  # per round: answers piped in
    mailed: list[int]  # per round: mails the SMTP server received
    actions: list[str]


def run_loop(cli: Cli, smtp: SmtpServer, robot: Robot) -> Run:
    """Up to ROUNDS rounds of: pipe the robot's answers, `tuidesk send`, the robot reads and
    answers. Running `tuidesk` costs ~0.3 s, so once two rounds in a row moved no mail the
    loop stops: after that the caller checks nothing is left that could move (no answer
    pending, nothing queued), so the remaining rounds would be the same empty round."""
    run = Run(0, [], [], [])
    for _ in range(ROUNDS):
        batch, robot.pending = robot.pending, []
        for raw in batch:
            run.actions.append(json.loads(cli("pipe", "--json", input=raw).stdout)["action"])
        cli("send")
        run.piped.append(len(batch))
        run.mailed.append(robot.read(smtp))
        run.rounds += 1
        if run.rounds >= 2 and not any(run.piped[-2:] + run.mailed[-2:]):
            break
    return run


def assert_quiet(cli: Cli, robot: Robot, run: Run) -> list[dict[str, Any]]:
    """The loop ended on its own, not at the round limit, and nothing can move any more: the
    outbox holds only sent mail and the robot has nothing to answer. The outbox, returned."""
    assert run.rounds < ROUNDS, f"mail still flowing after {ROUNDS} rounds: {run.mailed}"
    assert run.piped[-2:] == [0, 0] and run.mailed[-2:] == [0, 0]
    assert robot.pending == []
    outbox = json.loads(cli("outbox", "list", "--json").stdout)
    assert {m["status"] for m in outbox} <= {"sent"}, outbox
    return outbox


def tickets(cli: Cli) -> list[dict[str, Any]]:
    return json.loads(cli("ticket", "list", "--json").stdout)


def test_a_threading_auto_responder_gets_one_ack_and_stays_on_one_ticket(
    desk: Cli, smtp_starttls: SmtpServer
) -> None:
    """It quotes our subject and threads: its answers are comments, which get no ack."""
    robot = Robot(threading_style)
    robot.write("My printer is on fire")
    run = run_loop(desk, smtp_starttls, robot)
    outbox = assert_quiet(desk, robot, run)

    assert len(tickets(desk)) == 1
    acks = [m for m in outbox if m["kind"] == "ack"]
    assert 1 <= len(acks) <= ACK_MAX
    assert all(m["recipients"] == [ROBOT] for m in acks)
    assert len(smtp_starttls.messages) <= ACK_MAX
    # What happened, exactly: one ticket, one ack, the robot's answer to it a comment.
    assert run.actions == ["created", "commented"]
    assert len(acks) == len(smtp_starttls.messages) == 1


def test_a_responder_that_breaks_threading_is_stopped_by_the_ack_limit(
    desk: Cli, smtp_starttls: SmtpServer
) -> None:
    """Every answer is a new ticket, so only ack_max_per_hour ends the loop: ACK_MAX acks,
    each provoking one more ticket, then silence."""
    robot = Robot(new_subject_style)
    robot.write("Hello support")
    run = run_loop(desk, smtp_starttls, robot)
    outbox = assert_quiet(desk, robot, run)

    acks = [m for m in outbox if m["kind"] == "ack"]
    assert len(acks) == ACK_MAX
    assert all(m["recipients"] == [ROBOT] for m in acks)
    assert len(smtp_starttls.messages) == ACK_MAX
    created = tickets(desk)
    assert len(created) <= ACK_MAX + 1
    # Exactly: the first mail and one per ack, the last of them unanswered.
    assert len(created) == ACK_MAX + 1
    assert run.actions == ["created"] * (ACK_MAX + 1)
