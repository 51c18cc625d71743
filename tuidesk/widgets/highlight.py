"""What a search found, marked in text shown on screen: styled spans of plain Text (the text
is mail-derived and already cleaned), never markup."""

from __future__ import annotations

from rich.text import Text

from tuidesk.engine.search_query import match_spans

MATCH_STYLE = "bold black on yellow"


def mark(text: Text, terms: tuple[str, ...]) -> Text:
    """`text` with the search's words (engine.search_query.highlight_terms) styled in place."""
    for start, end in match_spans(text.plain, terms):
        text.stylize(MATCH_STYLE, start, end)
    return text
