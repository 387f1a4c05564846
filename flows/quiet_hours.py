"""Quiet hours: no reminder, call or retry reaches a patient at night, in their own zone."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

DEFAULT_QUIET = (time(21, 0), time(7, 0))


def in_quiet_hours(moment: datetime, zone: str, quiet: tuple[time, time] = DEFAULT_QUIET) -> bool:
    start, end = quiet
    local = moment.astimezone(ZoneInfo(zone)).time()
    if start <= end:
        return start <= local < end
    return local >= start or local < end  # across midnight: 21:00 to 07:00


def quiet_hours_end(moment: datetime, zone: str, quiet: tuple[time, time] = DEFAULT_QUIET) -> datetime:
    """When the quiet hours `moment` falls in are over (UTC)."""
    tz = ZoneInfo(zone)
    local = moment.astimezone(tz)
    end = datetime.combine(local.date(), quiet[1], tzinfo=tz)
    if end <= local:
        end = datetime.combine(local.date() + timedelta(days=1), quiet[1], tzinfo=tz)
    return end.astimezone(UTC)
