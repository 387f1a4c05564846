"""Keys pressed on a call, read as what the open step expects. Pure: no I/O.

The same keys mean the same thing everywhere on the line:
- `9` alone repeats the question, `*` alone goes back, `0` alone reaches the menu;
- a choice is one key (a list longer than nine ends with `#`);
- a number ends with `#`, and `*` inside it is the decimal point (`7*2#` is 7.2);
- a blood pressure is two numbers, the top one then the bottom one, each ending `#`;
- a PIN is four keys.
Twilio tells whether `#` ended the entry (FinishedOnKey), so `9#` is the number nine
while `9` alone asks to hear the question again.
"""

from __future__ import annotations

from dataclasses import dataclass

from flows.engine import CHOICE, NUMBER, PAIR, PIN, TEXT, Option, Step

REPEAT, BACK, MENU = "repeat", "back", "menu"
MAX_KEYS = 12  # the longest entry any step takes (a number with decimals and #)


@dataclass(frozen=True)
class Gather:
    """How to collect the next answer: one key, or keys until `#`."""

    num_digits: int | None = None
    finish_on_key: str = "#"


@dataclass(frozen=True)
class Keys:
    """What the caller's keys mean: a command (REPEAT, BACK, MENU), text for the engine,
    the first half of a pair to keep, or nothing usable (`problem` says why)."""

    command: str | None = None
    text: str | None = None
    first: str | None = None
    problem: str | None = None


ONE_KEY = Gather(num_digits=1, finish_on_key="")


def gather_for(expects: str, choices: int = 0) -> Gather:
    """A choice among at most nine is one key; a PIN four; anything else ends with #."""
    if expects == CHOICE and 1 <= choices <= 9:
        return ONE_KEY
    if expects == PIN:
        return Gather(num_digits=4)
    return Gather()


def read_keys(digits: str, finished_on_key: str, expects: str, step: Step | None, options: tuple[Option, ...] = (),
              *, first: str | None = None) -> Keys:
    """`digits` as Twilio sent them (without the final #); `options` the step's options as
    shown, for a question answered by word in an SMS (YES/NO) that a key answers here."""
    digits = (digits or "")[:MAX_KEYS]
    ended = finished_on_key == "#"
    if digits == "*":
        return Keys(command=BACK)
    if not ended and digits in ("0", "9"):
        nine_is_an_option = expects == CHOICE and len(options) >= 9
        if digits == "0":
            return Keys(command=MENU)
        if not nine_is_an_option:
            return Keys(command=REPEAT)
    if not digits:
        return Keys(problem="empty")
    if expects == CHOICE:
        if not digits.isdigit():
            return Keys(problem="choice")
        if step is not None and not step.numbered and options:
            # A YES/NO question takes words in an SMS; on a call it is 1 or 2.
            index = int(digits) - 1
            return Keys(text=options[index].value) if 0 <= index < len(options) else Keys(problem="choice")
        return Keys(text=digits)
    if expects == PIN:
        return Keys(text=digits) if digits.isdigit() else Keys(problem="pin")
    if expects in (NUMBER, PAIR):
        number = _number(digits)
        if number is None:
            return Keys(problem="number")
        if expects == PAIR:
            return Keys(text=f"{first}/{number}") if first else Keys(first=number)
        return Keys(text=number)
    if expects == TEXT:
        return Keys(problem="text")
    return Keys(text=digits)


def _number(digits: str) -> str | None:
    """`7*2` -> "7.2"; one decimal point at most, digits on both sides of it."""
    whole, star, decimals = digits.partition("*")
    if not whole.isdigit() or (star and not decimals.isdigit()):
        return None
    return f"{whole}.{decimals}" if star else whole
