"""SLA clocks with fixed times: business hours, weekends, holidays, DST changes in both
directions, pending pauses, and which policy a ticket gets."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from tuidesk.engine.sla import (
    ALWAYS,
    Calendar,
    Policy,
    Timeline,
    add_business,
    business_minutes,
    check_zone,
    matching_policy,
    next_response_starts,
    parse_duration,
    parse_hours,
    targets,
)

BERLIN = ZoneInfo("Europe/Berlin")
OFFICE = Calendar(
    "office", "Europe/Berlin", parse_hours(["mon-fri=09:00-17:00"]), frozenset({date(2026, 12, 25)})
)
EVERY_DAY = Calendar("every day", "Europe/Berlin", parse_hours(["mon-sun=00:00-24:00"]))


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN).astimezone(UTC)


def test_hours_are_parsed_per_day_and_later_specs_replace_a_day() -> None:
    hours = parse_hours(["mon-fri=09:00-17:00", "fri=09:00-12:00,13:00-15:00", "sat=10:00-14:00"])
    assert hours[0] == ((540, 1020),) and hours[4] == ((540, 720), (780, 900))
    assert hours[5] == ((600, 840),) and hours[6] == ()
    assert parse_hours(["fri-mon=08:00-09:00"])[6] == ((480, 540),)  # a range may wrap the week
    assert parse_hours(["sun=00:00-24:00"])[6] == ((0, 1440),)


@pytest.mark.parametrize(
    ("specs", "says"),
    [(["weekdays=09:00-17:00"], "days are"), (["mon-fri=9-17"], "not HH:MM-HH:MM"),
     (["mon=17:00-09:00"], "not a span"), (["mon=09:00-12:00,11:00-13:00"], "overlap"),
     ([], "never open"), (["mon 09:00-17:00"], "DAYS=HH:MM")],
)  # fmt: skip
def test_bad_hours_say_what_is_wrong(specs: list[str], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_hours(specs)


def test_durations_count_business_days_of_the_calendar() -> None:
    assert parse_duration("4h") == 240 and parse_duration("30m") == 30
    assert parse_duration("1d4h30m") == 24 * 60 + 270  # the always-open day is 24 hours
    assert parse_duration("3d", OFFICE) == 3 * 8 * 60
    for bad in ("", "4", "h", "4x", "0m", "-1h"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    assert check_zone("Europe/Berlin") == "Europe/Berlin"
    with pytest.raises(ValueError, match="unknown"):
        check_zone("Mars/Olympus")


def test_the_clock_stops_outside_hours_over_the_weekend_and_on_holidays() -> None:
    assert add_business(OFFICE, berlin(2026, 12, 4, 16), 240) == berlin(2026, 12, 7, 12)
    assert add_business(OFFICE, berlin(2026, 12, 5, 11), 60) == berlin(2026, 12, 7, 10)
    # Thursday 24 Dec 16:00 + 2h: Friday the 25th is a holiday, then the weekend.
    assert add_business(OFFICE, berlin(2026, 12, 24, 16), 120) == berlin(2026, 12, 28, 10)
    assert add_business(OFFICE, berlin(2026, 12, 4, 16), 60) == berlin(2026, 12, 4, 17)
    assert add_business(ALWAYS, datetime(2026, 1, 1, tzinfo=UTC), 90) == datetime(
        2026, 1, 1, 1, 30, tzinfo=UTC
    )


def test_opening_hours_stay_local_across_both_dst_changes() -> None:
    # Spring forward on Sunday 29 March 2026: Friday 16:00 CET + 2h is Monday 10:00 CEST.
    due = add_business(OFFICE, berlin(2026, 3, 27, 16), 120)
    assert due == berlin(2026, 3, 30, 10) == datetime(2026, 3, 30, 8, tzinfo=UTC)
    # Fall back on Sunday 25 October 2026: Friday 16:00 CEST + 2h is Monday 10:00 CET.
    due = add_business(OFFICE, berlin(2026, 10, 23, 16), 120)
    assert due == berlin(2026, 10, 26, 10) == datetime(2026, 10, 26, 9, tzinfo=UTC)
    # Open all day: the night of the change has 23 and 25 real hours, counted as they pass.
    assert add_business(EVERY_DAY, berlin(2026, 3, 28, 22), 240) == berlin(2026, 3, 29, 3)
    assert business_minutes(EVERY_DAY, berlin(2026, 3, 29, 0), berlin(2026, 3, 30, 0)) == 23 * 60
    assert business_minutes(EVERY_DAY, berlin(2026, 10, 25, 0), berlin(2026, 10, 26, 0)) == 25 * 60


def test_pending_pauses_the_clock_and_pending_for_good_stops_it() -> None:
    created = berlin(2026, 12, 7, 9)
    paused = [(berlin(2026, 12, 7, 10), berlin(2026, 12, 8, 10))]
    assert add_business(OFFICE, created, 240, paused) == berlin(2026, 12, 8, 13)
    assert add_business(OFFICE, created, 240, [(berlin(2026, 12, 7, 10), None)]) is None
    assert business_minutes(OFFICE, created, berlin(2026, 12, 8, 13), paused) == 240


def test_the_most_specific_policy_applies_and_ties_go_by_name() -> None:
    policies = [
        Policy("default", first_response=480),
        Policy("urgent", first_response=60, priority="urgent"),
        Policy("sales-urgent", first_response=30, branch="SAL", priority="urgent"),
        Policy("b-sales", first_response=120, branch="SAL"),
        Policy("a-sales", first_response=90, branch="SAL"),
    ]
    assert matching_policy(policies, "SUP", "normal", None).name == "default"
    assert matching_policy(policies, "SUP", "urgent", None).name == "urgent"
    assert matching_policy(policies, "SAL", "urgent", "EU").name == "sales-urgent"
    assert matching_policy(policies, "SAL", "low", None).name == "a-sales"
    assert matching_policy(policies[1:3], "SUP", "low", None) is None


def test_a_tickets_targets_come_from_its_messages_and_statuses() -> None:
    policy = Policy("std", first_response=240, next_response=480, resolution=3 * 480)
    created = berlin(2026, 12, 7, 9)
    timeline = Timeline(
        created,
        statuses=[(berlin(2026, 12, 7, 11), "pending"), (berlin(2026, 12, 8, 9), "open"),
                  (berlin(2026, 12, 9, 15), "resolved")],
        messages=[(created, "in"), (berlin(2026, 12, 7, 10, 30), "note"),
                  (berlin(2026, 12, 7, 11), "out"), (berlin(2026, 12, 8, 9), "in"),
                  (berlin(2026, 12, 8, 9, 30), "in"), (berlin(2026, 12, 9, 14), "out")],
    )  # fmt: skip
    first, following, resolution = targets(policy, OFFICE, timeline)
    # Two hours ran before the pending night, two more on Tuesday morning.
    assert (first.due, first.met) == (berlin(2026, 12, 8, 11), berlin(2026, 12, 7, 11))
    assert not first.breached(berlin(2026, 12, 31))
    # The customer's 09:00 mail starts the next clock; the 09:30 one does not restart it.
    assert following.started == berlin(2026, 12, 8, 9) and following.due == berlin(2026, 12, 8, 17)
    assert following.met == berlin(2026, 12, 9, 14) and following.breached(berlin(2026, 12, 31))
    # Three business days, less the pending night (Mon 11:00 - Tue 09:00 holds 6 open hours).
    assert resolution.due == berlin(2026, 12, 10, 15) and resolution.met == berlin(2026, 12, 9, 15)
    assert not resolution.breached(berlin(2026, 12, 31))


def test_an_unanswered_ticket_breaches_once_its_due_time_passes() -> None:
    timeline = Timeline(berlin(2026, 12, 7, 9), messages=[(berlin(2026, 12, 7, 9), "in")])
    [first] = targets(Policy("p", first_response=60), OFFICE, timeline)
    assert first.met is None and first.due == berlin(2026, 12, 7, 10)
    assert not first.breached(berlin(2026, 12, 7, 9, 59))
    assert first.breached(berlin(2026, 12, 7, 10, 1))
    reopened = Timeline(
        berlin(2026, 12, 7, 9),
        statuses=[(berlin(2026, 12, 7, 10), "closed"), (berlin(2026, 12, 7, 11), "open")],
    )
    assert reopened.resolved() is None
    assert next_response_starts([(berlin(2026, 12, 7, 9), "in")]) == []
