"""Conversations as data: a script of texts in and the replies expected out.

    # comment
    @staff chw "Grace Achieng" +254700100103
    @patient 4376 "Amina Zawadi" +254712345678 lang=sw pin=1111 consent chw=+254700100103
    @medicine 4376 Metformin 500mg 60
    @clock 2026-11-22T08:00:00+00:00
    @from +254712345678
    > hi                      a text from the current sender
    < exact reply             each reply, in order, word for word
    <~ Your ID is \\d{4}      a reply matching a regular expression (for random IDs)
    < (none)                  no reply at all
    @wait 31m                 move the clock (s, m, h, d)
    @outbox +254700100101 ~ regex   a message queued for someone else since the last text
    @audit pin.locked         the audit log has an entry with this action

Calls, in keypad mode (tests/calls/):
    @call +254712345678       the number rings the voice line; what it hears follows
    >> 140#                   keys pressed ("1" is one key, "140#" ends with #)
    >> (silence)              no key pressed before the line stops waiting
    >> (again)                Twilio sends the last request again: the answer must not change
    >> (hang up)              the caller hangs up (Twilio's call status callback)
    >> (recorded)             a voice message was recorded (its SID: RE + 32 zeros, then 1)
    >> (recording failed)     Twilio's recording callback says that message was lost
    >> (nurse answers 1)      the nurse rung picks up, hears the whisper, presses 1
    >> (dialed completed)     the nurse's leg ended after talking (or no-answer, busy...)
    @settings VOICE_CONNECT=1  settings for the whole script (read before it starts)
    < words                   each thing said, in order (statements, then the question)
    = one key                 what the line waits for: one key, keys then #, 4 keys,
                              a recording, or hung up

Scripts run through the real webhook, signed as Twilio signs, on a real SQLite file.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from storage.pins import hash_pin
from storage.store import ManualClock as Clock  # noqa: F401 (scripts' tests import it here)
from storage.store import iso


@dataclass
class Expectation:
    line: int
    pattern: str | None  # None means "no reply"
    regex: bool = False

    def matches(self, text: str) -> bool:
        if self.regex:
            return re.fullmatch(self.pattern, text) is not None
        return text == self.pattern


@dataclass
class Exchange:
    line: int
    sender: str
    body: str
    expected: list[Expectation] = field(default_factory=list)
    keys: bool = False  # keys on a call, not a text
    waits: tuple[int, str] | None = None  # "= one key": what the line then waits for


TYPING = timedelta(seconds=10)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


RECORDING_SID = "RE" + "0" * 31 + "1"


def waits_for(heard) -> str:
    """What the line waits for after an answer, as a script writes it."""
    if heard.hung_up:
        return "hung up"
    if heard.dial is not None:
        return "the nurse: " + ", ".join(n["number"] for n in heard.rung)
    if heard.record is not None:
        return "a recording"
    if heard.gather is None:
        return "nothing"  # an empty answer: on a nurse's leg, the caller is put through
    if heard.gather.get("numDigits") == "1":
        return "one key"
    if heard.gather.get("numDigits") == "4":
        return "4 keys"
    return "keys then #"


def parse_duration(text: str) -> timedelta:
    match = re.fullmatch(r"(\d+)([smhd])", text)
    if not match:
        raise ValueError(f"bad duration {text!r}; use like 31m")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


class ScriptRunner:
    def __init__(self, path: Path, twilio, store_factory, clock: Clock, *, world=None):
        """`world`: where the texts go; by default the real webhook and SQLite
        (SqliteWorld), or the engine alone over records in memory (MemoryWorld)."""
        self.path = path
        self.twilio = twilio
        self.store_factory = store_factory
        self.world = world or SqliteWorld(twilio, store_factory)
        self.clock = clock
        self.sender: str | None = None
        self.pending: Exchange | None = None
        self.last_text_at: str | None = None
        self.audit_seen = 0  # audit entries written before the last text
        self.call = None  # the call in progress (keypad mode)
        self.failures: list[str] = []

    def fail(self, line: int, message: str) -> None:
        self.failures.append(f"{self.path.name}:{line}: {message}")

    def run(self) -> list[str]:
        for number, raw in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            line = raw.rstrip()
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if line.startswith(">> "):
                self.flush()
                self.pending = Exchange(number, self.sender, line[3:], keys=True)
            elif line.startswith("= "):
                self.pending.waits = (number, line[2:])
            elif line.startswith("> ") or line == ">":
                self.flush()
                self.pending = Exchange(number, self.sender, line[2:])
            elif line.startswith("<~ "):
                self.pending.expected.append(Expectation(number, line[3:], regex=True))
            elif line.startswith("< "):
                text = line[2:]
                self.pending.expected.append(Expectation(number, None if text == "(none)" else text))
            elif line.startswith("@outbox "):
                # Kept raw: the pattern is a regular expression, backslashes and all.
                self.flush()
                self.directive(number, ["outbox", line[len("@outbox "):]])
            elif line.startswith("@"):
                self.flush()
                self.directive(number, shlex.split(line[1:]))
            else:
                raise ValueError(f"{self.path.name}:{number}: cannot read {line!r}")
        self.flush()
        return self.failures

    def flush(self) -> None:
        exchange, self.pending = self.pending, None
        if exchange is None:
            return
        self.last_text_at = iso(self.clock())
        self.audit_seen = self.world.audit_count()
        if exchange.keys:
            self.clock.now += TYPING
            self._keys(exchange)
            return
        try:
            got = self.world.text(exchange.sender, exchange.body)
        except WorldError as error:
            self.fail(exchange.line, str(error))
            return
        finally:
            # People take a few seconds to read and type; a frozen clock would look like
            # a flood to the loop guard.
            self.clock.now += TYPING
        wanted = [e for e in exchange.expected if e.pattern is not None]
        if len(got) != len(wanted) or not all(e.matches(t) for e, t in zip(wanted, got, strict=False)):
            lines = "\n".join(f"      {'~' if e.regex else ' '} {e.pattern}" for e in wanted) or "      (none)"
            actual = "\n".join(f"        {t}" for t in got) or "        (none)"
            self.fail(exchange.line, f"> {exchange.body}\n    expected:\n{lines}\n    got:\n{actual}")

    def _keys(self, exchange: Exchange) -> None:
        from tests.helpers.voice_call import Call

        action = exchange.body
        try:
            if action.startswith("(call "):
                self.call = Call(self.twilio, action[len("(call "):-1])
                heard = self.call.start()
            elif action == "(silence)":
                heard = self.call.silence()
            elif action == "(hang up)":
                reply = self.call.hang_up()
                if reply.status != 204:
                    self.fail(exchange.line, f"call status callback answered {reply.status}")
                return
            elif action == "(recorded)":
                heard = self.call.recorded(RECORDING_SID)
            elif action == "(recording failed)":
                reply = self.call.recording_status(RECORDING_SID, "failed")
                if reply.status != 204:
                    self.fail(exchange.line, f"recording callback answered {reply.status}")
                return
            elif action.startswith("(nurse answers "):
                whisper = self.call.nurse_picks_up()
                heard = self.call.nurse_presses(whisper, action[len("(nurse answers "):-1])
                got = whisper.asked + heard.said
                wanted = [e for e in exchange.expected if e.pattern is not None]
                if len(got) != len(wanted) or not all(e.matches(t) for e, t in zip(wanted, got, strict=False)):
                    self.fail(exchange.line, f"the nurse heard {got}")
                if exchange.waits and waits_for(heard) != exchange.waits[1]:
                    self.fail(exchange.waits[0], f"after the whisper: {waits_for(heard)!r}")
                return
            elif action.startswith("(dialed "):
                heard = self.call.dialed(action[len("(dialed "):-1])
            elif action == "(again)":
                before = self.call.last
                heard = self.call.again()
                if before is not None and heard.raw != before.raw:
                    self.fail(exchange.line, f"a retried request was answered differently:\n{heard.raw}")
            else:
                heard = self.call.press(action)
        except AssertionError as error:
            self.fail(exchange.line, f">> {action}: {error}")
            return
        got = heard.said + heard.asked
        wanted = [e for e in exchange.expected if e.pattern is not None]
        if len(got) != len(wanted) or not all(e.matches(t) for e, t in zip(wanted, got, strict=False)):
            lines = "\n".join(f"      {'~' if e.regex else ' '} {e.pattern}" for e in wanted) or "      (none)"
            actual = "\n".join(f"        {t}" for t in got) or "        (none)"
            self.fail(exchange.line, f">> {action}\n    expected:\n{lines}\n    heard:\n{actual}")
        if exchange.waits:
            line, wanted_wait = exchange.waits
            if waits_for(heard) != wanted_wait:
                self.fail(line, f"the line waits for {waits_for(heard)!r}, not {wanted_wait!r}")

    def directive(self, line: int, words: list[str]) -> None:
        name, args = words[0], words[1:]
        if name == "call":
            self.pending = Exchange(line, args[0], f"(call {args[0]})", keys=True)
            return
        if name == "settings":
            return  # read by the test before the app is made
        if name == "from":
            self.sender = args[0]
        elif name == "clock":
            self.clock.now = datetime.fromisoformat(args[0])
        elif name == "wait":
            self.clock.now += parse_duration(args[0])
        elif name == "end-to-end":
            self.world.end_to_end_only(" ".join(args))
        elif name == "staff":
            self.world.add_staff(*args)
        elif name == "patient":
            self.world.add_patient(args)
        elif name == "medicine":
            short_id, med, dose, quantity = args
            self.world.add_medicine(short_id, med, dose, int(quantity))
        elif name == "outbox":
            phone, _, pattern = " ".join(args).partition(" ~ ")
            bodies = [body for to, body in self.world.outbox_since(self.last_text_at or "") if to == phone]
            if not any(re.fullmatch(pattern, b) for b in bodies):
                self.fail(line, f"no outbox message to {phone} matching {pattern!r}; queued: {bodies}")
        elif name == "no-outbox":
            bodies = [body for _, body in self.world.outbox_since(self.last_text_at or "")]
            if bodies:
                self.fail(line, f"expected nothing queued, got {bodies}")
        elif name == "audit":
            # What the last text did, not anything earlier in the script.
            actions = self.world.audit_actions(self.audit_seen)
            if args[0] not in actions:
                self.fail(line, f"no audit entry {args[0]!r} after the last text; it wrote {actions}")
        else:
            raise ValueError(f"{self.path.name}:{line}: unknown directive @{name}")

    @staticmethod
    def add_patient(store, args: list[str]) -> None:
        short_id, name, phone, *options = args
        opts = dict(o.split("=", 1) if "=" in o else (o, "yes") for o in options)
        chw = store.staff.by_phone(opts["chw"]).id if "chw" in opts else None
        extra = {}
        if "pin" in opts:
            extra["pin_hash"] = hash_pin(store.keys.pin_key, opts["pin"], store.pin_work)
        if "consent" in opts:
            extra["consent_at"] = store.now_iso()
            extra["consent_version"] = "consent-v1"
        with store.write():  # a savepoint when the caller already holds the transaction
            store.patients.add(
                ids=(store.new_id(), short_id), name=name, phone=None if phone == "-" else phone,
                time_zone=opts.get("tz", "Africa/Nairobi"), language=opts.get("lang", "en"),
                birth_year=int(opts["born"]) if "born" in opts else None, sex=opts.get("sex"), chw_id=chw, **extra,
            )


class WorldError(Exception):
    """A text the world could not take (an HTTP error from the webhook)."""


class EndToEndOnly(Exception):  # noqa: N818 (a signal, not an error)
    """The script tests what only the whole server does; the engine alone skips it."""


class SqliteWorld:
    """Texts through the real, signed webhook; records in the real SQLite file."""

    def __init__(self, twilio, store_factory):
        self.twilio, self.store_factory = twilio, store_factory

    def text(self, sender: str, body: str) -> list[str]:
        reply = self.twilio.sms(sender, body)
        if reply.status != 200 or reply.content_type != "text/xml":
            raise WorldError(f"HTTP {reply.status} {reply.content_type}: {reply.raw[:200]}")
        return reply.messages

    def end_to_end_only(self, why: str) -> None:
        pass

    def add_staff(self, role: str, name: str, phone: str) -> None:
        store = self.store_factory()
        with store.write():
            store.staff.add(role=role, name=name, phone=phone)

    def add_patient(self, args: list[str]) -> None:
        ScriptRunner.add_patient(self.store_factory(), args)

    def add_medicine(self, short_id: str, name: str, dose: str, quantity: int) -> None:
        store = self.store_factory()
        with store.write():
            store.medications.add(store.patients.by_short_id(short_id).id, name=name, dose=dose, quantity=quantity)

    def outbox_since(self, moment: str) -> list[tuple[str, str]]:
        return [(m.phone, m.body) for m in self.store_factory().outbox.created_since(moment)]

    def audit_count(self) -> int:
        return self.store_factory().one("SELECT count(*) FROM audit_log")[0]

    def audit_actions(self, since: int) -> list[str]:
        return [e.action for e in self.store_factory().audit.entries()[since:]]

