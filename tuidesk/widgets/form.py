"""A settings form built from field specs, with each field's error shown right under it.

The form only gathers text and shows errors: the values are checked by the same storage save
functions the CLI and `config import` use, whose `Invalid` names the field that is wrong.
What cannot even be read (a line of a list of pairs without `=`) is reported the same way."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Label, Select, Static, TextArea

from tuidesk.engine.text import clean_line

# A field with `when=(name, value)` is shown only while the choice `name` is `value` (the
# OAuth2 settings under auth type oauth2); hidden, it keeps its value and is still read.
#
# kind -> how the value is typed in:
#   text, number   one line
#   secret         one line, masked; left empty it keeps what is stored
#   choice         a pick from `choices`
#   flag           a switch
#   list           one line, items separated by commas
#   lines          a box, one item per line (regular expressions may hold commas)
#   pairs          a box, one `key = value` per line
#   block          a box of free text (a mail template)
KINDS = ("text", "number", "secret", "choice", "flag", "list", "lines", "pairs", "block")


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str
    kind: str = "text"
    group: str = ""
    help: str = ""
    choices: tuple[tuple[str, str], ...] = ()  # (label, value)
    placeholder: str = ""
    when: tuple[str, str] | None = None  # (choice field, value): shown only then


def widget_id(name: str) -> str:
    return f"field-{name}"


class Form(VerticalScroll):
    """Fields in groups, in the order given. `read()` returns (values, errors): the values by
    field name, and what could not be read."""

    DEFAULT_CSS = """
    Form { height: 1fr; padding: 0 1; }
    Form .form-group { text-style: bold; color: $accent; margin-top: 1; }
    Form .form-row { height: auto; margin-top: 1; }
    Form .form-label { width: 26; padding-right: 1; text-align: right; }
    Form .form-help { color: $text-muted; margin-left: 26; }
    Form .form-error { color: $error; display: none; margin-left: 26; }
    Form .form-error.-shown { display: block; }
    Form Input, Form Select { width: 1fr; max-width: 72; }
    Form TextArea { height: 4; width: 1fr; max-width: 72; }
    Form Checkbox { width: 5; }
    Form .-invalid { background: $error 30%; }
    Form #error-form { color: $error; text-style: bold; display: none; margin-left: 0; }
    Form #error-form.-shown { display: block; }
    Form .-hidden, Form .form-error.-hidden { display: none; }
    """

    def __init__(self, specs: Iterable[FieldSpec], values: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.specs = tuple(specs)
        self.initial = values
        self._parts: dict[str, list[Widget]] = {}  # a `when` field's row, help and error

    def compose(self) -> ComposeResult:
        yield Static("", id="error-form", classes="form-error")
        group = None
        for spec in self.specs:
            if spec.group and spec.group != group:
                group = spec.group
                yield Static(spec.group, classes="form-group")
            parts: list[Widget] = []
            with Horizontal(classes="form-row") as row:
                parts.append(row)
                yield Label(spec.label, classes="form-label")
                yield self._widget(spec, self.initial.get(spec.name))
            if spec.help:
                parts.append(Static(Text(spec.help), classes="form-help"))
                yield parts[-1]
            parts.append(Static("", id=f"error-{spec.name}", classes="form-error"))
            yield parts[-1]
            if spec.when is not None:
                self._parts[spec.name] = parts
                field, value = spec.when
                self._show_field(spec.name, self.initial.get(field) == value)

    def _show_field(self, name: str, shown: bool) -> None:
        for part in self._parts.get(name, ()):
            part.set_class(not shown, "-hidden")

    @on(Select.Changed)
    def _choice_changed(self, _event: Select.Changed) -> None:
        """Fields shown only under a choice come and go with it."""
        chosen: dict[str, Any] = {}
        for spec in self.specs:
            if spec.when is not None:
                field, value = spec.when
                if field not in chosen:
                    widget = self.query_one(f"#{widget_id(field)}", Select)
                    chosen[field] = None if widget.value is Select.NULL else widget.value
                self._show_field(spec.name, chosen[field] == value)

    def _widget(self, spec: FieldSpec, value: Any) -> Widget:
        wid = widget_id(spec.name)
        if spec.kind == "choice":
            choices = [(label, val) for label, val in spec.choices]
            known = {val for _, val in choices}
            return Select(
                choices, value=value if value in known else Select.NULL, id=wid,
                allow_blank=True, compact=True,
            )  # fmt: skip
        if spec.kind == "flag":
            return Checkbox("", bool(value), id=wid, compact=True)
        if spec.kind in ("lines", "pairs", "block"):
            if spec.kind == "lines":
                text = "\n".join(value or [])
            elif spec.kind == "pairs":
                text = "\n".join(f"{k} = {v}" for k, v in (value or {}).items())
            else:
                text = value or ""
            return TextArea(text, id=wid, soft_wrap=True, tab_behavior="focus", compact=True)
        if spec.kind == "list":
            text = ", ".join(value or [])
        else:
            text = "" if value is None or spec.kind == "secret" else str(value)
        return Input(
            text, id=wid, password=spec.kind == "secret", placeholder=spec.placeholder,
            compact=True,
        )  # fmt: skip

    def read(self) -> tuple[dict[str, Any], dict[str, str]]:
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for spec in self.specs:
            widget = self.query_one(f"#{widget_id(spec.name)}")
            if isinstance(widget, Select):
                values[spec.name] = None if widget.value is Select.NULL else widget.value
            elif isinstance(widget, Checkbox):
                values[spec.name] = widget.value
            elif isinstance(widget, TextArea):
                values[spec.name], error = _parse_box(spec.kind, widget.text)
                if error:
                    errors[spec.name] = error
            elif isinstance(widget, Input):
                text = widget.value
                if spec.kind == "list":
                    values[spec.name] = [item.strip() for item in text.split(",") if item.strip()]
                else:
                    values[spec.name] = text.strip()
        return values, errors

    def show_errors(self, errors: dict[str, str]) -> None:
        """Each message under its field; one naming no field of this form goes on top. The
        first field in error takes the focus."""
        names = {spec.name for spec in self.specs}
        stray = [message for field, message in errors.items() if field not in names]
        self._set_error("form", "; ".join(stray))
        first: Widget | None = None
        for spec in self.specs:
            message = errors.get(spec.name, "")
            self._set_error(spec.name, message)
            if message:
                self._show_field(spec.name, True)  # an error is never hidden
            widget = self.query_one(f"#{widget_id(spec.name)}")
            widget.set_class(bool(message), "-invalid")
            if message and first is None:
                first = widget
        if first is not None:
            first.focus()
            self.scroll_to_widget(first, top=True)
        elif stray:
            self.scroll_home()

    def _set_error(self, name: str, message: str) -> None:
        label = self.query_one(f"#error-{name}", Static)
        label.update(Text(clean_line(message)))
        label.set_class(bool(message), "-shown")


def _parse_box(kind: str, text: str) -> tuple[Any, str]:
    if kind == "block":
        return text, ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if kind == "lines":
        return lines, ""
    pairs: dict[str, str] = {}
    for number, line in enumerate(lines, 1):
        key, eq, value = line.partition("=")
        if not eq or not key.strip() or not value.strip():
            return pairs, f"line {number}: write it as key = value"
        pairs[key.strip()] = value.strip()
    return pairs, ""
