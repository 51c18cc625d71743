"""Bytes of mail into the text the sender meant. Labels lie in known ways: GB2312 mail is
written in GBK, ISO-8859-1 in Windows-1252, Shift_JIS in Microsoft's CP932, ISO-2022-JP sent as
raw Shift_JIS, and 8-bit headers carry no label at all. So the label's superset is read first,
the result is checked for plausibility, and only then are the label's kin, UTF-8, the mail's
other labels and a detector (uchardet, through faust-cchardet) asked. Never fails."""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable

# A label (as codecs names it) to the charset its senders' software really writes.
SUPERSETS = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "euc_kr": "cp949",  # ks_c_5601-1987 is an alias of euc_kr in Python
    "iso8859-1": "cp1252",
    "ascii": "cp1252",
    "iso8859-9": "cp1254",
    "iso8859-11": "cp874",
    "tis-620": "cp874",
    "shift_jis": "cp932",
    "big5": "big5hkscs",
}
# Labels codecs does not know under these names.
ALIASES = {"x-gbk": "gbk", "x-sjis": "shift_jis", "windows-874": "cp874", "x-euc-jp": "euc_jp"}
# What else mail labelled in one family of a language turns out to be written in.
KIN = {
    "iso2022_jp": ("cp932", "euc_jis_2004"),
    "cp932": ("euc_jis_2004",),
    "euc_jp": ("cp932",),
    "gb18030": ("big5hkscs",),
    "big5hkscs": ("gb18030",),
    "cp949": (),
}
# 7-bit encodings whose ASCII-looking bytes still need their codec.
_STATEFUL = {"iso2022_jp", "iso2022_kr", "utf-7", "hz"}
_SINGLE_BYTE = re.compile(r"cp12\d\d|iso8859-\d+|koi8_[ru]|cp874|mac_\w+|ascii")
# C1 controls, the replacement character, private use: what a wrong charset leaves behind.
_IMPLAUSIBLE = re.compile("[\u0080-\u009f\ufffd\ue000-\uf8ff]")
DETECT_LIMIT = 64 * 1024  # bytes a detector reads
DETECT_MIN = 32  # non-ASCII bytes a detector's guess is trusted on before Windows-1252


def codec_name(label: str | None) -> str | None:
    """The codecs name of a mail's charset label, mapped to its superset; None when unknown."""
    if not label:
        return None
    cs = label.strip().strip('"').lower()
    cs = ALIASES.get(cs, cs)
    try:
        name = codecs.lookup(cs).name
    except (LookupError, ValueError):  # ValueError: a NUL in the name
        return None
    return SUPERSETS.get(name, name)


def detect(data: bytes) -> str | None:
    """The detector's guess, as a codecs name; imported here only, so mail that is labelled
    right (nearly all) never loads it."""
    import cchardet

    return codec_name(cchardet.detect(data[:DETECT_LIMIT]).get("encoding"))


def sniff(raw: bytes) -> tuple[str, ...]:
    """For a mail that declares no charset anywhere: the detector's guess over all of it, a
    better hint for its unlabelled header bytes than those few bytes alone."""
    sample = raw[:DETECT_LIMIT]
    if sample.isascii() or _is_utf8(sample):
        return ()
    guess = detect(sample)
    return (guess,) if guess else ()


def plausible(text: str) -> bool:
    return _IMPLAUSIBLE.search(text) is None


def _candidates(data: bytes, label: str | None, hints: Iterable[str]) -> list[str]:
    named = codec_name(label)
    out: list[str] = []
    if named and _SINGLE_BYTE.fullmatch(named) and _is_utf8(data):
        out.append("utf-8")  # multi-byte UTF-8 is never an accident of a one-byte charset
    if named:
        out += [named, *KIN.get(named, ())]
    out.append("utf-8")
    for hint in hints:
        hinted = codec_name(hint)
        if hinted:
            out += [hinted, *KIN.get(hinted, ())]
    return list(dict.fromkeys(out))


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _decoded(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeError, LookupError):  # UnicodeError: idna and other picky codecs
        return None


def decode_bytes(data: bytes, charset: str | None, hints: Iterable[str] = ()) -> str:
    """What the sender meant by `data` labelled `charset` (None: unlabelled); `hints` are the
    mail's other labels, for unlabelled header bytes. The first plausible reading wins: the
    label's superset and kin, UTF-8, the hints, the detector; failing all, the first reading
    that decodes at all, then Windows-1252 with replacements."""
    named = codec_name(charset)
    if data.isascii() and named not in _STATEFUL:
        return data.decode("ascii")
    readable: list[str] = []
    for codec in _candidates(data, charset, hints):
        text = _decoded(data, codec)
        if text is not None:
            if plausible(text):
                return text
            readable.append(text)
    # A detector needs text to go on: on a few bytes it guesses wildly, and Windows-1252 is
    # what short unlabelled text most often is.
    enough = sum(byte >= 0x80 for byte in data[:DETECT_LIMIT]) >= DETECT_MIN
    for guess in (
        (lambda: detect(data), lambda: "cp1252")
        if enough
        else (
            lambda: "cp1252",
            lambda: detect(data),
        )
    ):
        codec = guess()
        text = _decoded(data, codec) if codec else None
        if text is not None and plausible(text):
            return text
    if readable:
        return readable[0]
    # UTF-8 cut off mid-character (names truncated by webmail) reads better than cp1252.
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data":
            return data[: exc.start].decode("utf-8") + "\ufffd"
    return data.decode("cp1252", "replace")
