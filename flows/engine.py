"""The conversation engine: flows declared as data, run one input at a time.

A flow is a set of named steps. A step has a prompt (a catalog key), and either
numbered options (answered by number or by word) or a parser for a free value. The
engine is a pure function of (session, input, context): it returns the new session,
the replies (catalog keys with parameters, rendered later in the reader's language)
and the effects for the service module to apply. Time, the sender's records and
every lookup come in through the context, so a conversation replays the same way
every time: that is what lets conversations be tested as data files.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flows.context import Context

DONE = "<done>"


@dataclass(frozen=True)
class Message:
    """A reply before rendering: a catalog key and its parameters. A parameter may
    itself be a Message (rendered in the same language) or a sequence of them."""

    key: str
    params: Mapping[str, Any] = field(default_factory=dict)


def msg(key: str, **params: Any) -> Message:
    return Message(key, params)


class Invalid(Exception):
    """Raised by a parser: the input does not fit; `hint` says what to send instead."""

    def __init__(self, hint: str, **params: Any):
        super().__init__(hint)
        self.hint = Message(hint, params)


@dataclass(frozen=True)
class Option:
    """One numbered choice. `words` is the catalog key of the words that also pick it."""

    value: str
    label: str | Message  # a name as written, or a catalog message to translate
    words: str | None = None
    short: str | Message | None = None  # the label in a hint, where room is short


@dataclass(frozen=True)
class Choices:
    """Options as shown: (number, label) pairs, numbered by the engine, never by a
    translator. The catalog writes them for the channel: "1 Send a reading 2 ..." in an
    SMS, "For send a reading, press 1. ..." on a call."""

    items: tuple[tuple[str, str | Message], ...]
    note: Message | None = None  # said after them: "(1-4 of 6, 98 for more)"

    @property
    def last(self) -> str:
        return self.items[-1][0] if self.items else "0"


# What a step expects, so each channel can ask for it its own way: on a call a choice
# is one key, a number ends with #, a pair is two numbers, a PIN is four keys, and free
# text has no keypad form at all.
CHOICE, NUMBER, PAIR, PIN, TEXT = "choice", "number", "pair", "pin", "text"


@dataclass(frozen=True)
class Answer:
    """What a step's handler decides: where to go, what to say, what to do."""

    goto: str | None = None  # a step of this flow, DONE, or None to stay and re-ask
    say: tuple[Message, ...] = ()
    effects: tuple[Any, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)
    prompt: bool = True  # prompt the step we land on (False when `say` already asks)
    session: Mapping[str, Any] = field(default_factory=dict)  # session fields to set


Handler = Callable[[Any, "Turn"], Answer]


@dataclass(frozen=True)
class Step:
    prompt: str
    options: tuple[Option, ...] = ()
    # Options that depend on the sender (their medicines, the profiles on a phone).
    choose: Callable[[Context, Session], Sequence[Option]] | None = None
    parse: Callable[[str, Context, Mapping[str, Any]], Any] | None = None
    save: str | None = None
    next: str | None = None
    then: Handler | None = None
    hint: str | None = None
    # Prompt parameters, computed from the context and the session (its data, patient).
    params: Callable[[Context, Session], Mapping[str, Any]] | None = None
    # Steps that only ask (never store) can be returned to with BACK; those that
    # act (a PIN check) cannot, so BACK skips them.
    backable: bool = True
    # A safety question never falls back to the menu: after the last miss this decides
    # (safety advice and an alert) instead of dropping the question.
    give_up: Handler | None = None
    # The answer is the sender's own words: words like NURSE are part of it, not commands.
    free_text: bool = False
    # Options are answered by number ("1") only where the prompt shows numbers; a YES/NO
    # question takes words, so a stray "1" never consents for anyone.
    numbered: bool = True
    # Remember the options as shown, so an answer picks what the person saw even if the
    # list changed meanwhile (someone enrolled on the phone between question and answer).
    keep_choices: bool = False
    # What the answer is (CHOICE, NUMBER, PAIR, PIN or TEXT), or a function of the
    # session when it depends on an earlier answer (a BP is a pair, a weight a number).
    # Unset: a choice when the step has options, else text.
    expects: str | Callable[[Session], str] | None = None

    def expectation(self, session: Session) -> str:
        if callable(self.expects):
            return self.expects(session)
        if self.expects:
            return self.expects
        return CHOICE if (self.options or self.choose) else TEXT

    def options_for(self, ctx: Context, session: Session) -> Sequence[Option]:
        return self.choose(ctx, session) if self.choose else self.options


