"""Reply stripping: keep what the person just wrote, drop the history their mail program quoted.

A reply is read line by line. Every line is either blank, text, a separator (a line that matches
one of the reply separators: "On … wrote:", an Outlook "From:/Sent:" block, "> quoted" lines,
"Sent from my iPhone" …) or, in HTML, part of a known quote container. A separator followed by
'>' lines introduces a quote block; any other separator ends the new text for good. What is
kept follows from where the sender's own text sits around those quote blocks:

- top post (text, then history): the text above the first quote block or separator;
- bottom post (history, then text): the text below the quote;
- inline answers (text between quote blocks): everything up to the last answer, quotes included,
  because an answer like "Yes, Tuesday" means nothing without the question above it;
- nothing of their own (a forward, a bare quote): the whole message, so a ticket is never empty
  while the mail was not.

A signature below the standard delimiter ("-- " on its own line) is not part of the new text:
the full text keeps it (`e` in the console shows it) and the ticket knows the sender already. A
sign-off without the delimiter stays: no rule tells "Thanks, John" from the text above it. The
mobile "Sent from my iPhone" footers count as separators. Our own signatures, quoted or not, are
ours and not the customer's (`OwnSignatures`).
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from html.parser import HTMLParser

from tuidesk.engine.text import html_to_text, normalize_newlines, strip_controls

# "-----Original Message-----" and translations: Outlook's line above the mail it answers or
# forwards.
ORIGINAL_MESSAGE = (
    r"^-{2,}\s*(?:original message|ursprüngliche nachricht|message d['’]origine"
    r"|mensaje original|messaggio originale|oorspronkelijk bericht|mensagem original"
    r"|oryginalna wiadomość|wiadomość oryginalna|исходное сообщение|ursprungligt meddelande"
    r"|oprindelig meddelelse|opprinnelig melding|alkuperäinen viesti|původní zpráva"
    r"|pôvodná správa|eredeti üzenet|özgün ileti|orijinal mesaj|mesaj original|izvorna poruka"
    r"|izvirno sporočilo|оригінальне повідомлення|початкове повідомлення|αρχικό μήνυμα"
    r"|missatge original|originalus laiškas|pesan asli|thư gốc|元のメッセージ|原始邮件|原始郵件"
    r"|原始消息|원본 메시지)\s*-{2,}$"
)

# Each entry is searched (case-insensitively) in one line with its surrounding whitespace and
# invisible formatting characters removed; for lines starting with '>' also in the line without
# its '>' markers. Reply headers that mail programs wrap are also tried on two or three
# consecutive lines joined by a space. "On … wrote:" style headers require a digit (the date) so
# that a sentence like "On second thought, as I wrote:" is not mistaken for one.
DEFAULT_REPLY_SEPARATORS: tuple[str, ...] = (
    # Quoted lines.
    r"^>",
    # "On <date>, <name> wrote:" and translations; also Yahoo's "--- On …" and Zoho's
    # "---- On … wrote ----".
    r"^-*\s*On\s(?=.*\d).{0,200}\bwrote\s*(?::|-+)$",
    r"^-*\s*Am\s(?=.*\d).{0,200}\b(?:schrieb|geschrieben)\b.{0,200}(?::|-+)$",
    r"^-*\s*Le\s(?=.*\d).{0,200}\ba\s+écrit\s*(?::|-+)$",
    r"^-*\s*El\s(?=.*\d).{0,200}\bescribió\s*(?::|-+)$",
    r"^-*\s*Il\s(?=.*\d).{0,200}\bha\s+scritto\s*(?::|-+)$",
    r"^-*\s*Op\s(?=.*\d).{0,200}\b(?:schreef|geschreven)\b.{0,200}(?::|-+)$",
    r"^-*\s*Em\s(?=.*\d).{0,200}\bescreveu\s*(?::|-+)$",
    r"^-*\s*W dniu\s(?=.*\d).{0,200}\bpisze\s*(?::|-+)$",
    # Headers known by their end start with a cheap look at that end, so most lines fail fast.
    r"^(?=.*:$)(?=.*\d).{0,300}\bnapisał(?:\(a\)|a)?\s*:$",
    r"^(?=.*:$)(?=.*\d).{0,300}\b(?:пишет|написала?|написал\(а\))\s*:$",
    # "<date> <time>, <name> <address>:" (Yandex, Mail.ru, Gmail in several languages).
    r"^(?=.*>\s*:$)(?=.*\d{1,2}:\d{2}).{0,300}<[^<>\s@]+@[^<>\s]+>\s*:$",
    # Outlook's header block: From: then Sent:/Date: with a time, on the same or the next lines.
    r"^\*?(?:from|von|de|de la|da|van|od|от|från|fra|lähettäjä|feladó|kimden|šalje|від|από"
    r"|nuo|saatja|dari|từ|差出人|发件人|寄件者|寄件人|보낸 사람)\s?[:：]\*?\s*.{1,300}?\s\*?"
    r"(?:sent|date|gesendet|datum|envoyé|enviado(?:\s+el)?|enviada\s+em|enviat|fecha|inviato"
    r"|data|verzonden|wysłano|отправлено|дата|skickat|sendt|dato|lähetetty|päivämäärä|odesláno"
    r"|odoslané|elküldve|dátum|gönderildi|tarih|trimis|poslano|poslato|надіслано|στάλθηκε"
    r"|ημερομηνία|išsiųsta|nosūtīts|saadetud|dikirim|đã gửi|送信日時|日付|发送时间|日期|傳送時間"
    r"|寄件日期|보낸 날짜)\s?[:：]\*?\s*.{0,80}?\d{1,2}:\d{2}",
    ORIGINAL_MESSAGE,
    # Outlook's divider line.
    r"^_{30,}$",
    # Mobile footers. "Sent from my desk, which is easier" is a sentence, not a footer.
    r"^sent from my\s[^,;:!?]{1,48}$",
    r"^(?:von meinem\s.{1,40}\sgesendet|envoyé de mon\s.{1,40}|enviado desde mi\s.{1,40}"
    r"|inviato dal mio\s.{1,40}|(?:verzonden|verstuurd) (?:met|vanaf|van) mijn\s.{1,40}"
    r"|enviado do meu\s.{1,40}|wysłane z mojego\s.{1,40}|отправлено с моего\s.{1,40})$",
    r"^(?:inviato da|wysłan[eo] z|отправлено с)\s(?:iphone|ipad|android)\S*$",
    r"^(?:get outlook for (?:ios|android)|sent from (?:outlook|mail) for \w+"
    r"|sent from yahoo mail (?:on|for) \w+)\b.{0,60}$",
)

# A forward says "read what follows": the history below it is the substance of the mail.
FORWARD_MARKER = re.compile(
    r"^(?:-{2,}\s*(?:forwarded message|weitergeleitete nachricht|message transféré"
    r"|mensaje reenviado|messaggio inoltrato|doorgestuurd bericht|mensagem encaminhada"
    r"|wiadomość przekazana dalej|пересылаемое сообщение|пересланное сообщение"
    r"|vidarebefordrat meddelande|videresendt meddelelse|videresendt melding|välitetty viesti"
    r"|přeposlaná zpráva|továbbított üzenet|iletilen ileti|mesaj redirecționat|προωθημένο μήνυμα"
    r"|転送メッセージ|转发邮件|轉寄郵件|转发的邮件|전달된 메시지)\s*-{2,}"
    r"|begin forwarded message:|anfang der weitergeleiteten nachricht:"
    r"|début du message réexpédié\s*:?|inicio del mensaje reenviado:)$",
    re.IGNORECASE,
)
_PROBE_LEN = 1000  # a reply header is never longer; caps the regex work on huge lines
_HEADER_LINES = 3  # a wrapped reply header spans at most this many lines
_QUOTE_BLOCK = re.compile(r"(?:s+e*)?q(?:e*q)*")  # header lines, then quoted lines
_INLINE = re.compile(r"Qe*T[Te]*Q")  # own text between two quote blocks
_SIG_DELIMITER = re.compile(r"^--$")
# A reply header with no date ("On Tuesday, Bob wrote:") is one only right above a quote.
_WROTE = re.compile(
    r"\b(?:wrote|schrieb|a écrit|escribió|ha scritto|schreef|escreveu|pisze|napisał\w*|пишет"
    r"|написала?|skrev|kirjoitti|napsal\w*|írta|yazdı|a scris)\s*:$"
    r"|\b(?:schrieb|schreef)\b.{0,120}:$",
    re.IGNORECASE,
)
SIGNATURE_LINES = 12  # lines of text a signature below "-- " runs to, at most
_RULE = re.compile(r"^[\s\-_=*~]*$")  # a divider left above removed history


@dataclass(frozen=True)
class _Separators:
    each: tuple[re.Pattern[str], ...]
    # All patterns as one alternation, which is many times faster on long mail; None when that
    # would change their meaning (capture groups renumber backreferences) or does not compile.
    combined: re.Pattern[str] | None

    def hit(self, line: str) -> bool:
        if self.combined is not None:
            return self.combined.search(line) is not None
        return any(pattern.search(line) for pattern in self.each)


def _compile_one(source: str) -> re.Pattern[str]:
    """An admin's typo must not stop mail: an invalid expression is matched as literal text."""
    try:
        return re.compile(source, re.IGNORECASE)
    except (re.error, OverflowError, RecursionError):
        return re.compile(re.escape(source), re.IGNORECASE)


