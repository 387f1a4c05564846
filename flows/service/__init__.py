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
from flows.care import SAFETY_ADVICE
from flows.care_rules import CareRules, load_rules
from flows.catalog import Catalog
from flows.compact import looks_like_compact
from flows.context import Context, FlowConfig, ReminderView, StaffView
from flows.conversation import keyword_in, respond, runner
from flows.danger import urgent_in
from flows.engine import Message, Session
from flows.normalise import normalise
from flows.patient_flows import short_name
from flows.service.apply import EffectApplier, StaleStep
from flows.service.directory import StoreDirectory, brief_view, patient_view
from flows.service.pins import PinWork
from flows.turn import open_session, session_change
from storage import Store
from storage.conversations import Contact
from storage.store import iso

__all__ = ["ConversationService", "Handled", "Inbound", "StoreDirectory", "patient_view"]

log = logging.getLogger("lowband.flows")

STAFF_RATE_FACTOR = 6  # a CHW relaying a village's readings texts faster than a patient


@dataclass(frozen=True)
class Inbound:
    sid: str
    sender: str  # E.164
    body: str
    channel: str = "sms"
    media: int = 0  # pictures or recordings attached (an MMS)
    # Where the conversation's state is kept: the phone's (by default), or a call's own,
    # so a call starts at the menu and leaves a text conversation on that phone as it was.
    session_key: bytes | None = None
    recording: dict[str, str] | None = None  # a voice message left on a call: {"sid", "url"}
    # A text from a gateway (the clinic's own SIM): no TwiML carries the replies, so they
    # go to the outbox in the same transaction as the text.
    replies_by_outbox: bool = False
    # A staff member's command given from the console: a person clicking, never a robot
    # texting in a loop, so the loop guard (and the echo check) do not apply.
    from_console: bool = False


@dataclass
class Handled:
    replies: list[str] = field(default_factory=list)
    status: str = "answered"  # answered | duplicate | ignored
    # For each reply, its catalog key, and whether it is the same for everyone who hears
    # it (no name, no value in it), so a recording the clinic made may stand for it.
    keys: list[str] = field(default_factory=list)
    same_for_all: list[bool] = field(default_factory=list)


# How often a text is decided again, unlocked, when other texts from its phone keep
# winning the race; then it is decided holding the lock.
REDOS = 3


@dataclass
class Plan:
    """What one message decided, before anything is written."""

    contact: Contact
    handled: Handled
    actor: str = "sender"
    effects: list = field(default_factory=list)
    session: Session | None = None
    session_change: str = "keep"  # keep | save | delete


# Parameters that are the same for every caller: a reply made only of these may be a
# recording the clinic made (the menu read by a nurse).
STATIC_PARAMS = frozenset({"choices", "last", "clinic", "emergency"})


