"""The value checks every door saves through (storage/checks.py), one value at a time: what each
accepts and cleans up, and the plain words it refuses the rest with. No database: the doors'
own tests prove they call these."""

from __future__ import annotations

from datetime import date

import pytest

from tuidesk.storage import checks
from tuidesk.storage.checks import Collector, Invalid


def refusal(check, *args, **kwargs) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(Invalid) as caught:
        check(*args, **kwargs)
    return str(caught.value)


def test_text_is_one_trimmed_line() -> None:
    assert checks.text("  Tier 2 ") == "Tier 2"
    assert checks.text("", required=False) == ""
    assert refusal(checks.text, " ", "the name") == "the name must not be empty"
    for bad in ("a\r\nBcc: x@evil.test", "a\x1b[31m", "a\x00"):
        assert "control characters or line breaks" in refusal(checks.text, bad, "the name")


@pytest.mark.parametrize(
    ("given", "kept"),
    [("IMAP.Example.com.", "imap.example.com"), ("127.0.0.1", "127.0.0.1"), ("[::1]", "[::1]"),
     ("xn--bcher-kva.example", "xn--bcher-kva.example")],
)  # fmt: skip
def test_a_host_is_a_name_or_an_address(given: str, kept: str) -> None:
    assert checks.host(given) == kept


@pytest.mark.parametrize("bad", ["-imap.example.com", "imap..example.com", "a b", "x" * 64 + ".io"])
def test_a_host_that_is_neither_is_refused(bad: str) -> None:
    assert "is not a host name or IP address" in refusal(checks.host, bad)


def test_ports_and_numbers_stay_in_range() -> None:
    assert checks.port(" 993 ") == 993 and checks.port(1) == 1 and checks.port(65535) == 65535
    assert refusal(checks.port, 0) == "port must be 1-65535, not 0"
    assert refusal(checks.port, "imaps") == "port must be a number from 1 to 65535, not 'imaps'"
    assert checks.number("5", "tries", low=1, high=9) == 5
    assert refusal(checks.number, "0", "tries", low=1) == "tries must be 1 or more, not 0"
    assert refusal(checks.number, 10, "tries", low=1, high=9) == "tries must be 1 to 9, not 10"
    assert "must be a whole number" in refusal(checks.number, "2.5", "tries")


def test_domains_and_addresses_are_lower_cased_and_need_a_dot() -> None:
    assert checks.domain("@Example.COM.") == "example.com"
    assert "is not a domain" in refusal(checks.domain, "localhost")
    assert "is not a domain" in refusal(checks.domain, "*.example.com")
    assert checks.address(" Support@Example.COM ") == "support@example.com"
    assert checks.address("Ada@localhost") == "ada@localhost"  # a first-run admin
    for bad in ("support", "Support <support@example.com>", "a..b@example.com", "a@b"):
        assert "is not a mail address" in refusal(checks.address, bad)


def test_windows_folders_patterns_and_dates() -> None:
    assert checks.window("22:00 - 02:00") == "22:00-02:00"
    for bad in ("2:00-4:00", "02:00", "25:00-01:00"):
        assert "is not a time window HH:MM-HH:MM" in refusal(checks.window, bad)
    assert checks.folder("INBOX/Done") == "INBOX/Done"
    for bad in ("/INBOX", ".hidden", "IN*", "50%"):
        assert "is not a folder name" in refusal(checks.folder, bad)
    assert checks.regex(r"^-- reply above --$") == r"^-- reply above --$"
    assert "is not a regular expression" in refusal(checks.regex, "([")
    assert refusal(checks.regex, " ") == "a pattern must not be empty"
    assert checks.glob("*@NoReply.Example.com") == "*@noreply.example.com"
    assert checks.iso_date("2026-01-31") == date(2026, 1, 31)
    assert checks.iso_date("") is None and checks.iso_date(date(2026, 1, 1)) == date(2026, 1, 1)
    assert "is not a date like 2026-01-31" in refusal(checks.iso_date, "31.01.2026")


def test_lists_choices_urls_and_scopes() -> None:
    assert checks.each(["B@x.io", "", "a@x.io", "b@x.io"], checks.address) == ["b@x.io", "a@x.io"]
    assert checks.one_of(" STARTTLS ", ("ssl", "starttls"), "security") == "starttls"
    assert refusal(checks.one_of, "tls", ("ssl", "starttls"), "security") == (
        "security must be one of ssl, starttls"
    )
    authority = "https://login.microsoftonline.com/contoso/"
    assert checks.url(authority, "authority") == authority.rstrip("/")
    assert "must be an https URL" in refusal(checks.url, "http://login.example.com", "authority")
    assert checks.url("http://localhost:8400/cb", "redirect URL", https=False)
    assert "must be an https or http URL" in refusal(checks.url, "localhost/cb", "x", https=False)
    assert checks.scope("IMAP.AccessAsUser.All") == "IMAP.AccessAsUser.All"
    assert "must be one word" in refusal(checks.scope, "IMAP AccessAsUser")


def test_a_collector_keeps_every_field_error_and_raises_them_together() -> None:
    c = Collector()
    assert c.check("port", checks.port, "993") == 993
    assert c.check("host", checks.host, "bad host") is None
    assert c.check("since", checks.iso_date, "yesterday") is None
    c.add("host", "a second word on host is not kept")
    with pytest.raises(Invalid) as caught:
        c.raise_if_any()
    assert list(caught.value.errors) == ["host", "since"]
    assert "is not a host name" in caught.value.errors["host"]
    assert Invalid("x", field="name").errors == {"name": "x"}
    Collector().raise_if_any()  # nothing collected: nothing raised
