"""A reply's ticket comment shows what the customer just wrote, not the thread they quoted.

The corpus tests run the stripper over replies collected by talon and email_reply_parser and
hold it to those projects' own expectations (see the corpus README); where tuidesk deliberately
differs, the case is listed in ACCEPTED_EXCEPTIONS with the reason. The unit tests pin down each
separator and HTML marker with a small hand-written reply.
"""

from __future__ import annotations

import json
import re
import time
from email import message_from_bytes
from email.policy import compat32
from pathlib import Path

import pytest

from tests.conftest import CORPUS
from tuidesk.engine import quotes
from tuidesk.engine.quotes import (
    DEFAULT_REPLY_SEPARATORS,
    OwnSignatures,
    strip_quoted_html,
    strip_quoted_reply,
)
from tuidesk.engine.text import html_to_text, normalize_newlines

TALON = CORPUS / "talon"
REPLY_PARSER = CORPUS / "email_reply_parser"

# Corpus cases where the other project's expectation is not what a support agent should see.
ACCEPTED_EXCEPTIONS: dict[str, str] = {
    "talon/tests/fixtures/standard_replies/iphone.eml": (
        "talon keeps 'Sent from my iPhone'; tuidesk drops mobile footers, as email_reply_parser "
        "expects: they say nothing about the customer's problem"
    ),
    "talon/tests/fixtures/standard_replies/sparrow.eml": (
        "talon keeps the '-- ' signature in the reply; tuidesk moves a delimited signature out "
        "of the new text, as email_reply_parser expects (the full text keeps it)"
    ),
    "talon/tests/fixtures/reply-separated-by-hr.html": (
        "talon also drops 'Bob', the sender's sign-off, because it shares a block with the <hr> "
        "above the quoted header; tuidesk keeps every word the sender wrote"
    ),
    "email_reply_parser/github/test/emails/email_1_1.txt": (
        "the sign-off '-Abhishek Kona' stays: without the '-- ' delimiter nothing tells a "
        "signature from the text above it (the mailing-list footer below it is removed)"
    ),
    "email_reply_parser/github/test/emails/email_1_3.txt": (
        "the sign-off '-Abhishek Kona' above the quote stays: it has no '-- ' delimiter"
    ),
}

# email_reply_parser entries whose expectation is only a prose note (fragment flags); this is
# our reading of each note, in the same vocabulary as the explicit expectations.
NOTE_READINGS: dict[str, dict[str, object]] = {
    "github/test/emails/email_1_3.txt": {
        "visible_text": "Oh thanks.\n\nHaving the function would be great."
    },
    "github/test/emails/email_1_5.txt": {"unchanged": True},
    "github/test/emails/email_1_8.txt": {
        "visible_contains": [
            "okay.  Well, here's some stuff I can write.",
            "I will reply under this one",
            "> okay?",
            "and under this.",
        ],
        "hidden_contains": ["hi there", "Hey there, this is my signature"],
    },
    "github/test/emails/correct_sig.txt": {
        "visible_text": "this is an email with a correct -- signature."
    },
    "github/test/emails/email_sig_delimiter_in_middle_of_line.txt": {"unchanged": True},
    "github/test/emails/pathological.txt": {"within_seconds": 1.0},
    "github/test/emails/email_long_quote.txt": {"within_seconds": 1.0},
}


def expectations(folder: Path) -> dict[str, dict]:
    if not (folder / "expected.json").is_file():
        return {}
    data = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    return {name: value for name, value in data.items() if not name.startswith("_")}


def corpus_cases(folder: Path, names: list[str]) -> list:
    """One pytest param per corpus file; accepted exceptions must keep failing (strict xfail)."""
    cases = []
    for name in names:
        key = f"{folder.name}/{name}"
        marks = ()
        if key in ACCEPTED_EXCEPTIONS:
            marks = pytest.mark.xfail(strict=True, reason=ACCEPTED_EXCEPTIONS[key])
        cases.append(pytest.param(name, marks=marks, id=name))
    return cases


TALON_EXPECTED = expectations(TALON)
TALON_PLAIN = sorted(n for n, e in TALON_EXPECTED.items() if "expected_reply_text" in e)
TALON_HTML = sorted(n for n, e in TALON_EXPECTED.items() if n.endswith(".html"))
SHARE_BLOCK = "tests/fixtures/reply-quotations-share-block.eml"
REPLY_PARSER_EXPECTED = expectations(REPLY_PARSER)
EXPLICIT_REPLY_PARSER = [n for n, e in REPLY_PARSER_EXPECTED.items() if set(e) - {"note", "from"}]


def first_plain_part(path: Path) -> str:
    """The first text/plain part, decoded with its charset (what talon's test strips)."""
    message = message_from_bytes(path.read_bytes(), policy=compat32)
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            return payload.decode(part.get_content_charset() or "utf-8", errors="replace")
    raise AssertionError(f"{path} has no text/plain part")


