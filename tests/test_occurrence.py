"""The next time a reminder falls due across daylight-saving changes, walked the way
the dispatcher walks it: each due time becomes `last` for the next."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from scheduler.occurrence import next_due

NEW_YORK = "America/New_York"


def walk(times: list[time], start: str, end: str, zone: str = NEW_YORK) -> list[str]:
    """Every due time from `start` to `end` (UTC ISO), in local wall time with its offset."""
    after, last, seen = datetime.fromisoformat(start), None, []
    while True:
        due = next_due(times, zone, after, last=last)
        if due > datetime.fromisoformat(end):
            return seen
        seen.append(due.astimezone(ZoneInfo(zone)).isoformat(timespec="minutes"))
        after = last = due


def test_two_times_inside_the_repeated_hour_are_each_sent_once():
    # 1 November 2026: 01:00-02:00 happens twice in New York.
    assert walk([time(1, 15), time(1, 45)], "2026-11-01T04:00+00:00", "2026-11-01T12:00+00:00") == [
        "2026-11-01T01:15-04:00", "2026-11-01T01:45-04:00"]


def test_one_time_inside_the_repeated_hour_is_sent_once_then_daily():
    assert walk([time(1, 30)], "2026-10-31T04:00+00:00", "2026-11-02T12:00+00:00") == [
        "2026-10-31T01:30-04:00", "2026-11-01T01:30-04:00", "2026-11-02T01:30-05:00"]


def test_a_rule_made_between_the_two_still_gets_the_second():
    # Made at 01:20 EST (after the first 01:30 EDT went by): tonight's 01:30 is the second.
    assert walk([time(1, 30)], "2026-11-01T06:20+00:00", "2026-11-01T12:00+00:00") == ["2026-11-01T01:30-05:00"]


def test_the_spring_gap_is_not_skipped():
    assert walk([time(2, 30)], "2026-03-08T04:00+00:00", "2026-03-08T12:00+00:00") == ["2026-03-08T03:30-04:00"]


def test_ordinary_days_and_other_zones_are_untouched():
    assert walk([time(8, 0), time(20, 0)], "2026-12-01T00:00+00:00", "2026-12-02T00:00+00:00", "Africa/Nairobi") == [
        "2026-12-01T08:00+03:00", "2026-12-01T20:00+03:00"]
