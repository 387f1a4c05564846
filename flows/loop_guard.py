"""The loop guard: protects patients' budgets and ours from runaway conversations.

A robot that auto-replies to our replies, or a stuck phone resending one text, would
otherwise cost an SMS per message forever. A number that sends more than `limit`
texts a minute, or the same text more than `repeat_limit` times in a row within
`repeat_window_seconds`, is answered once with a short note and then muted for
`mute_minutes`.

Muting holds back only our replies. The texts themselves are still read and their
readings stored (the service decides that): a phone with bad coverage delivers a day's
queued texts in one burst, and those readings are a person's, not a robot's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta


@dataclass(frozen=True)
class LoopPolicy:
    limit: int = 10
    window_seconds: int = 60
    repeat_limit: int = 5
    # Identical texts further apart than this are a habit (BP every morning), not a loop.
    repeat_window_seconds: int = 600
    mute_minutes: int = 10


@dataclass(frozen=True)
class Traffic:
    window_start: str | None = None
    window_count: int = 0
    last_digest: str | None = None
    repeats: int = 0
    muted_until: str | None = None
    repeat_since: str | None = None


OK, WARN, IGNORE = "ok", "warn", "ignore"


def _repeat_run(traffic: Traffic, now: datetime, digest: str, policy: LoopPolicy) -> tuple[int, str]:
    """(how many identical texts in a row within the window, when that run began)."""
    since = datetime.fromisoformat(traffic.repeat_since) if traffic.repeat_since else None
    in_window = since is not None and now - since < timedelta(seconds=policy.repeat_window_seconds)
    if digest == traffic.last_digest and in_window:
        return traffic.repeats + 1, traffic.repeat_since
    return 1, now.isoformat(timespec="seconds")


def check(traffic: Traffic, now: datetime, digest: str, policy: LoopPolicy = LoopPolicy()) -> tuple[Traffic, str]:
    """Count this message; say whether to answer it (ok), warn once (warn) or stay silent (ignore)."""
    if traffic.muted_until and datetime.fromisoformat(traffic.muted_until) > now:
        return traffic, IGNORE
    start = datetime.fromisoformat(traffic.window_start) if traffic.window_start else None
    if start is None or now - start >= timedelta(seconds=policy.window_seconds):
        start, count = now, 0
    else:
        count = traffic.window_count
    repeats, repeat_since = _repeat_run(traffic, now, digest, policy)
    updated = replace(
        traffic,
        window_start=start.isoformat(timespec="seconds"),
        window_count=count + 1,
        last_digest=digest,
        repeats=repeats,
        repeat_since=repeat_since,
        muted_until=None,
    )
    if updated.window_count > policy.limit or repeats > policy.repeat_limit:
        muted = (now + timedelta(minutes=policy.mute_minutes)).isoformat(timespec="seconds")
        return replace(updated, muted_until=muted, window_count=0, repeats=0), WARN
    return updated, OK
