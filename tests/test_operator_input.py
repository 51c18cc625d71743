"""What an operator types or writes is checked: a refusal exits 2, says why first, and saves
nothing; 1 is kept for a command that ran and failed. Through the real command."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.engine.conftest import mail


def refusal(proc) -> str:  # type: ignore[no-untyped-def]
    """The one line a refused command prints, without the program name."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0].removeprefix("tuidesk: ")


def agents(cli) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(a["name"], a["email"]) for a in json.loads(cli("agent", "list", "--json").stdout)]


@pytest.fixture
def desk(cli):  # type: ignore[no-untyped-def]
    """A default branch and one ticket, HLP-1."""
    cli("branch", "add", "Help", "--key", "HLP", "--address", "support@example.com", "--default")
    cli("pipe", input=mail("From: alice@customer.test\nTo: support@example.com\nSubject: hi"))
    return cli


# A file and the start of its refusal. Imported entry by entry, the second of two entries for
# one agent (or one queue, channel...) would silently overwrite the first.
BAD_FILES = {
    "one agent's address twice, in another case": (
        '[[agent]]\nname = "Ann"\nemail = "ann@example.com"\n'
        '[[agent]]\nname = "Annie"\nemail = "ANN@example.com"\n',
        "agent 'Annie': ANN@example.com is already Ann in this file",
    ),
    "one agent's login twice": (
        '[[agent]]\nname = "Ann"\nemail = "ann@example.com"\nlogin = "ann"\n'
        '[[agent]]\nname = "Bob"\nemail = "bob@example.com"\nlogin = "ann"\n',
        "agent 'Bob': login ann is already Ann in this file",
    ),
    "one agent's name twice": (
        '[[agent]]\nname = "Ann"\nemail = "ann@example.com"\n'
        '[[agent]]\nname = "Ann"\nemail = "ann@other.test"\n',
        "agent 'Ann': named twice in this file",
    ),
    "a queue twice": ('[[queue]]\nname = "tier 1"\n', "queue 'tier 1': named twice in this file"),
    "a channel twice": (
        '[[channel]]\nname = "eu"\nqueue = "A"\n[[channel]]\nname = "eu"\nqueue = "B"\n',
        "channel 'eu': named twice in this file",
    ),
    "a misspelt section": ('[[agents]]\nname = "Ann"\n', "unknown section 'agents'"),
    "a table for a list": ('[branch]\nname = "Help"\nkey = "HLP"\n', "branch must be a list"),
    "a channel without a name": ('[[channel]]\nqueue = "A"\n', "a [[channel]] without a name"),
    "an agent without a name": ('[[agent]]\nemail = "a@x.test"\n', "a [[agent]] without a name"),
    "a name that is no text": ('[[branch]]\nname = 7\nkey = "SEV"\n', "a [[branch]] without a n"),
}


def test_config_import_refuses_a_file_it_would_read_only_in_part_and_saves_nothing(cli, tmp_path):
    before = cli("config", "export").stdout
    for case, (toml, words) in BAD_FILES.items():
        path = tmp_path / "bad.toml"
        path.write_text('[[queue]]\nname = "Tier 1"\n\n' + toml)  # saved, were it read in part
        assert refusal(cli("config", "import", str(path), check=False)).startswith(words), case
    assert cli("config", "export").stdout == before


def test_config_import_refuses_an_agent_another_agent_already_is(cli, tmp_path):
    """As `agent add` does: by address (the file's entry updates that agent) it is fine, by
    name alone it would be a second agent of the same name."""
    cli("agent", "add", "Ann", "--email", "ann@example.com")
    by_name = tmp_path / "by_name.toml"
    by_name.write_text('[[agent]]\nname = "Ann"\nemail = "ann@other.test"\n')
    words = refusal(cli("agent", "add", "Ann", "--email", "ann@other.test", check=False))
    assert refusal(cli("config", "import", str(by_name), check=False)) == f"agent 'Ann': {words}"
    by_address = tmp_path / "by_address.toml"
    by_address.write_text('[[agent]]\nname = "Ann Smith"\nemail = "Ann@Example.com"\n')
    cli("config", "import", str(by_address))
    assert agents(cli) == [("Ann Smith", "ann@example.com")]


