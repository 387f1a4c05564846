"""Every urgent alert reaches a person, and the clinic knows when none could be reached.

An alert's SMS go first to the clinicians on call. When every one of them has failed
for good (the transport gave up, the number is unreachable or opted out), the alert is
offered to the other clinicians, then to the admins. When a carrier has taken one of
its messages, the alert counts as reached; when nobody is left to try, it is recorded
undelivered, audited, and `lowband alerts` shows it so someone phones.

Reached is not handled: an alert nobody acknowledges (`A12 OK`) within the set time
(LOWBAND_ALERT_ACK_MINUTES, 15 by default) after it was last offered goes to the next
tier too (the backup clinicians, then the admins), audited at each step.

Run on every dispatcher tick, after the outbox is drained; one short transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from storage.alert_delivery import offer

if TYPE_CHECKING:
    from storage import Store

TAKEN = frozenset({"sent", "delivered"})  # a carrier accepted it
WAITING = frozenset({"queued", "sending"})


ACK_WAIT = timedelta(minutes=15)


@dataclass
class Followed:
    reached: list[str] = field(default_factory=list)
    passed_on: list[str] = field(default_factory=list)
    undelivered: list[str] = field(default_factory=list)
    escalated: list[str] = field(default_factory=list)


def follow_alerts(store: Store, now: datetime | None = None, ack_wait: timedelta = ACK_WAIT) -> Followed:
    """Move each open alert on: reached, passed to the next people (undelivered, or not
    acknowledged in time), or undelivered."""
    followed = Followed()
    now = now or store.now()
    with store.write():
        for alert in store.alerts.awaiting_delivery():
            messages = store.outbox.for_alert(alert.id)
            if any(m.status in TAKEN for m in messages):
                if alert.delivery != "reached":
                    store.alerts.set_delivery(alert.id, "reached", alert.tier)
                    followed.reached.append(alert.ref)
                offered_at = max(datetime.fromisoformat(m.created_at) for m in messages)
                urgent = ",trend" not in alert.reason  # a week of high readings can wait for the rota
                if urgent and now - offered_at >= ack_wait and offer(store, alert.id, messages[0].body,
                                                          {m.phone for m in messages}, after=alert.tier):
                    # Reached, but nobody said "A12 OK": someone else must know now.
                    store.audit.record("system", "alert.escalated", f"alert:{alert.ref}",
                                       f"after={int(ack_wait.total_seconds() // 60)}m")
                    followed.escalated.append(alert.ref)
            elif messages and not any(m.status in WAITING for m in messages):
                tried = {m.phone for m in messages}
                if offer(store, alert.id, messages[0].body, tried, after=alert.tier):
                    followed.passed_on.append(alert.ref)
                else:
                    store.alerts.set_delivery(alert.id, "undelivered", alert.tier)
                    store.audit.record("system", "alert.undelivered", f"alert:{alert.ref}",
                                       f"tried={len(tried)}")
                    followed.undelivered.append(alert.ref)
    return followed