@lru_cache(maxsize=16)
def _separators(sources: tuple[str, ...]) -> _Separators:
    # A blank entry would match every line and swallow the whole message.
    each = tuple(_compile_one(source) for source in sources if source.strip())
    combined = None
    if each and not any(pattern.groups for pattern in each):
        try:
            alternation = "|".join(f"(?:{pattern.pattern})" for pattern in each)
            combined = re.compile(alternation, re.IGNORECASE)
        except (re.error, OverflowError, RecursionError):  # e.g. inline flags mid-pattern
            combined = None
    return _Separators(each, combined)


def _resolve(separators: Sequence[str] | None) -> _Separators:
    if separators is None:
        return _separators(DEFAULT_REPLY_SEPARATORS)
    if isinstance(separators, str):  # one expression passed bare, not a list of characters
        return _separators((separators,))
    return _separators(tuple(separators))


def strip_quoted_reply(
    text: str, separators: Sequence[str] | None = None, signatures: OwnSignatures | None = None
) -> str:
    """The new text of a plain-text reply: quoted history, reply headers, a trailing
    "Sent from my …" and copies of our own `signatures` removed; newlines normalised, leading
    blank lines and trailing whitespace removed.

    `separators` replaces DEFAULT_REPLY_SEPARATORS (None keeps them): admins edit the whole
    list. When the sender wrote nothing outside the history (a forward, a message that is only
    a quote) the whole text is returned: the history is then the content, and an empty ticket
    comment would hide it. Only a blank message gives "".
    """
    lines = normalize_newlines(text).split("\n")
    return without_signatures(_visible(lines, _resolve(separators))[0], signatures)