def without_whitespace(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.mark.parametrize("name", corpus_cases(TALON, TALON_PLAIN))
def test_talon_standard_replies_keep_only_the_new_text(name: str) -> None:
    visible = strip_quoted_reply(first_plain_part(TALON / name))
    assert visible.strip() == TALON_EXPECTED[name]["expected_reply_text"].strip()


def test_talon_reply_whose_quote_shares_a_block_keeps_text_and_loses_the_quoted_header() -> None:
    # talon feeds the raw MIME source (headers, base64) to its plain-text extractor; tuidesk
    # strips decoded bodies, so the check runs on the decoded text part.
    assert "From" in TALON_EXPECTED[SHARE_BLOCK]["expected"]
    visible = strip_quoted_reply(first_plain_part(TALON / SHARE_BLOCK))
    assert visible
    assert "From" not in visible


@pytest.mark.parametrize("name", corpus_cases(TALON, TALON_HTML))
def test_talon_html_replies_keep_only_the_new_text(name: str) -> None:
    expected = TALON_EXPECTED[name]
    visible = strip_quoted_html((TALON / name).read_text(encoding="utf-8"))
    if "expected_html_whitespace_removed" in expected:
        wanted = html_to_text(expected["expected_html_whitespace_removed"])
    else:
        wanted = expected["expected_reply_text_whitespace_insensitive"]
    assert without_whitespace(visible) == without_whitespace(wanted)


KNOWN_CHECKS = {
    "visible_text", "visible_text_stripped", "visible_starts_with", "visible_contains",
    "hidden_contains", "visible_not_contains", "hidden_starts_with", "unchanged", "within_seconds",
    "note", "from",
}  # fmt: skip


def check_reply_parser(original: str, expected: dict[str, object]) -> list[str]:
    """The ways `strip_quoted_reply(original)` misses `expected` (empty when it meets it)."""
    started = time.perf_counter()
    visible = strip_quoted_reply(original)
    elapsed = time.perf_counter() - started
    misses: list[str] = []
    for key, want in expected.items():
        if key == "visible_text" and visible != want:
            misses.append(f"visible text is {visible!r}")
        elif key == "visible_text_stripped" and visible.strip() != want:
            misses.append(f"stripped visible text is {visible.strip()!r}")
        elif key == "visible_starts_with" and not visible.startswith(str(want)):
            misses.append(f"visible text starts {visible[:40]!r}")
        elif key == "visible_contains":
            misses += [f"{part!r} is hidden" for part in want if part not in visible]
        elif key in ("hidden_contains", "visible_not_contains"):
            misses += [f"{part!r} is visible" for part in want if part in visible]
        elif key == "hidden_starts_with" and want in visible:
            misses.append(f"{want!r} is visible")
        elif key == "unchanged" and visible != normalize_newlines(original).rstrip():
            misses.append("text was stripped")
        elif key == "within_seconds" and elapsed > want:
            misses.append(f"took {elapsed:.2f}s")
        elif key not in KNOWN_CHECKS:
            misses.append(f"unknown expectation {key}")
    return misses


@pytest.mark.parametrize("name", corpus_cases(REPLY_PARSER, sorted(REPLY_PARSER_EXPECTED)))
def test_email_reply_parser_bodies_keep_only_the_new_text(name: str) -> None:
    expected = {**REPLY_PARSER_EXPECTED[name], **NOTE_READINGS.get(name, {})}
    assert set(expected) - {"note", "from"}, f"{name}: no expectation to check"
    original = (REPLY_PARSER / name).read_bytes().decode("utf-8")  # CRLF files stay CRLF
    assert check_reply_parser(original, expected) == []


@pytest.mark.parametrize(
    ("folder", "names"),
    [
        pytest.param(TALON, [*TALON_PLAIN, SHARE_BLOCK], id="talon-plain"),
        pytest.param(TALON, TALON_HTML, id="talon-html"),
        pytest.param(REPLY_PARSER, EXPLICIT_REPLY_PARSER, id="email_reply_parser"),
    ],
)
def test_accepted_exceptions_stay_rare_in_each_corpus(folder: Path, names: list) -> None:
    """Counted over the corpus's own expectations; our readings of prose notes are extra.
    Under a tenth, but for the one place the two corpora disagree with each other: talon keeps
    mobile footers and '-- ' signatures in the reply, email_reply_parser hides both and so do
    we, which costs two of talon's fourteen plain replies."""
    exceptions = [name for name in names if f"{folder.name}/{name}" in ACCEPTED_EXCEPTIONS]
    disagreements = {"standard_replies/iphone.eml", "standard_replies/sparrow.eml"}
    others = [name for name in exceptions if not any(name.endswith(d) for d in disagreements)]
    assert len(others) / len(names) < 0.1 and len(exceptions) <= len(others) + 2


def test_every_exception_and_note_reading_names_a_corpus_case() -> None:
    known = {f"talon/{name}" for name in TALON_EXPECTED}
    known |= {f"email_reply_parser/{name}" for name in REPLY_PARSER_EXPECTED}
    assert set(ACCEPTED_EXCEPTIONS) <= known
    assert set(NOTE_READINGS) <= set(REPLY_PARSER_EXPECTED) - set(EXPLICIT_REPLY_PARSER)


# --- plain-text replies -------------------------------------------------------------------

QUESTION = "> Have you tried turning it off and on again?\n"


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("On Mon, Apr 2, 2012 at 6:26 PM, Bob <bob@example.com> wrote:", id="en"),
        pytest.param("Am 02.04.2012 um 14:20 schrieb Bob <bob@example.com>:", id="de"),
        pytest.param("Am 2. April 2012 hat Bob <bob@example.com> geschrieben:", id="de-long"),
        pytest.param("Le 2 avr. 2012 à 14:20, Bob <bob@example.com> a écrit :", id="fr"),
        pytest.param("El 2 abr 2012, a las 14:20, Bob <bob@example.com> escribió:", id="es"),
        pytest.param("Il giorno 2 apr 2012, alle ore 14:20, Bob ha scritto:", id="it"),
        pytest.param("Op 2 apr. 2012 om 14:20 schreef Bob <bob@example.com>:", id="nl"),
        pytest.param("Op 2 apr. 2012 om 14:20 heeft Bob het volgende geschreven:", id="nl-long"),
        pytest.param("Em 2 de abr de 2012, às 14:20, Bob <bob@example.com> escreveu:", id="pt"),
        pytest.param("pon., 2 kwi 2012 o 14:20 Bob <bob@example.com> napisał(a):", id="pl"),
        pytest.param("W dniu 02.04.2012 14:20, Bob pisze:", id="pl-thunderbird"),
        pytest.param("02.04.2012 14:20, Bob пишет:", id="ru"),
        pytest.param(
            "2 апреля 2012 г., 14:20 пользователь Bob <bob@x.ru> написал(а):", id="ru-gmail"
        ),
        pytest.param('26.06.2014, 14:41, "Bob" <bob@example.com>:', id="yandex"),
        pytest.param("--- On Wed, 4/4/12, Bob <bob@example.com> wrote:", id="yahoo"),
        pytest.param("---- On Mon, 02 Apr 2012 17:44:22 +0400 Bob wrote ----", id="zoho"),
    ],
)
def test_on_date_someone_wrote_header_ends_the_new_text_in_every_language(header: str) -> None:
    reply = f"Thanks, that fixed it.\n\n{header}\n\n{QUESTION}"
    assert strip_quoted_reply(reply) == "Thanks, that fixed it."


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("On Mon, Apr 2, 2012 at 6:26 PM, Bob\n<bob@example.com> wrote:", id="en"),
        pytest.param("On Dec 16, 2011, at 12:47 PM, Bob\n<bob@example.com>\nwrote:", id="3-lines"),
        pytest.param('02.04.2012 14:20 пользователь "bob@x.ru" <\nbob@x.ru> написал:', id="ru"),
        pytest.param("Am 02.04.2012 um 14:20 schrieb Bob\n<bob@example.com>:", id="de"),
    ],
)
def test_on_wrote_header_wrapped_over_lines_is_removed_whole(header: str) -> None:
    reply = f"Thanks, that fixed it.\n{header}\n\n{QUESTION}"
    assert strip_quoted_reply(reply) == "Thanks, that fixed it."


