"""The parser for compact readings: `BP 140/90 P72`, `GLU 7,2`, `1042 BP 150/95 GLU 6.1`.

Rules people rely on (issue 4):
- codes are case-insensitive (see `readings.KINDS` for every alias) and may be glued to
  their value (`BP140/90`, `t38.2`); separators are spaces, `#`, `:`, `-` and `,`;
- a code may be written with full stops (`B.P 140/90`, `B.P. 140/90`, `Bp.140/90`);
- a comma or hyphen between two digits belongs to the number (`7,2` is 7.2, `140-90`
  is one token, refused as syntax); BP is written `140/90` or `140\\90`;
- a full stop, comma, `!` or `?` closing the text (`BP 140/90.`, `GLU 7.2!`) is ignored,
  and so is one written right after a value (`BP 140/90. GLU 7.2`); a decimal point
  inside a number is not;
- a unit may follow a value, glued or not (`GLU 130mg/dl`, `WT 64 kg`, `SPO2 95 %`); units
  of another scale are converted (`WT 180 lbs` is stored as 81.6 kg and echoed
  `WT 81.6 (180lb)`; `T 101F` as 38.3 °C, `T 38.3 (101F)`); a unit written with a
  trailing full stop (`lb.`) is still that unit;
- a unit-like word right after a value that is not a unit of that kind (`WT 80 st`,
  `T 38 mg`, `GLU 7 kg`, `GLU 7.2ppm`) makes that reading a "unit" Problem: the number is
  never stored as typed. The unit-like spellings are `readings.UNIT_LIKE` (English,
  French, Spanish and Kiswahili words included); other words stay "unknown";
- a `P` right after a BP gives that BP its pulse, even glued (`BP140/90P72`), and so
  does a third number (`BP 140/90/72`, the order every home monitor shows);
- a bare `140/90` (no code) is a blood pressure when it is plausible as one (systolic
  60-260 above diastolic 30-160, and a third number a plausible pulse); anything else
  with a slash (`12/5`, a date) stays "unknown". A bare number after it (`140/90 72`)
  is not taken as a pulse: it could as well be a weight, so it stays "unknown";
- glucose above 35 is mg/dL, below 20 is mmol/L, and in between needs a unit; weight
  with no unit is kg and temperature with no unit (or only a degree sign) Celsius;
- a refused value that only makes sense in another unit gets a did-you-mean in
  `Problem.suggestion`: `T 101` -> "T 101F", `WT 350` -> "WT 350lb", `BP 14/9` (cmHg)
  -> "BP 140/90", `GLU 1.2 g/l` -> "GLU 120mg/dL";
- the caller may pass `words`, a language's words for each kind (`sukari`, `tension`,
  `presión`, also phrases like `tension artérielle`); compared casefolded without
  accents, such a word acts as that kind's code, but only when a value follows it
  (glued, `sukari7.2`, or as the next token): otherwise it is an ordinary "unknown"
  word, so `tension is high` is never a reading. Echoes use the canonical code;
- a kind already read in the same text is refused as "duplicate" (we cannot tell which
  one the sender meant to keep);
- nothing is dropped silently: every token ends up in a reading, a Problem, or the ID
  (only separators and the closing punctuation are dropped);
- digit runs are bounded (a 2,000-digit token is refused, never turned into a huge int)
  and no input makes it raise.

Problem reasons: "unknown", "syntax", "range", "missing", "ambiguous_unit", "unit",
"duplicate", "no_id". `Problem.token` is the text as typed (after `normalise`); for a
code with its value it is both, e.g. "T 101" (with its unit: "WT 80 st"); for "no_id"
it is "". `Problem.suggestion` is the right form to offer ("T 101F"), or None.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from flows.normalise import normalise
from flows.readings import (
    CODES,
    DEGREE,
    FAHRENHEIT,
    KINDS,
    LB,
    MG_DL,
    UNIT_LIKE,
    Kind,
    Reading,
    glucose_reading,
    glucose_unit_guess,
    number_text,
    out_of_range,
    temperature_reading,
    weight_reading,
)

UNKNOWN = "unknown"
SYNTAX = "syntax"
RANGE = "range"
MISSING = "missing"
AMBIGUOUS_UNIT = "ambiguous_unit"
UNIT = "unit"
DUPLICATE = "duplicate"
NO_ID = "no_id"


@dataclass(frozen=True)
class Problem:
    """Something in the text that was not stored. `kind` names the reading kind when
    the token began with a code, None otherwise. `suggestion` is the form the sender
    probably meant ("T 101F" for "T 101"), for a "Did you mean ...?", or None."""

    token: str
    reason: str
    kind: str | None = None
    suggestion: str | None = None


@dataclass(frozen=True)
class ParseResult:
    readings: tuple[Reading, ...]
    problems: tuple[Problem, ...]
    patient_id: str | None = None


# A comma or hyphen is a separator unless it sits between two digits (7,2 / 140-90).
_SEPARATOR = re.compile(r"[ #:]+|(?<![0-9])[,-]|[,-](?![0-9])")
# "140 / 90" is one value: the spaces around a slash between digits are not separators.
_SPACED_SLASH = re.compile(r"(?<=[0-9]) ?([/\\]) ?(?=[0-9])")
# What may close a text without meaning anything ("BP 140/90.", "GLU 7.2!").
_CLOSING = " .,!?"
# Longest code first, so SPO2 wins over SPO and WT over W.
_CODE = re.compile(
    "(" + "|".join(re.escape(c) for c in sorted(CODES, key=len, reverse=True)) + ")(.*)", re.IGNORECASE | re.ASCII
)
# A code written with full stops between its letters: "B.P", "B.P.", "H.R.72".
_DOTTED_CODE = re.compile(r"([A-Za-z]\.(?:[A-Za-z]\.)*[A-Za-z])\.?(.*)", re.ASCII)
_PATIENT_ID = re.compile(r"[0-9]{4,10}", re.ASCII)
# Bounded digit runs: a 2,000-digit token is refused, never turned into a huge int.
_NUMBER = re.compile(r"([0-9]{1,4})(?:[.,]([0-9]{1,3}))?(.*)", re.ASCII)
# Systolic/diastolic, and the pulse when a monitor's three numbers are copied: 140/90/72.
_BP = re.compile(r"([0-9]{1,4})[/\\]([0-9]{1,4})(?:[/\\]([0-9]{1,4}))?(.*)", re.ASCII)
# A word of the caller's `words`, maybe glued to its value ("sukari7.2"). Combining
# accents are letters here, in case a phone sends them apart from their letter.
_WORD = re.compile(r"((?:[^\W\d_]|[\u0300-\u036f])+)(.*)")
# What may follow a value without meaning anything: "GLU 7.2. T 38".
_PUNCTUATION = re.compile(r"[.!?]+")
# Longer word phrases than this are never looked for.
_LONGEST_PHRASE = 4

# A code (or word) found at a token: its kind, the value glued to it ("" if none), and
# how many tokens the code itself takes (a phrase like "tension arterielle" takes 2).
_Start = tuple[Kind, str, int]
_Phrases = Mapping[tuple[str, ...], str]


def _fold(text: str) -> str:
    """Casefolded, accents stripped: "PRESIÓN" and "presion" compare equal."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


