"""A footer that changes its keys in place when the focus moves.

Textual's Footer unmounts every key and mounts new ones whenever the screen's keys change, and
they change twice on each focus move (the focus watcher and `set_focus` each ask): some fifteen
widgets removed and made again, twice, after the frame that shows the new focus, 15 to 45 ms
each on a busy two-core machine, which the next key waits behind. Here the keys the footer
would show are composed (as Footer composes them) and laid onto the keys already mounted: each
takes a new one's key and label, those left over are hidden, and only keys beyond all those
ever mounted are mounted; when nothing differs, nothing is redrawn. Keys in groups (none of
tuidesk's) are rebuilt as Footer does."""

from __future__ import annotations

from textual.compose import compose
from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

_KINDS = ("-grouped", "-command-palette")  # classes a key is made with and keeps
_SHOWN = ("key", "key_display", "description", "action", "_disabled", "tooltip")


class KeysFooter(Footer):
    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen:
            self.call_after_refresh(self._update_keys)

    async def _update_keys(self) -> None:
        if not self.is_attached or self._pruning:
            return
        wanted, mounted = compose(self), list(self.children)
        if not all(isinstance(key, FooterKey) for key in (*wanted, *mounted)):
            await self.recompose()
            return
        spare: dict[tuple[bool, ...], list[FooterKey]] = {}
        for key in mounted:
            spare.setdefault(_kind(key), []).append(key)  # type: ignore[arg-type]
        more = []
        for new in wanted:
            if keys := spare.get(_kind(new)):  # type: ignore[arg-type]
                _take(keys.pop(0), new)  # type: ignore[arg-type]
            else:
                more.append(new)
        for key in (key for keys in spare.values() for key in keys):
            if key.display:  # setting it at all lays the screen out again
                key.display = False
        if more:
            await self.mount_all(more)


def _kind(key: FooterKey) -> tuple[bool, ...]:
    return tuple(name in key.classes for name in _KINDS)


def _take(old: FooterKey, new: FooterKey) -> None:
    """`old` shows what `new` would: a redraw (and a layout, as its width may change), no
    mount."""
    if not old.display:
        old.display = True
    if all(getattr(old, name) == getattr(new, name) for name in _SHOWN):
        return
    for name in _SHOWN:
        setattr(old, name, getattr(new, name))
    old.set_class(new._disabled, "-disabled")
    old.refresh(layout=True)
