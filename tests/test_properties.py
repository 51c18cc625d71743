"""Property tests over hostile input (issue 8): the parser, the classifier, the quote stripper,
the whole engine and the Ingestor, over arbitrary bytes, mutated real mail (the shared corpus)
and generated MIME trees with hostile attachment names. Never a crash, always an outcome, and
nothing written outside the data folder and the database.

The strategies and the checks live in tests/mime_strategies.py, which bench/fuzz.py runs for
longer (`python -m bench.fuzz --seconds N`). Here every run is derandomized and keeps no
example database, so CI sees the same examples every time; the whole file runs in well under
a minute.

What is asserted (see the check_* functions):
- parse_mail returns a ParsedMail or raises ParseError with a reason (the product quarantines
  with it); a parsed mail has a one-line subject of at most 250 characters, no NUL in subject,
  text or HTML, and attachment names with no folder separators or NUL, not hidden (no
  leading dot) and at most 184 characters;
- classify_machine_mail gives None or a verdict of a known kind with a reason, and the
  Message-IDs it names are in <...> form;
- strip_quoted_reply returns a piece of its input (whole lines in order, so never longer)
  that is empty only for blank input; strip_quoted_html returns text; neither raises, whatever
  separators the admin typed;
- decide gives one of the five actions; a quarantine keeps its reason and its step and is never
  an "internal error"; the decision serializes to JSON;
- the Ingestor commits exactly one outcome per mail (one ingest-log row with that outcome, a
  quarantine row iff quarantined) and writes nothing but the database and hash-named blobs.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import mime_strategies as ms
from tuidesk.engine.parse import parse_mail, sanitize_filename
from tuidesk.engine.quotes import strip_quoted_reply
from tuidesk.screens.attachments import safe_name

settings.register_profile(
    "tuidesk-ci",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CI = settings.get_profile("tuidesk-ci")


def bounded(n: int) -> settings:
    return settings(CI, max_examples=n)


# --- 1. the parser ------------------------------------------------------------------------------


@bounded(300)
@given(st.binary(max_size=4000))
def test_parse_mail_over_arbitrary_bytes_parses_or_refuses_with_a_reason(raw: bytes):
    ms.check_parse(raw)


@bounded(300)
@given(ms.mutated_mail)
def test_parse_mail_over_mutated_mime_parses_or_refuses_with_a_reason(raw: bytes):
    ms.check_parse(raw)


@bounded(150)
@given(ms.built_mail())
def test_parse_mail_over_generated_mime_with_hostile_names(raw: bytes):
    ms.check_parse(raw)


def test_the_seeds_include_the_corpus():
    assert len(ms.SEEDS) > 400, "the shared corpus was not found: mutations start from 3 mails"


# --- 2. the classifier --------------------------------------------------------------------------


@bounded(300)
@given(ms.any_mail)
def test_the_classifier_gives_a_known_verdict_or_none(raw: bytes):
    ms.check_classify(raw)


# --- 3. the quote stripper ----------------------------------------------------------------------


@bounded(300)
@given(ms.reply_text(), ms.separator_lists)
def test_the_stripped_reply_is_a_piece_of_the_input_and_empty_only_if_blank(text, separators):
    ms.check_quotes(text, separators)


@bounded(150)
@given(st.text(max_size=300))
def test_the_quote_stripper_over_arbitrary_text(text: str):
    ms.check_quotes(text)


@bounded(200)
@given(ms.reply_html, ms.separator_lists)
def test_the_html_quote_stripper_never_raises(markup: str, separators):
    ms.check_quotes_html(markup, separators)


# --- 4. the whole decision ----------------------------------------------------------------------


@bounded(300)
@given(ms.any_mail)
def test_the_engine_always_decides_one_of_its_actions(raw: bytes):
    ms.check_decide(raw)


# --- 5. end to end, into SQLite and the data folder ---------------------------------------------


@pytest.fixture
def ingest_sandbox(tmp_path: Path, _isolated_home: Path, sqlite_template: Path):
    box = ms.IngestSandbox(tmp_path / "box", sqlite_template, watch=[_isolated_home])
    yield box
    box.close()


@settings(CI, max_examples=40, suppress_health_check=list(HealthCheck))
@given(raw=st.one_of(ms.built_mail(), ms.mutated_mail, ms.raw_bytes))
def test_each_mail_commits_one_outcome_and_writes_only_the_database_and_blobs(
    ingest_sandbox: ms.IngestSandbox, raw: bytes
):
    ingest_sandbox.check(raw)


@pytest.mark.parametrize("name", ms.HOSTILE_FILENAMES)
def test_a_hostile_attachment_name_stays_inside_the_data_folder(
    tmp_path: Path, _isolated_home: Path, sqlite_template: Path, name: str
):
    box = ms.IngestSandbox(tmp_path / "box", sqlite_template, watch=[_isolated_home])
    try:
        disposition = b'attachment; filename="' + name.encode("utf-8", "surrogatepass") + b'"'
        raw = (
            b"From: Alice <alice@customer.test>\r\nTo: support@example.com\r\n"
            b"Subject: see attachment\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n"
            b"--XX\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n--XX\r\n"
            b"Content-Type: application/octet-stream\r\nContent-Disposition: " + disposition
            + b"\r\n\r\nroot:x:0:0\r\n--XX--\r\n"
        )  # fmt: skip
        assert box.check(raw) == "created"
    finally:
        box.close()


# --- regressions: bugs the properties found -----------------------------------------------------


def test_a_line_indented_past_the_probe_length_is_not_stripped_to_nothing():
    """quotes._probe cut a line to 1000 characters before stripping its edges, so a line whose
    text started after 1000 blanks was marked blank and the reply came out ""."""
    text = " " * 1000 + "Please call me back."
    assert strip_quoted_reply(text).strip() == "Please call me back."


@pytest.mark.parametrize("name", [" . .bashrc", ". .profile", ".\u3000.x", "._.x"])
def test_an_attachment_name_never_starts_with_a_dot(name: str):
    """sanitize_filename stripped dots, then spaces, but not dots again: ". .bashrc" became
    ".bashrc", a hidden file; the console's safe_name, which names saved files, too."""
    assert not sanitize_filename(name, "fallback").startswith(".")
    assert not safe_name(name).startswith(".")


