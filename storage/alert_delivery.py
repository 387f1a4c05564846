"""Who an urgent alert is offered to, tier after tier: those on call, then the other
clinicians, then the admins; never a number that opted out. Used when an alert is
raised (nobody on call: straight to the next tier) and by scheduler.escalation."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from storage.store import Store

ON_CALL, OTHER_CLINICIANS, ADMINS = 0, 1, 2


def reachable(store: Store, role: str) -> list:
    """Active staff of `role` whose number has not opted out."""
    return [u for u in store.staff.all(role)
            if u.active and not store.contacts.is_opted_out(store.phone_index(u.phone))]


def care_team(store: Store, patient) -> list:
    """Who follows a patient up between visits: their CHW, or with none (or one who left
    or opted out), the clinicians, or with none of those, the admins (someone must)."""
    chw = store.staff.get(patient.chw_id) if patient.chw_id else None
    if chw and chw.active and not store.contacts.is_opted_out(store.phone_index(chw.phone)):
        return [chw]
    return reachable(store, "clinician") or reachable(store, "admin")


def tier_recipients(store: Store, tier: int, now_iso: str) -> list:
    if tier == ON_CALL:
        return store.rota.on_call("clinician", now_iso)
    return reachable(store, "clinician" if tier == OTHER_CLINICIANS else "admin")


def offer(store: Store, alert_id: int, body: str, tried: set[str], *, after: int) -> bool:
    """Queue the alert to the next tier with someone not yet tried; False when none."""
    now_iso = store.now_iso()
    for tier in range(after + 1, ADMINS + 1):
        fresh = [u for u in tier_recipients(store, tier, now_iso) if u.phone not in tried]
        if fresh:
            for user in fresh:
                store.outbox.enqueue(user.phone, body, "alert", alert_id=alert_id)
            store.alerts.set_delivery(alert_id, "pending", tier)
            return True
    return False