def test_a_sentence_above_a_one_line_header_is_not_taken_for_its_first_half() -> None:
    reply = f"Thanks, Bob\n02.04.2012 14:20, Bob пишет:\n{QUESTION}"
    assert strip_quoted_reply(reply) == "Thanks, Bob"


def test_on_without_a_date_is_an_ordinary_sentence() -> None:
    reply = "On second thought, as I wrote:\nthe printer is fine."
    assert strip_quoted_reply(reply) == reply


@pytest.mark.parametrize(
    "header",
    ["On Tuesday, Bob Smith wrote:", "Support <support@example.com> wrote:",
     "Am Dienstag schrieb Bob:", "Bob Smith skrev:", "Bob kirjoitti:"],
)  # fmt: skip
def test_a_header_without_a_date_goes_with_the_quote_right_below_it(header: str) -> None:
    reply = f"Fixed, thanks.\n\n{header}\n\n> Is it fixed?\n> Please check."
    assert strip_quoted_reply(reply) == "Fixed, thanks."
    above_text = f"Fixed, thanks.\n\n{header}\nthe printer works."
    assert strip_quoted_reply(above_text) == above_text


@pytest.mark.parametrize(
    ("sender", "sent"),
    [
        pytest.param("From:", "Sent:", id="en"),
        pytest.param("*From:*", "*Sent:*", id="en-bold"),
        pytest.param("From:", "Date:", id="en-mac"),
        pytest.param("Von:", "Gesendet:", id="de"),
        pytest.param("De :", "Envoyé :", id="fr"),
        pytest.param("De:", "Enviado el:", id="es"),
        pytest.param("Da:", "Inviato:", id="it"),
        pytest.param("Van:", "Verzonden:", id="nl"),
        pytest.param("De:", "Enviada em:", id="pt"),
        pytest.param("Od:", "Wysłano:", id="pl"),
        pytest.param("От:", "Отправлено:", id="ru"),
        pytest.param("Från:", "Skickat:", id="sv"),
        pytest.param("Fra:", "Sendt:", id="da-no"),
        pytest.param("Lähettäjä:", "Lähetetty:", id="fi"),
        pytest.param("Od:", "Odesláno:", id="cs"),
        pytest.param("Feladó:", "Elküldve:", id="hu"),
        pytest.param("Kimden:", "Gönderildi:", id="tr"),
        pytest.param("De la:", "Trimis:", id="ro"),
        pytest.param("Від:", "Надіслано:", id="uk"),
        pytest.param("Από:", "Στάλθηκε:", id="el"),
        pytest.param("差出人:", "送信日時:", id="ja"),
        pytest.param("发件人:", "发送时间:", id="zh-cn"),
        pytest.param("寄件者:", "傳送時間:", id="zh-tw"),
        pytest.param("보낸 사람:", "보낸 날짜:", id="ko"),
        pytest.param("差出人：", "日付：", id="ja-fullwidth-colon"),
    ],
)
def test_outlook_header_block_ends_the_new_text_in_every_language(sender: str, sent: str) -> None:
    reply = (
        f"Thanks, that fixed it.\n\n{sender} Support <support@example.com>\n"
        f"{sent} Monday, 2 April 2012 14:20\nTo: Customer\nSubject: Printer\n\nOld message"
    )
    assert strip_quoted_reply(reply) == "Thanks, that fixed it."