# "180#" is how many people write 180 pounds; anywhere else "#" separates ("BP#140/90").
# (The 2 of SPO2 and O2 is part of the code, not a number.)
_POUND_SIGN = re.compile(r"(?<![0-9.,/\\])(?<!o)([0-9]{1,4}(?:[.,][0-9]{1,3})?)#(?=\s*$|\s+[^0-9])",
                         re.IGNORECASE)


def pound_sign_as_unit(text: str) -> str:
    """ "WT 180#" as "WT 180 lb": what the parser reads, for callers that account for it."""
    return _POUND_SIGN.sub(r"\1 lb", text)


def _tokens(text: str) -> list[str]:
    text = pound_sign_as_unit(text)
    text = _SPACED_SLASH.sub(lambda m: m.group(1), text)
    tokens = [token for token in _SEPARATOR.split(text) if token]
    closed = [token for token in _SEPARATOR.split(text.rstrip(_CLOSING)) if token]
    # Only closing punctuation: it is all there is, so it is kept (and reported).
    return closed or tokens


# The folded phrases of the last few word tables: the service passes the same table for
# every text, and folding a few hundred words per text was most of a text's cost.
_PHRASE_CACHE: dict[int, tuple[Mapping[str, str], _Phrases]] = {}


def _phrases(words: Mapping[str, str] | None) -> _Phrases:
    """The caller's {word or phrase: kind name} as {folded tokens: kind name}."""
    if not words:
        return {}
    cached = _PHRASE_CACHE.get(id(words))
    if cached is not None and cached[0] is words:
        return cached[1]
    phrases = _fold_phrases(words)
    if len(_PHRASE_CACHE) > 8:
        _PHRASE_CACHE.clear()
    _PHRASE_CACHE[id(words)] = (words, phrases)
    return phrases