@dataclass(frozen=True)
class OwnSignatures:
    """The signatures we put under our mail, as agents and outgoing channels wrote them
    (templates with {agent_name}, {branch}, {ref}), and the names those placeholders can hold.
    A customer's mail client quotes our last reply, signature and all, and inline answers keep
    quotes; some clients paste it unquoted: either way it is not what the customer wrote."""

    templates: tuple[str, ...] = ()
    agent_names: tuple[str, ...] = ()
    branch_names: tuple[str, ...] = ()


SIGNATURE_PLACEHOLDERS = ("agent_name", "branch", "ref")
_SIG_PLACEHOLDER = re.compile(r"\{(agent_name|branch|ref)\}")
_SIG_TOKEN = re.compile(r"\{(?:agent_name|branch|ref)\}|\s+|[^\s{]+|\{")
# A template needs this much literal text to be recognised: "{agent_name}" alone, or "Bob",
# would take the customer's own sign-off with it.
_SIG_MIN_LITERAL = 4
# Whitespace between two words of a signature, as a mail client may leave it: wrapped,
# quoted ("\n> "), with a few blank quoted lines. Each repeat starts with a newline, so a run
# of spaces can be split only one way, and the repeats are capped: a hostile mail of a million
# blank lines costs linear time, not quadratic.
_SIG_GAP = r"[ \t]*(?:\n[ \t>]*){0,4}"
_SIG_LEAD = r"[ \t>]*"  # indentation and quote markers before a line
_SIG_DELIMITER_LINE = re.compile(r"^[ \t>]*--[ \t]*$")
_REF_PATTERN = r"[A-Za-z][A-Za-z0-9]*-\d+"