def test_outlook_header_block_with_to_before_sent_is_found_too() -> None:
    reply = (
        "Hi there\n\nFrom: bob@example.com\nTo: help@example.com\n"
        "Sent: Friday, July 22, 2011 6:20:01 PM\nSubject: Hello\n\nHello"
    )
    assert strip_quoted_reply(reply) == "Hi there"


def test_from_and_date_lines_without_a_time_are_the_customers_own_text() -> None:
    reply = "Please rebook my trip.\nFrom: Berlin\nDate: 2 May\n\nThanks"
    assert strip_quoted_reply(reply) == reply


@pytest.mark.parametrize(
    "divider",
    [
        "-----Original Message-----",
        "----- Original Message -----",
        "-----Ursprüngliche Nachricht-----",
        "-----Message d'origine-----",
        "-----Mensaje original-----",
        "-----Messaggio originale-----",
        "-----Oorspronkelijk bericht-----",
        "-----Mensagem original-----",
        "-----Oryginalna wiadomość-----",
        "-----Исходное сообщение-----",
        "-----Ursprungligt meddelande-----",
        "-----Oprindelig meddelelse-----",
        "-----Alkuperäinen viesti-----",
        "-----Původní zpráva-----",
        "-----Eredeti üzenet-----",
        "-----Αρχικό μήνυμα-----",
        "-----元のメッセージ-----",
        "------------------ 原始邮件 ------------------",
        "-----원본 메시지-----",
        "-------- Original message --------",
        "________________________________",
    ],
)
def test_outlook_original_message_block_is_stripped(divider: str) -> None:
    reply = f"Thanks, that fixed it.\n\n{divider}\nFrom: Support\nSubject: Printer\n\nOld message"
    assert strip_quoted_reply(reply) == "Thanks, that fixed it."


def test_divider_line_left_above_a_removed_header_goes_with_it() -> None:
    reply = "Thanks!\n\n ------------------------------\n\n*From:* Support\n*Sent:* Monday 10:00"
    assert strip_quoted_reply(reply) == "Thanks!"