def _fold_phrases(words: Mapping[str, str]) -> _Phrases:
    phrases: dict[tuple[str, ...], str] = {}
    for word, kind in (words or {}).items():
        if kind not in KINDS:
            raise ValueError(f"words: {word!r} names no reading kind ({kind!r}); known: {', '.join(KINDS)}")
        key = tuple(_tokens(_fold(normalise(word))))
        if 0 < len(key) <= _LONGEST_PHRASE:
            phrases[key] = kind
    return phrases


def _is_digit(ch: str) -> bool:
    return "0" <= ch <= "9"


def _code(token: str) -> tuple[Kind, str] | None:
    """(kind, glued value) when the token is a code, alone (value "") or glued to a value."""
    dotted = _DOTTED_CODE.fullmatch(token)
    if dotted and dotted.group(1).replace(".", "").upper() in CODES:
        code, rest = dotted.group(1).replace(".", ""), dotted.group(2)
    else:
        match = _CODE.fullmatch(token)
        if not match:
            return None
        code, rest = match.groups()
        # "BP." or "Temp.38": a full stop closing an abbreviated code.
        rest = rest[1:] if rest[:1] == "." else rest
    if rest[:1].isalpha():
        return None  # "Pain", "Thanks", "Tea", "P.S.": a word, not a code
    # "SPO2,95" and "SPO2-95" stay one token (the mark sits between digits): skip the mark.
    # Anything else glued on ("BP=140/90", "Pulse?") is a value, refused later as syntax.
    value = rest.lstrip(",-")
    return KINDS[CODES[code.upper()]], value


def _bare_bp(token: str) -> bool:
    """A slash number with no code ("140/90", "140/90/72", "140/90mmHg", "140/90P72")
    that is plausible as a blood pressure."""
    match = _BP.fullmatch(token)
    if not match:
        return False
    systolic, diastolic, pulse, rest = match.groups()
    if rest and not (_code(rest) or _PUNCTUATION.fullmatch(rest) or _unit_of(KINDS["bp"], rest)):
        return False
    values = {"systolic": int(systolic), "diastolic": int(diastolic)}
    if pulse is not None:
        values["pulse"] = int(pulse)
    return not out_of_range(Reading("bp", values))


