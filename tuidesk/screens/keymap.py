"""Keys the agent chose: `keys.toml` in the config folder maps a binding's id to the keys that
run it (Textual keymaps), e.g. `"main.search" = "ctrl+f"`. `?` lists every id."""

from __future__ import annotations

import tomllib
from pathlib import Path

from textual.binding import Binding

KEYMAP_FILE = "keys.toml"


class KeymapError(ValueError):
    pass


def binding_ids() -> set[str]:
    """Every id a keymap may name: the bindings of the app, its screens and widgets."""
    from tuidesk.screens import (
        app,
        attachments,
        dashboard,
        dialogs,
        help,
        main,
        new_ticket,
        pickers,
        quarantine,
        reply,
        ticket,
        ticket_fields,
        welcome,
    )
    from tuidesk.widgets import ticket_list

    ids: set[str] = set()
    modules = (
        app, attachments, dashboard, dialogs, help, main, new_ticket, pickers, quarantine, reply,
        ticket, ticket_fields, welcome,
    )  # fmt: skip
    for module in (*modules, ticket_list):
        for value in vars(module).values():
            for binding in getattr(value, "BINDINGS", []) if isinstance(value, type) else []:
                if isinstance(binding, Binding) and binding.id:
                    ids.add(binding.id)
    return ids


def load_keymap(config_dir: Path) -> dict[str, str]:
    """The [keys] table of keys.toml (none: no changes), checked against the known ids."""
    path = config_dir / KEYMAP_FILE
    if not path.exists():
        return {}
    try:
        keys = tomllib.loads(path.read_text(encoding="utf-8")).get("keys", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise KeymapError(f"{path}: {exc}") from exc
    if not isinstance(keys, dict) or not all(isinstance(v, str) for v in keys.values()):
        raise KeymapError(f'{path}: [keys] maps binding ids to keys, e.g. "main.search" = "ctrl+f"')
    unknown = sorted(set(keys) - binding_ids())
    if unknown:
        raise KeymapError(
            f"{path}: no binding with the id {', '.join(unknown)} (press ? to see ids)"
        )
    return keys