@pytest.mark.parametrize(
    "footer",
    [
        "Sent from my iPhone",
        "Sent from my BlackBerry® wireless device",
        "Sent from my Verizon Wireless BlackBerry",
        "Sent from my Samsung Galaxy smartphone.",
        "Get Outlook for iOS<https://aka.ms/o0ukef>",
        "Sent from Mail for Windows 10",
        "Sent from Yahoo Mail on Android",
        "Von meinem iPhone gesendet",
        "Envoyé de mon iPhone",
        "Enviado desde mi iPhone",
        "Inviato da iPhone",
        "Verzonden vanaf mijn iPhone",
        "Enviado do meu iPhone",
        "Wysłane z mojego iPhone'a",
        "Отправлено с iPhone",
    ],
)
def test_sent_from_my_phone_footer_is_not_part_of_the_new_text(footer: str) -> None:
    assert strip_quoted_reply(f"Thanks, that fixed it.\n\n{footer}\n") == "Thanks, that fixed it."


def test_sent_from_my_in_a_sentence_is_kept() -> None:
    reply = "Here it is.\n\nSent from my desk, is much easier than my mobile phone."
    assert strip_quoted_reply(reply) == reply


def test_quoted_lines_below_the_new_text_are_removed() -> None:
    assert strip_quoted_reply(f"Yes, twice.\n\n{QUESTION}> Bob") == "Yes, twice."


def test_bottom_posted_reply_keeps_the_text_below_the_quote() -> None:
    reply = f"On 04/02/2012 06:26 PM, Bob wrote:\n{QUESTION}\nYes, twice.\n\nAlice"
    assert strip_quoted_reply(reply) == "Yes, twice.\n\nAlice"


def test_inline_answers_keep_the_questions_they_answer() -> None:
    reply = (
        "Hi,\nOn Mon, Apr 2, 2012 at 6:26 PM, Bob wrote:\n> Which version?\n\nVersion 3.\n\n"
        "> Which OS?\n\nLinux.\n\n> Thanks,\n> Bob"
    )
    assert strip_quoted_reply(reply) == reply.rsplit("\n\n> Thanks", 1)[0]


def test_inline_answer_after_the_last_quote_is_kept() -> None:
    reply = "Hi,\n> Which version?\nVersion 3.\n> Which OS?\nLinux."
    assert strip_quoted_reply(reply) == reply


def test_signature_under_a_leftover_quote_goes_with_the_quote() -> None:
    reply = "> Which version?\nVersion 3.\n> Thanks,\n> Bob\n\n-- \nAlice"
    assert strip_quoted_reply(reply) == "> Which version?\nVersion 3."


def test_a_delimited_signature_leaves_the_new_text_and_a_plain_sign_off_stays() -> None:
    signed = "Yes, twice.\n\nThanks,\nAlice\n\n-- \nAlice Smith\nACME Ltd\n+1 555 0100"
    reply = f"{signed}\n\nOn Mon, 2 Apr 2012, Bob wrote:\n{QUESTION}"
    assert strip_quoted_reply(reply) == "Yes, twice.\n\nThanks,\nAlice"
    assert strip_quoted_reply(signed) == "Yes, twice.\n\nThanks,\nAlice"
    assert strip_quoted_reply("-- \nAlice Smith") == "-- \nAlice Smith"  # nothing else: kept


def test_text_under_a_divider_is_not_taken_for_a_signature() -> None:
    long_tail = "Steps:\n--\n" + "\n".join(f"{n}. step {n}" for n in range(1, 15))
    assert strip_quoted_reply(long_tail) == long_tail
    assert strip_quoted_reply("see -- here\nand -- there") == "see -- here\nand -- there"


@pytest.mark.parametrize(
    "marker",
    ["Forwarded message", "Weitergeleitete Nachricht", "Vidarebefordrat meddelande",
     "Välitetty viesti", "Přeposlaná zpráva", "転送メッセージ", "转发邮件", "전달된 메시지"],
)  # fmt: skip
def test_message_that_is_entirely_a_forward_is_kept_whole(marker: str) -> None:
    forward = (
        f"---------- {marker} ---------\nFrom: Bob <bob@example.com>\n"
        "Date: Mon, 2 Apr 2012 at 17:44\nSubject: Printer\nTo: help@example.com\n\n"
        "The printer is on fire."
    )
    assert strip_quoted_reply(forward) == forward
    assert strip_quoted_reply(f"FYI, see below.\n\n{forward}") == f"FYI, see below.\n\n{forward}"


def test_outlook_forward_without_a_comment_is_kept_whole() -> None:
    forward = "-----Original Message-----\nFrom: Bob\nSent: Monday 10:00\n\nThe printer is on fire."
    assert strip_quoted_reply(forward) == forward


def test_message_that_is_only_a_quote_is_kept_whole() -> None:
    assert strip_quoted_reply(QUESTION) == QUESTION.rstrip()


@pytest.mark.parametrize("blank", ["", "\n", "  \n\t\n"])
def test_blank_message_gives_empty_text(blank: str) -> None:
    assert strip_quoted_reply(blank) == ""


def test_line_endings_are_normalised_and_leading_blank_lines_dropped() -> None:
    assert strip_quoted_reply("\r\n\r\nYes.\r\n\r\n> Really?\r\n") == "Yes."