def _word_at(tokens: list[str], i: int, phrases: _Phrases) -> _Start | None:
    """The caller's word (or phrase) at tokens[i], when a value follows it."""
    for size in range(min(_LONGEST_PHRASE, len(tokens) - i), 0, -1):
        last = _WORD.fullmatch(tokens[i + size - 1])
        if not last:
            continue
        letters, rest = last.groups()
        name = phrases.get((*(_fold(t) for t in tokens[i : i + size - 1]), _fold(letters)))
        if name is None:
            continue
        if rest and _is_digit(rest[0]):
            return KINDS[name], rest, size
        if not rest and i + size < len(tokens) and _valueish(tokens[i + size]):
            return KINDS[name], "", size
    return None


def _start_at(tokens: list[str], i: int, phrases: _Phrases) -> _Start | None:
    """The reading that starts at tokens[i], if one does: a code, a word, or a bare BP."""
    code = _code(tokens[i])
    if code is not None:
        return code[0], code[1], 1
    if phrases:
        word = _word_at(tokens, i, phrases)
        if word is not None:
            return word
    if _bare_bp(tokens[i]):
        return KINDS["bp"], tokens[i], 1
    return None


def _glued_start(rest: str, tokens: list[str], i: int) -> bool:
    """True when what is glued after a value is the next reading's code, not a unit:
    "P72" in "BP140/90P72", or "P" in "BP 140/90p 72" (the value is tokens[i])."""
    code = _code(rest)
    if code is None:
        return False
    if code[1]:
        return _is_digit(code[1][0])
    return not _unit_like(rest) and i < len(tokens) and _valueish(tokens[i])


def _valueish(token: str) -> bool:
    # What follows a code is taken as its value (right or wrong) when it looks numeric.
    return _is_digit(token[0]) or (token[0] in "./\\" and any(_is_digit(ch) for ch in token))


def _unit_key(text: str) -> str:
    key = _fold(text).upper()
    return key[:-1] if len(key) > 1 and key.endswith(".") else key


def _unit_of(kind: Kind, text: str) -> str | None:
    return kind.units.get(_unit_key(text))


def _unit_like(text: str) -> bool:
    return _unit_key(text) in UNIT_LIKE


def _unit_at(tokens: list[str], i: int, phrases: _Phrases) -> bool:
    """True when tokens[i] is a unit-like word written after a value."""
    if i >= len(tokens) or not _unit_like(tokens[i]):
        return False
    # "WT 64 KG 70": a KG followed by a value is the next reading's code, not a unit.
    start = _start_at(tokens, i, phrases)
    if start is None:
        return True
    kind, value, size = start
    return not (value or (i + size < len(tokens) and _valueish(tokens[i + size])))


def _units(kind: Kind, typed: list[str]) -> str | None:
    """The one unit the typed units mean for this kind; "" when none was typed; None
    when one is not a unit of this kind, or two disagree."""
    joined = kind.units.get("/".join(_unit_key(t) for t in typed)) if len(typed) == 2 else None
    if joined:
        return joined  # "mg dl", "mmol l": one unit written with a space for its slash
    units = set()
    for text in typed:
        unit = _unit_of(kind, text)
        if unit is None:
            return None
        units.add(unit)
    if len(units) > 1:
        units.discard(DEGREE)  # "38 ° C": the degree sign, then its scale
    return units.pop() if len(units) == 1 else ("" if not units else None)


def _suggestion(kind: Kind, number: float, unit: str) -> str | None:
    """The right form for a value refused as implausible, when another unit makes it plausible."""
    # Only a value with no scale written: "T 101C" said Celsius, and is simply wrong.
    if kind.name == "temperature" and unit in ("", DEGREE):
        fahrenheit = temperature_reading(number, FAHRENHEIT)
        return None if out_of_range(fahrenheit) else f"T {number_text(number, 1)}F"
    if kind.name == "weight" and unit == "":
        return None if out_of_range(weight_reading(number, LB)) else f"WT {number_text(number, 1)}lb"
    return None


