"""The flows' read port (Directory), implemented over storage."""

from __future__ import annotations

from datetime import datetime, timedelta

from flows.context import FlowConfig, PatientView, ReminderRule, RequestView, Submission
from flows.patient_flows import short_name
from flows.readings import KINDS, Reading, format_reading
from flows.service.pins import PinWork
from storage import Store, short_ids
from storage.patients import Patient, PatientBrief
from storage.store import iso


def brief_view(brief: PatientBrief) -> PatientView:
    return PatientView(
        id=brief.id,
        short_id=brief.short_id,
        display_name=short_name(brief.name),
        language=brief.language,
        has_pin=brief.has_pin,
        consented=brief.consented,
        locked_until=datetime.fromisoformat(brief.locked_until) if brief.locked_until else None,
        pin_failures=brief.pin_failures,
        chw_id=brief.chw_id,
        discreet=brief.discreet,
        time_zone=brief.time_zone,
    )


def patient_view(patient: Patient) -> PatientView:
    return brief_view(PatientBrief(
        patient.id, patient.short_id, patient.name, patient.language, patient.time_zone, patient.chw_id,
        bool(patient.pin_hash), bool(patient.consent_at), patient.locked_until, patient.pin_failures,
        patient.discreet,
    ))


class StoreDirectory:
    """The flows' read port, over storage (inside the request's transaction)."""

    def __init__(self, store: Store, config: FlowConfig | None = None, pins: PinWork | None = None):
        self.store = store
        self.config = config or FlowConfig()
        self.pins = pins or PinWork()

    def check_pin(self, patient_id: int, pin: str) -> bool:
        stored = self.store.one("SELECT pin_hash FROM patients WHERE id = ?", (patient_id,))
        return self.pins.verify(self.store, patient_id, pin, stored[0] if stored else None)

    def new_patient_ids(self) -> tuple[int, str]:
        return self.store.patients.new_ids()

    def medications(self, patient_id: int) -> list[tuple[int, str]]:
        return [(m.id, m.label) for m in self.store.medications.for_patient(patient_id)]

    def patient_by_short_id(self, short_id: str) -> PatientView | None:
        patient = self.store.patients.by_short_id(short_id)
        return patient_view(patient) if patient else None

    def patient(self, patient_id: int) -> PatientView:
        return patient_view(self.store.patients.get(patient_id))

    def profile(self, patient_id: int) -> tuple[str | None, int | None]:
        patient = self.store.patients.get(patient_id)
        return patient.sex, patient.birth_year

    def short_id_valid(self, short_id: str) -> bool:
        return short_ids.is_valid(short_id)

    def allocate_ref(self, name: str, prefix: str) -> str:
        # The step runs before the message's transaction: a reference is taken in one of
        # its own (a step decided again wastes a number, never gives one out twice).
        with self.store.write():
            return self.store.next_ref(name, prefix)

    def duplicate_since(self, patient_id: int, kind: str, values: dict, since: datetime) -> datetime | None:
        when = self.store.readings.duplicate_since(patient_id, kind, values, iso(since))
        return datetime.fromisoformat(when) if when else None

    def recent_levels(self, patient_id: int, kind: str, since: datetime) -> list[tuple[datetime, str]]:
        return [
            (datetime.fromisoformat(r.taken_at), r.level)
            for r in self.store.readings.for_patient(patient_id, iso(since))
            if r.kind == kind
        ]

    def last_submission(self, sender: str, since: datetime) -> Submission | None:
        found = self.store.readings.last_submission_from(self.store.phone_index(sender), iso(since))
        if found is None:
            return None
        submission_id, patient_id = found
        order = list(KINDS)
        readings = sorted(self.store.readings.in_submission(submission_id), key=lambda r: order.index(r.kind))
        echo = " ".join(format_reading(Reading(r.kind, r.measured)) for r in readings)
        at = datetime.fromisoformat(readings[0].taken_at) if readings else None
        return Submission(submission_id, patient_id, echo, at)

    def request(self, kind: str, ref: str) -> RequestView | None:
        store = self.store
        if kind == "refill":
            refill = store.refills.by_ref(ref)
            if refill is None:
                return None
            return RequestView(refill.ref, refill.patient_id, refill.status,
                               store.medications.get(refill.medication_id).label)
        if kind == "consult":
            consult = store.consults.by_ref(ref)
            if consult is None:
                return None
            owner = store.staff.get(consult.owner_id) if consult.owner_id else None
            if owner and not (owner.active and not store.contacts.is_opted_out(store.phone_index(owner.phone))):
                owner = None  # an owner who left or texted STOP holds nothing: others may answer
            return RequestView(consult.ref, consult.patient_id, consult.status, owner_id=owner.id if owner else None,
                               owner_name=short_name(owner.name) if owner else "")
        alert = store.alerts.by_ref(ref)
        return RequestView(alert.ref, alert.patient_id, alert.status) if alert else None

    def chw_tasks(self, chw_id: int, now: datetime) -> list[tuple[str, str]]:
        """Every patient on the CHW's panel who needs a visit, most urgent first: open
        alerts (the longest open first, every open one counted), then who has gone longest
        without a reading (never measured first). Nobody is left out: TASKS pages them."""
        store = self.store
        panel = store.patients.for_chw(chw_id)
        ids = [p.id for p in panel]
        alerts = store.alerts.open_for(ids)
        last = store.readings.last_taken(ids)
        due_before = iso(now - timedelta(days=self.config.reading_due_days))
        tasks: list[tuple[str, str]] = []
        alerting = sorted((alerts[p.id][0].created_at, p.short_id, alerts[p.id]) for p in panel if p.id in alerts)
        for _, short_id, open_alerts in alerting:
            more = len(open_alerts) - 1
            tasks.append((short_id, f"alert {open_alerts[0].ref}" + (f" +{more} more" if more else "")))
        # Then who has gone longest without a reading, never-measured first.
        overdue = sorted(
            (last.get(p.id) or "", p.short_id) for p in panel
            if p.id not in alerts and (last.get(p.id) or "") < due_before
        )
        for taken, short_id in overdue:
            if not taken:
                tasks.append((short_id, "no reading yet"))
            else:
                tasks.append((short_id, f"last reading {(now - datetime.fromisoformat(taken)).days}d ago"))
        return tasks

    def reminders(self, patient_id: int) -> list[ReminderRule]:
        rules = []
        for r in self.store.reminders.patients_own(patient_id):
            rule = r.rule
            what = rule.get("label") if "label" in rule else (
                KINDS[rule["reading"]].codes[0] if rule.get("reading") in KINDS else rule["kind"])
            rules.append(ReminderRule(r.id, what, ",".join(rule.get("times", [])),
                                      datetime.fromisoformat(r.next_send_at) if r.next_send_at else None,
                                      datetime.fromisoformat(r.paused_until) if r.paused_until else None))
        return rules

    def held_messages(self, patient_id: int) -> list[tuple[int, str]]:
        return self.store.held.unread(patient_id)

    def has_open_alert(self, patient_id: int) -> bool:
        return bool(self.store.alerts.open_for([patient_id]))

    def can_text(self, patient_id: int) -> bool:
        store = self.store
        patient = store.patients.get(patient_id)
        if not patient.active:
            return False  # a closed record: the clinic no longer texts it
        if patient.phone:
            contact = store.contacts.get(store.phone_index(patient.phone))
            return not (contact.opted_out or contact.carrier_blocked)
        chw = store.staff.get(patient.chw_id) if patient.chw_id else None
        return bool(chw and chw.active and not store.contacts.is_opted_out(store.phone_index(chw.phone)))

    def is_staff_phone(self, phone: str) -> bool:
        return self.store.staff.brief_by_phone_index(self.store.phone_index(phone)) is not None

    def people_on_phone(self, phone: str) -> int:
        return self.store.patients.count_on_phone(self.store.phone_index(phone))

    def likely_duplicate(self, name: str, birth_year: int | None, phone: str | None, chw_id: int | None) -> str | None:
        found = self.store.patients.likely_duplicates(
            name, phone_index=self.store.phone_index(phone) if phone else None, birth_year=birth_year, chw_id=chw_id,
        )
        return found[0].short_id if found else None
