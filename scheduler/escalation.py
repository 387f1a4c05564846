"""Every urgent alert reaches a person, and the clinic knows when none could be reached.

An alert's SMS go first to the clinicians on call. When every one of them has failed
for good (the transport gave up, the number is unreachable or opted out), the alert is
offered to the other clinicians, then to the admins. When a carrier has taken one of
its messages, the alert counts as reached; when nobody is left to try, it is recorded
undelivered, audited, and `lowband alerts` shows it so someone phones.

Run on every dispatcher tick, after the outbox is drained; one short transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from storage.alert_delivery import offer

if TYPE_CHECKING:
    from storage import Store

TAKEN = frozenset({"sent", "delivered"})  # a carrier accepted it
WAITING = frozenset({"queued", "sending"})


@dataclass
class Followed:
    reached: list[str] = field(default_factory=list)
    passed_on: list[str] = field(default_factory=list)
    undelivered: list[str] = field(default_factory=list)


def follow_alerts(store: Store) -> Followed:
    """Move each pending alert on: reached, passed to the next people, or undelivered."""
    followed = Followed()
    with store.write():
        for alert in store.alerts.awaiting_delivery():
            messages = store.outbox.for_alert(alert.id)
            if any(m.status in TAKEN for m in messages):
                if alert.delivery != "reached":
                    store.alerts.set_delivery(alert.id, "reached", alert.tier)
                    followed.reached.append(alert.ref)
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
