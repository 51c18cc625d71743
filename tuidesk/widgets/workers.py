"""Worker failures: every thread worker of the console is started with exit_on_error=False, so
an exception it did not expect is reported instead of closing the app. Textual tells only the
node that started a worker (Worker.StateChanged does not bubble): screens and widgets that run
workers pass a failure on to the app, whose one handler shows it to the agent."""

from __future__ import annotations

from textual.message_pump import MessagePump
from textual.worker import Worker, WorkerState


def first_line(error: BaseException | None) -> str:
    """What the agent reads of an error: its type and the first line of its text."""
    if error is None:
        return "unknown error"
    text = str(error).strip().splitlines()
    return f"{error.__class__.__name__}: {text[0]}" if text else error.__class__.__name__


class ReportsWorkerFailures(MessagePump):
    """For a screen or widget that starts workers: a failed one goes on to the app."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR:
            self.app.post_message(Worker.StateChanged(event.worker, event.state))
