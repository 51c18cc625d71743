"""`R`: the service levels at a glance, the figures of `tuidesk report` (storage.report's
build_report, the one source of them) as tables and terminal plots, for the last 7, 30 or 90
days and one branch or all. It reads again whenever the main screen's watch sees a change (its
`changed_signal`: the one watch, not a second), in a worker: never on the UI thread.

Plots are textual-plotext's (Textualize's widget over plotext: pure Python, no numpy; the
alternatives are named in the commit that brought it)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from rich.text import Text
from sqlalchemy import Engine
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.signal import Signal
from textual.widgets import DataTable, Static
from textual_plotext import PlotextPlot

from tuidesk.clock import utcnow
from tuidesk.engine.sla import business_time
from tuidesk.engine.text import clean_line
from tuidesk.screens.pickers import ChoiceScreen
from tuidesk.storage.console_queries import filters
from tuidesk.storage.report import build_report
from tuidesk.widgets.footer import KeysFooter
from tuidesk.widgets.workers import ReportsWorkerFailures

PERIODS = (7, 30, 90)  # days, `p` goes round them; 30 is the CLI's default too
TICKS = 6  # day labels under the per-day plot, at most
# The report's ages, short enough to stand under a bar each (any other: as it is).
SHORT_AGES = {
    "under 1 day": "<1 day",
    "1-3 days": "1-3 d",
    "3-7 days": "3-7 d",
    "over 7 days": ">7 d",
}


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:g}%"


def name_cell(name: str | None, none: str) -> Text:
    """An agent's or branch's name (operator input): plain text, never markup."""
    return Text(clean_line(name, 40)) if name else Text(none, style="dim")


class DashboardScreen(ReportsWorkerFailures, Screen[None]):
    CSS_PATH = "dashboard.tcss"
    BINDINGS = [
        Binding("escape", "back", "Back", id="dashboard.back"),
        Binding("p", "period", "Period", id="dashboard.period",
                tooltip="The last 7, 30 or 90 days, in turn"),
        Binding("b", "branch", "Branch", id="dashboard.branch",
                tooltip="One branch's figures, or every branch's"),
        Binding("r", "reload", "Reload", id="dashboard.reload", show=False),
    ]  # fmt: skip

    class Loaded(Message):
        """A report read for (`days`, `branch`), with the branches the picker offers."""

        def __init__(
            self,
            days: int,
            branch: str | None,
            report: dict[str, Any],
            branches: list[tuple[str, str]],
            now: datetime,
        ) -> None:
            super().__init__()
            self.days = days
            self.branch = branch
            self.report = report
            self.branches = branches
            self.now = now

    def __init__(self, engine: Engine, changed: Signal[None]) -> None:
        """`changed`: published when the tickets change (the main screen's watch)."""
        super().__init__()
        self.engine = engine
        self.changed = changed
        self.days = 30
        self.branch: str | None = None
        self.report: dict[str, Any] | None = None  # what is shown
        self.branches: list[tuple[str, str]] = []

    def compose(self) -> ComposeResult:
        yield Static("Service levels · reading…", id="dashboard-title")
        with VerticalScroll(id="dashboard"):
            with Horizontal(classes="plots"):
                yield PlotextPlot(id="per-day-plot")
                yield PlotextPlot(id="age-plot")
            with Horizontal(classes="tables"):
                yield DataTable(id="times", cursor_type="none", show_cursor=False)
                yield DataTable(id="backlog", cursor_type="none", show_cursor=False)
            yield DataTable(id="per-agent", cursor_type="none", show_cursor=False)
            yield DataTable(id="per-branch", cursor_type="none", show_cursor=False)
            yield DataTable(id="per-day", cursor_type="none", show_cursor=False)
        yield KeysFooter()

    def on_mount(self) -> None:
        group = ("Opened", "Closed", "Open now", "First response median", "p90")
        columns = {
            "times": ("Business time", "Count", "Median", "p90", "Met", "Judged", "Attained"),
            "backlog": ("Backlog", "Tickets"),
            "per-agent": ("Agent", *group),
            "per-branch": ("Branch", *group),
            "per-day": ("Day", "Opened", "Closed"),
        }
        for table_id, names in columns.items():
            table = self.query_one(f"#{table_id}", DataTable)
            table.can_focus = False  # the screen scrolls as one; its keys stay the screen's
            table.add_columns(*names)
        self.query_one("#dashboard", VerticalScroll).focus()
        self.changed.subscribe(self, lambda _: self._read())
        self._read()

    def on_unmount(self) -> None:
        self.changed.unsubscribe(self)

    @work(thread=True, exclusive=True, group="dashboard", name="dashboard", exit_on_error=False)
    def _read(self) -> None:
        """The report for the period up to today (UTC days, as `tuidesk report` counts them)."""
        days, branch, now = self.days, self.branch, utcnow()
        until = now.date()
        with self.engine.connect() as conn:
            report = build_report(conn, until - timedelta(days=days - 1), until, branch, now)
            branches = filters(conn).branches
        self.post_message(self.Loaded(days, branch, report, branches, now))

    def on_dashboard_screen_loaded(self, message: Loaded) -> None:
        if (message.days, message.branch) != (self.days, self.branch):
            return  # overtaken: the period or branch changed since it was asked
        self.report, self.branches = message.report, message.branches
        self._show(message.report, message.now)

    # -- drawing ---------------------------------------------------------------------------

    def _show(self, report: dict[str, Any], now: datetime) -> None:
        title = Text("Service levels", style="bold")
        where = clean_line(report["branch"], 40) if report["branch"] else "every branch"
        title.append(f" · last {self.days} days, {report['since']} to {report['until']} UTC")
        title.append(f" · {where} · as of {now:%H:%M} UTC")
        self.query_one("#dashboard-title", Static).update(title)
        self._plot_days(report["per_day"])
        self._plot_ages(report["backlog"]["by_age"])
        self._fill("times", self._times(report))
        backlog = report["backlog"]
        self._fill("backlog", [
            [Text("open (all)", style="bold"), str(backlog["open"])],
            *([Text(status), str(n)] for status, n in backlog["by_status"].items()),
            *([Text(f"age {age}", style="dim"), str(n)] for age, n in backlog["by_age"].items()),
        ])  # fmt: skip
        self._fill("per-agent", _groups(report["per_agent"], "unassigned"))
        self._fill("per-branch", _groups(report["per_branch"], "-"))
        self._fill("per-day", [
            [d["day"], str(d["opened"]), str(d["closed"])] for d in reversed(report["per_day"])
        ])  # fmt: skip

    @staticmethod
    def _times(report: dict[str, Any]) -> list[list[Any]]:
        rows = []
        for kind, label in (("first_response", "First response"), ("resolution", "Resolution")):
            spread, met = report[kind], report["sla"][kind]
            rows.append([
                label, str(spread["count"]), business_time(spread["median_minutes"]),
                business_time(spread["p90_minutes"]), str(met["met"]), str(met["judged"]),
                percent(met["percent"]),
            ])  # fmt: skip
        return rows

    def _fill(self, table_id: str, rows: list[list[Any]]) -> None:
        table = self.query_one(f"#{table_id}", DataTable)
        table.clear()
        for row in rows:
            table.add_row(*row)

    def _plot_days(self, per_day: list[dict[str, Any]]) -> None:
        """Opened and closed per day, side by side; a few days named under them."""
        plot = self.query_one("#per-day-plot", PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        x = list(range(1, len(per_day) + 1))
        opened = [d["opened"] for d in per_day]
        closed = [d["closed"] for d in per_day]
        plt.multiple_bar(x, [opened, closed], labels=["opened", "closed"])
        step = max(1, -(-len(per_day) // TICKS))
        ticks = x[::-1][::step][::-1]  # the last day always named: today
        plt.xticks(ticks, [per_day[i - 1]["day"][5:] for i in ticks])
        plt.yticks(_counts(max(opened + closed, default=0)))
        plt.title("Opened and closed per day")
        plot.refresh()

    def _plot_ages(self, by_age: dict[str, int]) -> None:
        plot = self.query_one("#age-plot", PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        x = list(range(1, len(by_age) + 1))
        plt.bar(x, list(by_age.values()))
        plt.xticks(x, [SHORT_AGES.get(age, age) for age in by_age])  # plotext would pick some
        plt.yticks(_counts(max(by_age.values(), default=0)))
        plt.title("Open tickets by age")
        plot.refresh()

    # -- actions ---------------------------------------------------------------------------

    def action_back(self) -> None:
        self.dismiss()

    def action_reload(self) -> None:
        self._read()

    def action_period(self) -> None:
        self.days = PERIODS[(PERIODS.index(self.days) + 1) % len(PERIODS)]
        self._read()

    def action_branch(self) -> None:
        choices = [("", "Every branch"), *((key, f"{key} {name}") for key, name in self.branches)]

        def chosen(value: str | None) -> None:
            if value is not None and (value or None) != self.branch:
                self.branch = value or None
                self._read()

        self.app.push_screen(ChoiceScreen("Figures of", choices, current=self.branch or ""), chosen)


def _counts(top: int) -> list[int]:
    """Whole-number ticks up the side of a plot of counts: at most five."""
    step = max(1, -(-top // 4))
    return list(range(0, top + 1, step))


def _groups(groups: list[dict[str, Any]], none: str) -> list[list[Any]]:
    """The per-agent or per-branch rows."""
    return [
        [
            name_cell(g["name"], none), str(g["opened"]), str(g["closed"]), str(g["open_now"]),
            business_time(g["first_response"]["median_minutes"]),
            business_time(g["first_response"]["p90_minutes"]),
        ]
        for g in groups
    ]  # fmt: skip
