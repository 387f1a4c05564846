"""Applying a step's effects through storage, inside the request's transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from flows import effects as fx
from flows.alert_text import alert_message
from flows.engine import Message, msg
from flows.patient_flows import short_name
from flows.phones import default_time_zone
from flows.service.pins import PinWork
from flows.service.reminder_answers import record_answer
from storage import Store
from storage.alert_delivery import ON_CALL, offer, reachable
from storage.store import iso

if TYPE_CHECKING:
    from flows.service import ConversationService

class StaleStep(Exception):  # noqa: N818 (a signal, not a failure)
    """What the step decided on changed under it (two clinicians answering one consult,
    two pharmacists one refill, at the same moment): the transaction is rolled back and
    the step decided again, so exactly one wins and the other is told."""


FOLLOW_UP_DAYS = 3  # after a consult is closed, the patient is asked how they are


@dataclass
class EffectApplier:
    """Applies one step's effects; remembers what later effects refer to (the
    submission an alert is about)."""

    service: ConversationService
    store: Store
    sender: str
    phone_index: bytes
    actor: str
    now: datetime
    pins: PinWork = field(default_factory=PinWork)
    submission_id: int | None = None

    @property
    def config(self):
        return self.service.config

    def record(self, action: str, subject: str = "", detail: str = "", actor: str | None = None) -> None:
        self.store.audit.record(actor or self.actor, action, subject, detail)

    def apply(self, effect) -> None:
        handler = getattr(self, f"_{type(effect).__name__}", None)
        if handler is None:
            raise TypeError(f"no handler for effect {type(effect).__name__}")
        handler(effect)

    # -- patients, consent, PIN -------------------------------------------------------

    def _RegisterPatient(self, effect: fx.RegisterPatient) -> None:
        store = self.store
        patient = store.patients.add(
            ids=(effect.patient_id, effect.short_id), name=effect.name, phone=self.sender,
            time_zone=default_time_zone(self.sender, self.config.time_zone), birth_year=effect.birth_year,
            language=effect.language, pin_hash=self.pins.hash(store, effect.pin),
            consent_at=iso(datetime.fromisoformat(effect.consent_at)), consent_version=effect.consent_version,
        )
        self.record("patient.register", f"patient:{patient.short_id}", f"consent={effect.consent_version}",
                    actor=f"patient:{patient.short_id}")

    def _EnrolPatient(self, effect: fx.EnrolPatient) -> None:
        zone = default_time_zone(effect.phone, self.config.time_zone) if effect.phone else self.config.time_zone
        self.store.patients.add(
            ids=(effect.patient_id, effect.short_id), name=effect.name, phone=effect.phone, time_zone=zone,
            birth_year=effect.birth_year, sex=effect.sex, language=self.config.default_language,
            chw_id=effect.chw_id or None,
        )
        self.record("patient.enrol", f"patient:{effect.short_id}", "by=sms")

    def _RecordConsent(self, effect: fx.RecordConsent) -> None:
        short = self.store.patients.update(effect.patient_id, consent_at=iso(self.now),
                                           consent_version=effect.consent_version, consent_declined_at=None).short_id
        self.record("consent.given", f"patient:{short}", f"version={effect.consent_version}")

    def _DeclineConsent(self, effect: fx.DeclineConsent) -> None:
        short = self.store.patients.update(effect.patient_id, consent_declined_at=iso(self.now)).short_id
        self.record("consent.declined", f"patient:{short}")

    def _SetPin(self, effect: fx.SetPin) -> None:
        store = self.store
        short = store.patients.update(
            effect.patient_id, pin_hash=self.pins.hash(store, effect.pin),
            pin_failures=0, locked_until=None,
        ).short_id
        self.record("pin.set", f"patient:{short}")

    def _PinFailed(self, effect: fx.PinFailed) -> None:
        patients = self.store.patients
        patient = patients.get(effect.patient_id)
        if effect.lock_minutes:
            until = iso(self.now + timedelta(minutes=effect.lock_minutes))
            patients.update(patient.id, pin_failures=0, locked_until=until)
            self.record("pin.locked", f"patient:{patient.short_id}",
                        f"failures={patient.pin_failures + 1} minutes={effect.lock_minutes}")
        else:
            patients.update(patient.id, pin_failures=patient.pin_failures + 1)

    def _PinPassed(self, effect: fx.PinPassed) -> None:
        self.store.execute(
            "UPDATE patients SET pin_failures = 0, locked_until = NULL WHERE id = ? AND pin_failures > 0",
            (effect.patient_id,),
        )

    def _ResetPin(self, effect: fx.ResetPin) -> None:
        short = self.store.patients.update(effect.patient_id, pin_hash=None, pin_failures=0,
                                           locked_until=None).short_id
        self.record("pin.reset", f"patient:{short}", actor=f"staff:{effect.by_staff_id}")

    def _SetLanguage(self, effect: fx.SetLanguage) -> None:
        self.store.patients.update(effect.patient_id, language=effect.language)

    def _SetDiscreet(self, effect: fx.SetDiscreet) -> None:
        short = self.store.patients.update(effect.patient_id, discreet=int(effect.discreet)).short_id
        self.record("discreet.on" if effect.discreet else "discreet.off", f"patient:{short}")

    def _OptOut(self, effect: fx.OptOut) -> None:
        self.store.contacts.set_opt_out(self.phone_index, True, carrier_blocked=True if effect.carrier else None)
        self.record("contact.opt_out", "contact")

    def _OptIn(self, effect: fx.OptIn) -> None:
        self.store.contacts.set_opt_out(self.phone_index, False, carrier_blocked=False if effect.carrier else None)
        self.record("contact.opt_in", "contact")

    def _Audit(self, effect: fx.Audit) -> None:
        self.record(effect.action, effect.subject, effect.detail)

    # -- readings and alerts ------------------------------------------------------------

    def _SaveReadings(self, effect: fx.SaveReadings) -> None:
        store = self.store
        self.submission_id = store.new_id()
        for reading in effect.readings:
            store.readings.add(
                patient_id=effect.patient_id, submission_id=self.submission_id, kind=reading.kind,
                measured=reading.values, level=reading.level, sender_index=self.phone_index,
                submitted_by=effect.submitted_by, taken_at=iso(self.now),
            )
        if effect.submitted_by.startswith("staff:"):
            short = store.patients.get(effect.patient_id).short_id
            self.record("readings.relay", f"patient:{short}", f"count={len(effect.readings)}")
        # A reading reminder is answered by the reading it asked for (adherence).
        store.reminders.readings_sent(effect.patient_id, {r.kind for r in effect.readings},
                                      iso(self.now - timedelta(days=1)))

    def _RaiseAlert(self, effect: fx.RaiseAlert) -> None:
        store = self.store
        ref = store.next_ref("alert", "A")
        patient = store.patients.get(effect.patient_id) if effect.patient_id is not None else None
        # The clinic's clock: a clinician compares alerts about patients in other zones.
        zone = self.config.time_zone
        reason = f"{effect.reason} {effect.summary}"
        if patient is None:
            # Who may have sent it is part of the sealed reason: the clinic needs it to call.
            reason += f" from {self.sender} ({'/'.join(effect.candidates) or 'new number'})"
        alert = store.alerts.raise_alert(ref=ref, patient_id=patient.id if patient else None, reason=reason,
                                         submission_id=self.submission_id)
        via = "sms" if self.actor.startswith("patient") or self.actor == "sender" else "chw"
        # The sender's own text, from a phone the carrier blocks us from: no advice
        # reached them, whatever the step said, so the clinician must call.
        blocked = bool(patient) and not self.actor.startswith("staff:") and self.store.contacts.get(
            self.phone_index).carrier_blocked
        message = alert_message(effect, ref=ref, patient=(short_name(patient.name), patient.short_id) if patient
                                else None, sender=self.sender, now=self.now, zone=zone, rules=self.service.rules,
                                blocked=blocked)
        self._alert_staff(alert.id, message)
        subject = f"patient:{patient.short_id}" if patient else "sender"
        self.record("alert.raised", subject, f"ref={ref} urgent={effect.urgent} via={via}")

    def _UndoSubmission(self, effect: fx.UndoSubmission) -> None:
        store = self.store
        for alert in store.alerts.for_submission(effect.submission_id):
            if alert.status != "open":
                continue
            if ",trend" in alert.reason:
                store.alerts.set_status(alert.id, "withdrawn")
                self._notify_staff("clinician", msg("alert.withdrawn", ref=alert.ref), "alert")
            else:
                # An urgent alert is never cancelled by a text: whoever held the phone may
                # not be the patient, and the value may have been real. A person decides.
                self._notify_staff("clinician", msg("alert.undone", ref=alert.ref), "alert")
        removed = store.readings.delete_submission(effect.submission_id)
        self.record("readings.undo", "submission", f"removed={removed}")

    def _AcknowledgeAlert(self, effect: fx.AcknowledgeAlert) -> None:
        alert = self.store.alerts.by_ref(effect.ref)
        self.store.alerts.set_status(alert.id, "acknowledged", effect.staff_id)
        # A person has it: it reached someone, and nobody else need be woken for it.
        self.store.alerts.set_delivery(alert.id, "reached", alert.tier)
        self.store.outbox.cancel_for_alert(alert.id, "alert already handled")
        self.record("alert.acknowledged", f"alert:{alert.ref}")

    # -- refills and consults -------------------------------------------------------------

    def _UndoEnrolment(self, effect: fx.UndoEnrolment) -> None:
        """A REG typed by mistake: gone if nothing was stored for it yet, else closed
        (its history kept), and audited either way."""
        store = self.store
        patient = store.patients.get(effect.patient_id)
        held = [t for t in ("readings", "alerts", "refills", "consults", "medications")
                if store.one(f"SELECT 1 FROM {t} WHERE patient_id = ? LIMIT 1", (patient.id,))]  # noqa: S608
        if held:
            store.execute("UPDATE patients SET active = 0, closed_at = ? WHERE id = ?", (iso(self.now), patient.id))
        else:
            store.execute("DELETE FROM patients WHERE id = ?", (patient.id,))
        self.record("patient.enrol_undone", f"patient:{patient.short_id}", "closed" if held else "removed")

    def _RequestRefill(self, effect: fx.RequestRefill) -> None:
        self.store.refills.request(ref=effect.ref, patient_id=effect.patient_id, medication_id=effect.medication_id)
        self.record("refill.requested", f"refill:{effect.ref}")

    def _AnswerRefill(self, effect: fx.AnswerRefill) -> None:
        refill = self.store.refills.by_ref(effect.ref)
        status = "ready" if effect.ready else "refused"
        if not self.store.refills.answer(refill.id, status=status, answer=effect.note or None,
                                         staff_id=effect.staff_id):
            raise StaleStep  # another pharmacist answered it meanwhile: decide again, and be told so
        self.record("refill.answered", f"refill:{effect.ref}", f"status={status}")

    def _OpenConsult(self, effect: fx.OpenConsult) -> None:
        self.store.consults.open_consult(ref=effect.ref, patient_id=effect.patient_id, summary=effect.summary,
                                         recording_sid=(effect.summary.get("recording") or {}).get("sid"))
        self.record("consult.opened", f"consult:{effect.ref}")

    def _TakeConsult(self, effect: fx.TakeConsult) -> None:
        if not self.store.consults.take(effect.ref, effect.staff_id):
            raise StaleStep  # another clinician answered first, meanwhile: decide again

    def _NotifyStaffMember(self, effect: fx.NotifyStaffMember) -> None:
        user = self.store.staff.get(effect.staff_id)
        text = self.service.render(self.config.default_language, effect.message)
        self.store.outbox.enqueue(user.phone, text, effect.purpose)

    def _ReplyToConsult(self, effect: fx.ReplyToConsult) -> None:
        self.store.consults.add_reply(effect.ref, effect.words)
        self.record("consult.patient_reply", f"consult:{effect.ref}")

    def _CloseConsult(self, effect: fx.CloseConsult) -> None:
        consult = self.store.consults.by_ref(effect.ref)
        if not self.store.consults.close(consult.id):
            raise StaleStep
        self.record("consult.closed", f"consult:{effect.ref}")
        # Three days on, at 09:00 the patient's time: how are they? (one message, then done)
        patient = self.store.patients.get(consult.patient_id)
        zone = ZoneInfo(patient.time_zone)
        at = datetime.combine(self.now.astimezone(zone).date() + timedelta(days=FOLLOW_UP_DAYS), time(9, 0),
                              tzinfo=zone)
        self.store.reminders.add(patient.id, {"kind": "followup", "ref": effect.ref, "at": [iso(at)]}, iso(at),
                                 iso(at))

    # -- messages to others ----------------------------------------------------------------

    def _NotifyStaff(self, effect: fx.NotifyStaff) -> None:
        self._notify_staff(effect.role, effect.message, effect.purpose)

    def _alert_staff(self, alert_id: int, message: Message) -> None:
        """An urgent alert to those on call, followed until a carrier takes it (see
        scheduler.escalation); with nobody on call, straight to the next people."""
        text = self.service.render(self.config.default_language, message)
        on_call = self.store.rota.on_call("clinician", iso(self.now))
        for user in on_call:
            self.store.outbox.enqueue(user.phone, text, "alert", alert_id=alert_id)
        if not on_call and not offer(self.store, alert_id, text, set(), after=ON_CALL):
            self.store.alerts.set_delivery(alert_id, "undelivered", ON_CALL)
            self.record("alert.undelivered", "alert", "tried=0")

    def _notify_staff(self, role: str, message: Message, purpose: str) -> None:
        text = self.service.render(self.config.default_language, message)
        # Nobody of that role reachable (all texted STOP): the admins hear of it instead.
        users = self.store.rota.on_call(role, iso(self.now)) or reachable(self.store, "admin")
        for user in users:
            self.store.outbox.enqueue(user.phone, text, purpose)
        if not users:
            self.record("notify.undeliverable", role, f"purpose={purpose}")

    def _NotifyPatient(self, effect: fx.NotifyPatient) -> None:
        store = self.store
        patient = store.patients.get(effect.patient_id)
        if effect.held is not None:
            store.held.hold(patient.id, self.service.render(patient.language, effect.held))
        text = self.service.render(patient.language, effect.message)
        if not patient.active:
            # A record the clinic closed is not texted (a family phone after a death).
            self.record("notify.undeliverable", f"patient:{patient.short_id}", f"purpose={effect.purpose} closed")
        elif patient.phone:
            store.outbox.enqueue(patient.phone, text, effect.purpose)
        elif patient.chw_id and store.staff.get(patient.chw_id).active:
            # No phone of their own: their CHW carries the message.
            chw = store.staff.get(patient.chw_id)
            relay = self.service.render(self.config.default_language,
                                        msg("relay.for_patient", patient_id=patient.short_id, text=text))
            store.outbox.enqueue(chw.phone, relay, effect.purpose)
        else:
            # Nobody to carry it: leave a trace the clinic can find rather than lose it quietly.
            self.record("notify.undeliverable", f"patient:{patient.short_id}", f"purpose={effect.purpose}")

    def _PauseReminders(self, effect: fx.PauseReminders) -> None:
        for reminder in self.store.reminders.patients_own(effect.patient_id):
            self.store.reminders.pause(reminder.id, effect.until)
        self.record("reminders.paused" if effect.until else "reminders.resumed", "reminders")

    def _SetReminderChannel(self, effect: fx.SetReminderChannel) -> None:
        short = self.store.patients.update(effect.patient_id, prefers_voice=int(effect.calls)).short_id
        self.record("reminders.by_calls" if effect.calls else "reminders.by_sms", f"patient:{short}")

    def _ChangeReminderTimes(self, effect: fx.ChangeReminderTimes) -> None:
        self.store.reminders.change_times(effect.reminder_id, list(effect.times))
        self.record("reminders.times_changed", "reminders")

    def _StopReminders(self, effect: fx.StopReminders) -> None:
        for reminder in self.store.reminders.patients_own(effect.patient_id):
            self.store.reminders.remove(reminder.id)
        self.record("reminders.stopped", "reminders")

    def _AnswerReminder(self, effect: fx.AnswerReminder) -> None:
        record_answer(self.store, self.service, effect.send_id, effect.answer, self.actor)

    def _MarkHeldRead(self, effect: fx.MarkHeldRead) -> None:
        self.store.held.mark_read(list(effect.message_ids))