@dataclass(frozen=True)
class Flow:
    name: str
    start: str
    steps: Mapping[str, Step]
    # What to say and do once the last step is answered; most flows end in a step's
    # own handler, so by default the flow just ends.
    finish: Callable[[Turn], Answer] = lambda turn: Answer()
    # Private flows reveal health data: the engine asks for the PIN first.
    private: bool = False


@dataclass
class Session:
    """Everything remembered about one phone's conversation, stored sealed."""

    language: str = "en"
    flow: str | None = None
    step: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    trail: list[str] = field(default_factory=list)
    misses: int = 0
    patient_id: int | None = None
    unlocked_until: str | None = None
    updated_at: str | None = None
    # Where to go once the PIN is entered (a private flow the sender asked for).
    resume: str | None = None
    # Texts with readings kept until the sender can be told apart or is set up (a shared
    # phone before saying who is texting, consent or PIN still missing), oldest first:
    # {"text": ..., "alerted": True when an urgent value in it already raised an alert}.
    pending: list[dict[str, Any]] = field(default_factory=list)
    # The question a detour (LANG) interrupted, to come back to: flow, step, data, trail.
    aside: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        # By hand, not dataclasses.asdict: that deep-copies recursively on every text.
        state = {name: getattr(self, name) for name in _SESSION_FIELDS}
        state["data"], state["trail"] = dict(self.data), list(self.trail)
        state["pending"] = [dict(p) for p in self.pending]
        return state

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> Session:
        if not raw:
            return cls()
        fields = {k: v for k, v in raw.items() if k in _SESSION_FIELDS}
        pending = fields.get("pending")
        if isinstance(pending, str):  # sessions stored before several texts could wait
            fields["pending"] = [{"text": pending}]
        elif pending is None:
            fields["pending"] = []
        return cls(**fields)

    def keep_pending(self, text: str) -> None:
        self.pending.append({"text": text})

    def copy(self) -> Session:
        return Session.from_dict(self.to_dict())

    def clear_flow(self) -> None:
        self.flow = self.step = self.resume = None
        self.data, self.trail, self.misses = {}, [], 0

    def unlocked(self, now: datetime) -> bool:
        return bool(self.unlocked_until) and datetime.fromisoformat(self.unlocked_until) > now

    def unlock(self, now: datetime, minutes: int) -> None:
        self.unlocked_until = unlocked_until(now, minutes)


def unlocked_until(now: datetime, minutes: int) -> str:
    """When a PIN given `now` stops opening a person's data: a handler returns it in
    Answer.session (it sees only a copy of the session)."""
    return (now + timedelta(minutes=minutes)).isoformat(timespec="seconds")


_SESSION_FIELDS = frozenset(f.name for f in dataclasses.fields(Session))


@dataclass
class Outcome:
    session: Session
    replies: list[Message] = field(default_factory=list)
    effects: list[Any] = field(default_factory=list)


@dataclass
class Turn:
    """What a handler sees: a copy of the session and of the flow's data so far (it
    changes them only through the Answer it returns), the context, and the normalised
    text."""

    session: Session
    data: Mapping[str, Any]
    ctx: Context
    text: str


def match_option(
    text: str, options: Sequence[Option], words: Callable[[str], set[str]], numbered: bool = True
) -> Option | None:
    """An option by its number ("2", "2.", "#2") or by one of its words ("refill")."""
    answer = text.strip().strip(".)#").strip().casefold()
    if answer.isdigit():
        if not numbered:
            return None
        if len(answer) > 3:
            return None  # no list is that long (and int() refuses thousands of digits)
        index = int(answer) - 1
        return options[index] if 0 <= index < len(options) else None
    for option in options:
        if answer == option.value.casefold() or (option.words and answer in words(option.words)):
            return option
    # A name as shown ("Metformin 500mg x60"), or just its first word if only one has it.
    labels = [(o, o.label.casefold()) for o in options if isinstance(o.label, str)]
    exact = [o for o, label in labels if answer == label]
    first_word = [o for o, label in labels if label.split() and answer == label.split()[0]]
    if exact:
        return exact[0]
    return first_word[0] if len(first_word) == 1 else None
