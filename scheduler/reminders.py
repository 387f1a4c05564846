"""Sending reminders: what is due now, held past quiet hours, missed when too late.

One pass runs inside one write transaction: each due reminder either goes to the outbox
(its occurrence noted under a unique key, so a second dispatcher or a rerun after a
crash writes it once) or is recorded missed (an outage must not flood patients with
stale messages), and the rule moves on to its next time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from flows.care import local_day_time
from flows.engine import Message, msg
from flows.quiet_hours import in_quiet_hours, quiet_hours_end
from flows.readings import KINDS
from flows.service import ConversationService
from scheduler.occurrence import next_due
from storage import Store
from storage.reminders import Reminder
from storage.store import iso

# How late a reminder may still go out; later it is recorded missed.
LATE = {"medicine": timedelta(hours=2), "reading": timedelta(hours=6), "appointment": timedelta(hours=1),
        "refill": timedelta(hours=12), "followup": timedelta(hours=12)}


VALID = timedelta(hours=1)  # a queued reminder not sent within this is given up


@dataclass
class ReminderReport:
    sent: list[int] = field(default_factory=list)
    missed: list[int] = field(default_factory=list)


def parse_times(text: str) -> list[time]:
    """"08:00,20:00" -> [08:00, 20:00]; raises ValueError on anything else."""
    times = []
    for part in text.split(","):
        hours, _, minutes = part.strip().partition(":")
        if not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
            raise ValueError(f"{part.strip()!r} is not a time like 08:00")
        times.append(time(int(hours), int(minutes)))
    return sorted(set(times))


def schedule(rule: dict, zone: str, after: datetime, last: datetime | None = None) -> tuple[str | None, str | None]:
    """(when it is next due, when it may be sent: past the quiet hours), as UTC ISO;
    (None, None) once a rule has no more times (an appointment passed, an end date)."""
    if "at" in rule:  # fixed moments: an appointment's, a refill's
        upcoming = sorted(moment for moment in map(datetime.fromisoformat, rule["at"]) if moment > after)
        due = upcoming[0] if upcoming else None
    else:
        due = next_due(parse_times(",".join(rule["times"])), zone, after, weekdays=rule.get("weekdays", ()),
                       last=last)
        if rule.get("until") and due > datetime.fromisoformat(rule["until"]):
            due = None
    if due is None:
        return None, None
    send = quiet_hours_end(due, zone) if in_quiet_hours(due, zone) else due
    return iso(due), iso(send)


def appointment_times(at: datetime, zone: str) -> list[str]:
    """An appointment is reminded the day before at 09:00 (local) and two hours before."""
    tz = _zone(zone)
    day_before = datetime.combine(at.astimezone(tz).date() - timedelta(days=1), time(9, 0), tzinfo=tz)
    return [iso(day_before), iso(at - timedelta(hours=2))]


def refill_time(quantity: int, per_day: float, zone: str, start: datetime, warn_days: int = 3) -> str:
    """The morning a few days before the supply runs out (quantity / daily dose)."""
    tz = _zone(zone)
    runs_out = start + timedelta(days=quantity / per_day)
    return iso(datetime.combine(runs_out.astimezone(tz).date() - timedelta(days=warn_days), time(9, 0), tzinfo=tz))


def message_for(reminder: Reminder, name: str, discreet: bool, zone: str, due: datetime) -> Message:
    """The reminder's text: discreet patients get one that names no medicine or condition."""
    rule = reminder.rule
    at = due.astimezone(_zone(zone)).strftime("%H:%M")
    if rule["kind"] == "appointment":
        return msg("reminder.appointment", name=name,
                   when=local_day_time(datetime.fromisoformat(rule["appointment"]), zone))
    if rule["kind"] == "followup":
        return msg("reminder.followup", name=name, ref=rule["ref"])
    if rule["kind"] == "refill":
        if discreet:
            return msg("reminder.refill_discreet", name=name)
        return msg("reminder.refill", name=name, medicine=rule["label"])
    if rule["kind"] == "medicine":
        if discreet:
            return msg("reminder.medicine_discreet", name=name, time=at)
        return msg("reminder.medicine", name=name, time=at, medicine=rule["label"])
    if discreet:
        return msg("reminder.reading_discreet", name=name)
    kind = KINDS[rule["reading"]]
    return msg("reminder.reading", name=name, reading=kind.codes[0], example=kind.example)


def _zone(zone: str):
    from zoneinfo import ZoneInfo

    return ZoneInfo(zone)