def test_custom_separator_list_replaces_the_defaults() -> None:
    separators = ["^-- reply above this line --$"]
    reply = f"Yes.\nOn Mon, 2 Apr 2012, Bob wrote:\n{QUESTION}-- Reply above this line --\nOld"
    assert strip_quoted_reply(reply, separators) == reply.split("\n-- Reply")[0]


def test_empty_custom_list_strips_nothing_and_blank_entries_are_ignored() -> None:
    reply = f"Yes.\n{QUESTION}"
    assert strip_quoted_reply(reply, []) == reply.rstrip()
    assert strip_quoted_reply(reply, ["", "   "]) == reply.rstrip()


def test_invalid_regex_in_a_custom_list_is_matched_as_literal_text() -> None:
    separators = ["[unclosed", "(?P<", "^>"]
    assert strip_quoted_reply("Yes.\n[unclosed bracket below\nold", separators) == "Yes."
    assert strip_quoted_reply(f"Yes.\n{QUESTION}", separators) == "Yes."


def test_a_single_expression_passed_bare_is_one_separator() -> None:
    assert strip_quoted_reply("Yes.\n-- cut --\nold", "^-- cut --$") == "Yes."


def test_custom_expressions_with_groups_and_inline_flags_still_work() -> None:
    assert strip_quoted_reply("Yes.\n== x ==\nold", [r"^(=+) x \1$", "^>"]) == "Yes."
    assert strip_quoted_reply("Yes.\nCUT\nold", ["(?-i:CUT)", "(?i)never"]) == "Yes."


def test_default_separators_are_an_editable_list_of_expressions() -> None:
    assert isinstance(DEFAULT_REPLY_SEPARATORS, tuple)
    for source in DEFAULT_REPLY_SEPARATORS:
        re.compile(source)


