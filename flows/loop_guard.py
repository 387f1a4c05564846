"""The loop guard: protects patients' budgets and ours from runaway conversations.

A robot that auto-replies to our replies, or a stuck phone resending one text, would
otherwise cost an SMS per message forever. A number that sends more than `limit`
texts a minute, or the same text `repeat_limit` times in a row, is answered once
with a short note and then ignored for `mute_minutes`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta


@dataclass(frozen=True)
class LoopPolicy:
    limit: int = 10
    window_seconds: int = 60
    repeat_limit: int = 5
    mute_minutes: int = 10


@dataclass(frozen=True)
class Traffic:
    window_start: str | None = None
    window_count: int = 0
    last_digest: str | None = None
    repeats: int = 0
    muted_until: str | None = None


OK, WARN, IGNORE = "ok", "warn", "ignore"


def check(traffic: Traffic, now: datetime, digest: str, policy: LoopPolicy = LoopPolicy()) -> tuple[Traffic, str]:
    """Count this message; say whether to answer it (ok), warn once (warn) or ignore it."""
    if traffic.muted_until and datetime.fromisoformat(traffic.muted_until) > now:
        return traffic, IGNORE
    start = datetime.fromisoformat(traffic.window_start) if traffic.window_start else None
    if start is None or now - start >= timedelta(seconds=policy.window_seconds):
        start, count = now, 0
    else:
        count = traffic.window_count
    repeats = traffic.repeats + 1 if digest == traffic.last_digest else 1
    updated = replace(
        traffic,
        window_start=start.isoformat(timespec="seconds"),
        window_count=count + 1,
        last_digest=digest,
        repeats=repeats,
        muted_until=None,
    )
    if updated.window_count > policy.limit or repeats > policy.repeat_limit:
        muted = (now + timedelta(minutes=policy.mute_minutes)).isoformat(timespec="seconds")
        return replace(updated, muted_until=muted, window_count=0, repeats=0), WARN
    return updated, OK