class ConversationService:
    def __init__(
        self,
        catalog: Catalog,
        config: FlowConfig,
        policy: loop_guard.LoopPolicy | None = None,
        rules: CareRules | None = None,
    ):
        self.catalog = catalog
        self.config = config
        self.rules = rules or load_rules()
        self.reading_words = catalog.reading_words()
        self.policy = policy or loop_guard.LoopPolicy()
        self.staff_policy = loop_guard.LoopPolicy(
            limit=self.policy.limit * STAFF_RATE_FACTOR,
            window_seconds=self.policy.window_seconds,
            repeat_limit=self.policy.repeat_limit,
            repeat_window_seconds=self.policy.repeat_window_seconds,
            mute_minutes=self.policy.mute_minutes,
        )

    def render(self, language: str, message: Message, channel: str = "sms") -> str:
        params = {"clinic": self.config.clinic_name, "emergency": self.config.emergency_number, **message.params}
        return self.catalog.render(language, Message(message.key, params), channel)

    def digest(self, store: Store, text: str) -> str:
        return store.cipher.blind_index("body", normalise(text).casefold()).hex()[:32]

    def handle(self, store: Store, inbound: Inbound) -> Handled:
        """Answer one inbound message. The step runs first, with no lock held (reading
        what it needs, hashing PINs, rendering); then one short write transaction checks
        that nothing of this phone changed meanwhile (its contact row's version), applies
        the effects and stores the session, the contact and the message. When another
        text from the same phone won the race, the step is run again on the new state;
        after REDOS such races (a phone flooding us) it runs holding the lock, as before."""
        now = store.now()
        phone_index = store.phone_index(inbound.sender)
        session_key = inbound.session_key or phone_index
        text = normalise(inbound.body)
        pins = PinWork()  # PIN checks and hashes, made once, outside the lock, kept across redos
        for _ in range(REDOS):
            previous = store.inbound.replies_for(inbound.sid)
            if previous is not None:
                return Handled(previous, "duplicate")
            plan = self._plan(store, inbound, text, phone_index, session_key, now, pins)
            try:
                with store.write():
                    previous = store.inbound.replies_for(inbound.sid)
                    if previous is not None:
                        return Handled(previous, "duplicate")
                    if store.contacts.version(phone_index) != plan.contact.version:
                        continue  # another text from this phone was handled meanwhile: decide again
                    self._commit(store, inbound, plan, phone_index, session_key, now, pins)
            except StaleStep:
                continue  # another staff member acted on the same consult or refill first
            return plan.handled
        with store.write():
            previous = store.inbound.replies_for(inbound.sid)
            if previous is not None:
                return Handled(previous, "duplicate")
            plan = self._plan(store, inbound, text, phone_index, session_key, now, pins)
            self._commit(store, inbound, plan, phone_index, session_key, now, pins)
        return plan.handled

    def _plan(self, store: Store, inbound: Inbound, text: str, phone_index: bytes, session_key: bytes, now,
              pins) -> Plan:
        """Everything one message decides, without writing anything."""
        staff = store.staff.brief_by_phone_index(phone_index)
        contact = store.contacts.get(phone_index)
        digest = self.digest(store, text)
        traffic = loop_guard.Traffic(
            contact.window_start, contact.window_count, contact.last_digest, contact.repeats, contact.muted_until,
            contact.repeat_since,
        )
        policy = self.staff_policy if staff else self.policy
        if inbound.channel == "voice" or inbound.from_console:
            # Keypresses of a call, or clicks on the console, are one person, not a robot
            # texting in a loop: the guard counts texts only.
            verdict = loop_guard.OK
        else:
            traffic, verdict = loop_guard.check(traffic, now, digest, policy)
        session = Session.from_dict(store.sessions.load(session_key))
        if verdict != loop_guard.OK and keyword_in(text, session.language, self.catalog) == "stop":
            verdict = loop_guard.OK  # STOP always works, even from a muted number
        for name in ("window_start", "window_count", "last_digest", "repeats", "muted_until", "repeat_since"):
            setattr(contact, name, getattr(traffic, name))
        # A text that is one of our own replies sent straight back is a robot echoing
        # us, even when it carries a dangerous value (it is our own advice).
        echo = (inbound.channel != "voice" and not inbound.from_console
                and digest in (contact.reply_digests or "").split(","))
        people = tuple(brief_view(p) for p in store.patients.briefs_on_phone(phone_index))
        muted = verdict != loop_guard.OK
        plan = Plan(contact=contact, handled=Handled([], "ignored" if verdict == loop_guard.IGNORE else "answered"))
        if not echo and (not muted or self._must_read(text, session, inbound.sender, now)):
            # A muted number's readings are still stored and judged (a burst of texts
            # queued on a phone with bad coverage is a person's, not a robot's); only
            # the replies are held back, except advice to get care now.
            said, language = self._step(store, inbound, session, people, staff, contact, now, pins, plan,
                                        muted=muted)
            for effect in plan.effects:
                if isinstance(effect, fx.SetPin | fx.RegisterPatient):
                    pins.hash(store, effect.pin)  # the slow hash, made now rather than under the lock
            plan.handled.replies = [self.render(language, m, inbound.channel) for m in said]
            plan.handled.keys = [m.key for m in said]
            plan.handled.same_for_all = [set(m.params) <= STATIC_PARAMS for m in said]
        if verdict == loop_guard.WARN:
            plan.handled.replies.append(
                self.render(session.language, Message("loop.slow_down", {"minutes": policy.mute_minutes})))
        if inbound.channel != "voice" and not inbound.from_console:  # an echo is our SMS sent back
            contact.reply_digests = ",".join(
                self.digest(store, r) for r in plan.handled.replies) or contact.reply_digests
        return plan

    def _commit(self, store: Store, inbound: Inbound, plan: Plan, phone_index: bytes, session_key: bytes, now,
                pins) -> None:
        applier = EffectApplier(self, store, inbound.sender, phone_index, plan.actor, now, pins)
        for effect in plan.effects:
            applier.apply(effect)
        if plan.session_change == "delete":
            store.sessions.delete(session_key)
        elif plan.session_change == "save":
            store.sessions.save(session_key, plan.session.to_dict())
        store.contacts.save(plan.contact)
        store.inbound.add(
            message_sid=inbound.sid, channel=inbound.channel, phone_index=phone_index,
            body=inbound.body, replies=plan.handled.replies,
        )
        if inbound.replies_by_outbox:
            for reply in plan.handled.replies:
                store.outbox.enqueue(inbound.sender, reply, "reply")

    def _must_read(self, text: str, session: Session, sender: str, now) -> bool:
        """Does a muted number's text still need the step? Readings (and any urgent value)
        are stored and judged, and an answer to a safety question is never dropped."""
        if looks_like_compact(text, words=self.reading_words) or looks_like_compact(
                text, expect_patient_id=True, words=self.reading_words):
            return True
        step = runner.current_step(session)
        if session.flow in runner.registry.never_muted or (step is not None and step.give_up is not None):
            return True
        probe = Context(now=now, sender=sender, directory=None, rules=self.rules, reading_words=self.reading_words)
        return bool(urgent_in(text, probe))

    def _step(self, store, inbound, session, people, staff, contact, now, pins, plan: Plan, *,
              muted: bool = False) -> tuple[list[Message], str]:
        """Run the step; fill `plan` with its effects and the session to keep. Returns
        the replies and the language to say them in (a LANG answer changes it for its
        own reply)."""
        stored = session.to_dict()
        person = open_session(session, people, self.config.default_language)
        ctx = Context(
            now=now,
            sender=inbound.sender,
            directory=StoreDirectory(store, self.config, pins),
            people=people,
            staff=StaffView(staff[0], staff[1], short_name(staff[2])) if staff else None,
            opted_out=contact.opted_out,
            carrier_blocked=contact.carrier_blocked,
            channel=inbound.channel,
            config=self.config,
            catalog=self.catalog,
            rules=self.rules,
            reading_words=self.reading_words,
            media=inbound.media,
            recording=inbound.recording,
            reminder=_waiting_reminder(store, inbound.sender, now) if people and not staff else None,
        )
        in_triage = session.flow in runner.registry.never_muted
        outcome = respond(session, inbound.body, ctx)
        urgent = any(isinstance(e, fx.RaiseAlert) and e.urgent for e in outcome.effects)
        if muted and urgent and contact.last_urgent_at and now - datetime.fromisoformat(
                contact.last_urgent_at) < timedelta(minutes=self.policy.mute_minutes):
            # The same phone flooding us with danger: the readings are kept, the first
            # alert and advice stand, and the clinician is not buried under thirty more.
            outcome.effects = [e for e in outcome.effects if not isinstance(e, fx.RaiseAlert)]
            outcome.replies = []
        elif muted and not in_triage:
            # Held back while muted, except advice to get care now; a triage under way is
            # answered in full, so its danger-sign question can still be asked.
            outcome.replies = [m for m in outcome.replies if m.key in SAFETY_ADVICE]
        if urgent:
            contact.last_urgent_at = iso(now)
        plan.actor = f"staff:{staff[0]}" if staff else (f"patient:{person.short_id}" if person else "sender")
        plan.effects = list(outcome.effects)
        session = outcome.session
        plan.session, plan.session_change = session, session_change(session, stored, people, now)
        return outcome.replies, session.language


REMINDER_ANSWERS = timedelta(days=1)  # a 1 or 2 a day after the reminder is ordinary input


def _waiting_reminder(store: Store, sender: str, now: datetime) -> ReminderView | None:
    found = store.reminders.waiting_answer(store.phone_index(sender), iso(now - REMINDER_ANSWERS), iso(now))
    if found is None:
        return None
    send_id, patient_id, rule, sent_at = found
    visit = datetime.fromisoformat(rule["appointment"]) if rule.get("kind") == "appointment" else None
    return ReminderView(send_id, patient_id, rule.get("label", ""), datetime.fromisoformat(sent_at),
                        rule.get("kind", "medicine"), visit)

