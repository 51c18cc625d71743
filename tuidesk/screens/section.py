"""What an admin section (channels, branches, queues...) gives the admin screens: its rows,
its form, and how a form's values are saved, removed, tested and previewed.

A section does no checking of its own: `save` hands the values to the storage save function
that the CLI and `config import` use too, and lets its `Invalid` through for the form."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from sqlalchemy import Engine
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
    implement rows/form/save/remove; `test`, `preview` and `sign_in` are optional."""

    title: ClassVar[str]
    columns: ClassVar[tuple[str, ...]]
    test_label: ClassVar[str | None] = None  # e.g. "Test connection"; None: no test
    can_preview: ClassVar[bool] = False
    not_saved: ClassVar[frozenset[str]] = frozenset()  # form fields only a test uses

    def can_sign_in(self, values: dict[str, Any]) -> bool:
        """Whether a form with these values offers a sign-in (an OAuth2 channel's)."""
        return False

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

    def sign_in(
        self, engine: Engine, key: str, say: Report, stop: Callable[[], bool]
    ) -> tuple[bool, str]:
        """Runs in a worker thread: an interactive sign-in with the saved settings of `key`,
        `say` telling the admin what to do meanwhile (a code and a page), until done or
        `stop()`. Returns (signed in, what to tell the admin)."""
        raise NotImplementedError