def decide(reminder: Reminder, patient, now: datetime) -> str:
    """What becomes of a due occurrence: "send", or why not ("undeliverable", "no
    consent", "paused", "missed": too late, "superseded": the next dose is almost due
    itself, or an appointment already past). One rule for the preview and the pass."""
    due = datetime.fromisoformat(reminder.next_due_at)
    send_at = datetime.fromisoformat(reminder.next_send_at)
    kind = reminder.rule.get("kind")
    if not patient.active or not patient.phone:
        return "undeliverable"
    if not patient.consent_at or patient.consent_declined_at:
        return "no consent"  # never texted health reminders before agreeing, nor after saying no
    if reminder.paused_until and reminder.paused_until > reminder.next_due_at:
        return "paused"
    if now - send_at > LATE.get(kind, timedelta(hours=2)):
        return "missed"
    if kind == "appointment" and send_at >= datetime.fromisoformat(reminder.rule["appointment"]):
        return "superseded"  # held past the visit itself by the quiet hours
    if kind in ("medicine", "reading") and send_at > due:
        # Held by the quiet hours: if the next one is due within the lateness allowed, the
        # held one would arrive with it (two doses, or four BP requests, at once): it is
        # recorded, not sent.
        next_due, _ = schedule(reminder.rule, patient.time_zone, due, last=due)
        if next_due and datetime.fromisoformat(next_due) <= send_at + LATE[kind]:
            return "superseded"
    return "send"


def due_now(store: Store, service: ConversationService, now: datetime) -> list[tuple[Reminder, str, str]]:
    """What a pass at `now` would send: (reminder, phone, text). Sends nothing."""
    planned = []
    for reminder in store.reminders.due(iso(now)):
        patient = store.patients.get(reminder.patient_id)
        if decide(reminder, patient, now) != "send":
            continue
        text = service.render(patient.language, message_for(
            reminder, patient.name.split()[0], patient.discreet, patient.time_zone,
            datetime.fromisoformat(reminder.next_due_at)))
        planned.append((reminder, patient.phone, text))
    return planned


BATCH = 200  # reminders per transaction: the write lock is never held for long


def send_due(store: Store, service: ConversationService, now: datetime) -> ReminderReport:
    """One pass: every due reminder into the outbox (or recorded missed), rules moved on,
    BATCH at a time, each batch its own short transaction."""
    report = ReminderReport()
    _plan_changed(store, now)
    # Until nothing is due: a rule whose next time has also passed (several held by the
    # quiet hours, or an outage) comes round again, each occurrence recorded.
    more = True
    while more:
        more = _send_batch(store, service, now, report)
    return report


def _plan_changed(store: Store, now: datetime) -> None:
    """Rules whose times a patient changed (My reminders) get their next time here, where
    the time zone arithmetic lives."""
    with store.write():
        for reminder in store.reminders.unplanned():
            patient = store.patients.get(reminder.patient_id)
            store.reminders.plan(reminder.id, *schedule(reminder.rule, patient.time_zone, now))


def _send_batch(store: Store, service: ConversationService, now: datetime, report: ReminderReport) -> bool:
    with store.write():
        batch = store.reminders.due(iso(now), BATCH)
        for reminder in batch:
            patient = store.patients.get(reminder.patient_id)
            due = datetime.fromisoformat(reminder.next_due_at)
            outcome = decide(reminder, patient, now)
            if outcome != "send":
                if store.reminders.record(reminder.id, reminder.next_due_at, outcome) and outcome == "missed":
                    report.missed.append(reminder.id)
            elif store.reminders.record(reminder.id, reminder.next_due_at, "sent"):
                # A patient who prefers calls hears it: the voice line says it and takes 1 or 2.
                channel = "call" if patient.prefers_voice else "sms"
                text = service.render(patient.language, message_for(
                    reminder, patient.name.split()[0], patient.discreet, patient.time_zone, due),
                    "voice" if channel == "call" else "sms")
                # Never sent late (an outage after this): one validity for every kind, so the
                # outbox row's expiry does not tell a medicine reminder from a visit's.
                message = store.outbox.enqueue(patient.phone, text, "reminder", expires_at=iso(now + VALID),
                                               channel=channel)
                store.reminders.set_outbox(reminder.id, reminder.next_due_at, message.id)
                report.sent.append(reminder.id)
            next_due_at, next_send_at = schedule(reminder.rule, patient.time_zone, due, last=due)
            store.reminders.advance(reminder.id, next_due_at, next_send_at)
    return bool(batch)