def test_a_hostile_attachment_name_is_stored_without_its_leading_dots():
    raw = (
        b"From: alice@customer.test\r\nTo: support@example.com\r\nSubject: x\r\n"
        b"Content-Type: application/octet-stream\r\n"
        b'Content-Disposition: attachment; filename=". .bashrc"\r\n\r\nrm -rf ~\r\n'
    )
    [attachment] = parse_mail(raw).attachments
    assert attachment.filename == "bashrc"


@pytest.mark.parametrize("charset", [b"idna", b"us-ascii\x00"], ids=["idna", "nul"])
def test_a_bounce_with_8_bit_text_in_a_charset_python_cannot_decode_with_is_classified(charset):
    """Found by bench.fuzz. compat32's get_payload() decodes 8-bit text with the declared charset
    and error handler "replace": "idna" refuses that handler (UnicodeError), a NUL in the name
    fails the codec lookup (ValueError). classify._text_payload called it unguarded, and parse's
    charset lookup let the ValueError through: such a bounce was quarantined, not ignored."""
    raw = (
        b"From: MAILER-DAEMON@mx.test\r\nTo: support@example.com\r\n"
        b"Subject: Undeliverable Mail\r\nContent-Type: text/plain; charset=" + charset
        + b"\r\n\r\nDelivery failed: caf\xc3\xa9@example.net\r\n"
    )  # fmt: skip
    assert ms.check_decide(raw) == "ignored"


def test_the_sandbox_sees_a_file_written_outside_the_data_folder(
    tmp_path: Path, _isolated_home: Path, sqlite_template: Path
):
    """The end-to-end check would notice an escape: a file written beside the data folder."""
    box = ms.IngestSandbox(tmp_path / "box", sqlite_template, watch=[_isolated_home])
    try:
        (box.root / "cwd" / "escaped").write_bytes(b"x")
        with pytest.raises(AssertionError, match="escaped"):
            box.assert_nothing_written_elsewhere()
        (box.root / "cwd" / "escaped").unlink()
        (_isolated_home / "also").write_bytes(b"x")
        with pytest.raises(AssertionError, match="changed"):
            box.assert_nothing_written_elsewhere()
    finally:
        box.close()
        shutil.rmtree(box.root, ignore_errors=True)