def _any_of(names: tuple[str, ...]) -> str:
    """One of the names (longest first, so "Ann Lee" wins over "Ann"), or nothing: a
    placeholder rendered empty leaves no word behind."""
    words = sorted({n.strip() for n in names if n.strip()}, key=len, reverse=True)
    return "(?:" + "".join(_SIG_GAP.join(map(re.escape, w.split())) + "|" for w in words) + ")"


@lru_cache(maxsize=16)
def _signature_patterns(own: OwnSignatures) -> tuple[tuple[tuple[str, ...], re.Pattern[str]], ...]:
    """Each template as a pattern over whole lines, the "-- " delimiter above it included,
    with its literal words: a text missing one of them is not searched (the cheap common
    case)."""
    values = {
        "agent_name": _any_of(own.agent_names),
        "branch": _any_of(own.branch_names),
        "ref": _REF_PATTERN,
    }
    patterns = []
    for template in dict.fromkeys(normalize_newlines(t).strip() for t in own.templates):
        if sum(ch.isalnum() for ch in _SIG_PLACEHOLDER.sub("", template)) < _SIG_MIN_LITERAL:
            continue
        tokens = _SIG_TOKEN.findall(template)
        parts: list[str] = []
        for i, token in enumerate(tokens):
            placeholder = _SIG_PLACEHOLDER.fullmatch(token)
            if placeholder:
                parts.append(values[placeholder.group(1)])
            elif not token.isspace():
                parts.append(re.escape(token))
            elif any(_SIG_PLACEHOLDER.fullmatch(t) for t in tokens[i - 1 : i + 2]):
                parts.append(_SIG_GAP)  # beside a value that may be empty: may be empty too
            else:
                parts.append(rf"(?=\s){_SIG_GAP}")
        delimiter = rf"(?:--[ \t]*\n(?:{_SIG_LEAD}\n){{0,4}}{_SIG_LEAD})?"
        pattern = re.compile(rf"^{_SIG_LEAD}{delimiter}{''.join(parts)}[ \t]*$", re.M)
        words = tuple(t for t in tokens if not t.isspace() and not _SIG_PLACEHOLDER.fullmatch(t))
        patterns.append((words, pattern))
    return tuple(patterns)


def without_signatures(text: str, signatures: OwnSignatures | None) -> str:
    """`text` without the lines that copy one of our signatures (quoted or not, with the "-- "
    delimiter above), a dangling delimiter at the end, and the blank lines a cut leaves
    doubled. A text that was nothing but our signature is returned as it was: an empty
    ticket comment would hide that the mail came at all."""
    if not signatures or not signatures.templates or not text:
        return text
    original, lines = text, text.split("\n")
    removed = False
    for words, pattern in _signature_patterns(signatures):
        if not all(word in text for word in words):
            continue
        cuts: list[tuple[int, int]] = []  # first and last line of each copy, in order
        line, offset = 0, 0
        for found in pattern.finditer(text):
            line += text.count("\n", offset, found.start())
            offset = found.start()
            first = line
            while first and _quote_blank(lines[first - 1]) and ">" in lines[first - 1]:
                first -= 1  # quoted blank lines above only spaced it from the quote above
            cuts.append(
                (max(first, cuts[-1][1] + 1 if cuts else 0), line + found.group().count("\n"))
            )
        if cuts:
            lines, removed = _cut(lines, cuts), True
            text = "\n".join(lines)
    if not removed:
        return text
    while lines and (_quote_blank(lines[-1]) or _SIG_DELIMITER_LINE.match(lines[-1])):
        lines.pop()
    kept = "\n".join(lines).rstrip()
    return kept if kept.strip() else original


