"""One turn of a call: the keys pressed, read as the open step expects, run through the
same conversation service as a text, and what the engine says turned into TwiML.

The engine never learns it is on a call except through the catalog (the @voice
variants): the flows, the care rules, the stored records and the alerts are the SMS
line's. What is only the voice line's lives here: choosing a language before anything
else, a blood pressure asked as two numbers, a reading read back before it is saved,
9 to repeat, and silence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from flows.conversation import runner
from flows.engine import CHOICE, NUMBER, PAIR, TEXT, Message, Session, Step
from flows.patient_flows import LANGUAGE_OPTIONS
from flows.readings import KINDS
from flows.service import STATIC_PARAMS, ConversationService, Handled, Inbound
from ivr import keypad, speech
from ivr.keypad import ONE_KEY, Gather
from ivr.line import CHOOSING_LANGUAGE, CONNECT_OFFER, DIALING, ENGINE, READBACK, RECORDING, Line, keys_of
from ivr.speech import Spoken
from storage import Store

SILENCES_BEFORE_GOODBYE = 2
RECORDING_SECONDS = 60
# Where the engine waits for words a keypad cannot type: the nurse hears a recording.
RECORDED_STEPS = {("nurse", "describe")}
# Flows a caller cannot take part in: joining needs a name typed.
SMS_ONLY_FLOWS = {"join"}


class CallTurn:
    """Everything one request needs: the store, the service, who is calling, which call."""

    def __init__(self, store: Store, service: ConversationService, call_sid: str, caller: str, *,
                 prompt_url: Callable[[str, str | None], str | None], base: str = "/voice",
                 nurses: Callable[[], list[str]] = list, clinic_number: str = ""):
        """`nurses`: the phones to ring when a caller asks to talk now (empty when the
        clinic has not turned calls through on, or nobody is on call); `clinic_number`:
        the number the patient called, shown to the nurse as the caller."""
        self.store, self.service, self.call_sid, self.caller = store, service, call_sid, caller
        self.prompt_url, self.base = prompt_url, base
        self.nurses, self.clinic_number = nurses, clinic_number
        self.session_key = keys_of(store, call_sid)[1]

    # -- what is said ---------------------------------------------------------------

    def say(self, language: str, key: str, **params) -> Spoken:
        return Spoken(self.service.render(language, Message(key, params), "voice"), key,
                      recordable=set(params) <= STATIC_PARAMS)

    def _ask(self, line: Line, statements: list[Spoken], question: list[Spoken], gather: Gather) -> str:
        line.question = [asdict(q) for q in question]
        line.silences = 0
        turn = line.next + 1  # the turn this answer waits for (set by the caller of _ask)
        return speech.ask(statements, question, line.language, action=f"{self.base}/t/{turn}",
                          silence=f"{self.base}/t/{turn}/silence", gather=gather, prompt_url=self._url)

    def _url(self, language: str, key: str | None) -> str | None:
        return self.prompt_url(language, key)

    def _goodbye(self, line: Line, statements: list[Spoken]) -> str:
        return speech.goodbye(statements, line.language, prompt_url=self._url)

    # -- the start of a call ----------------------------------------------------------

    def start(self, line: Line, known: bool) -> str:
        if not known:
            line.phase = CHOOSING_LANGUAGE
            offers = [Spoken(self.service.render(option.value, Message("voice.language_offer", {"digit": str(n)}),
                                                 "voice"), "voice.language_offer", option.value, recordable=True)
                      for n, option in enumerate(LANGUAGE_OPTIONS, 1)]
            return self._ask(line, [], offers, ONE_KEY)
        handled = self._engine(line, "menu", 0)
        language = self._session().language
        line.language = language
        welcome = [self.say(language, "voice.welcome", clinic=self.service.config.clinic_name),
                   self.say(language, "voice.keys")]
        return self._after_engine(line, welcome, handled)

    def staff_caller(self, line: Line) -> str:
        language = self.service.config.default_language
        line.language = language
        return self._goodbye(line, [self.say(language, "voice.staff_line", clinic=self.service.config.clinic_name)])

    def opted_out(self, line: Line) -> str:
        """A number that texted STOP: told how to come back (a call changes nothing)."""
        people = self.store.patients.briefs_on_phone(self.store.phone_index(self.caller))
        line.language = people[0].language if people else self.service.config.default_language
        return self._goodbye(line, [self.say(line.language, "voice.opted_out", clinic=self.service.config.clinic_name)])

    def left(self, line: Line) -> None:
        """The caller hung up: a question that must not be dropped (a danger sign) is left
        the way a texter leaves it, with MENU, so the clinician is told."""
        session = self._session()
        step = runner.current_step(session)
        if step is not None and (step.give_up is not None or session.flow in runner.registry.never_muted):
            self._engine(line, "menu", "end")

    # -- one turn of keys ----------------------------------------------------------------

    def keys(self, line: Line, digits: str, finished_on_key: str) -> str:
        if line.phase == CHOOSING_LANGUAGE:
            return self._language_chosen(line, digits)
        if line.phase in (READBACK, CONNECT_OFFER) and finished_on_key != "#" and digits in ("9", "0", "*"):
            # The keys said at the start of every call mean the same here.
            if digits == "9":
                return self._ask(line, [], self._question(line), ONE_KEY)
            reading_again = line.phase == READBACK and digits == "*"
            line.phase, line.candidate, line.first = ENGINE, None, None
            if reading_again:
                return self._ask(line, [], self._value_question(line), Gather())
            return self._after_engine(line, [], self._engine(line, "menu" if digits == "0" else "back", line.next))
        if line.phase == READBACK:
            return self._readback_answered(line, digits, finished_on_key)
        if line.phase == CONNECT_OFFER:
            return self._connect_answered(line, digits)
        session = self._session()
        step = runner.current_step(session)
        expects = step.expectation(session) if step else CHOICE
        options = step.options if step else ()
        read = keypad.read_keys(digits, finished_on_key, expects, step, options, first=line.first)
        if read.command == keypad.REPEAT:
            return self._ask(line, [], self._question(line), self._gather_now(line))
        if read.command in (keypad.BACK, keypad.MENU):
            line.first = None
            return self._after_engine(line, [], self._engine(line, read.command, line.next))
        if read.first is not None:
            line.first = read.first
            return self._ask(line, [], [self.say(line.language, "voice.bp_bottom")], Gather())
        if read.problem is not None:
            # A slip on the bottom number keeps the top one: asked again, not shifted.
            problem = "voice.number_needed" if expects in (NUMBER, PAIR) else "voice.not_understood"
            return self._ask(line, [self.say(line.language, problem)], self._question(line), self._gather_now(line))
        if step is None:
            # Nothing asked (a reading was just saved): any key brings the menu back.
            return self._after_engine(line, [], self._engine(line, "menu", line.next))
        line.first = None
        if (session.flow, session.step) == ("reading", "value"):
            kind = KINDS.get(session.data.get("kind", ""))
            if kind is not None and _slip(kind, read.text):
                # 1400 for a blood pressure is a slip of the finger, not an emergency:
                # asked again before it can be saved (or raise an alarm).
                return self._ask(line, [self.say(line.language, "reading.ask_again")], self._value_question(line),
                                 Gather())
            # Keys are easy to slip on: a reading is said back before it is saved.
            line.phase, line.candidate = READBACK, read.text
            first, _, second = read.text.partition("/")
            value = self.service.render(line.language, Message("voice.pair", {"first": first, "second": second}),
                                        "voice") if second else read.text
            return self._ask(line, [], [self.say(line.language, "voice.readback", value=value)],
                             ONE_KEY)
        return self._after_engine(line, [], self._engine(line, read.text, line.next))

    def _language_chosen(self, line: Line, digits: str) -> str:
        index = int(digits) - 1 if len(digits) == 1 and digits in "123456789" else -1
        if not 0 <= index < len(LANGUAGE_OPTIONS):
            offers = [Spoken(**q) for q in line.question]
            return self._ask(line, [], offers, ONE_KEY)
        line.language = LANGUAGE_OPTIONS[index].value
        return self._goodbye(line, [self.say(line.language, "voice.not_enrolled",
                                             clinic=self.service.config.clinic_name)])

    def _readback_answered(self, line: Line, digits: str, finished_on_key: str) -> str:
        if digits == "1" and line.candidate:
            text, line.phase, line.candidate = line.candidate, ENGINE, None
            kind = KINDS.get(self._session().data.get("kind", ""))
            # Sent as a reading ("GLU 0"), so a value of 0 is a value, never the menu word.
            return self._after_engine(line, [], self._engine(line, f"{kind.codes[0]} {text}" if kind else text,
                                                             line.next))
        if digits in ("2", "*"):
            line.phase, line.candidate = ENGINE, None
            return self._ask(line, [], self._value_question(line), Gather())
        if digits == "0" and finished_on_key != "#":
            line.phase, line.candidate = ENGINE, None
            return self._after_engine(line, [], self._engine(line, "menu", line.next))
        return self._ask(line, [self.say(line.language, "voice.not_understood")], self._question(line),
                         ONE_KEY)

    # -- silence ----------------------------------------------------------------------

    def silence(self, line: Line) -> str:
        if line.phase == RECORDING:
            return self.no_message(line)
        line.silences += 1
        if line.silences >= SILENCES_BEFORE_GOODBYE:
            return self._goodbye(line, [self.say(line.language, "voice.goodbye_silence")])
        silences = line.silences
        twiml = self._ask(line, [self.say(line.language, "voice.no_input")], self._question(line),
                          self._gather_now(line))
        line.silences = silences
        return twiml

    # -- the engine ---------------------------------------------------------------------

    def _session(self) -> Session:
        return Session.from_dict(self.store.sessions.load(self.session_key))

    def _engine(self, line: Line, text: str, turn: int | str, *, recording: dict[str, str] | None = None) -> Handled:
        self.store.inbound.bind_sender(self.store.phone_index(self.caller))
        inbound = Inbound(sid=f"{self.call_sid}:{turn}", sender=self.caller, body=text, channel="voice",
                          session_key=self.session_key, recording=recording)
        return self.service.handle(self.store, inbound)

    def _after_engine(self, line: Line, before: list[Spoken], handled: Handled) -> str:
        session = self._session()
        line.language = session.language
        if session.flow in SMS_ONLY_FLOWS and not any(s.key == "voice.join_by_sms" for s in before):
            # Someone new on a shared phone joins by SMS (a name cannot be keyed in).
            note = self.say(line.language, "voice.join_by_sms")
            return self._after_engine(line, before + [note], self._engine(line, "menu", f"{line.next}j"))
        if len(handled.keys) == len(handled.replies):
            said = [Spoken(text, key, recordable=same) for text, key, same in
                    zip(handled.replies, handled.keys, handled.same_for_all, strict=True)]
        else:  # a retried turn: the texts were kept, not their keys
            said = [Spoken(text) for text in handled.replies]
        statements = before + said
        step = runner.current_step(session)
        if step is None:
            return self._ask(line, statements, [self.say(line.language, "voice.anything_else")],
                             ONE_KEY)
        expects = step.expectation(session)
        if expects == TEXT:
            if (session.flow, session.step) in RECORDED_STEPS:
                if self.nurses():
                    line.phase = CONNECT_OFFER
                    return self._ask(line, statements, [self.say(line.language, "voice.connect_offer")], ONE_KEY)
                return self._record(line, statements)
            # Words only an SMS can carry: say so and offer the menu instead.
            menu = self._engine(line, "menu", f"{line.next}m")
            return self._after_engine(line, statements + [self.say(line.language, "voice.needs_sms")], menu)
        question = [statements.pop()] if statements else self._question(line)
        if expects == PAIR:
            # "Send the value, like BP 140/90" becomes two questions, top number first.
            if question[0].key != "reading.ask":
                statements += question
            question = [self.say(line.language, "voice.bp_top")]
        return self._ask(line, statements, question, self._gather(step, session))

    def _record(self, line: Line, statements: list[Spoken]) -> str:
        line.phase = RECORDING
        turn = line.next + 1
        return speech.record(statements + [self.say(line.language, "voice.record")], line.language,
                             action=f"{self.base}/t/{turn}/recorded", status=f"{self.base}/recording",
                             silence=f"{self.base}/t/{turn}/silence", max_seconds=RECORDING_SECONDS,
                             prompt_url=self._url)

    def no_message(self, line: Line) -> str:
        """Nothing was said after the beep (Twilio records nothing and moves on): the
        question still reaches the nurse, who is asked to call back."""
        line.phase = ENGINE
        text = self.service.render(line.language, Message("voice.no_message", {}), "sms")
        return self._after_engine(line, [], self._engine(line, text, line.next))

    def recorded(self, line: Line, recording_sid: str, recording_url: str) -> str:
        """A voice message was left for the nurse: the consult is opened with it."""
        line.phase = ENGINE
        text = self.service.render(line.language, Message("voice.voice_message", {}), "sms")
        recording = {"sid": recording_sid, "url": recording_url}
        return self._after_engine(line, [], self._engine(line, text, line.next, recording=recording))

    def _connect_answered(self, line: Line, digits: str) -> str:
        if digits == "1":
            nurses = self.nurses()
            if nurses:
                line.phase = DIALING
                turn = line.next + 1
                return speech.dial([self.say(line.language, "voice.connecting")], line.language, nurses,
                                   caller_id=self.clinic_number, action=f"{self.base}/t/{turn}/dialed",
                                   whisper=f"{self.base}/whisper", prompt_url=self._url)
            return self._record(line, [self.say(line.language, "voice.no_answer")])
        if digits == "2":
            return self._record(line, [])
        return self._ask(line, [self.say(line.language, "voice.not_understood")], self._question(line), ONE_KEY)

    def dialed(self, line: Line, status: str) -> str:
        """The nurse's phone rang: talked (the consult records it), or not (a message)."""
        if status == "completed":
            line.phase = ENGINE
            text = self.service.render(line.language, Message("voice.talked", {}), "sms")
            return self._after_engine(line, [], self._engine(line, text, line.next))
        return self._record(line, [self.say(line.language, "voice.no_answer")])

    # -- helpers ----------------------------------------------------------------------

    def _question(self, line: Line) -> list[Spoken]:
        return [Spoken(**q) for q in line.question] or [
            self.say(line.language, "voice.anything_else")]

    def _value_question(self, line: Line) -> list[Spoken]:
        session = self._session()
        step = runner.current_step(session)
        if step is not None and step.expectation(session) == PAIR:
            return [self.say(line.language, "voice.bp_top")]
        return [self.say(line.language, "reading.ask", example="")]

    def _gather_now(self, line: Line) -> Gather:
        if line.phase in (CHOOSING_LANGUAGE, READBACK, CONNECT_OFFER):
            return ONE_KEY
        session = self._session()
        step = runner.current_step(session)
        if step is None:
            return ONE_KEY
        return self._gather(step, session)

    @staticmethod
    def _gather(step: Step, session: Session) -> Gather:
        shown = session.data.get("shown")
        count = len(step.options) or (len(shown) if isinstance(shown, list) else 0)
        # A list the step reads itself (medicines, with 98 for more) may need two keys.
        return keypad.gather_for(step.expectation(session), 0 if step.parse else count)


def _slip(kind, text: str) -> bool:
    """A keyed value more than twice what any meter shows (1400 for a blood pressure, 380
    for a temperature): a finger slipped. A value merely past the plausible range (BP
    270/150) is not refused here: the engine treats it as the danger it may be."""
    try:
        numbers = [float(part) for part in text.split("/")]
    except ValueError:
        return False
    measures = list(kind.measures.values())
    if len(numbers) == 1:
        return numbers[0] > 2 * max(m.high for m in measures)
    return any(value > 2 * measure.high for value, measure in zip(numbers, measures, strict=False))


def prompt_urls(folder: Path | None, base: str) -> Callable[[str, str | None], str | None]:
    """The URL Twilio fetches a clinic's recording of a message from, when there is one."""

    def url(language: str, key: str | None) -> str | None:
        if key is None or speech.prompt_file(folder, language, key) is None:
            return None
        return f"{base}/prompts/{language}/{key}.mp3"

    return url
