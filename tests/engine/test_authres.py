"""Authentication-Results (RFC 8601) as receiving servers write them: the headers of real mail
from the corpus, and the verdict on a sender's domain from the servers an admin trusts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import CORPUS
from tuidesk.engine.authres import AuthOutcome, authenticate, parse_authentication_results
from tuidesk.engine.parse import Limits, ParseError, parse_mail


def headers_of(relative: str) -> tuple[str, ...]:
    """The mail's own Authentication-Results headers, as the parser hands them on."""
    return parse_mail((CORPUS / relative).read_bytes()).authentication_results


def quoted_header(relative: str) -> str:
    """The header of a mail that a report quotes (a text/rfc822-headers part)."""
    raw = (CORPUS / relative).read_text(errors="replace")
    found = re.search(r"^Authentication-Results: (.*(?:\n[ \t].*)*)", raw, re.M)
    assert found, relative
    return found.group(1)


def results(value: str) -> list[tuple[str, str, dict[str, str]]]:
    return [(r.method, r.result, r.properties) for r in parse_authentication_results(value).results]


def test_gmail_folded_header_with_comments() -> None:
    """Google's header spans lines; its comments hold `=` and `;` that must not split it."""
    (value,) = headers_of("django-helpdesk/tests/test_files/pgp.eml")
    parsed = parse_authentication_results(value)
    assert parsed.authserv_id == "mx.google.com"
    assert [(r.method, r.result) for r in parsed.results] == [
        ("dkim", "pass"), ("arc", "pass"), ("spf", "pass"), ("dmarc", "pass"),
    ]  # fmt: skip
    dkim, _arc, spf, dmarc = parsed.results
    assert dkim.properties["header.i"] == "@gmail.com" and dkim.domain == "gmail.com"
    assert spf.domain == "example.com"  # smtp.mailfrom=bugreporter@example.com
    assert dmarc.domain == "gmail.com"


def test_several_headers_are_read_top_first() -> None:
    values = headers_of("sisimai/maildir/bsd/lhost-amazonses-13.eml")
    assert [parse_authentication_results(v).authserv_id for v in values] == [
        "mx.google.com", "aneyakoji.example.jp",
    ]  # fmt: skip
    assert results(values[1])[1] == (
        "spf", "pass",
        {"smtp.mfrom": "01010158992be865-8373ee20-998b-478f-96c0-acc95f6a3672-000000"
                       "@us-west-2.amazonses.com"},
    )  # fmt: skip


def test_one_line_headers_of_other_servers() -> None:
    value = quoted_header("sisimai/maildir/bsd/arf-19.eml")
    parsed = parse_authentication_results(value)
    assert parsed.authserv_id == "126.example.com"
    assert [(r.method, r.result, r.domain) for r in parsed.results] == [
        ("dkim", "fail", "ietf.org"),
        ("dkim", "permerror", "example.net"),
        ("spf", "pass", "neko.example.com"),
    ]


def test_microsoft_365_names_no_server_so_nothing_of_it_is_trusted() -> None:
    """Exchange Online writes `spf=... ; dkim=...` with no authserv-id first."""
    value = (
        "spf=softfail (sender IP is 52.58.62.203)\n smtp.mailfrom=ninomail.com; example.com;"
        " dkim=pass (signature was\n verified) header.d=ninomail.com;example.com; dmarc=none"
        " action=none\n header.from=mailgunhq.com;"
    )
    parsed = parse_authentication_results(value)
    assert parsed.authserv_id is None
    assert (parsed.results[0].method, parsed.results[0].result) == ("spf", "softfail")
    verdict = authenticate([value], "ninomail.com", ["example.com"])
    assert verdict.outcome is AuthOutcome.NONE


def test_odd_but_readable_headers() -> None:
    # Yahoo's stray words after the server name; a version; a no-result; quoted values.
    yahoo = "mta2022.biz.mail.sg2.yahoo.com  from=amazonses.com; domainkeys=neutral (no sig);"
    assert parse_authentication_results(yahoo).authserv_id == "mta2022.biz.mail.sg2.yahoo.com"
    assert results(yahoo) == [("domainkeys", "neutral", {})]
    versioned = parse_authentication_results("MX.Example.COM 1; DKIM/1=Pass header.d=a.test")
    assert versioned.authserv_id == "mx.example.com"
    assert [(r.method, r.result) for r in versioned.results] == [("dkim", "pass")]
    assert parse_authentication_results("mx.example.com; none").results == ()
    quoted = results('mx.test; dkim=fail reason="bad; (really)" header.d=x.test (a (nested) one)')
    assert quoted == [("dkim", "fail", {"reason": "bad; (really)", "header.d": "x.test"})]
    assert parse_authentication_results("").authserv_id is None