def _cut(lines: list[str], cuts: list[tuple[int, int]]) -> list[str]:
    """`lines` without the spans given (first and last line, in order); where the lines on
    both sides of a cut are blank, one of them is enough."""
    kept: list[str] = []
    start = 0
    for first, last in cuts:
        kept.extend(lines[start:first])
        after = last + 1
        if kept and after < len(lines) and _quote_blank(kept[-1] + lines[after]):
            after += 1
        start = after
    kept.extend(lines[start:])
    return kept


def _quote_blank(line: str) -> bool:
    """A line with nothing but whitespace and quote markers."""
    return not line.strip(" \t>")


def strip_quoted_html(
    markup: str, separators: Sequence[str] | None = None, signatures: OwnSignatures | None = None
) -> str:
    """The new text of an HTML reply, as plain text.

    Quote containers that mail programs mark are history wherever they are (Gmail's
    gmail_quote, Apple's and Thunderbird's blockquote type=cite with moz-cite-prefix, Yahoo's
    yahoo_quoted); Outlook's divRplyFwdMsg, appendonsend and OLK_SRC_BODY_SECTION and Hotmail's
    stopSpelling rule start history that runs to the end. The rest is converted with
    html_to_text and read like a plain reply, the containers counting as quoted lines, so
    inline answers keep their questions. Gmail's gmail_extra is left alone: it also holds the
    sender's signature, and the gmail_quote inside it is removed anyway. A container that
    begins with a forward marker stays, since the forwarded mail is the content. Only when
    nothing else marks history is a plain <blockquote> at the very end treated as a quote.
    Markup the parser cannot cope with falls back to plain-text stripping of html_to_text.
    """
    patterns = _resolve(separators)
    try:
        document = _QuoteMarkup()
        document.feed(markup)
        document.close()
        text, removed = _visible_segments(document.segments(), patterns)
        if not removed and document.trailing_blockquote() is not None:
            text, removed = _visible_segments(document.segments(last_resort=True), patterns)
    except Exception:  # noqa: BLE001 - any parser trouble: the plain route still works
        return strip_quoted_reply(html_to_text(markup), separators, signatures)
    return without_signatures(text, signatures)


def _visible_segments(segments: list[tuple[str, bool]], patterns: _Separators) -> tuple[str, bool]:
    lines: list[str] = []
    quoted: set[int] = set()
    for markup, is_quote in segments:
        text = html_to_text(markup)
        if not text:
            continue
        part = text.split("\n")
        if is_quote:
            quoted.update(range(len(lines), len(lines) + len(part)))
        lines.extend(part)
    return _visible(lines, patterns, frozenset(quoted))


def _probe(line: str) -> str:
    """The part of a line separators are matched against: no edges, no invisible characters."""
    line = line.lstrip()[:_PROBE_LEN]  # indent first: a long indent must not hide the text
    if not (line.isascii() and line.isprintable()):  # the common case needs no regex
        line = strip_controls(line)
    return line.strip()


def _visible(
    lines: list[str], patterns: _Separators, quoted: frozenset[int] = frozenset()
) -> tuple[str, bool]:
    """The sender's own text of `lines` and whether any history was removed."""
    probes = [_probe(line) for line in lines]
    roles = _roles(_marks(probes, patterns, quoted))
    full = "\n".join(lines[len(roles) - len(roles.lstrip("e")) :]).rstrip()
    own = roles.split("C", 1)[0]  # history that is not a quote block runs to the end
    if "T" not in own or any(
        FORWARD_MARKER.match(probes[i]) for i, r in enumerate(own) if r == "T"
    ):
        return full, False
    start, end = _own_span(own, probes)
    end = _signature_start(own, probes, start, end)
    # Quote containers kept around inline answers are marked as quotes, as a mail program would.
    kept = [f"> {lines[i]}".rstrip() if i in quoted else lines[i] for i in range(start, end)]
    while kept and _RULE.match(kept[-1]):
        kept.pop()
    text = "\n".join(kept).rstrip()
    return (text, text != full) if text else (full, False)


def _signature_start(own: str, probes: list[str], start: int, end: int) -> int:
    """Where a delimited signature begins in the kept lines start..end (end when none): the
    first "-- " line below some own text with at most SIGNATURE_LINES lines of text after it.
    A longer tail is not a signature but text under a divider."""
    for i in range(start, end):
        if _SIG_DELIMITER.match(probes[i]) and "T" in own[start:i]:
            if own[i + 1 : end].count("T") <= SIGNATURE_LINES:
                return i
            return end
    return end


