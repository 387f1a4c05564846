"""The service module: the one place flows meet storage.

`handle` runs one inbound message inside ONE write transaction: it de-duplicates by
the provider's message id, applies the loop guard, loads the sender's session and
records, runs one pure step, applies the effects, stores the new session, the
inbound message and its replies, and commits. Because the transaction takes the
write lock first (BEGIN IMMEDIATE), two texts from one number are handled one after
the other and neither update is lost.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flows import effects as fx
from flows import loop_guard
from flows.catalog import Catalog
from flows.context import Context, FlowConfig, PatientView, StaffView
from flows.conversation import respond
from flows.engine import Message, Session
from flows.normalise import normalise
from flows.patient_flows import short_name
from flows.phones import default_time_zone
from storage import Store, short_ids
from storage.patients import Patient
from storage.pins import hash_pin, verify_pin
from storage.store import iso

log = logging.getLogger("lowband.flows")

STAFF_RATE_FACTOR = 6  # a CHW relaying a village's readings texts faster than a patient


@dataclass(frozen=True)
class Inbound:
    sid: str
    sender: str  # E.164
    body: str
    channel: str = "sms"


@dataclass
class Handled:
    replies: list[str] = field(default_factory=list)
    status: str = "answered"  # answered | duplicate | ignored


def patient_view(patient: Patient) -> PatientView:
    return PatientView(
        id=patient.id,
        short_id=patient.short_id,
        display_name=short_name(patient.name),
        language=patient.language,
        has_pin=bool(patient.pin_hash),
        consented=bool(patient.consent_at),
        locked_until=datetime.fromisoformat(patient.locked_until) if patient.locked_until else None,
        pin_failures=patient.pin_failures,
        chw_id=patient.chw_id,
    )


class StoreDirectory:
    """The flows' read port, over storage."""

    def __init__(self, store: Store):
        self.store = store

    def check_pin(self, patient_id: int, pin: str) -> bool:
        return verify_pin(self.store.keys.pin_key, pin, self.store.patients.get(patient_id).pin_hash)

    def new_patient_ids(self) -> tuple[int, str]:
        return self.store.patients.new_ids()

    def medicines(self, patient_id: int) -> list[str]:
        return [m.label for m in self.store.medications.for_patient(patient_id)]

    def patient_by_short_id(self, short_id: str) -> PatientView | None:
        patient = self.store.patients.by_short_id(short_id)
        return patient_view(patient) if patient else None

    def short_id_valid(self, short_id: str) -> bool:
        return short_ids.is_valid(short_id)