def test_a_megabyte_reply_is_stripped_to_its_new_text() -> None:
    """How long it takes is bench.quotes's figure (target: under a second), not a test's."""
    line = "The export fails at 12:30 with error 0x80070005 on the second run, see log.\n"
    body = "Here is the log.\n\n" + line * (1_000_000 // len(line))
    reply = body + f"\nOn Mon, Apr 2, 2012 at 6:26 PM, Bob wrote:\n{QUESTION * 2000}"
    assert strip_quoted_reply(reply) == body.rstrip()


# --- HTML replies -------------------------------------------------------------------------

GMAIL = (
    '<div dir="ltr">Thanks, that fixed it.</div><br><div class="gmail_quote">'
    '<div dir="ltr" class="gmail_attr">On Mon, 2 Apr 2012 at 17:44, Bob &lt;bob@x.com&gt; '
    'wrote:<br></div><blockquote class="gmail_quote">Have you tried restarting?</blockquote></div>'
)


def test_gmail_quote_is_removed_from_html_replies() -> None:
    assert strip_quoted_html(GMAIL) == "Thanks, that fixed it."


def test_gmail_extra_keeps_the_signature_while_its_quote_goes() -> None:
    markup = (
        '<div>Thanks.</div><div class="gmail_extra"><div class="gmail_signature">Alice, ACME'
        '</div><div class="gmail_quote">On Mon, 2 Apr 2012, Bob wrote:<blockquote>Hi'
        "</blockquote></div></div>"
    )
    assert strip_quoted_html(markup) == "Thanks.\n\nAlice, ACME"


def test_outlook_div_rply_fwd_msg_and_everything_after_it_is_removed() -> None:
    markup = (
        '<div>Thanks, that fixed it.</div><div id="appendonsend"></div><hr>'
        '<div id="divRplyFwdMsg"><b>From:</b> Bob<br><b>Sent:</b> Monday</div>'
        "<div>Have you tried restarting?</div>"
    )
    assert strip_quoted_html(markup) == "Thanks, that fixed it."


def test_hotmail_stop_spelling_rule_starts_the_history() -> None:
    markup = '<div>Thanks.<div><hr id="stopSpelling">Date: today<br>Subject: x<br>Hi</div></div>'
    assert strip_quoted_html(markup) == "Thanks."


def test_apple_blockquote_type_cite_is_removed() -> None:
    markup = (
        "<div>Thanks, that fixed it.</div><div><br><div>On 2 Apr 2012, at 17:44, Bob "
        '&lt;bob@x.com&gt; wrote:</div><blockquote type="cite"><div>Restart?</div>'
        "</blockquote></div>"
    )
    assert strip_quoted_html(markup) == "Thanks, that fixed it."


def test_thunderbird_moz_cite_prefix_and_its_quote_are_removed() -> None:
    markup = (
        "<p>Thanks, that fixed it.</p>"
        '<div class="moz-cite-prefix">On 26.06.2014 14:41, Bob wrote:<br></div>'
        '<blockquote type=cite cite="mid:x@y">Have you tried restarting?</blockquote>'
    )
    assert strip_quoted_html(markup) == "Thanks, that fixed it."


def test_yahoo_quoted_is_removed() -> None:
    markup = '<div>Thanks.</div><div class="yahoo_quoted"><div>On Monday, Bob wrote:</div>Hi</div>'
    assert strip_quoted_html(markup) == "Thanks."


def test_html_bottom_post_keeps_the_text_below_the_quote() -> None:
    markup = (
        '<div class="moz-cite-prefix">On 26.06.2014 14:41, Bob wrote:<br></div>'
        '<blockquote type="cite">Have you tried restarting?</blockquote><p>Yes, twice.</p>'
    )
    assert strip_quoted_html(markup) == "Yes, twice."


def test_html_inline_answers_keep_their_questions_marked_as_quotes() -> None:
    markup = (
        '<div>Answers below.</div><blockquote type="cite">Which version?</blockquote>'
        '<div>Version 3.</div><blockquote type="cite">Which OS?</blockquote><div>Linux.</div>'
    )
    assert strip_quoted_html(markup) == (
        "Answers below.\n> Which version?\nVersion 3.\n> Which OS?\nLinux."
    )


def test_gmail_forward_inside_a_quote_container_is_kept() -> None:
    markup = (
        '<div dir="ltr">FYI<br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">'
        "---------- Forwarded message ---------<br>From: Bob &lt;bob@x.com&gt;<br>"
        "Date: Mon, 2 Apr 2012 at 17:44<br></div><br>The printer is on fire.</div></div>"
    )
    assert strip_quoted_html(markup).endswith("The printer is on fire.")


def test_html_that_is_entirely_an_outlook_forward_is_kept_whole() -> None:
    markup = '<div id="divRplyFwdMsg"><b>From:</b> Bob<br><b>Sent:</b> Monday</div><p>Fire!</p>'
    assert strip_quoted_html(markup) == "From: Bob\nSent: Monday\n\nFire!"


def test_plain_blockquote_at_the_end_is_a_quote_only_as_a_last_resort() -> None:
    assert strip_quoted_html("<p>Sure.</p><blockquote>Can you help?</blockquote>") == "Sure."
    quoting_docs = "<p>The docs say:</p><blockquote>Restart.</blockquote><p>I did.</p>"
    assert strip_quoted_html(quoting_docs) == "The docs say:\n\nRestart.\n\nI did."


def test_html_replies_use_the_text_separators_too() -> None:
    markup = "<p>Thanks.</p><p>-----Original Message-----<br>From: Bob<br>Hi</p>"
    assert strip_quoted_html(markup) == "Thanks."
    assert strip_quoted_html(markup, ["^From:"]) == "Thanks.\n\n-----Original Message-----"


@pytest.mark.parametrize(
    "markup",
    [
        "<div><p>Hello<blockquote type=cite>old<div></p></span>",
        '<<<>>><!-- <div class="gmail_quote">x',
        "</div></div><div class=gmail_quote",
        "<blockquote>" * 500 + "deep",
        "",
    ],
)
def test_malformed_html_never_crashes(markup: str) -> None:
    assert isinstance(strip_quoted_html(markup), str)


def test_html_parser_failure_falls_back_to_plain_text_stripping(monkeypatch) -> None:
    def broken(self, data: str) -> None:
        raise ValueError("parser trouble")

    monkeypatch.setattr(quotes._QuoteMarkup, "feed", broken)
    assert strip_quoted_html(GMAIL) == strip_quoted_reply(html_to_text(GMAIL))


def test_a_megabyte_html_reply_is_stripped_to_its_new_text() -> None:
    """How long it takes is bench.quotes's figure (target: under a second), not a test's."""
    own = "<p>The export fails at 12:30 with error 0x80070005 on the second run.</p>" * 7000
    markup = f"<div>{own}</div>{GMAIL.split('<br>', 1)[1] * 2000}"
    stripped = strip_quoted_html(markup)
    assert stripped.startswith("The export fails") and stripped.count("0x80070005") == 7000
    assert "wrote:" not in stripped


# --- our own signatures ------------------------------------------------------------------

OURS = OwnSignatures(
    templates=(
        "{agent_name}\nSecond-level support",
        "Example Ltd, {branch} team\nhttps://help.example.com (ticket {ref})",
    ),
    agent_names=("Alice Agent", "Bob"),
    branch_names=("Support", "Sales"),
)
# Our reply as it went out (compose.sign): the agent's signature, then the channel's.
OUR_REPLY = (
    "We replaced the toner.\n\n-- \nAlice Agent\nSecond-level support\n"
    "Example Ltd, Support team\nhttps://help.example.com (ticket SUP-7)"
)


def quoted(text: str) -> str:
    return "\n".join(f"> {line}".rstrip() for line in text.split("\n"))


def test_our_signature_quoted_between_inline_answers_is_not_the_customers() -> None:
    """Inline answers keep their questions, quotes and all: our signature was one of them."""
    body, signature = OUR_REPLY.split("\n\n", 1)
    reply = f"{quoted(body)}\nThanks, it prints again.\n{quoted(signature)}\n\nOne more: the tray?"
    assert strip_quoted_reply(reply) == reply  # without knowing it, it stays
    assert strip_quoted_reply(reply, signatures=OURS) == (
        "> We replaced the toner.\nThanks, it prints again.\n\nOne more: the tray?"
    )


def test_an_unquoted_copy_of_our_reply_loses_our_signature_and_its_delimiter() -> None:
    reply = f"Works now, thanks!\n\nCarol\n\n{OUR_REPLY}"
    visible = strip_quoted_reply(reply, signatures=OURS)
    assert visible == "Works now, thanks!\n\nCarol\n\nWe replaced the toner."


def test_our_signature_wrapped_by_the_customers_client_is_still_ours() -> None:
    """A client that wraps long lines when it quotes splits a line of ours in two."""
    wrapped = (
        "> We replaced the toner.\nGreat.\n> -- \n> Alice Agent\n> Second-level support\n"
        "> Example Ltd, Support\n> team\n> https://help.example.com (ticket\n> SUP-7)\n\nCarol"
    )
    visible = strip_quoted_reply(wrapped, signatures=OURS)
    assert visible == "> We replaced the toner.\nGreat.\n\nCarol"


def test_the_customers_own_sign_off_stays() -> None:
    reply = "Thanks!\n\nCarol Customer\nACME Ltd, Support team\n+1 555 0100"
    assert strip_quoted_reply(reply, signatures=OURS) == reply
    signed_by_us = "Thanks!\n\n-- \nBob\nSecond-level support"  # Bob is our agent
    assert strip_quoted_reply(signed_by_us, signatures=OURS) == "Thanks!"


def test_a_signature_of_placeholders_or_one_short_word_is_not_matched() -> None:
    """Too little text to be sure it is ours: it would take the customer's sign-off."""
    loose = OwnSignatures(("{agent_name}", "Bob", "-- {ref}"), agent_names=("Carol",))
    reply = "Thanks!\n\nCarol\nBob\n-- SUP-1"
    assert strip_quoted_reply(reply, signatures=loose) == reply


def test_a_mail_that_is_only_our_signature_is_kept_whole() -> None:
    only = OUR_REPLY.split("\n\n", 1)[1]
    assert strip_quoted_reply(only, signatures=OURS) == only


def test_our_signature_in_an_html_reply_goes_too() -> None:
    markup = (
        "<div>Thanks, it prints.</div><div><br></div><div>-- <br>Alice Agent<br>"
        "Second-level support</div>"
    )
    assert strip_quoted_html(markup, signatures=OURS) == "Thanks, it prints."


def test_a_real_clients_signature_block_is_found_as_the_client_sent_it() -> None:
    """Sparrow sent "Hello \\n\\n-- \\nxxx\\nSent with Sparrow (...)": were that template ours
    (agent xxx), the copy is recognised with the client's own spacing, and only it goes; here
    without its "-- ", which would take it out as a signature anyway."""
    text = first_plain_part(TALON / "tests/fixtures/standard_replies/sparrow.eml")
    text = text.replace("\n-- \n", "\n")
    sparrow = OwnSignatures(
        ("{agent_name}\nSent with Sparrow (http://www.sparrowmailapp.com/?sig)",), ("xxx",)
    )
    assert strip_quoted_reply(text).endswith(
        "\nxxx\nSent with Sparrow (http://www.sparrowmailapp.com/?sig)"
    )
    assert strip_quoted_reply(text, signatures=sparrow) == "Hello"


@pytest.mark.parametrize("name", TALON_PLAIN)
def test_a_signature_the_mail_does_not_hold_changes_nothing_in_the_corpus(name: str) -> None:
    text = first_plain_part(TALON / name)
    assert strip_quoted_reply(text, signatures=OURS) == strip_quoted_reply(text)


def test_every_copy_of_our_signature_goes_in_one_pass() -> None:
    """A mail of many copies (hostile, or a long thread pasted unquoted) is cut once per
    signature, not once per copy."""
    signature = OUR_REPLY.split("\n\n", 1)[1]
    text = "\n\n".join(f"Answer {n}.\n\n{signature}" for n in range(2000))
    assert strip_quoted_reply(text, signatures=OURS) == "\n\n".join(
        f"Answer {n}." for n in range(2000)
    )
