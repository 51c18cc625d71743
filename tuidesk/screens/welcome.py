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
    ("Give the Support branch your address",
     "tuidesk branch edit Support --address support@example.com"),
    ("Read an IMAP mailbox", "tuidesk channel add support --host imap.example.com --ssl \\\n"
     "      --username support@example.com --password-command 'pass show support' --status active"),
    ("…or import mail you have", "tuidesk import ~/Mail/support.mbox"),
    ("…or let your MTA pipe it", 'support: "|/path/to/.venv/bin/tuidesk pipe"'),
    ("Send replies", "tuidesk outgoing add main --host smtp.example.com --starttls ..."),
]  # fmt: skip


class WelcomeScreen(Screen[None]):
    """`admin`: the agent may open the admin console, the first way offered to set up."""

    CSS_PATH = "welcome.tcss"
    BINDINGS = [
        Binding("enter,escape", "continue", "Continue", id="welcome.continue"),
        Binding(
            "A",
            "set_up",
            "Admin",
            id="welcome.set_up",
            tooltip="Set up in the admin console: mail channels, outgoing mail, branches, agents",
        ),
    ]

    def __init__(self, *, admin: bool = False) -> None:
        super().__init__()
        self.admin = admin

    def compose(self) -> ComposeResult:
        text = Text()
        text.append("Welcome to tuidesk\n\n", style="bold")
        text.append("There is no mail channel and no ticket yet. ")
        text.append("Mail that arrives goes to the Support branch (SUP) until you add others.\n\n")
        if self.admin:
            text.append(" Press A ", style="bold reverse")
            text.append(" to set up in the admin console: mail channels (IMAP, OAuth2),\n")
            text.append("   outgoing mail, branches, queues, rules and agents, each with a test.\n")
            text.append("\nOr from a shell:\n")
        else:
            text.append("Ask an admin to set up the mail channels, or from a shell:\n")
        for number, (what, command) in enumerate(STEPS, 1):
            text.append(f"\n {number}. {what}\n", style="bold")
            text.append(f"    {command}\n", style="cyan")
        text.append("\nTickets appear here as soon as the first mail arrives. ")
        text.append("`tuidesk paths` shows where the database is.", style="dim")
        with Vertical(id="welcome"):
            yield Static(text)
        yield Footer()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The app's own idea of the role: it asks again at the admin console's door."""
        return getattr(self.app, "is_admin", self.admin) if action == "set_up" else True

    def action_continue(self) -> None:
        self.dismiss()

    def action_set_up(self) -> None:
        """The admin console replaces this screen: leaving it shows the (empty) ticket list."""
        self.dismiss()
        self.app.action_admin()
