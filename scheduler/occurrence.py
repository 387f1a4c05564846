"""When a reminder is next due, in the patient's own time zone.

APScheduler's CronTrigger computes it, in the patient's IANA zone. Two corrections make
it right across daylight-saving changes (both tested):
- on the night clocks go back, a wall time like 01:30 happens twice; the trigger offers
  both (and then offers the second again). A reminder fires once: the second 01:30 is
  skipped when the rule was already due at or after the first (its `last`), whichever
  of its times that was (01:15 and 01:45 are each sent once, not 01:15 twice);
- the trigger can hand back a time at or before the one asked after; the search then
  starts again from the next local day.
In the spring gap (02:30 on the night 02:00 becomes 03:00) the trigger fires as the gap
ends (03:00), so the reminder is sent, not skipped; several times inside the gap
(02:15 and 02:45) become that one reminder, never a burst of them at once.

Quiet hours (flows/quiet_hours.py) hold a reminder until they end.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def next_due(times: Sequence[time], zone: str, after: datetime, *, weekdays: Sequence[str] = (),
             last: datetime | None = None) -> datetime:
    """The first moment strictly after `after` (UTC) at one of `times` (local wall
    times) on one of `weekdays` (all when empty), as a UTC datetime. `last`: when the
    reminder last fell due, so a wall time repeated by the autumn change is not sent twice."""
    # In UTC before the cache: two local times an autumn hour apart differ only by their
    # fold, which a datetime's equality (and so the cache) does not see.
    return _next_due(tuple(times), zone, after.astimezone(UTC), tuple(weekdays),
                     last.astimezone(UTC) if last is not None else None)


# Pure, and at 08:00 most rules ask the same question (the same times, zone and moment):
# 100,000 medicine reminders moved on from one answer instead of 100,000 searches.
@functools.lru_cache(maxsize=4096)
def _next_due(times: tuple[time, ...], zone: str, after: datetime, weekdays: tuple[str, ...],
              last: datetime | None) -> datetime:
    tz = ZoneInfo(zone)
    day_of_week = ",".join(weekdays) if weekdays else "*"
    return min(_next_for(_trigger(at.hour, at.minute, day_of_week, zone), tz, after, last) for at in times)


@functools.lru_cache(maxsize=4096)
def _trigger(hour: int, minute: int, day_of_week: str, zone: str) -> CronTrigger:
    """One trigger per wall time, days and zone: building it compiles its fields, which
    took a third of a dispatcher pass when every one of 100,000 reminders built its own.
    A CronTrigger keeps no state between get_next_fire_time calls, so it is shared."""
    return CronTrigger(hour=hour, minute=minute, second=0, day_of_week=day_of_week, timezone=ZoneInfo(zone))


def _next_for(trigger: CronTrigger, tz: ZoneInfo, after: datetime, last: datetime | None) -> datetime:
    start = after
    for _ in range(400):  # a year of days, and then some: a rule always has a next time
        found = trigger.get_next_fire_time(None, start + timedelta(seconds=1))
        if found is None:
            raise ValueError("this reminder never falls due again")
        found_utc = found.astimezone(UTC)
        local = found.astimezone(tz)
        if found_utc > after and not _repeated(local, tz, last):
            return found_utc
        # Back where we were, or the autumn's second 01:30: look from the next local day.
        next_day = datetime.combine(local.date() + timedelta(days=1), time(0, 0), tzinfo=tz)
        start = max(start, next_day.astimezone(UTC) - timedelta(seconds=1))
    raise ValueError("no next time found for this reminder")  # pragma: no cover


def _repeated(local: datetime, tz: ZoneInfo, last: datetime | None) -> bool:
    """Is this the second time tonight the clock shows this wall time, when the rule was
    already due at or after the first? (A rule made between the two still gets it.)"""
    wall = local.replace(tzinfo=None)
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if first >= second or local.astimezone(UTC) != second:
        return False  # an ordinary wall time, or the first of the two
    return last is not None and last >= first
