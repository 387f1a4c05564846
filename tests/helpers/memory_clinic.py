"""A clinic in memory: the flows' Directory port and a small applier for the effects a
step returns, so a conversation runs on the engine alone, with no SQLite and no HTTP.

It keeps what the conversations read back (people on a phone, PINs, consent, readings
for repeats and UNDO, references, refills, consults, held messages, alerts) and records
what they send and audit. It is a fake, not a second implementation: where the service
does more (the loop guard, the alert rota's tiers, the outbox's delivery), the scripts
that test it run end to end only (`@end-to-end`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from flows import effects as fx
from flows.alert_text import alert_message
from flows.catalog import Catalog
from flows.context import Context, FlowConfig, PatientView, RequestView, StaffView, Submission
from flows.conversation import respond
from flows.engine import Message, Session, msg
from flows.patient_flows import short_name
from flows.readings import KINDS, Reading, format_reading
from flows.turn import open_session, session_change
from storage import short_ids

_ids = itertools.count(1_000_000)


@dataclass
class Person:
    id: int
    short_id: str
    name: str
    phone: str | None
    language: str = "en"
    time_zone: str = "Africa/Nairobi"
    pin: str | None = None
    consented: bool = False
    chw_id: int | None = None
    discreet: bool = False
    locked_until: datetime | None = None
    pin_failures: int = 0
    sex: str | None = None
    birth_year: int | None = None
    active: bool = True

    def view(self) -> PatientView:
        return PatientView(self.id, self.short_id, short_name(self.name), self.language, self.pin is not None,
                           self.consented, self.locked_until, self.pin_failures, self.chw_id, self.discreet,
                           self.time_zone)


@dataclass
class Staffer:
    id: int
    role: str
    name: str
    phone: str
    active: bool = True


@dataclass
class StoredReading:
    patient_id: int
    submission_id: int
    kind: str
    measured: dict
    level: str
    sender: str
    taken_at: datetime


@dataclass
class MemoryClinic:
    catalog: Catalog
    config: FlowConfig
    rules: object
    reading_words: dict
    clock: object
    people: dict[int, Person] = field(default_factory=dict)
    staff: dict[int, Staffer] = field(default_factory=dict)
    medicines: dict[int, list[tuple[int, str]]] = field(default_factory=dict)
    readings: list[StoredReading] = field(default_factory=list)
    alerts: dict[str, dict] = field(default_factory=dict)
    refills: dict[str, dict] = field(default_factory=dict)
    consults: dict[str, dict] = field(default_factory=dict)
    held: dict[int, list[list]] = field(default_factory=dict)  # patient -> [id, text, read]
    sessions: dict[str, dict] = field(default_factory=dict)
    opted_out: set[str] = field(default_factory=set)
    carrier_blocked: set[str] = field(default_factory=set)  # STOP sent to the carrier: even replies are blocked
    counters: dict[str, int] = field(default_factory=dict)
    outbox: list[tuple[datetime, str, str]] = field(default_factory=list)
    audit: list[str] = field(default_factory=list)

    # -- setting up ---------------------------------------------------------------------

    def add_staff(self, role: str, name: str, phone: str) -> Staffer:
        user = Staffer(next(_ids), role, name, phone)
        self.staff[user.id] = user
        return user

    def add_patient(self, person: Person) -> Person:
        self.people[person.id] = person
        return person

    def add_medicine(self, short_id: str, label: str) -> None:
        patient = self.by_short_id(short_id)
        self.medicines.setdefault(patient.id, []).append((next(_ids), label))

    def by_short_id(self, short_id: str) -> Person | None:
        return next((p for p in self.people.values() if p.short_id == short_id), None)

    def staff_by_phone(self, phone: str) -> Staffer | None:
        return next((s for s in self.staff.values() if s.phone == phone and s.active), None)

    # -- one text -------------------------------------------------------------------------

    def text(self, sender: str, body: str) -> list[str]:
        now = self.clock()
        session = Session.from_dict(self.sessions.get(sender))
        stored = session.to_dict()
        people = tuple(p.view() for p in self.people.values() if p.phone == sender and p.active)
        person = open_session(session, people, self.config.default_language)
        staff = self.staff_by_phone(sender)
        ctx = Context(now=now, sender=sender, directory=self, people=people,
                      staff=StaffView(staff.id, staff.role, short_name(staff.name)) if staff else None,
                      opted_out=sender in self.opted_out, carrier_blocked=sender in self.carrier_blocked,
                      config=self.config, catalog=self.catalog, rules=self.rules,
                      reading_words=self.reading_words)
        outcome = respond(session, body, ctx)
        actor = f"staff:{staff.id}" if staff else (f"patient:{person.short_id}" if person else "sender")
        applier = _Applier(self, sender, actor, now)
        for effect in outcome.effects:
            applier.apply(effect)
        session = outcome.session
        change = session_change(session, stored, people, now)
        if change == "delete":
            self.sessions.pop(sender, None)
        elif change == "save":
            self.sessions[sender] = session.to_dict()
        return [self.render(session.language, m) for m in outcome.replies]

    def render(self, language: str, message: Message) -> str:
        params = {"clinic": self.config.clinic_name, "emergency": self.config.emergency_number, **message.params}
        return self.catalog.render(language, Message(message.key, params))

    def send(self, phone: str, text: str) -> None:
        self.outbox.append((self.clock(), phone, text))

    def reachable(self, role: str) -> list[Staffer]:
        return [s for s in self.staff.values() if s.role == role and s.active and s.phone not in self.opted_out]

    # -- the Directory port ---------------------------------------------------------------

    def check_pin(self, patient_id: int, pin: str) -> bool:
        return self.people[patient_id].pin == pin

    def new_patient_ids(self) -> tuple[int, str]:
        while True:
            short_id = short_ids.random_short_id(short_ids.MIN_BASE_DIGITS)
            if self.by_short_id(short_id) is None:
                return next(_ids), short_id

    def patient_by_short_id(self, short_id: str) -> PatientView | None:
        person = self.by_short_id(short_id)
        return person.view() if person else None

    def short_id_valid(self, short_id: str) -> bool:
        return short_ids.is_valid(short_id)

    def patient(self, patient_id: int) -> PatientView:
        return self.people[patient_id].view()

    def profile(self, patient_id: int) -> tuple[str | None, int | None]:
        return self.people[patient_id].sex, self.people[patient_id].birth_year

    def allocate_ref(self, name: str, prefix: str) -> str:
        self.counters[name] = self.counters.get(name, 0) + 1
        return f"{prefix}{self.counters[name]}"

    def duplicate_since(self, patient_id: int, kind: str, values: dict, since: datetime) -> datetime | None:
        same = [r.taken_at for r in self.readings
                if r.patient_id == patient_id and r.kind == kind and r.measured == values and r.taken_at >= since]
        return max(same) if same else None

    def recent_levels(self, patient_id: int, kind: str, since: datetime) -> list[tuple[datetime, str]]:
        return [(r.taken_at, r.level) for r in self.readings
                if r.patient_id == patient_id and r.kind == kind and r.taken_at >= since]

    def last_submission(self, sender: str, since: datetime) -> Submission | None:
        mine = [r for r in self.readings if r.sender == sender and r.taken_at >= since]
        if not mine:
            return None
        last = max(mine, key=lambda r: (r.taken_at, r.submission_id))
        order = list(KINDS)
        same = sorted((r for r in mine if r.submission_id == last.submission_id), key=lambda r: order.index(r.kind))
        echo = " ".join(format_reading(Reading(r.kind, r.measured)) for r in same)
        return Submission(last.submission_id, last.patient_id, echo, same[0].taken_at)

    def medications(self, patient_id: int) -> list[tuple[int, str]]:
        return list(self.medicines.get(patient_id, []))

    def request(self, kind: str, ref: str) -> RequestView | None:
        ref = ref.upper()
        if kind == "refill":
            refill = self.refills.get(ref)
            return RequestView(ref, refill["patient_id"], refill["status"], refill["label"]) if refill else None
        if kind == "consult":
            consult = self.consults.get(ref)
            if consult is None:
                return None
            owner = self.staff.get(consult["owner_id"]) if consult["owner_id"] else None
            if owner and not (owner.active and owner.phone not in self.opted_out):
                owner = None
            return RequestView(ref, consult["patient_id"], consult["status"], owner_id=owner.id if owner else None,
                               owner_name=short_name(owner.name) if owner else "")
        alert = self.alerts.get(ref)
        return RequestView(ref, alert["patient_id"], alert["status"]) if alert else None

    def chw_tasks(self, chw_id: int, now: datetime) -> list[tuple[str, str]]:
        """As the service orders them: open alerts, the longest open first; then who has
        gone longest without a reading, never measured first."""
        panel = [p for p in self.people.values() if p.chw_id == chw_id and p.active]
        tasks = []
        alerting = []
        for person in panel:
            open_alerts = sorted((a["at"], ref) for ref, a in self.alerts.items()
                                 if a["patient_id"] == person.id and a["status"] == "open")
            if open_alerts:
                alerting.append((open_alerts[0][0], person.short_id, [ref for _, ref in open_alerts]))
        for _, short_id, refs in sorted(alerting):
            more = len(refs) - 1
            tasks.append((short_id, f"alert {refs[0]}" + (f" +{more} more" if more else "")))
        due = now - timedelta(days=self.config.reading_due_days)
        never = datetime.min.replace(tzinfo=UTC)
        overdue = []
        for person in panel:
            if any(short_id == person.short_id for short_id, _, _ in alerting):
                continue
            last = max((r.taken_at for r in self.readings if r.patient_id == person.id), default=never)
            if last < due:
                overdue.append((last, person.short_id))
        for last, short_id in sorted(overdue):
            tasks.append((short_id, "no reading yet" if last == never else f"last reading {(now - last).days}d ago"))
        return tasks

    def reminders(self, patient_id: int) -> list:
        return []  # the golden scripts have none; reminders are tested end to end

    def held_messages(self, patient_id: int) -> list[tuple[int, str]]:
        return [(i, text) for i, text, read in self.held.get(patient_id, []) if not read]

    def has_open_alert(self, patient_id: int) -> bool:
        return any(a["patient_id"] == patient_id and a["status"] == "open" for a in self.alerts.values())

    def can_text(self, patient_id: int) -> bool:
        person = self.people[patient_id]
        if not person.active:
            return False
        if person.phone:
            return person.phone not in self.opted_out
        chw = self.staff.get(person.chw_id) if person.chw_id else None
        return bool(chw and chw.active and chw.phone not in self.opted_out)

    def is_staff_phone(self, phone: str) -> bool:
        return self.staff_by_phone(phone) is not None

    def people_on_phone(self, phone: str) -> int:
        return sum(1 for p in self.people.values() if p.phone == phone and p.active)

    def likely_duplicate(self, name: str, birth_year: int | None, phone: str | None, chw_id: int | None) -> str | None:
        key = " ".join(name.casefold().split())
        for person in self.people.values():
            same_name = " ".join(person.name.casefold().split()) == key
            if not (person.active and same_name):
                continue
            if phone and person.phone == phone:
                return person.short_id
            if birth_year is not None and person.birth_year == birth_year and (chw_id is None or
                                                                               person.chw_id == chw_id):
                return person.short_id
        return None


class _Applier:
    """The effects of one step, applied to the clinic in memory."""

    def __init__(self, clinic: MemoryClinic, sender: str, actor: str, now: datetime):
        self.clinic, self.sender, self.actor, self.now = clinic, sender, actor, now
        self.submission_id: int | None = None

    def apply(self, effect) -> None:
        getattr(self, f"_{type(effect).__name__}")(effect)

    def _record(self, action: str) -> None:
        self.clinic.audit.append(action)

    def _person(self, patient_id: int) -> Person:
        return self.clinic.people[patient_id]

    def _RegisterPatient(self, e: fx.RegisterPatient) -> None:
        self.clinic.add_patient(Person(e.patient_id, e.short_id, e.name, self.sender, e.language, pin=e.pin,
                                       consented=True, birth_year=e.birth_year))
        self._record("patient.register")

    def _EnrolPatient(self, e: fx.EnrolPatient) -> None:
        self.clinic.add_patient(Person(e.patient_id, e.short_id, e.name, e.phone, self.clinic.config.default_language,
                                       chw_id=e.chw_id or None, sex=e.sex, birth_year=e.birth_year))
        self._record("patient.enrol")

    def _UndoEnrolment(self, e: fx.UndoEnrolment) -> None:
        held = any(r.patient_id == e.patient_id for r in self.clinic.readings)
        if held:
            self._person(e.patient_id).active = False
        else:
            self.clinic.people.pop(e.patient_id)
        self._record("patient.enrol_undone")

    def _RecordConsent(self, e: fx.RecordConsent) -> None:
        self._person(e.patient_id).consented = True
        self._record("consent.given")

    def _DeclineConsent(self, e: fx.DeclineConsent) -> None:
        self._record("consent.declined")

    def _SetPin(self, e: fx.SetPin) -> None:
        person = self._person(e.patient_id)
        person.pin, person.pin_failures, person.locked_until = e.pin, 0, None
        self._record("pin.set")

    def _PinFailed(self, e: fx.PinFailed) -> None:
        person = self._person(e.patient_id)
        if e.lock_minutes:
            person.pin_failures, person.locked_until = 0, self.now + timedelta(minutes=e.lock_minutes)
            self._record("pin.locked")
        else:
            person.pin_failures += 1

    def _PinPassed(self, e: fx.PinPassed) -> None:
        person = self._person(e.patient_id)
        person.pin_failures, person.locked_until = 0, None

    def _ResetPin(self, e: fx.ResetPin) -> None:
        person = self._person(e.patient_id)
        person.pin, person.pin_failures, person.locked_until = None, 0, None
        self._record("pin.reset")

    def _SetLanguage(self, e: fx.SetLanguage) -> None:
        self._person(e.patient_id).language = e.language

    def _SetDiscreet(self, e: fx.SetDiscreet) -> None:
        self._person(e.patient_id).discreet = e.discreet
        self._record("discreet.on" if e.discreet else "discreet.off")

    def _OptOut(self, e: fx.OptOut) -> None:
        self.clinic.opted_out.add(self.sender)
        if e.carrier:
            self.clinic.carrier_blocked.add(self.sender)
        self._record("contact.opt_out")

    def _OptIn(self, e: fx.OptIn) -> None:
        self.clinic.opted_out.discard(self.sender)
        if e.carrier:
            self.clinic.carrier_blocked.discard(self.sender)
        self._record("contact.opt_in")

    def _Audit(self, e: fx.Audit) -> None:
        self._record(e.action)

    def _SaveReadings(self, e: fx.SaveReadings) -> None:
        self.submission_id = next(_ids)
        for reading in e.readings:
            self.clinic.readings.append(StoredReading(e.patient_id, self.submission_id, reading.kind, reading.values,
                                                      reading.level, self.sender, self.now))
        if e.submitted_by.startswith("staff:"):
            self._record("readings.relay")

    def _RaiseAlert(self, e: fx.RaiseAlert) -> None:
        clinic = self.clinic
        ref = clinic.allocate_ref("alert", "A")
        person = clinic.people.get(e.patient_id) if e.patient_id is not None else None
        clinic.alerts[ref] = {"patient_id": e.patient_id, "status": "open", "submission_id": self.submission_id,
                              "trend": not e.urgent, "at": self.now}
        blocked = bool(person) and not self.actor.startswith("staff:") and self.sender in clinic.carrier_blocked
        message = alert_message(e, ref=ref, patient=(short_name(person.name), person.short_id) if person else None,
                                sender=self.sender, now=self.now, zone=clinic.config.time_zone, rules=clinic.rules,
                                blocked=blocked)
        text = clinic.render(clinic.config.default_language, message)
        for user in clinic.reachable("clinician") or clinic.reachable("admin"):
            clinic.send(user.phone, text)
        self._record("alert.raised")

    def _UndoSubmission(self, e: fx.UndoSubmission) -> None:
        clinic = self.clinic
        for ref, alert in clinic.alerts.items():
            if alert["submission_id"] == e.submission_id and alert["status"] == "open":
                if alert["trend"]:
                    alert["status"] = "withdrawn"
                    self._notify("clinician", msg("alert.withdrawn", ref=ref))
                else:
                    self._notify("clinician", msg("alert.undone", ref=ref))
        clinic.readings = [r for r in clinic.readings if r.submission_id != e.submission_id]
        self._record("readings.undo")

    def _AcknowledgeAlert(self, e: fx.AcknowledgeAlert) -> None:
        self.clinic.alerts[e.ref.upper()]["status"] = "acknowledged"
        self._record("alert.acknowledged")

    def _RequestRefill(self, e: fx.RequestRefill) -> None:
        label = dict(self.clinic.medicines.get(e.patient_id, [])).get(e.medication_id, "")
        self.clinic.refills[e.ref] = {"patient_id": e.patient_id, "status": "requested", "label": label}
        self._record("refill.requested")

    def _AnswerRefill(self, e: fx.AnswerRefill) -> None:
        self.clinic.refills[e.ref.upper()]["status"] = "ready" if e.ready else "refused"
        self._record("refill.answered")

    def _OpenConsult(self, e: fx.OpenConsult) -> None:
        self.clinic.consults[e.ref] = {"patient_id": e.patient_id, "status": "open", "owner_id": None}
        self._record("consult.opened")

    def _TakeConsult(self, e: fx.TakeConsult) -> None:
        consult = self.clinic.consults[e.ref.upper()]
        consult["owner_id"] = consult["owner_id"] or e.staff_id

    def _ReplyToConsult(self, e: fx.ReplyToConsult) -> None:
        self._record("consult.patient_reply")

    def _CloseConsult(self, e: fx.CloseConsult) -> None:
        self.clinic.consults[e.ref.upper()]["status"] = "closed"
        self._record("consult.closed")

    def _NotifyStaffMember(self, e: fx.NotifyStaffMember) -> None:
        clinic = self.clinic
        clinic.send(clinic.staff[e.staff_id].phone, clinic.render(clinic.config.default_language, e.message))

    def _NotifyStaff(self, e: fx.NotifyStaff) -> None:
        self._notify(e.role, e.message)

    def _notify(self, role: str, message: Message) -> None:
        clinic = self.clinic
        text = clinic.render(clinic.config.default_language, message)
        users = clinic.reachable(role) or clinic.reachable("admin")
        for user in users:
            clinic.send(user.phone, text)
        if not users:
            self._record("notify.undeliverable")

    def _NotifyPatient(self, e: fx.NotifyPatient) -> None:
        clinic = self.clinic
        person = self._person(e.patient_id)
        if e.held is not None:
            clinic.held.setdefault(person.id, []).append([next(_ids), clinic.render(person.language, e.held), False])
        text = clinic.render(person.language, e.message)
        chw = clinic.staff.get(person.chw_id) if person.chw_id else None
        if not person.active:
            self._record("notify.undeliverable")
        elif person.phone:
            if person.phone not in clinic.opted_out:
                clinic.send(person.phone, text)
        elif chw and chw.active:
            clinic.send(chw.phone, clinic.render(clinic.config.default_language,
                                                 msg("relay.for_patient", patient_id=person.short_id, text=text)))
        else:
            self._record("notify.undeliverable")

    def _SetReminderChannel(self, e: fx.SetReminderChannel) -> None:
        self._record("reminders.by_calls" if e.calls else "reminders.by_sms")

    def _ChangeReminderTimes(self, e: fx.ChangeReminderTimes) -> None:
        self._record("reminders.times_changed")

    def _AnswerReminder(self, e: fx.AnswerReminder) -> None:
        self._record("reminder.answered")

    def _MarkHeldRead(self, e: fx.MarkHeldRead) -> None:
        for messages in self.clinic.held.values():
            for held in messages:
                if held[0] in e.message_ids:
                    held[2] = True


class MemoryWorld:
    """The conversation scripts' world (see tests/helpers/conversation_script.py) over a
    MemoryClinic: texts go to the engine, records stay in memory."""

    def __init__(self, clinic: MemoryClinic):
        self.clinic = clinic

    def text(self, sender: str, body: str) -> list[str]:
        return self.clinic.text(sender, body)

    def end_to_end_only(self, why: str) -> None:
        from tests.helpers.conversation_script import EndToEndOnly

        raise EndToEndOnly(why)

    def add_staff(self, role: str, name: str, phone: str) -> None:
        self.clinic.add_staff(role, name, phone)

    def add_patient(self, args: list[str]) -> None:
        short_id, name, phone, *options = args
        opts = dict(o.split("=", 1) if "=" in o else (o, "yes") for o in options)
        chw = self.clinic.staff_by_phone(opts["chw"]).id if "chw" in opts else None
        self.clinic.add_patient(Person(
            next(_ids), short_id, name, None if phone == "-" else phone, opts.get("lang", "en"),
            opts.get("tz", "Africa/Nairobi"), pin=opts.get("pin"), consented="consent" in opts, chw_id=chw,
            sex=opts.get("sex"), birth_year=int(opts["born"]) if "born" in opts else None))

    def add_medicine(self, short_id: str, name: str, dose: str, quantity: int) -> None:
        self.clinic.add_medicine(short_id, f"{name} {dose} x{quantity}")

    def outbox_since(self, moment: str) -> list[tuple[str, str]]:
        since = datetime.fromisoformat(moment) if moment else datetime.min.replace(tzinfo=UTC)
        return [(phone, body) for at, phone, body in self.clinic.outbox if at >= since]

    def audit_count(self) -> int:
        return len(self.clinic.audit)

    def audit_actions(self, since: int) -> list[str]:
        return self.clinic.audit[since:]
