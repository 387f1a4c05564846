"""Following up patients who stop answering: once a week at most, never a stream.

- A medicine reminder skipped or left unanswered SKIPS times in a week: the patient's
  CHW is told (or, with no CHW, the clinicians), who can visit.
- A reading reminder that got no reading MISSED_READINGS times in a week: the patient
  gets one gentle nudge (their CHW's TASKS already lists whoever is overdue).
Occurrences from the last day still count as answerable and are left out; missed ones
(never sent, our outage) are not the patient's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flows.engine import msg
from flows.patient_flows import short_name
from flows.readings import KINDS
from flows.service import ConversationService
from storage import Store
from storage.alert_delivery import care_team
from storage.store import iso

SKIPS = 3
MISSED_READINGS = 2
WEEK = timedelta(days=7)
ANSWERABLE = timedelta(days=1)
EVERY = timedelta(hours=1)  # how often the check runs: it reads every active rule
LAST_RUN = "adherence_checked_at"


@dataclass
class FollowedUp:
    chw_told: list[int] = field(default_factory=list)
    nudged: list[int] = field(default_factory=list)


def follow_up(store: Store, service: ConversationService, now: datetime) -> FollowedUp:
    done = FollowedUp()
    last = store.meta_get(LAST_RUN)
    if last and now - datetime.fromisoformat(last) < EVERY:
        return done
    since, before = iso(now - WEEK), iso(now - ANSWERABLE)
    with store.write():
        store.meta_set(LAST_RUN, iso(now))
        for reminder in store.reminders.to_follow_up(since, before, min(SKIPS, MISSED_READINGS)):
            kind = reminder.rule.get("kind")
            count = store.reminders.skipped_or_unanswered(reminder.id, since, before)
            patient = store.patients.get(reminder.patient_id)
            if not patient.active:
                continue
            if kind == "medicine" and count >= SKIPS:
                text = service.render(service.config.default_language, msg(
                    "adherence.chw", patient_id=patient.short_id, name=short_name(patient.name), count=count))
                for user in care_team(store, patient):
                    store.outbox.enqueue(user.phone, text, "care")
                store.audit.record("system", "adherence.flagged", f"patient:{patient.short_id}", f"count={count}")
                store.reminders.followed_up(reminder.id)
                done.chw_told.append(reminder.id)
            elif kind == "reading" and count >= MISSED_READINGS and patient.phone:
                reading = KINDS[reminder.rule["reading"]]
                key = "reminder.nudge_discreet" if patient.discreet else "reminder.nudge"
                text = service.render(patient.language, msg(key, name=patient.name.split()[0],
                                                            reading=reading.codes[0], example=reading.example))
                store.outbox.enqueue(patient.phone, text, "reminder")
                store.reminders.followed_up(reminder.id)
                done.nudged.append(reminder.id)
    return done