def _marks(probes: list[str], patterns: _Separators, quoted: frozenset[int]) -> str:
    """One letter per line: e blank, t text, s separator, q quoted separator."""
    memo: dict[str, bool] = {}  # mail repeats lines ("", ">", "--"): match each text once

    def hit(text: str) -> bool:
        found = memo.get(text)
        if found is None:
            found = memo[text] = patterns.hit(text)
        return found

    marks: list[str] = []
    i = 0
    while i < len(probes):
        probe = probes[i]
        if i in quoted:
            marks.append("q")
        elif not probe:
            marks.append("e")
        elif probe[0] == ">":
            bare = probe.lstrip("> \t")
            marks.append("q" if hit(probe) or (bare and hit(bare)) else "t")
        elif hit(probe):
            marks.append("s")
        elif span := _wrapped_header(probes, i, hit, patterns.each, quoted):
            marks.extend("s" * span)
            i += span
            continue
        else:
            marks.append("t")
        i += 1
    return _headers_above_quotes("".join(marks), probes)


def _headers_above_quotes(marks: str, probes: list[str]) -> str:
    """A text line ending in "wrote:" (or its translation) with a quote right below it, a
    blank line apart at most, introduces that quote: it goes with it."""
    out = list(marks)
    for i, mark in enumerate(marks):
        if mark == "t" and len(probes[i]) < 300 and _WROTE.search(probes[i]):
            below = marks[i + 1 : i + 3].lstrip("e")[:1]
            if below == "q":
                out[i] = "s"
    return "".join(out)


def _wrapped_header(
    probes: list[str],
    i: int,
    hit: Callable[[str], bool],
    each: tuple[re.Pattern[str], ...],
    quoted: frozenset[int],
) -> int:
    """How many lines from i form one separator when joined (0 if none).

    A separator must need the first line: "Hello" above "Bob <bob@x> написал:" joins into a
    match too, but only because the second line is a header on its own.
    """
    joined = probes[i]
    for last in range(i + 1, min(i + _HEADER_LINES, len(probes))):
        if not probes[last] or last in quoted:
            return 0
        joined = f"{joined} {probes[last]}"
        if hit(joined):
            rest = " ".join(probes[i + 1 : last + 1])
            if any(pattern.search(joined) and not pattern.search(rest) for pattern in each):
                return last + 1 - i
    return 0


def _roles(marks: str) -> str:
    """Per line: Q in a quote block, C a separator that ends the new text, T text, e blank."""
    roles = list(marks.replace("s", "C").replace("t", "T"))
    for block in _QUOTE_BLOCK.finditer(marks):
        roles[block.start() : block.end()] = "Q" * (block.end() - block.start())
    return "".join(roles)


def _own_span(own: str, probes: list[str]) -> tuple[int, int]:
    """The slice of lines to keep, given the roles of the lines before the first cut."""
    first, last = own.index("T"), own.rindex("T")
    if not _INLINE.search(own):
        # Top post: stop at the first quote below the text. Bottom post: no quote follows.
        end = own.find("Q", first)
        return first, end if end != -1 else last + 1
    start = len(own) - len(own.lstrip("e"))
    last_quote = own.rindex("Q")
    if last_quote > last:
        return start, last + 1
    # A signature under the leftover quote answers nothing; it goes with the quote, as it does
    # below a top-posted quote.
    after = last_quote + 1 + own[last_quote + 1 :].index("T")
    if _SIG_DELIMITER.match(probes[after]):
        return start, own.rindex("T", 0, last_quote) + 1
    return start, last + 1


_VOID_TAGS = frozenset({
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr",
})  # fmt: skip
_SKIP_TAGS = frozenset({"script", "style", "head", "title", "noscript", "template"})
# Elements after which everything is history (Outlook, Outlook for Mac, Hotmail).
_CUT_IDS = frozenset({"divrplyfwdmsg", "appendonsend", "olk_src_body_section", "stopspelling"})
_QUOTE_CLASSES = frozenset(
    {"gmail_quote", "gmail_quote_container", "moz-cite-prefix", "yahoo_quoted"}
)