def _bp_suggestion(systolic: int, diastolic: int, pulse: int | None) -> str | None:
    # Blood pressure in cmHg, as it is often said in French: "tension 14/9" is 140/90.
    values = {"systolic": systolic * 10, "diastolic": diastolic * 10, "pulse": pulse}
    if systolic > 26 or diastolic > 16 or out_of_range(Reading("bp", values)):
        return None
    text = f"BP {systolic * 10}/{diastolic * 10}"
    return f"{text} P{pulse}" if pulse is not None else text


def _glucose_suggestion(typed: list[str], number: float) -> str | None:
    # Glucose in g/L, as French meters and labs write it: 1.2 g/L is 120 mg/dL.
    if [_unit_key(t) for t in typed] == ["G/L"] and not out_of_range(glucose_reading(number * 100, MG_DL)):
        return f"GLU {number_text(number * 100, 1)}mg/dL"
    return None


def _reading(kind: Kind, match: re.Match[str], typed: list[str], text: str) -> Reading | Problem:
    """The reading from a matched value and the units typed after it, or its Problem."""
    unit = _units(kind, typed)
    if unit is None:
        # A glued tail that is no unit at all ("7.2x") is syntax; a unit of the wrong kind is "unit".
        if not all(_unit_like(t) for t in typed):
            return Problem(text, SYNTAX, kind.name)
        first, second = match.group(1), match.group(2)
        suggestion = None
        if kind.name == "glucose" and first is not None:
            suggestion = _glucose_suggestion(typed, float(f"{first}.{second or 0}"))
        if kind.name == "bp" and [_unit_key(t) for t in typed] in (["CMHG"], ["CM/HG"]):
            suggestion = _bp_suggestion(int(first), int(second), None)
        return Problem(text, UNIT, kind.name, suggestion)
    if kind.name == "bp":
        systolic, diastolic, pulse = (int(g) if g is not None else None for g in match.groups()[:3])
        values = {"systolic": systolic, "diastolic": diastolic}
        if pulse is not None:
            values["pulse"] = pulse
        reading = Reading("bp", values, text)
        if out_of_range(reading):
            return Problem(text, RANGE, kind.name, _bp_suggestion(systolic, diastolic, pulse) if not unit else None)
        return reading
    first, decimals = match.group(1), match.group(2) or ""
    measure = next(iter(kind.measures.values()))
    if len(decimals) > measure.decimals:
        return Problem(text, SYNTAX, kind.name)
    number = float(f"{first}.{decimals or 0}") if measure.decimals else int(first)
    if kind.name == "glucose":
        unit = unit or glucose_unit_guess(number)
        if unit is None:
            return Problem(text, AMBIGUOUS_UNIT, kind.name)
        reading = glucose_reading(number, unit, text)
    elif kind.name == "weight":
        reading = weight_reading(number, unit or "kg", text)
    elif kind.name == "temperature":
        reading = temperature_reading(number, unit if unit == FAHRENHEIT else "C", text)
    else:
        reading = Reading(kind.name, {measure.name: number}, text)
    if out_of_range(reading):
        return Problem(text, RANGE, kind.name, _suggestion(kind, number, unit))
    return reading


def _read_at(tokens: list[str], i: int, phrases: _Phrases) -> tuple[Reading | Problem, int]:
    """Read the reading that starts at tokens[i]; returns it (or its Problem) and the next
    index. A pulse glued to a BP ("140/90P72") is split off into tokens, to be read next."""
    kind, value, size = _start_at(tokens, i, phrases)
    used = tokens[i : i + size]
    i += size
    if not value:
        if i < len(tokens) and _valueish(tokens[i]):
            value = tokens[i]
            used.append(value)
            i += 1
        else:
            return Problem(" ".join(used), MISSING, kind.name), i
    match = (_BP if kind.name == "bp" else _NUMBER).fullmatch(value)
    if not match:
        return Problem(" ".join(used), SYNTAX, kind.name), i
    rest = match.groups()[-1]
    if rest and _glued_start(rest, tokens, i):
        used[-1] = used[-1][: -len(rest)]
        tokens.insert(i, rest)
        rest = ""
    typed = [rest] if rest and not _PUNCTUATION.fullmatch(rest) else []
    # A unit written apart ("WT 64 kg"), or two: a degree sign then its scale ("T 101 ° F"),
    # or two that disagree ("WT 64 kg lbs"), refused together.
    while len(typed) < 2 and _unit_at(tokens, i, phrases):
        typed.append(tokens[i])
        used.append(tokens[i])
        i += 1
    return _reading(kind, match, typed, " ".join(used)), i


