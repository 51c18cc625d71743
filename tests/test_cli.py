"""The read side of the CLI, branches, the quarantine and config files."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.engine.conftest import mail


def js(cli, *args: str):  # type: ignore[no-untyped-def]
    return json.loads(cli(*args, "--json").stdout)


def test_paths_prints_every_location_and_hides_the_database_password(cli, _isolated_home):
    out = cli("paths").stdout.decode()
    assert f"data:       {_isolated_home}" in out and "blobs:" in out
    env = cli.env | {"TUIDESK_DATABASE_URL": "postgresql://u:s3cret@127.0.0.1:9/x"}
    proc = cli.__class__(_isolated_home, env["TUIDESK_DATABASE_URL"])("paths")
    assert b"s3cret" not in proc.stdout and b"***" in proc.stdout


def test_db_upgrade_reports_the_revision(cli):
    assert b"schema at revision" in cli("db", "upgrade").stdout


def test_branches_have_exactly_one_default_which_cannot_be_removed(cli):
    cli("branch", "add", "First", "--key", "ONE")
    cli("branch", "add", "Second", "--key", "TWO", "--address", "Two@Example.com")
    rows = js(cli, "branch", "list")
    assert [(r["key"], r["default"]) for r in rows] == [
        ("SUP", True),
        ("ONE", False),
        ("TWO", False),
    ]
    assert rows[2]["addresses"] == ["two@example.com"]
    proc = cli("branch", "remove", "Support", check=False)
    assert proc.returncode == 2 and b"default branch" in proc.stderr
    cli("branch", "edit", "Second", "--default")
    assert [r["default"] for r in js(cli, "branch", "list")] == [False, False, True]
    cli("branch", "remove", "Support")
    cli("branch", "remove", "First")
    assert [r["key"] for r in js(cli, "branch", "list")] == ["TWO"]


def test_an_address_can_route_to_one_branch_only(cli):
    cli("branch", "add", "A", "--key", "AAA", "--address", "x@example.com")
    proc = cli("branch", "add", "B", "--key", "BBB", "--address", "x@example.com", check=False)
    assert proc.returncode == 2 and b"already routes to A" in proc.stderr


def test_ticket_list_filters_by_status_and_branch_newest_first(cli):
    cli("branch", "edit", "Support", "--address", "support@example.com")
    cli("branch", "add", "Sales", "--key", "SAL", "--address", "sales@example.com")
    for i, to in enumerate(["support", "sales", "support"]):
        cli("pipe", input=mail(f"From: c{i}@x.test\nTo: {to}@example.com\nSubject: t{i}"))
    assert [t["ref"] for t in js(cli, "ticket", "list")] == ["SUP-3", "SAL-2", "SUP-1"]
    assert [t["ref"] for t in js(cli, "ticket", "list", "--branch", "SAL")] == ["SAL-2"]
    assert [t["ref"] for t in js(cli, "ticket", "list", "--limit", "1")] == ["SUP-3"]
    assert js(cli, "ticket", "list", "--status", "closed") == []
    assert "messages" not in js(cli, "ticket", "list")[0]
    assert cli("ticket", "show", "SAL-1", check=False).returncode == 2


def test_config_export_then_import_restores_every_rule(cli, tmp_path):
    source = tmp_path / "in.toml"
    source.write_text(
        """
[settings]
allowed_domains = ["customer.test"]
reply_separators = ["^-- reply above --$"]
aliases = { "help@example.com" = "support@example.com" }
restrict_replies = true
reopen_max_age_days = 14

[[branch]]
name = "Support"
key = "SUP"
addresses = ["support@example.com"]
default = true

[[queue]]
name = "Tier 1"
colour = "green"

[[ticket_type]]
name = "Incident"
field = [{ name = "impact", kind = "choice", required = true, default = "low" }]

[[agent]]
name = "Ann Agent"
email = "ann@example.com"
role = "admin"
"""
    )
    cli("config", "import", str(source))
    exported = tmp_path / "out.toml"
    cli("config", "export", str(exported))
    text = exported.read_text()
    missing = cli("config", "export", str(tmp_path / "no" / "such.toml"), check=False)
    assert missing.returncode == 2 and b"No such file or directory" in missing.stderr
    assert '"^-- reply above --$"' in text and "restrict_replies = true" in text
    # A second database fed the export ends up with the same export.
    other = cli.__class__(tmp_path / "h2", f"sqlite:///{tmp_path / 'other.sqlite3'}")
    (tmp_path / "h2").mkdir()
    other("db", "upgrade")
    other("config", "import", str(exported))
    assert other("config", "export").stdout.decode() == text
    proc = cli("pipe", "--json", input=mail("From: x@stranger.test\nSubject: hi"))
    assert "not in the allowed domains" in json.loads(proc.stdout)["reason"]


def test_config_import_rejects_unknown_settings_and_writes_nothing(cli, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[settings]\nallowed_domains = ["a.test"]\nno_such_rule = 1\n')
    proc = cli("config", "import", str(bad), check=False)
    assert proc.returncode == 2 and b"no_such_rule" in proc.stderr
    assert "a.test" not in cli("config", "export").stdout.decode()


def test_quarantine_retry_and_drop(cli, tmp_path):
    no_sender = mail("To: support@example.com\nSubject: who")
    cli("pipe", input=no_sender)
    cli("pipe", input=b"")
    first, second = js(cli, "quarantine", "list")
    assert {first["reason"], second["reason"]} == {"no sender address", "empty message"}
    shown = cli("quarantine", "show", str(first["id"])).stdout.decode()
    assert "reason:" in shown
    # Retrying without a change keeps it quarantined; dropping removes it.
    retried = js(cli, "quarantine", "retry", str(second["id"]))
    assert retried["action"] == "quarantined"
    remaining = js(cli, "quarantine", "list")
    assert len(remaining) == 2
    for item in remaining:
        cli("quarantine", "drop", str(item["id"]))
    assert js(cli, "quarantine", "list") == []
    assert cli("quarantine", "drop", "999", check=False).returncode == 2


def test_the_cli_imports_no_textual(tmp_path):
    """Cron, scripts and the MTA never pay for the console: it is imported only to open it."""
    code = (
        "import sys, tuidesk.cli\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'textual'))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env=os.environ | {"TUIDESK_HOME": str(tmp_path)},
        capture_output=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().strip() == "[]"
