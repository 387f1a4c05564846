"""The parser for compact readings: `BP 140/90 P72`, `GLU 7,2`, `1042 BP 150/95 GLU 6.1`.

Rules people rely on (issue 4):
- codes are case-insensitive (see `readings.KINDS` for every alias) and may be glued to
  their value (`BP140/90`, `t38.2`); separators are spaces, `#`, `:`, `-` and `,`;
- a comma or hyphen between two digits belongs to the number (`7,2` is 7.2, `140-90`
  is one token, refused as syntax); BP is written `140/90` or `140\\90`;
- a unit may follow a value, glued or not (`GLU 130mg/dl`, `WT 64 kg`, `SPO2 95 %`);
- a `P` right after a BP gives that BP its pulse;
- glucose above 35 is mg/dL, below 20 is mmol/L, and in between needs a unit;
- a kind already read in the same text is refused as "duplicate" (we cannot tell which
  one the sender meant to keep);
- nothing is dropped silently: every token ends up in a reading, a Problem, or the ID.

Problem reasons: "unknown", "syntax", "range", "missing", "ambiguous_unit",
"duplicate", "no_id". `Problem.token` is the text as typed (after `normalise`); for a
code with its value it is both, e.g. "T 101"; for "no_id" it is "".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flows.normalise import normalise
from flows.readings import CODES, KINDS, Kind, Reading, glucose_reading, glucose_unit_guess, out_of_range

UNKNOWN = "unknown"
SYNTAX = "syntax"
RANGE = "range"
MISSING = "missing"
AMBIGUOUS_UNIT = "ambiguous_unit"
DUPLICATE = "duplicate"
NO_ID = "no_id"


@dataclass(frozen=True)
class Problem:
    """Something in the text that was not stored. `kind` names the reading kind when
    the token began with a code, None otherwise."""

    token: str
    reason: str
    kind: str | None = None


@dataclass(frozen=True)
class ParseResult:
    readings: tuple[Reading, ...]
    problems: tuple[Problem, ...]
    patient_id: str | None = None


# A comma or hyphen is a separator unless it sits between two digits (7,2 / 140-90).
_SEPARATOR = re.compile(r"[ #:]+|(?<![0-9])[,-]|[,-](?![0-9])")
# "140 / 90" is one value: the spaces around a slash between digits are not separators.
_SPACED_SLASH = re.compile(r"(?<=[0-9]) ?([/\\]) ?(?=[0-9])")
# Longest code first, so SPO2 wins over SPO and WT over W.
_CODE = re.compile(
    "(" + "|".join(re.escape(c) for c in sorted(CODES, key=len, reverse=True)) + ")(.*)", re.IGNORECASE | re.ASCII
)
_PATIENT_ID = re.compile(r"[0-9]{4,10}", re.ASCII)
# Bounded digit runs: a 2,000-digit token is refused, never turned into a huge int.
_NUMBER = re.compile(r"([0-9]{1,4})(?:[.,]([0-9]{1,3}))?(.*)", re.ASCII)
_BP = re.compile(r"([0-9]{1,4})[/\\]([0-9]{1,4})(.*)", re.ASCII)


def _tokens(text: str) -> list[str]:
    text = _SPACED_SLASH.sub(lambda m: m.group(1), text)
    return [token for token in _SEPARATOR.split(text) if token]


def _is_digit(ch: str) -> bool:
    return "0" <= ch <= "9"


def _code(token: str) -> tuple[Kind, str] | None:
    """(kind, glued value) when the token is a code, alone (value "") or glued to a value."""
    match = _CODE.fullmatch(token)
    if not match:
        return None
    code, rest = match.groups()
    if rest[:1].isalpha():
        return None  # "Pain", "Thanks", "Tea": a word, not a code
    # "SPO2,95" and "SPO2-95" stay one token (the mark sits between digits): skip the mark.
    # Anything else glued on ("BP=140/90", "Pulse?") is a value, refused later as syntax.
    value = rest.lstrip(",-")
    return KINDS[CODES[code.upper()]], value


def _kind_name(token: str) -> str | None:
    code = _code(token)
    return code[0].name if code else None


def _valueish(token: str) -> bool:
    # What follows a code is taken as its value (right or wrong) when it looks numeric.
    return _is_digit(token[0]) or (token[0] in "./\\" and any(_is_digit(ch) for ch in token))


def _unit(kind: Kind, text: str) -> str | None:
    return kind.units.get(text.upper())


def _reading(kind: Kind, match: re.Match[str] | None, unit_text: str, text: str) -> Reading | str:
    """The reading from a matched value, or the reason it is refused."""
    if not match:
        return SYNTAX
    first, second, _ = match.groups()
    unit = _unit(kind, unit_text) if unit_text else None
    if unit_text and unit is None:
        return SYNTAX
    if kind.name == "bp":
        reading = Reading("bp", {"systolic": int(first), "diastolic": int(second)}, text)
    else:
        measure = next(iter(kind.measures.values()))
        decimals = second or ""
        if len(decimals) > measure.decimals:
            return SYNTAX
        number = float(f"{first}.{decimals or 0}") if measure.decimals else int(first)
        if kind.name == "glucose":
            unit = unit or glucose_unit_guess(number)
            if unit is None:
                return AMBIGUOUS_UNIT
            reading = glucose_reading(number, unit, text)
        else:
            reading = Reading(kind.name, {measure.name: number}, text)
    return RANGE if out_of_range(reading) else reading


def _unit_follows(kind: Kind, tokens: list[str], i: int) -> bool:
    if i >= len(tokens) or not _unit(kind, tokens[i]):
        return False
    # "WT 64 KG 70": a KG followed by a value is the next reading's code, not a unit.
    return not (_code(tokens[i]) and i + 1 < len(tokens) and _valueish(tokens[i + 1]))


def _read_at(tokens: list[str], i: int) -> tuple[Reading | Problem, int]:
    """Read the reading whose code is tokens[i]; returns it (or its Problem) and the next index."""
    kind, value = _code(tokens[i])
    used = [tokens[i]]
    i += 1
    if not value:
        if i < len(tokens) and _valueish(tokens[i]):
            value = tokens[i]
            used.append(value)
            i += 1
        else:
            return Problem(used[0], MISSING, kind.name), i
    match = (_BP if kind.name == "bp" else _NUMBER).fullmatch(value)
    unit_text = match.group(3) if match else ""
    if match and not unit_text and _unit_follows(kind, tokens, i):
        unit_text = tokens[i]
        used.append(unit_text)
        i += 1
    text = " ".join(used)
    outcome = _reading(kind, match, unit_text, text)
    if isinstance(outcome, str):
        return Problem(text, outcome, kind.name), i
    return outcome, i


def _patient_id_index(tokens: list[str]) -> int | None:
    # The CHW puts the patient's ID first ("1042 BP ...") or right after the first code ("BP 1042 ...").
    if tokens and _PATIENT_ID.fullmatch(tokens[0]):
        return 0
    if len(tokens) > 1 and _PATIENT_ID.fullmatch(tokens[1]):
        code = _code(tokens[0])
        if code and not code[1]:
            return 1
    return None


def parse_compact(text: str, *, expect_patient_id: bool = False) -> ParseResult:
    """Parse a compact text into readings and problems; never raises.

    With `expect_patient_id` (a CHW relaying for a patient), a 4-10 digit ID is taken
    from the first token, or the token right after the first code; it is returned as
    typed (check digits are verified elsewhere) and its absence is a "no_id" Problem.
    Otherwise a bare number is an "unknown" Problem like any other stray token.
    """
    tokens = _tokens(normalise(text))
    problems: list[Problem] = []
    patient_id = None
    if expect_patient_id:
        index = _patient_id_index(tokens)
        if index is None:
            problems.append(Problem("", NO_ID))
        else:
            patient_id = tokens.pop(index)

    readings: list[Reading] = []
    seen: set[str] = set()
    i = 0
    while i < len(tokens):
        if _code(tokens[i]) is None:
            problems.append(Problem(tokens[i], UNKNOWN))
            i += 1
            continue
        outcome, i = _read_at(tokens, i)
        if (
            isinstance(outcome, Reading)
            and outcome.kind == "bp"
            and "pulse" not in seen
            and i < len(tokens)
            and _kind_name(tokens[i]) == "pulse"
        ):
            pulse, i = _read_at(tokens, i)
            if isinstance(pulse, Reading):
                values = {**outcome.values, "pulse": pulse.values["bpm"]}
                outcome = Reading("bp", values, f"{outcome.text} {pulse.text}")
            else:
                problems.append(pulse)
        if isinstance(outcome, Problem):
            problems.append(outcome)
            continue
        kinds = {outcome.kind} | ({"pulse"} if "pulse" in outcome.values else set())
        if kinds & seen:
            problems.append(Problem(outcome.text, DUPLICATE, outcome.kind))
            continue
        seen |= kinds
        readings.append(outcome)
    return ParseResult(tuple(readings), tuple(problems), patient_id)


def looks_like_compact(text: str, *, expect_patient_id: bool = False) -> bool:
    """True when the text starts with a reading code and a numeric value (`BP 140/90`,
    `t38`, `GLU 7,2`), so the engine can hand it to `parse_compact` at any step.
    "P" alone, "Pain" or "Thanks" are not compact. With `expect_patient_id`, a leading
    4-10 digit ID is skipped first."""
    tokens = _tokens(normalise(text))
    if expect_patient_id and tokens and _PATIENT_ID.fullmatch(tokens[0]):
        tokens = tokens[1:]
    code = _code(tokens[0]) if tokens else None
    if code is None:
        return False
    glued = code[1]
    return _is_digit(glued[:1]) if glued else len(tokens) > 1 and _valueish(tokens[1])
