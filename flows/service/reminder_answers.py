"""Recording a patient's answer to a reminder, however it came (an SMS 1/2 or a key
pressed on a reminder call): adherence for a medicine; for a visit, "another day"
tells the patient's CHW (or, with no CHW, the clinicians) to call them."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from flows.care import local_day_time
from flows.engine import msg
from flows.patient_flows import short_name
from storage.alert_delivery import care_team

if TYPE_CHECKING:
    from flows.service import ConversationService
    from storage import Store

# What 1 and 2 mean, by the reminder's kind.
ANSWERS = {"medicine": ("taken", "skipped"), "appointment": ("confirmed", "another day")}


def answer_for(kind: str, digit: str) -> str | None:
    """"1" -> "taken" for a medicine, "confirmed" for a visit; None for anything else."""
    choices = ANSWERS.get(kind)
    return choices[int(digit) - 1] if choices and digit in ("1", "2") else None


def record_answer(store: Store, service: ConversationService, send_id: int, answer: str, actor: str,
                  by: str = "sms") -> None:
    """Inside the caller's write transaction."""
    store.reminders.answer(send_id, answer)
    store.audit.record(actor, "reminder.answered", "reminder", f"by={by}")
    if answer != "another day":
        return
    patient_id, rule = store.reminders.of_send(send_id)
    patient = store.patients.get(patient_id)
    text = service.render(service.config.default_language, msg(
        "appointment.another_day", patient_id=patient.short_id, name=short_name(patient.name),
        when=local_day_time(datetime.fromisoformat(rule["appointment"]), patient.time_zone)))
    team = care_team(store, patient)
    for user in team:
        store.outbox.enqueue(user.phone, text, "care")
    if not team:
        store.audit.record(actor, "notify.undeliverable", f"patient:{patient.short_id}", "purpose=appointment")