@dataclass
class _Open:
    tag: str
    start: int
    kind: str | None  # "quote", "blockquote" or None
    first_text: str | None = None


@dataclass
class _Tokens:
    markup: list[str] = field(default_factory=list)
    visible: list[bool] = field(default_factory=list)  # token is text a reader would see


class _QuoteMarkup(HTMLParser):
    """Re-serialises markup token by token and notes which tokens are quote containers."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tokens = _Tokens()
        self.open: list[_Open] = []
        self.open_count: Counter[str] = Counter()  # an unmatched end tag costs no search
        self.untitled: list[_Open] = []  # open containers whose first text is still to come
        self.quotes: list[tuple[int, int]] = []
        self.blockquotes: list[tuple[int, int]] = []
        self.cut: int | None = None
        self.skip = 0

    def _add(self, markup: str, visible: bool = False) -> int:
        self.tokens.markup.append(markup)
        self.tokens.visible.append(visible)
        return len(self.tokens.markup) - 1

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        index = self._add(self.get_starttag_text() or f"<{tag}>")
        kind = self._kind(tag, attrs, index)
        if tag not in _VOID_TAGS:
            element = _Open(tag, index, kind)
            self.open.append(element)
            self.open_count[tag] += 1
            self.skip += tag in _SKIP_TAGS
            if kind:
                self.untitled.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._kind(tag, attrs, self._add(self.get_starttag_text() or f"<{tag}/>"))

    def handle_endtag(self, tag: str) -> None:
        self._add(f"</{tag}>")
        if not self.open_count[tag]:
            return
        for depth in range(len(self.open) - 1, -1, -1):
            if self.open[depth].tag == tag:
                self._close(depth)
                return

    def handle_data(self, data: str) -> None:
        text = data.strip()
        visible = bool(text) and not self.skip
        self._add(html.escape(data, quote=False), visible)
        if visible:
            for element in self.untitled:
                element.first_text = text
            self.untitled.clear()

    def close(self) -> None:
        super().close()
        self._close(0)

    def _kind(self, tag: str, attrs: list[tuple[str, str | None]], index: int) -> str | None:
        values = {name.lower(): (value or "") for name, value in attrs}
        if values.get("id", "").lower() in _CUT_IDS and self.cut is None:
            self.cut = index
        if _QUOTE_CLASSES.intersection(values.get("class", "").lower().split()):
            return "quote"
        if tag == "blockquote":
            return "quote" if values.get("type", "").lower() == "cite" else "blockquote"
        return None

    def _close(self, depth: int) -> None:
        end = len(self.tokens.markup)
        for element in self.open[depth:]:
            self.open_count[element.tag] -= 1
            self.skip -= element.tag in _SKIP_TAGS
            forwarded = element.first_text is not None and FORWARD_MARKER.match(element.first_text)
            if element.kind == "quote" and not forwarded:
                self.quotes.append((element.start, end))
            elif element.kind == "blockquote":
                self.blockquotes.append((element.start, end))
        del self.open[depth:]

    def trailing_blockquote(self) -> tuple[int, int] | None:
        """The last plain blockquote, if nothing a reader would see comes after it."""
        if not self.blockquotes:
            return None
        start, end = max(self.blockquotes, key=lambda span: (span[1], -span[0]))
        return None if any(self.tokens.visible[end:]) else (start, end)

    def segments(self, last_resort: bool = False) -> list[tuple[str, bool]]:
        """Runs of markup, each marked as quoted or not."""
        count = len(self.tokens.markup)
        depth = [0] * (count + 1)
        spans = list(self.quotes)
        if last_resort and (trailing := self.trailing_blockquote()) is not None:
            spans.append(trailing)
        if self.cut is not None:
            spans.append((self.cut, count))
        for start, end in spans:
            depth[start] += 1
            depth[end] -= 1
        runs: list[tuple[list[str], bool]] = []
        level = 0
        for index, markup in enumerate(self.tokens.markup):
            level += depth[index]
            quoted = level > 0
            if runs and runs[-1][1] == quoted:
                runs[-1][0].append(markup)
            else:
                runs.append(([markup], quoted))
        return [("".join(parts), quoted) for parts, quoted in runs]