@pytest.mark.parametrize(
    "path",
    sorted(
        p
        for p in CORPUS.rglob("*")
        if p.is_file() and b"\nAuthentication-Results:" in p.read_bytes()[:200_000]
    ),
    ids=lambda p: str(p.relative_to(CORPUS)),
)
def test_every_header_in_the_corpus_reads_without_error(path: Path) -> None:
    try:  # the headers only: some of these mails are MIME bombs
        mail = parse_mail(path.read_bytes(), Limits(max_parts=10**6), body=False)
    except ParseError:
        return
    for value in mail.authentication_results:
        parsed = parse_authentication_results(value)
        assert all(r.method and r.result for r in parsed.results)


# --- the verdict on a domain ----------------------------------------------------------------


def ar(server: str, *checks: str) -> str:
    return f"{server};\n       " + ";\n       ".join(checks)


TRUSTED = ["mx.example.com"]


def test_a_fail_for_the_domain_from_a_trusted_server() -> None:
    for check in (
        "dkim=fail (bad signature) header.d=example.com",
        "spf=fail (example.com: 203.0.113.9 not permitted) smtp.mailfrom=ada@example.com",
        "dmarc=fail (p=REJECT) header.from=example.com",
    ):
        verdict = authenticate([ar("mx.example.com", check)], "example.com", TRUSTED)
        assert verdict.outcome is AuthOutcome.FAIL, check
        assert verdict.reason.startswith("mx.example.com: ")
        assert verdict.reason.endswith("=fail for example.com")


def test_anyone_can_write_the_header_so_only_trusted_servers_count() -> None:
    forged = ar("evil.test", "dmarc=pass header.from=example.com")
    assert authenticate([forged], "example.com", TRUSTED).outcome is AuthOutcome.NONE
    assert authenticate([forged], "example.com", []).reason == "no trusted_authserv_ids set"
    real_fail = ar("MX.example.com", "dmarc=fail header.from=example.com")
    assert authenticate([real_fail], "example.com", []).outcome is AuthOutcome.NONE
    assert authenticate([forged, real_fail], "example.com", TRUSTED).outcome is AuthOutcome.FAIL


def test_results_about_other_domains_say_nothing() -> None:
    other = ar(
        "mx.example.com", "dkim=fail header.d=mailer.test", "spf=fail smtp.helo=example.com",
        "spf=fail smtp.mailfrom=bounce@example.community",
    )  # fmt: skip
    verdict = authenticate([other], "example.com", TRUSTED)
    assert verdict == (AuthOutcome.NONE, "no pass or fail for example.com from mx.example.com")


def test_subdomains_align_as_dmarc_relaxed_alignment() -> None:
    signed = ar("mx.example.com", "dkim=pass header.i=@mail.example.com")
    assert authenticate([signed], "example.com", TRUSTED).outcome is AuthOutcome.PASS
    assert authenticate([signed], "eu.mail.example.com", TRUSTED).outcome is AuthOutcome.PASS
    tld = ar("mx.example.com", "dkim=fail header.d=com")
    assert authenticate([tld], "example.com", TRUSTED).outcome is AuthOutcome.NONE


def test_dmarc_decides_else_a_pass_outweighs_a_fail() -> None:
    """A list forwarding the mail breaks SPF, not the DKIM signature: DMARC passes it."""
    forwarded = ar(
        "mx.example.com", "dkim=pass header.d=example.com", "spf=fail smtp.mailfrom=a@example.com"
    )
    assert authenticate([forwarded], "example.com", TRUSTED).outcome is AuthOutcome.PASS
    dmarc_fail = ar(
        "mx.example.com", "dkim=pass header.d=example.com", "dmarc=fail header.from=example.com"
    )
    assert authenticate([dmarc_fail], "example.com", TRUSTED).outcome is AuthOutcome.FAIL
    softfail = ar("mx.example.com", "spf=softfail smtp.mailfrom=ada@example.com")
    assert authenticate([softfail], "example.com", TRUSTED).outcome is AuthOutcome.NONE


def test_corpus_mail_judged_by_google() -> None:
    """SES mail: Google passed Amazon's signature and failed the envelope's SPF."""
    values = headers_of("sisimai/maildir/bsd/lhost-amazonses-13.eml")
    google = ["mx.google.com"]
    assert authenticate(values, "amazonses.com", google).outcome is AuthOutcome.PASS
    assert authenticate(values, "sns.amazonaws.com", google).outcome is AuthOutcome.NONE
    assert authenticate(values, "amazonses.com", ["aneyakoji.example.jp"]).outcome is (
        AuthOutcome.PASS  # its spf=pass smtp.mfrom=...@us-west-2.amazonses.com aligns
    )
    arf = [quoted_header("sisimai/maildir/bsd/arf-19.eml")]
    assert authenticate(arf, "ietf.org", ["126.example.com"]).outcome is AuthOutcome.FAIL
