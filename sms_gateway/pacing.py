"""Sending at the rate a sender number is allowed, charged per segment.

A carrier (or Twilio, for a long code) takes a number's messages at a fixed rate: one
segment a second for a long code. Whatever we hand over faster waits in the provider's
own queue, first in first out, where an urgent alert queued after 5,000 reminders waits
behind all of them. So we hand over no more than the rate allows, plus a little ahead
(CAPACITY_SECONDS of sending): the rest waits in our outbox, which sends by priority.

A token bucket per sender, kept in the meta table so it lasts from one dispatcher pass
to the next (only the dispatcher holding the lease sends, so nothing else writes it).
"""

from __future__ import annotations

from datetime import datetime

from flows.segments import segments
from storage import Store

CAPACITY_SECONDS = 30  # at most this much sending waits at the provider at once


def cost(message) -> int:
    """Segments a message is billed (and paced) as; a call counts as one."""
    return 1 if message.channel == "call" else segments(message.body)


class Pace:
    def __init__(self, sender: str, per_minute: int):
        self.key = f"send_pace:{sender}"
        self.per_second = per_minute / 60
        self.capacity = max(1.0, self.per_second * CAPACITY_SECONDS)

    def _saved(self, store: Store) -> tuple[float, datetime] | None:
        saved = store.meta_get(self.key)
        if saved is None:
            return None
        tokens, _, at = saved.partition("@")
        return float(tokens), datetime.fromisoformat(at)

    def allowance(self, store: Store, now: datetime) -> float:
        """Segments that may go now: what was left, refilled for the time since."""
        saved = self._saved(store)
        if saved is None:
            return self.capacity
        tokens, at = saved
        elapsed = max(0.0, (now - at).total_seconds())
        return min(self.capacity, tokens + elapsed * self.per_second)

    def spend(self, store: Store, now: datetime, allowance: float, spent: int) -> None:
        # The later of the two times: a clock set back and then forward again must not
        # earn the same seconds twice. To the microsecond: a time rounded to the second
        # would earn up to a second's segments extra on every pass.
        saved = self._saved(store)
        at = max(now, saved[1]) if saved else now
        store.meta_set(self.key, f"{allowance - spent:.3f}@{at.isoformat()}")

    def fits(self, allowance: float, spent: int, message) -> bool:
        """Room for this message? One longer than the bucket holds goes once it is full
        (the bucket then runs into debt), or it would never go at all."""
        need = cost(message)
        return spent + need <= allowance or (spent == 0 and allowance >= self.capacity)