def _patient_id_index(tokens: list[str], phrases: _Phrases) -> int | None:
    # The CHW puts the patient's ID first ("1042 BP ...") or right after the first code ("BP 1042 ...").
    if tokens and _PATIENT_ID.fullmatch(tokens[0]):
        return 0
    start = _start_at(tokens, 0, phrases) if tokens else None
    if start and not start[1] and start[2] < len(tokens) and _PATIENT_ID.fullmatch(tokens[start[2]]):
        return start[2]
    return None


def parse_compact(text: str, *, expect_patient_id: bool = False, words: Mapping[str, str] | None = None) -> ParseResult:
    """Parse a compact text into readings and problems; never raises on any text.

    With `expect_patient_id` (a CHW relaying for a patient), a 4-10 digit ID is taken
    from the first token, or the token right after the first code; it is returned as
    typed (check digits are verified elsewhere) and its absence is a "no_id" Problem.
    Otherwise a bare number is an "unknown" Problem like any other stray token.

    `words` maps a word or phrase of the sender's language (any case and accents) to a
    kind name ("bp", "glucose", "weight", "temperature", "spo2", "pulse"), e.g.
    {"sukari": "glucose", "tension": "bp"}; such a word followed by a value reads like
    that kind's code. A kind name that is not one of those raises ValueError.
    """
    phrases = _phrases(words)
    tokens = _tokens(normalise(text))
    problems: list[Problem] = []
    patient_id = None
    if expect_patient_id:
        index = _patient_id_index(tokens, phrases)
        if index is None:
            problems.append(Problem("", NO_ID))
        else:
            patient_id = tokens.pop(index)

    readings: list[Reading] = []
    seen: set[str] = set()
    i = 0
    while i < len(tokens):
        if _start_at(tokens, i, phrases) is None:
            problems.append(Problem(tokens[i], UNKNOWN))
            i += 1
            continue
        outcome, i = _read_at(tokens, i, phrases)
        if (
            isinstance(outcome, Reading)
            and outcome.kind == "bp"
            and "pulse" not in outcome.values
            and "pulse" not in seen
            and i < len(tokens)
            and (start := _start_at(tokens, i, phrases)) is not None
            and start[0].name == "pulse"
        ):
            pulse, i = _read_at(tokens, i, phrases)
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


def looks_like_compact(
    text: str, *, expect_patient_id: bool = False, words: Mapping[str, str] | None = None
) -> bool:
    """True when the text starts with a reading code (or one of `words`) and a numeric
    value (`BP 140/90`, `t38`, `GLU 7,2`, `B.P. 140/90`, `sukari 7.2`), or with a
    plausible bare blood pressure (`140/90`), so the engine can hand it to
    `parse_compact` at any step. "P" alone, "Pain", "Thanks" or "tension is high" are
    not compact. With `expect_patient_id`, a leading 4-10 digit ID is skipped first."""
    phrases = _phrases(words)
    tokens = _tokens(normalise(text))
    if expect_patient_id and tokens and _PATIENT_ID.fullmatch(tokens[0]):
        tokens = tokens[1:]
    start = _start_at(tokens, 0, phrases) if tokens else None
    if start is None:
        return False
    _, glued, size = start
    return _is_digit(glued[:1]) if glued else size < len(tokens) and _valueish(tokens[size])