def test_config_import_of_a_missing_or_binary_file_exits_2(cli, tmp_path):
    assert "No such file" in refusal(cli("config", "import", str(tmp_path / "no"), check=False))
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe\x00")
    assert refusal(cli("config", "import", str(tmp_path / "bin.toml"), check=False)) == (
        f"{tmp_path / 'bin.toml'}: not UTF-8 text"
    )


def test_ticket_list_refuses_a_filter_that_cannot_match_instead_of_printing_nothing(desk):
    words = refusal(desk("ticket", "list", "--status", "bogus", check=False))
    assert words == "status must be one of new, open, pending, resolved, closed"
    assert refusal(desk("ticket", "list", "--branch", "nowhere", check=False)) == (
        "no branch 'nowhere'"
    )
    for limit in ("-1", "0"):  # both listed every ticket
        proc = desk("ticket", "list", "--limit", limit, check=False)
        assert proc.returncode == 2 and b"'--limit'" in proc.stderr, proc.stderr
        assert proc.stdout == b""
    refs = [
        t["ref"] for t in json.loads(desk("ticket", "list", "--status", "NEW", "--json").stdout)
    ]
    assert refs == ["HLP-1"]
    words = refusal(desk("outbox", "list", "--status", "lost", check=False))
    assert words == "status must be one of queued, sending, sent, failed"


# A command and the start of its refusal: each names something that does not exist, repeats
# what exists, or asks what cannot be done, so nothing is done.
REFUSALS = [
    (["ticket", "show", "HLP-99"], "no ticket HLP-99"),
    (["ticket", "set", "HLP-1", "--assign", "nobody"], "no agent 'nobody'"),
    (["branch", "edit", "Nowhere", "--key", "NOW"], "no branch 'Nowhere'"),
    (["branch", "remove", "Help"], "Help is the default branch"),
    (["branch", "add", "Help", "--key", "HLP"], "a branch named 'Help' (HLP) exists already"),
    (["agent", "remove", "nobody"], "no agent 'nobody'"),
    (["agent", "remove", "root"], "root is the last admin"),
    (["channel", "show", "nope"], "no channel"),
    (["channel", "remove", "nope"], "no channel"),
    (["channel", "test", "nope"], "no IMAP channel named 'nope'"),
    (["channel", "auth", "nope"], "no channel named 'nope'"),
    (["outgoing", "show", "nope"], "no outgoing channel"),
    (["outgoing", "remove", "nope"], "no outgoing channel"),
    (["outgoing", "test", "nope"], "no outgoing channel named 'nope'"),
    (["quarantine", "show", "99"], "no quarantined mail 99"),
    (["quarantine", "retry", "99"], "no quarantined mail 99"),
    (["quarantine", "drop", "99"], "no quarantined mail 99"),
    (["outbox", "retry", "99"], "no failed mail #99"),
    (["note", "HLP-99", "--body-stdin"], "no ticket HLP-99"),
    (["reply", "HLP-1", "--body-stdin"], "no outgoing channel"),
    (["--agent", "mallory"], "mallory is not an agent here"),
]


def test_every_refusal_exits_2_and_says_why_first(desk):
    desk("agent", "add", "root", "--email", "root@example.com", "--admin")
    before = desk("config", "export").stdout
    with ThreadPoolExecutor(max_workers=4) as pool:  # each is refused: none can affect another
        procs = pool.map(lambda r: desk(*r[0], input=b"text\n", check=False), REFUSALS)
    wrong = []
    for (args, words), proc in zip(REFUSALS, procs, strict=True):
        lines = proc.stderr.decode().strip().splitlines()
        if proc.returncode != 2 or not lines or not lines[0].startswith(f"tuidesk: {words}"):
            wrong.append((args, proc.returncode, proc.stderr.decode()))
    assert wrong == []
    assert desk("config", "export").stdout == before
    assert len(json.loads(desk("ticket", "show", "HLP-1", "--json").stdout)["messages"]) == 1


def test_a_command_that_ran_and_failed_exits_1(desk):
    """Not a refusal: the channel exists, the server behind it does not answer."""
    desk.env["PW"] = "x"
    desk("channel", "add", "box", "--host", "127.0.0.1", "--port", "1", "--username", "u",
         "--password-env", "PW", "--ssl")  # fmt: skip
    proc = desk("channel", "test", "box", "--json", check=False)
    assert proc.returncode == 1 and json.loads(proc.stdout)["ok"] is False
