"""First run: no channel and no ticket. Say what to do next instead of showing an empty grid;
the screen leaves by itself when the first ticket arrives."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static

# Our own words, not mail: the only console text allowed to be anything but plain.
STEPS = [
    ("Add a branch", "tuidesk branch add Support --key SUP --address support@example.com"),
    ("Read an IMAP mailbox", "tuidesk channel add support --host imap.example.com --ssl \\\n"
     "      --username support@example.com --password-command 'pass show support' --status active"),
    ("…or import mail you have", "tuidesk import ~/Mail/support.mbox"),
    ("…or let your MTA pipe it", 'support: "|/path/to/.venv/bin/tuidesk pipe"'),
    ("Send replies", "tuidesk outgoing add main --host smtp.example.com --starttls ..."),
]  # fmt: skip


class WelcomeScreen(Screen[None]):
    CSS_PATH = "welcome.tcss"
    BINDINGS = [
        Binding("enter,escape", "continue", "Continue", id="welcome.continue"),
    ]

    def compose(self) -> ComposeResult:
        text = Text()
        text.append("Welcome to tuidesk\n\n", style="bold")
        text.append("There is no mail channel and no ticket yet. To get mail in:\n")
        for number, (what, command) in enumerate(STEPS, 1):
            text.append(f"\n {number}. {what}\n", style="bold")
            text.append(f"    {command}\n", style="cyan")
        text.append("\nTickets appear here as soon as the first mail arrives. ")
        text.append("`tuidesk paths` shows where the database is.", style="dim")
        with Vertical(id="welcome"):
            yield Static(text)
        yield Footer()

    def action_continue(self) -> None:
        self.dismiss()
