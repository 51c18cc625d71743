"""Canned replies through the CLI, `config export/import` and the storage functions the reply
editor calls: saved through one check, offered per branch, rendered for a ticket."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.engine.conftest import mail
from tuidesk.storage.canned import CannedError, canned_for_ticket
from tuidesk.storage.db import session_scope

RESET = "Hello {requester_name},\n\nyour ticket {ref} ({title}) is solved.\n\n{agent_name}\n"


@pytest.fixture
def desk(cli: Cli, tmp_path: Path) -> Cli:
    """Support and Sales branches, the agent Ann, a ticket from Alice in each branch."""
    cli("branch", "edit", "Support", "--address", "support@example.com")
    cli("branch", "add", "Sales", "--key", "SAL", "--address", "sales@example.com")
    cli("agent", "add", "Ann Agent", "--email", "ann@example.com", "--login", "ann")
    for n, to in enumerate(("support", "sales")):
        raw = mail(f"From: Alice Smith <alice@customer.test>\nTo: {to}@example.com\n"
                   f"Message-ID: <c{n}@customer.test>\nSubject: Password reset")  # fmt: skip
        cli("pipe", input=raw)
    return cli


def text_file(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def listed(cli: Cli) -> list[dict]:
    return json.loads(cli("canned", "list", "--json").stdout)


def test_canned_replies_from_the_command_line(desk: Cli, tmp_path: Path) -> None:
    desk("canned", "add", "Password reset", "--body-file", text_file(tmp_path, "r.txt", RESET))
    desk("canned", "add", "Quote", "--body-file", text_file(tmp_path, "q.txt", "Our offer.\n"),
         "--branch", "Sales")  # fmt: skip
    assert listed(desk) == [
        {"name": "Password reset", "branch": None, "body": RESET},
        {"name": "Quote", "branch": "SAL", "body": "Our offer.\n"},
    ]
    lines = desk("canned", "list").stdout.decode().splitlines()
    assert lines[1].split() == ["Quote", "SAL", "Our", "offer."]
    assert desk("canned", "show", "Password reset").stdout.decode() == RESET

    rendered = desk("--agent", "ann", "canned", "show", "Password reset", "--ticket", "SUP-1")
    assert rendered.stdout.decode() == (
        "Hello Alice Smith,\n\nyour ticket SUP-1 (Password reset) is solved.\n\nAnn Agent\n"
    )
    shown = json.loads(desk("canned", "show", "Quote", "--ticket", "SAL-2", "--json").stdout)
    assert shown == {"name": "Quote", "branch": "SAL", "ticket": "SAL-2", "body": "Our offer.\n"}

    desk("canned", "edit", "Quote", "--no-branch", "--name", "Offer")
    desk("canned", "edit", "Offer", "--body-file", text_file(tmp_path, "o.txt", "{title}?\n"))
    desk("canned", "edit", "Password reset", "--branch", "SUP")
    assert [(c["name"], c["branch"], c["body"]) for c in listed(desk)] == [
        ("Offer", None, "{title}?\n"),
        ("Password reset", "SUP", RESET),
    ]
    desk("canned", "remove", "Offer")
    assert [c["name"] for c in listed(desk)] == ["Password reset"]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["add", "password RESET", "--body-file", "{file}"], "exists already"),
        (["add", "New", "--body-file", "{file}", "--branch", "Nope"], "no branch 'Nope'"),
        (["add", "Bad", "--body-file", "{bad}"], "{signature} is not a placeholder"),
        (["add", "Blank", "--body-file", "{blank}"], "the text must not be empty"),
        (["add", "Missing", "--body-file", "{missing}"], "cannot read"),
        (["add", "Line\nbreak", "--body-file", "{file}"], "control characters"),
        (["edit", "Nope", "--name", "x"], "no canned reply named 'Nope'"),
        (["edit", "Password reset", "--branch", "SUP", "--no-branch"], "choose one"),
        (["show", "Password reset", "--ticket", "SUP-99"], "no ticket SUP-99"),
        (["remove", "Nope"], "no canned reply named 'Nope'"),
    ],
)
def test_what_cannot_be_saved_is_refused_with_words(
    desk: Cli, tmp_path: Path, args: list[str], said: str
) -> None:
    files = {
        "file": text_file(tmp_path, "r.txt", RESET),
        "bad": text_file(tmp_path, "bad.txt", "Regards,\n{signature}\n"),
        "blank": text_file(tmp_path, "blank.txt", " \n"),
        "missing": str(tmp_path / "missing.txt"),
    }
    desk("canned", "add", "Password reset", "--body-file", files["file"])
    proc = desk("canned", *[a.format(**files) for a in args], check=False)
    assert proc.returncode == 2 and said in proc.stderr.decode()
    assert listed(desk) == [{"name": "Password reset", "branch": None, "body": RESET}]


def test_the_reply_editor_is_offered_its_branchs_canned_replies_rendered(
    desk: Cli, tmp_path: Path, db_engine
) -> None:
    desk("canned", "add", "Password reset", "--body-file", text_file(tmp_path, "r.txt", RESET))
    desk("canned", "add", "Quote", "--body-file", text_file(tmp_path, "q.txt", "Offer for "
         "{requester_name}.\n"), "--branch", "SAL")  # fmt: skip
    with session_scope(db_engine) as session:
        support = canned_for_ticket(session, "SUP-1", None)
        sales = canned_for_ticket(session, "SAL-2", None)
        with pytest.raises(CannedError, match="no ticket SUP-9"):
            canned_for_ticket(session, "SUP-9", None)
    assert [c["name"] for c in support] == ["Password reset"]
    assert [(c["name"], c["text"]) for c in sales] == [
        ("Password reset", RESET.replace("{requester_name}", "Alice Smith")
         .replace("{ref}", "SAL-2").replace("{title}", "Password reset")
         .replace("{agent_name}", "")),
        ("Quote", "Offer for Alice Smith.\n"),
    ]  # fmt: skip


def test_canned_replies_travel_with_the_config(desk: Cli, tmp_path: Path) -> None:
    desk("canned", "add", "Password reset", "--body-file", text_file(tmp_path, "r.txt", RESET))
    desk("canned", "add", "Quote", "--body-file", text_file(tmp_path, "q.txt", "Our offer.\n"),
         "--branch", "SAL")  # fmt: skip
    exported = desk("config", "export").stdout.decode()
    assert '[[canned]]\nname = "Quote"\nbranch = "SAL"\nbody = "Our offer.\\n"' in exported
    desk("canned", "remove", "Quote")
    desk("canned", "edit", "Password reset", "--body-file", text_file(tmp_path, "x.txt", "x\n"))
    conf = text_file(tmp_path, "config.toml", exported)
    assert desk("config", "import", conf).stdout.decode().endswith(", 2 canned\n")
    assert listed(desk) == [
        {"name": "Password reset", "branch": None, "body": RESET},
        {"name": "Quote", "branch": "SAL", "body": "Our offer.\n"},
    ]
    twice = text_file(tmp_path, "twice.toml", '[[canned]]\nname = "A"\nbody = "a"\n\n'
                      '[[canned]]\nname = "a"\nbody = "b"\n')  # fmt: skip
    proc = desk("config", "import", twice, check=False)
    assert proc.returncode == 2 and "canned reply 'a': named twice" in proc.stderr.decode()
    unknown = text_file(tmp_path, "bad.toml", '[[canned]]\nname = "A"\nbody = "a"\nbrnch = "SAL"\n')
    proc = desk("config", "import", unknown, check=False)
    assert (
        proc.returncode == 2 and "canned reply 'A': unknown field 'brnch'" in proc.stderr.decode()
    )
