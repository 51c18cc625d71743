"""SLA policies and business calendars through the CLI, on both databases."""

from __future__ import annotations

import json

from tests.conftest import Cli
from tests.servers.smtp import SmtpServer


def _json(cli: Cli, *args: str):  # type: ignore[no-untyped-def]
    return json.loads(cli(*args, "--json").stdout)


def _refusal(cli: Cli, *args: str) -> str:
    proc = cli(*args, check=False)
    assert proc.returncode == 2, proc
    return proc.stderr.decode()


def test_calendars_and_policies_are_added_listed_checked_and_removed(cli: Cli) -> None:
    cli("calendar", "add", "Berlin office", "--tz", "Europe/Berlin",
        "--hours", "mon-fri=09:00-17:00", "--hours", "fri=09:00-12:00,13:00-15:00",
        "--holiday", "2026-12-25", "--holiday", "2026-12-24")  # fmt: skip
    [office] = _json(cli, "calendar", "list")
    assert office == {
        "name": "Berlin office",
        "tz": "Europe/Berlin",
        "hours": {**{d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu")},
                  "fri": ["09:00-12:00", "13:00-15:00"]},
        "holidays": ["2026-12-24", "2026-12-25"],
    }  # fmt: skip
    for args, says in (
        (["--tz", "Mars/Olympus", "--hours", "mon=09:00-17:00"], "time zone 'Mars/Olympus'"),
        (["--hours", "weekdays=09:00-17:00"], "days are mon"),
        (["--hours", "mon=09:00-17:00", "--holiday", "25.12.2026"], "YYYY-MM-DD"),
        ([], "never open"),
    ):
        assert says in _refusal(cli, "calendar", "add", "Bad", *args)
    assert "exists already" in _refusal(
        cli, "calendar", "add", "berlin OFFICE", "--hours", "mon=09:00-17:00"
    )

    cli("queue", "add", "Billing")
    cli("sla", "add", "Standard", "--first-response", "4h", "--resolution", "3d",
        "--calendar", "Berlin office")  # fmt: skip
    cli("sla", "add", "Urgent support", "--first-response", "30m", "--next-response", "1h",
        "--branch", "sup", "--priority", "urgent", "--queue", "Billing")  # fmt: skip
    assert _json(cli, "sla", "list") == [
        {"name": "Standard", "first_response": "4h", "next_response": None, "resolution": "3d",
         "branch": None, "priority": None, "queue": None, "calendar": "Berlin office"},
        {"name": "Urgent support", "first_response": "30m", "next_response": "1h",
         "resolution": None, "branch": "SUP", "priority": "urgent", "queue": "Billing",
         "calendar": None},
    ]  # fmt: skip
    text = cli("sla", "list").stdout.decode()
    assert "first response 4h resolution 3d  [every ticket; Berlin office]" in text
    for args, says in (
        ([], "at least one of --first-response"),
        (["--first-response", "4 hours"], "write e.g. 30m"),
        (["--resolution", "0m"], "more than nothing"),
        (["--first-response", "1h", "--branch", "NOPE"], "no branch 'NOPE'"),
        (["--first-response", "1h", "--queue", "Nope"], "no queue named 'Nope'"),
        (["--first-response", "1h", "--calendar", "Nope"], "no calendar named 'Nope'"),
        (["--first-response", "1h", "--priority", "asap"], "priority must be one of"),
    ):
        assert says in _refusal(cli, "sla", "add", "Bad", *args)
    assert "exists already" in _refusal(cli, "sla", "add", "standard", "--first-response", "1h")
    assert len(_json(cli, "sla", "list")) == 2  # nothing refused was saved

    assert "policy 'Standard' uses calendar" in _refusal(cli, "calendar", "remove", "Berlin office")
    cli("sla", "remove", "Standard")
    cli("calendar", "remove", "Berlin office")
    assert _json(cli, "calendar", "list") == []
    assert [p["name"] for p in _json(cli, "sla", "list")] == ["Urgent support"]
    assert "no SLA policy named 'Standard'" in _refusal(cli, "sla", "remove", "Standard")


def test_calendar_and_policy_edits_move_open_tickets_and_both_travel_in_config_files(
    cli: Cli, clock, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """A ticket opened Monday 10:00 in Berlin, first response within 4 business hours: each
    edit of the calendar or the policy moves its due time at once; `config export` writes
    calendars, policies and escalation agents, and importing them back (all or nothing)
    restores the same export and the due times."""

    def first_due() -> str | None:
        shown = _json(cli, "ticket", "show", "SUP-1")["sla"]
        return shown and shown["first_response_due"]

    cli("calendar", "add", "Berlin", "--tz", "Europe/Berlin", "--hours", "mon-fri=09:00-17:00",
        "--holiday", "2026-12-25")  # fmt: skip
    cli("agent", "add", "eve", "--email", "eve@example.com")
    cli("branch", "edit", "Support", "--escalate", "eve")
    cli("queue", "add", "Billing")
    cli("sla", "add", "Std", "--first-response", "4h", "--resolution", "3d", "--calendar", "Berlin")
    cli("sla", "add", "Urgent", "--first-response", "30m", "--branch", "SUP", "--priority",
        "urgent", "--queue", "Billing")  # fmt: skip
    cli("pipe", input=b"From: a@customer.example\r\nSubject: Help\r\n\r\nPlease\r\n")
    assert first_due() == "2026-12-07T13:00:00+00:00"  # 14:00 in Berlin
    edited = cli("calendar", "edit", "Berlin", "--hours", "mon-fri=09:00-12:00").stdout.decode()
    assert edited == "changed calendar Berlin (due times of 1 open tickets worked out again)\n"
    assert first_due() == "2026-12-08T10:00:00+00:00"  # 2h Monday, 2h Tuesday from 09:00
    cli("calendar", "edit", "Berlin", "--holiday", "2026-12-08")
    assert first_due() == "2026-12-09T10:00:00+00:00"
    cli("calendar", "edit", "Berlin", "--no-holiday", "2026-12-08", "--tz", "UTC")
    assert first_due() == "2026-12-08T10:00:00+00:00"  # 3h Monday from 09:00 UTC, then 1h
    for args, says in (
        (["--no-holiday", "2026-12-09"], "calendar 'Berlin': 2026-12-09 is not a holiday"),
        (["--tz", "Mars/Olympus"], "time zone 'Mars/Olympus' is unknown"),
        (["--hours", "mon=17:00-09:00"], "is not a span of one day"),
    ):
        assert says in _refusal(cli, "calendar", "edit", "Berlin", *args)
    assert "no calendar named 'Nope'" in _refusal(cli, "calendar", "edit", "Nope", "--tz", "UTC")
    cli("calendar", "edit", "Berlin", "--tz", "Europe/Berlin", "--hours", "mon-fri=09:00-17:00")
    assert first_due() == "2026-12-07T13:00:00+00:00"
    said = cli("sla", "edit", "Std", "--first-response", "none").stdout.decode()
    assert said == "changed SLA policy Std (due times of 1 open tickets worked out again)\n"
    assert first_due() is None
    cli("sla", "edit", "Std", "--first-response", "2h")
    assert first_due() == "2026-12-07T11:00:00+00:00"
    narrow = cli("sla", "edit", "Urgent", "--queue", "none", "--next-response", "1h")
    assert "(due times of 0 open tickets" in narrow.stdout.decode()  # SUP-1 is not urgent
    for args, says in (
        (["--first-response", "none", "--resolution", "none"], "at least one of"),
        (["--queue", "Nope"], "no queue named 'Nope'"),
        (["--priority", "asap"], "priority must be one of"),
    ):
        assert says in _refusal(cli, "sla", "edit", "Std", *args)
    policies = [
        {"name": "Std", "first_response": "2h", "next_response": None, "resolution": "3d",
         "branch": None, "priority": None, "queue": None, "calendar": "Berlin"},
        {"name": "Urgent", "first_response": "30m", "next_response": "1h", "resolution": None,
         "branch": "SUP", "priority": "urgent", "queue": None, "calendar": None},
    ]  # fmt: skip
    assert _json(cli, "sla", "list") == policies

    exported = cli("config", "export").stdout.decode()
    assert (
        'hours = [\n    "mon=09:00-17:00",' in exported
        and 'holidays = [\n    "2026-12-25",' in exported
    )
    assert 'escalate = [\n    "eve@example.com",' in exported and "[[sla_policy]]" in exported
    cli("sla", "remove", "Std")
    cli("sla", "remove", "Urgent")
    cli("calendar", "remove", "Berlin")
    cli("branch", "edit", "Support", "--escalate", "")
    assert first_due() is None
    (tmp_path / "desk.toml").write_text(exported)
    imported = cli("config", "import", str(tmp_path / "desk.toml")).stdout.decode()
    assert "1 calendars, 2 sla_policies" in imported
    assert imported.endswith(" (due times of 1 open tickets worked out again)\n")
    assert cli("config", "export").stdout.decode() == exported
    assert first_due() == "2026-12-07T11:00:00+00:00" and _json(cli, "sla", "list") == policies

    bad = tmp_path / "bad.toml"
    for toml, says in (
        ('[[calendar]]\nname = "Mars"\ntz = "Mars/Olympus"\nhours = ["mon=09:00-17:00"]\n',
         "calendar 'Mars': time zone 'Mars/Olympus' is unknown"),
        ('[[calendar]]\nname = "Shut"\nhours = []\n',
         "calendar 'Shut': hours: the calendar is never open"),
        ('[[sla_policy]]\nname = "P"\nfirst_response = "1h"\ncalendar = "Nope"\n',
         "SLA policy 'P': no calendar named 'Nope'"),
        ('[[sla_policy]]\nname = "P"\nfirst_response = 60\n',
         "SLA policy 'P': first_response must be text"),
        ('[[sla_policy]]\nname = "P"\nfirst = "1h"\n', "SLA policy 'P': unknown field 'first'"),
        ('[[branch]]\nname = "Support"\nkey = "SUP"\nescalate = ["nobody"]\n',
         "branch 'Support': no agent 'nobody'"),
    ):  # fmt: skip
        bad.write_text('[[queue]]\nname = "Later"\n\n' + toml)
        assert says in _refusal(cli, "config", "import", str(bad))
    assert cli("config", "export").stdout.decode() == exported  # nothing half-imported


def test_a_tickets_due_times_follow_its_mail_and_statuses(cli: Cli, clock) -> None:  # type: ignore[no-untyped-def]
    """Always-open policy: the due times are the opening time plus the targets, pending
    stops every clock, opening again moves them by the paused time, resolving ends them."""
    from datetime import UTC, datetime, timedelta

    start = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)

    def sla() -> dict:  # type: ignore[type-arg]
        return _json(cli, "ticket", "show", "SUP-1")["sla"]

    mail = b"From: a@customer.example\r\nSubject: Help\r\nMessage-ID: <m1@c>\r\n\r\nPlease\r\n"
    cli("pipe", input=mail)
    assert sla() is None  # no policy yet
    added = cli("sla", "add", "Std", "--first-response", "4h", "--resolution", "1d",
                "--branch", "SUP").stdout.decode()  # fmt: skip
    assert "due times of 1 open tickets worked out again" in added  # at once, not next mail
    opened = datetime.fromisoformat(_json(cli, "ticket", "show", "SUP-1")["created_at"])
    assert opened == start
    due = sla()
    assert due["policy"] == "Std" and due["next_response_due"] is None
    assert datetime.fromisoformat(due["first_response_due"]) == opened + timedelta(hours=4)
    assert datetime.fromisoformat(due["resolution_due"]) == opened + timedelta(days=1)
    assert due["due_at"] == due["first_response_due"]
    cli("pipe", input=mail.replace(b"m1@c", b"m9@c").replace(b"Help", b"Other"))  # SUP-2, later
    soon = _json(cli, "ticket", "list", "--due", "before:5h")
    assert [(t["ref"], t["due_at"]) for t in soon] == [
        ("SUP-1", due["due_at"]),  # soonest due first
        ("SUP-2", _json(cli, "ticket", "show", "SUP-2")["sla"]["due_at"]),
    ]
    assert _json(cli, "ticket", "list", "--due", "before:1h") == []
    assert "before:DURATION" in _refusal(cli, "ticket", "list", "--due", "soon")
    assert "due 20" in cli("ticket", "list", "--due", "before:1d").stdout.decode()
    clock(start + timedelta(hours=1))
    cli("ticket", "set", "SUP-1", "--status", "pending")
    assert [t["ref"] for t in _json(cli, "ticket", "list", "--due", "before:2d")] == ["SUP-2"]
    assert {k: v for k, v in sla().items() if k.endswith("_due") or k == "due_at"} == dict.fromkeys(
        ("first_response_due", "next_response_due", "resolution_due", "due_at")
    )
    clock(start + timedelta(hours=3))
    cli("ticket", "set", "SUP-1", "--status", "open")
    moved = datetime.fromisoformat(sla()["first_response_due"])
    assert moved == opened + timedelta(hours=6)  # by the two hours it was pending
    clock(start + timedelta(hours=5))
    cli("ticket", "set", "SUP-1", "--status", "resolved")
    done = sla()
    assert done["due_at"] is None
    assert done["resolved_at"] == (start + timedelta(hours=5)).isoformat()
    assert done["resolution_minutes"] == 180  # five hours open, two of them pending
    report = _json(cli, "report")
    today = report["per_day"][-1]
    assert (today["opened"], today["closed"]) == (2, 1) and len(report["per_day"]) == 30
    assert report["resolution"]["count"] == 1 and report["first_response"]["count"] == 0
    assert report["sla"]["resolution"] == {"judged": 1, "met": 1, "percent": 100.0}
    assert report["backlog"]["open"] == 1 and report["backlog"]["by_age"]["under 1 day"] == 1
    assert [(b["name"], b["opened"], b["closed"], b["open_now"]) for b in report["per_branch"]] == [
        ("SUP", 2, 1, 1)
    ]
    csv_lines = cli("report", "--csv").stdout.decode().splitlines()
    assert csv_lines[0] == "section,name,metric,value" and "sla,resolution,met,1" in csv_lines
    assert "YYYY-MM-DD" in _refusal(cli, "report", "--since", "last week")
    cli("sla", "remove", "Std")  # the open ticket loses its policy; the resolved one keeps it
    assert _json(cli, "ticket", "show", "SUP-2")["sla"] is None and sla()["policy"] == "Std"


def test_a_near_then_breached_target_mails_the_assignee_and_the_escalation_agents_once_each(
    mailer: Cli, smtp_starttls: SmtpServer, clock, db_url: str
) -> None:  # type: ignore[no-untyped-def]
    """Near when due within `sla_near` (1h unless set), breached once due: each escalates once
    (a second run says nothing, even one started while the first is not committed yet), in
    the ticket's history, mailed to the assignee and the branch's agents."""
    from datetime import datetime, timedelta

    cli = mailer
    cli("agent", "add", "dana", "--email", "dana@example.com")
    cli("agent", "add", "eve", "--email", "eve@example.com")
    cli("agent", "edit", "eve", "--notify", "none")  # escalations reach her all the same
    assert "no agent 'nobody'" in _refusal(cli, "branch", "edit", "Support", "--escalate", "nobody")
    cli("branch", "edit", "Support", "--escalate", "eve")
    cli("sla", "add", "Fast", "--first-response", "30m")
    mail = b"From: a@customer.example\r\nTo: support@example.com\r\nSubject: Down\r\n"
    cli("pipe", input=mail + b"Message-ID: <e1@c>\r\n\r\nAll down\r\n")
    cli("ticket", "set", "SUP-1", "--assign", "dana")
    assert "duration 'soon': write e.g. 30m" in _refusal(cli, "config", "set", "sla_near", "soon")
    assert cli("config", "set", "sla_near", "20m").stdout.decode() == "sla_near = 20m\n"
    assert _json(cli, "escalate") == {"escalated": []}  # due in 30 minutes: not near yet
    cli("config", "set", "sla_near", "--unset")  # 1h
    due = _json(cli, "ticket", "show", "SUP-1")["sla"]["first_response_due"]
    first, second = _two_runs_at_once(db_url)
    assert first == [{"ticket": "SUP-1", "target": "first_response", "level": "near", "due": due}]
    assert second == []  # it waited for the first run's commit, then found it done
    assert _json(cli, "escalate") == {"escalated": []}  # once
    clock(datetime.fromisoformat(due) + timedelta(minutes=1))
    assert cli("escalate").stdout.decode() == f"SUP-1: first response breached (due {due})\n"
    clock(datetime.fromisoformat(due) + timedelta(minutes=2))
    assert _json(cli, "escalate") == {"escalated": []}
    kinds = [e["kind"] for e in _json(cli, "ticket", "history", "SUP-1")["events"]]
    assert kinds.count("escalated") == 2
    sent = json.loads(cli("send", "--json", check=False).stdout)
    assert sent["sent"] >= 2, sent
    told = {m.rcpt_tos[0] for m in smtp_starttls.messages}
    assert {"dana@example.com", "eve@example.com"} <= told
    texts = [m.data.decode(errors="replace") for m in smtp_starttls.messages]
    assert any("Escalated: first response near" in t for t in texts)


def _two_runs_at_once(db_url: str) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """An escalation run, and a second one (as a second watcher's) started before the first
    commits: what each escalated. On PostgreSQL the second is seen waiting on a lock first."""
    import threading

    from sqlalchemy import text

    from tuidesk.clock import utcnow
    from tuidesk.storage.db import make_engine, transaction
    from tuidesk.storage.escalate import escalate, escalate_now

    engine = make_engine(db_url)
    second: list[list[dict[str, str]]] = []
    try:
        with transaction(engine) as conn:
            first = escalate(conn, utcnow())
            other = threading.Thread(target=lambda: second.append(escalate_now(engine)))
            other.start()
            while engine.dialect.name == "postgresql" and other.is_alive():
                with engine.connect() as look:
                    waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    if look.execute(text(waiting)).scalar():
                        break
        other.join()
    finally:
        engine.dispose()
    return first, second[0]


def test_watch_escalates_as_it_runs_and_mails_it(mailer: Cli, smtp_starttls: SmtpServer) -> None:
    """`tuidesk watch` escalates (at once, then every minute) and sends the mail it queued;
    what it escalated does not escalate again. On the real clock: the watcher is its own
    process."""
    import signal
    import subprocess
    import sys

    cli = mailer
    cli("agent", "add", "eve", "--email", "eve@example.com")
    cli("branch", "edit", "Support", "--escalate", "eve")  # told of nothing else
    cli("sla", "add", "Fast", "--first-response", "30m")  # near from the start
    head = b"From: a@customer.example\r\nTo: support@example.com\r\nSubject: Down\r\n"
    cli("pipe", input=head + b"Message-ID: <w1@c>\r\n\r\nAll down\r\n")
    watcher = subprocess.Popen(
        [sys.executable, "-m", "tuidesk", "watch"], env=cli.env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        [got] = smtp_starttls.wait_for(1, timeout=30)
    finally:
        watcher.send_signal(signal.SIGTERM)
        _, err = watcher.communicate(timeout=30)
    assert watcher.returncode == 0, err
    assert got.rcpt_tos == ["eve@example.com"]
    assert "Escalated: first response near" in got.data.decode(errors="replace")
    assert b"escalating every minute" in err and b"escalate: SUP-1: first response near" in err
    assert _json(cli, "escalate") == {"escalated": []}


def test_a_split_off_ticket_gets_its_due_times_at_once(cli: Cli) -> None:
    cli("sla", "add", "Std", "--first-response", "4h")
    head = b"From: a@customer.example\r\nTo: support@example.com\r\n"
    cli("pipe", input=head + b"Subject: Printer\r\nMessage-ID: <p1@c>\r\n\r\nIt jams\r\n")
    cli(
        "pipe",
        input=head + b"Subject: Re: Printer [SUP-1]\r\nMessage-ID: <p2@c>\r\n\r\nAlso: VPN\r\n",
    )
    new = json.loads(cli("ticket", "split", "SUP-1", "--from-message", "2", "--json").stdout)
    shown = _json(cli, "ticket", "show", new["ticket"])
    assert shown["sla"]["policy"] == "Std" and shown["sla"]["due_at"] is not None
