"""Requests nobody answered: a refill still waiting after the set time is flagged,
once, to the clinicians on call, so no patient waits on a forgotten request."""

from __future__ import annotations

from datetime import datetime, timedelta

from flows.engine import msg
from flows.service import ConversationService
from storage import Store
from storage.store import iso


def flag_waiting_refills(store: Store, service: ConversationService, now: datetime, hours: int) -> int:
    flagged = 0
    with store.write():
        for refill in store.refills.waiting_since(iso(now - timedelta(hours=hours))):
            patient = store.patients.get(refill.patient_id)
            text = service.render(
                service.config.default_language,
                msg("refill.overdue", ref=refill.ref, patient_id=patient.short_id, hours=hours),
            )
            admins = [u for u in store.staff.all("admin") if u.active]
            for user in store.rota.on_call("clinician", iso(now)) + admins:
                store.outbox.enqueue(user.phone, text, "refill")
            store.refills.flag(refill.id)
            store.audit.record("system", "refill.flagged", f"refill:{refill.ref}", f"hours={hours}")
            flagged += 1
    return flagged
