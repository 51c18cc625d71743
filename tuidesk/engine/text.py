"""Text clean-up shared by the engine: control characters out, HTML to readable text."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

# C0/C1 controls except TAB, LF and CR; DEL; bidi overrides and isolates; zero-width joiners
# that can hide text. ANSI escape sequences are removed whole before single characters.
_ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])")
_CONTROL = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)
_SPACES = re.compile(r"[ \t\r\n]+")


def strip_controls(text: str) -> str:
    """Remove terminal escapes, control and bidi characters; keep TAB, LF and CR."""
    return _CONTROL.sub("", _ANSI.sub("", text))


def clean_line(text: str, limit: int = 998) -> str:
    """A single-line value (title, display name): no controls, whitespace folded, capped."""
    return _SPACES.sub(" ", strip_controls(text)).strip()[:limit]


def normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


_BLOCK_TAGS = {
    "p", "div", "br", "tr", "li", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5", "h6",
    "blockquote", "pre", "hr", "section", "article", "header", "footer", "dd", "dt", "dl",
}  # fmt: skip
_SKIP_TAGS = {"script", "style", "head", "title", "noscript", "template"}


class _TextExtractor(HTMLParser):
    """Collects visible text; block elements become line breaks. Never fetches anything."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0
        self.pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self.skip += 1
        elif tag == "pre":
            self.pre += 1
        if tag == "li":
            self.parts.append("\n- ")
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self.skip = max(0, self.skip - 1)
        elif tag == "pre":
            self.pre = max(0, self.pre - 1)
        if tag in _BLOCK_TAGS and tag not in ("br", "li"):
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        self.parts.append(data if self.pre else _SPACES.sub(" ", data))


def html_to_text(markup: str) -> str:
    """Readable plain text from an HTML body: paragraphs kept, at most one blank line between."""
    parser = _TextExtractor()
    try:
        parser.feed(markup)
        parser.close()
    except Exception:  # noqa: BLE001 - malformed markup falls back to tag stripping
        return html.unescape(re.sub(r"<[^>]*>", " ", markup)).strip()
    lines = [line.strip() for line in "".join(parser.parts).replace("\xa0", " ").split("\n")]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()
