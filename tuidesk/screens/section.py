"""What an admin section (channels, branches, queues...) gives the admin screens: its rows,
its form, and how a form's values are saved, removed, tested and previewed.

A section does no checking of its own: `save` hands the values to the storage save function
that the CLI and `config import` use too, and lets its `Invalid` through for the form."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from sqlmodel import Session

from tuidesk.widgets.form import FieldSpec


@dataclass(frozen=True)
class Row:
    key: str  # what `form`, `save` and `remove` are given back
    cells: tuple[str, ...]


@dataclass(frozen=True)
class FormSpec:
    title: str
    fields: tuple[FieldSpec, ...]
    values: dict[str, Any]


Report = Callable[[str], None]  # a line of a test's progress, shown as it comes


class Section:
    """One kind of thing an admin configures. Subclasses set the class attributes and
    implement rows/form/save/remove; `test` and `preview` are optional."""

    title: ClassVar[str]
    columns: ClassVar[tuple[str, ...]]
    test_label: ClassVar[str | None] = None  # e.g. "Test connection"; None: no test
    can_preview: ClassVar[bool] = False

    def rows(self, session: Session) -> list[Row]:
        raise NotImplementedError

    def form(self, session: Session, key: str | None) -> FormSpec:
        """The form for a new one (key None) or for the one under `key`."""
        raise NotImplementedError

    def save(self, session: Session, key: str | None, values: dict[str, Any]) -> str:
        """Save and return the key of what was saved; raise `Invalid` to refuse."""
        raise NotImplementedError

    def remove(self, session: Session, key: str) -> None:
        raise NotImplementedError

    def test(
        self, session: Session, key: str | None, values: dict[str, Any], report: Report
    ) -> bool:
        """Runs in a worker thread with the form's unsaved values; True when it passed."""
        raise NotImplementedError

    def preview(self, session: Session, key: str | None, values: dict[str, Any], raw: bytes) -> Any:
        """The engine's dry-run decision for `raw` under the form's unsaved values."""
        raise NotImplementedError