class ConversationService:
    def __init__(self, catalog: Catalog, config: FlowConfig, policy: loop_guard.LoopPolicy | None = None):
        self.catalog = catalog
        self.config = config
        self.policy = policy or loop_guard.LoopPolicy()
        self.staff_policy = loop_guard.LoopPolicy(
            limit=self.policy.limit * STAFF_RATE_FACTOR,
            window_seconds=self.policy.window_seconds,
            repeat_limit=self.policy.repeat_limit,
            mute_minutes=self.policy.mute_minutes,
        )

    def render(self, language: str, message: Message, channel: str = "sms") -> str:
        params = {"clinic": self.config.clinic_name, "emergency": self.config.emergency_number, **message.params}
        return self.catalog.render(language, Message(message.key, params), channel)

    def _is_stop(self, session: Session, body: str) -> bool:
        word = normalise(body).casefold()
        return word in self.catalog.words("en", "keywords.stop") | self.catalog.words(session.language, "keywords.stop")

    def handle(self, store: Store, inbound: Inbound) -> Handled:
        now = store.now()
        phone_index = store.phone_index(inbound.sender)
        with store.write():
            previous = store.inbound.replies_for(inbound.sid)
            if previous is not None:
                return Handled(previous, "duplicate")

            staff = store.staff.by_phone(inbound.sender)
            contact = store.contacts.get(phone_index)
            digest = store.cipher.blind_index("body", normalise(inbound.body).casefold()).hex()[:32]
            traffic = loop_guard.Traffic(
                contact.window_start, contact.window_count, contact.last_digest, contact.repeats, contact.muted_until
            )
            policy = self.staff_policy if staff else self.policy
            traffic, verdict = loop_guard.check(traffic, now, digest, policy)
            session = Session.from_dict(store.sessions.load(phone_index))
            if verdict != loop_guard.OK and self._is_stop(session, inbound.body):
                verdict = loop_guard.OK  # STOP always works, even from a muted number
            for name in ("window_start", "window_count", "last_digest", "repeats", "muted_until"):
                setattr(contact, name, getattr(traffic, name))
            store.contacts.save(contact)
            people = tuple(patient_view(p) for p in store.patients.with_phone(inbound.sender))
            if verdict == loop_guard.IGNORE:
                replies: list[str] = []
            elif verdict == loop_guard.WARN:
                replies = [self.render(session.language, Message("loop.slow_down", {"minutes": policy.mute_minutes}))]
            else:
                replies = self._step(store, inbound, session, people, staff, contact.opted_out, phone_index, now)
            store.inbound.add(
                message_sid=inbound.sid, channel=inbound.channel, phone_index=phone_index,
                body=inbound.body, replies=replies,
            )
        return Handled(replies, "ignored" if verdict == loop_guard.IGNORE else "answered")

    def _step(self, store, inbound, session, people, staff, opted_out, phone_index, now) -> list[str]:
        if not session.updated_at:
            # A new conversation speaks the language of the patient(s) on this phone.
            session.language = people[0].language if people else self.config.default_language
        person = next((p for p in people if p.id == session.patient_id), None)
        if session.patient_id and person is None:
            session.patient_id = None  # the patient left this phone (number changed)
        ctx = Context(
            now=now,
            sender=inbound.sender,
            directory=StoreDirectory(store),
            people=people,
            staff=StaffView(staff.id, staff.role, short_name(staff.name)) if staff else None,
            opted_out=opted_out,
            channel=inbound.channel,
            config=self.config,
            catalog=self.catalog,
        )
        outcome = respond(session, inbound.body, ctx)
        actor = f"staff:{staff.id}" if staff else (f"patient:{person.short_id}" if person else "sender")
        for effect in outcome.effects:
            self.apply(store, effect, sender=inbound.sender, phone_index=phone_index, actor=actor, now=now)
        session = outcome.session
        session.updated_at = iso(now)
        if session.flow is None and session.patient_id is None and not people:
            # Someone who said no (or only asked for help) leaves nothing behind.
            store.sessions.delete(phone_index)
        else:
            store.sessions.save(phone_index, session.to_dict())
        return [self.render(session.language, m, inbound.channel) for m in outcome.replies]

    # -- effects --------------------------------------------------------------------

    def apply(self, store: Store, effect, *, sender: str, phone_index: bytes, actor: str, now: datetime) -> None:
        patients, audit = store.patients, store.audit
        match effect:
            case fx.RegisterPatient():
                patient = patients.add(
                    ids=(effect.patient_id, effect.short_id),
                    name=effect.name,
                    phone=sender,
                    time_zone=default_time_zone(sender, self.config.time_zone),
                    birth_year=effect.birth_year,
                    language=effect.language,
                    pin_hash=hash_pin(store.keys.pin_key, effect.pin, store.pin_work),
                    consent_at=iso(now),
                    consent_version=effect.consent_version,
                )
                audit.record(f"patient:{patient.short_id}", "patient.register", f"patient:{patient.short_id}",
                             f"consent={effect.consent_version}")
            case fx.RecordConsent():
                short = patients.update(effect.patient_id, consent_at=iso(now), consent_version=effect.consent_version,
                                        consent_declined_at=None).short_id
                audit.record(actor, "consent.given", f"patient:{short}", f"version={effect.consent_version}")
            case fx.DeclineConsent():
                short = patients.update(effect.patient_id, consent_declined_at=iso(now)).short_id
                audit.record(actor, "consent.declined", f"patient:{short}")
            case fx.SetPin():
                short = patients.update(
                    effect.patient_id, pin_hash=hash_pin(store.keys.pin_key, effect.pin, store.pin_work),
                    pin_failures=0, locked_until=None,
                ).short_id
                audit.record(actor, "pin.set", f"patient:{short}")
            case fx.PinFailed():
                patient = patients.get(effect.patient_id)
                if effect.lock_minutes:
                    until = iso(now + timedelta(minutes=effect.lock_minutes))
                    patients.update(patient.id, pin_failures=0, locked_until=until)
                    audit.record(actor, "pin.locked", f"patient:{patient.short_id}",
                                 f"failures={patient.pin_failures + 1} minutes={effect.lock_minutes}")
                else:
                    patients.update(patient.id, pin_failures=patient.pin_failures + 1)
            case fx.PinPassed():
                store.execute(
                    "UPDATE patients SET pin_failures = 0, locked_until = NULL WHERE id = ? AND pin_failures > 0",
                    (effect.patient_id,),
                )
            case fx.SetLanguage():
                patients.update(effect.patient_id, language=effect.language)
            case fx.OptOut():
                store.contacts.set_opt_out(phone_index, True)
                audit.record(actor, "contact.opt_out", "contact")
            case fx.OptIn():
                store.contacts.set_opt_out(phone_index, False)
                audit.record(actor, "contact.opt_in", "contact")
            case fx.ResetPin():
                short = patients.update(effect.patient_id, pin_hash=None, pin_failures=0, locked_until=None).short_id
                audit.record(f"staff:{effect.by_staff_id}", "pin.reset", f"patient:{short}")
            case fx.Audit():
                audit.record(actor, effect.action, effect.subject, effect.detail)
            case _:
                raise TypeError(f"no handler for effect {type(effect).__name__}")
