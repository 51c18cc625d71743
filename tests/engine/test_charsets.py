"""Charsets as senders really use them: each case is a way real mail mislabels its text
(issue 19), plus the corpus mails that showed it."""

from __future__ import annotations

import base64

import pytest

from tests.conftest import CORPUS
from tuidesk.engine.charsets import codec_name, decode_bytes
from tuidesk.engine.parse import parse_mail


def b64_word(text: str, written_in: str, label: str) -> str:
    """An RFC 2047 word that says `label` but holds `text` written in `written_in`."""
    return f"=?{label}?B?{base64.b64encode(text.encode(written_in)).decode()}?="


@pytest.mark.parametrize(
    ("text", "written_in", "label"),
    [
        ("关于喆镕堃的发票", "gbk", "gb2312"),  # GBK characters GB2312 lacks
        ("見積書の件について", "shift_jis", "iso-2022-jp"),  # raw Shift_JIS in a 7-bit label
        ("①髙橋様 ご請求書", "cp932", "shift_jis"),  # NEC and IBM extensions of CP932
        ("똠방각하 배송 문의", "cp949", "ks_c_5601-1987"),  # Unified Hangul beyond EUC-KR
        ("㗎啲嘢 查詢", "big5hkscs", "big5"),  # Hong Kong characters
        ("“Rechnung” – 10 €", "cp1252", "iso-8859-1"),  # Windows quotes, dash and euro
        ("Rückfrage zur Lieferung", "utf-8", "iso-8859-1"),  # UTF-8 under a Latin-1 label
    ],
)
def test_a_subject_in_the_labels_superset_or_kin_reads_as_written(
    text: str, written_in: str, label: str
) -> None:
    raw = f"From: a@customer.example\r\nSubject: {b64_word(text, written_in, label)}\r\n\r\nx\r\n"
    assert parse_mail(raw.encode()).subject == text


def test_unlabelled_8bit_headers_read_in_the_charset_the_body_declares() -> None:
    raw = (
        "From: 张先生 <zhang@customer.example>\r\nSubject: 请问喆的订单什么时候发货\r\n"
        'MIME-Version: 1.0\r\nContent-Type: text/plain; charset="gb2312"\r\n\r\n'
        "您好，订单还没有收到。\r\n"
    ).encode("gbk")
    parsed = parse_mail(raw)
    assert parsed.subject == "请问喆的订单什么时候发货"
    assert parsed.sender is not None and parsed.sender.name == "张先生"
    assert parsed.text == "您好，订单还没有收到。"


def test_unlabelled_8bit_mail_with_no_declared_charset_is_detected_as_a_whole() -> None:
    """A short subject alone fools any detector ('田中太郎' reads as UTF-8 or Hebrew): the
    guess is made over the whole mail, whose body says more."""
    body = "いつもお世話になっております。先日注文した商品がまだ届いておりません。確認を"
    body += "お願いいたします。"
    raw = "From: 田中太郎 <tanaka@customer.example>\r\nSubject: 見積書の件\r\n\r\n" + body
    parsed = parse_mail(raw.encode("cp932"))
    assert (parsed.subject, parsed.text) == ("見積書の件", body)
    assert parsed.sender is not None and parsed.sender.name == "田中太郎"
    subject = "ご注文の商品がまだ届いておりません（至急ご確認ください）"
    assert decode_bytes(subject.encode("cp932"), None) == subject
    assert decode_bytes("naïve".encode("cp1252"), None) == "naïve"  # too short to detect


def test_a_body_labelled_gb2312_but_written_in_gbk_reads_right() -> None:
    raw = (
        b"From: a@customer.example\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=gb2312\r\n\r\n" + "镕基的打印机坏了".encode("gbk")
    )
    assert parse_mail(raw).text == "镕基的打印机坏了"


def test_labels_map_to_their_supersets_and_unknown_labels_to_none() -> None:
    assert codec_name("GB2312") == "gb18030" and codec_name("x-gbk") == "gb18030"
    assert codec_name("KS_C_5601-1987") == "cp949" and codec_name("ISO-8859-1") == "cp1252"
    assert codec_name("Shift_JIS") == "cp932" and codec_name("big5") == "big5hkscs"
    assert codec_name("utf-8") == "utf-8" and codec_name("x-no-such\x00") is None


def test_plain_ascii_and_7bit_labels_are_not_second_guessed() -> None:
    assert decode_bytes(b"plain", "gb2312") == "plain"
    jis = "日本語".encode("iso2022_jp")
    assert jis.isascii() and decode_bytes(jis, "iso-2022-jp") == "日本語"


def test_corpus_gb2312_subject_holding_gbk_is_not_mojibake() -> None:
    """mail-parser's mail_test_9: its subject and body say gb2312 and hold GBK characters;
    the old reading fell through to Windows-1252 ('ÎÒ°Ñ¾µÍ·...')."""
    parsed = parse_mail((CORPUS / "mail-parser/tests/mails/mail_test_9").read_bytes())
    assert parsed.subject.startswith("我把镜头拉近些，你们看看这个是什么")
    assert "我把镜头拉近些" in parsed.text
    assert not any("\u00c0" <= ch <= "\u00ff" for ch in parsed.subject + parsed.text)
