"""Finding danger in any text, however it is written: the safety net's eyes.

The parser reads well-formed readings; this module looks further, only to decide
whether someone must be told to get care and a clinician alerted. It errs towards
calling someone, but not at every number in a sentence: a value counts when it stands
where a reading stands (a code or a reading word before it, or the whole text is the
reading), never a bare pair in the middle of talk ("I paid 200/150 shillings").

Pure: the care rules and the reading words come in through the context.
"""

from __future__ import annotations

import re

from flows.compact import AMBIGUOUS_UNIT, RANGE, looks_like_compact, parse_compact
from flows.context import Context
from flows.readings import MG_DL, MMOL_L, Reading, format_reading, glucose_reading

URGENT = "urgent"
# Words that may stand between a BP word and its numbers: "my bp is 190 125".
_FILLERS = r"(?:is|was|ni|ilikuwa|est|es|fue|today|leo|aujourd'hui|hoy|:|=|-)"
# A pair of numbers written any way at all: 190/125, 190 125, 190-125, 190 over 125.
_PAIR = r"(\d{2,3}) ?(?:/|\\|-|,|\.|=|over|juu ya|sur|sobre| ) ?(\d{2,3})(?!\d)"
# What a glucose meter shows beyond its range.
_METER = {"hi": "high", "high": "high", "lo": "low", "low": "low"}


def urgent_in(text: str, ctx: Context) -> list[str]:
    """Every dangerous value in `text`, echoed as a clinician would read it ("BP 190/125",
    "GLU HI"); empty when there is none."""
    rules = ctx.rules
    if rules is None:
        return []
    words = ctx.reading_words
    is_reading = looks_like_compact(text, words=words) or looks_like_compact(text, expect_patient_id=True, words=words)
    result = parse_compact(text, words=words)
    candidates: list[Reading] = []
    found: list[str] = []
    for reading in result.readings:
        # A bare pair counts when the text is a reading, not when it is talk.
        if is_reading or not reading.text[:1].isdigit():
            candidates.append(reading)
    for problem in result.problems:
        if problem.suggestion:
            candidates += parse_compact(problem.suggestion, words=words).readings
        elif problem.reason == RANGE and problem.kind:
            # Beyond what the parser believes (BP 270/150, SPO2 45, GLU 0.8): judged all the same.
            candidates += _as_typed(problem.kind, problem.token)
        elif problem.reason == AMBIGUOUS_UNIT and problem.kind == "glucose" and is_reading:
            # 20-35 is over 16.7 mmol/L, or 1.1-1.9 mmol/L if it meant mg/dL: urgent both ways.
            found.append(problem.token.upper())
    candidates += _loose_bp(text, words)
    found += _meter_limits(text, words)
    for reading in candidates:
        echo = format_reading(reading)
        if rules.assess(reading).level == URGENT and echo not in found:
            found.append(echo)
    return found


_PATTERNS: dict[int, tuple[object, tuple[re.Pattern, re.Pattern]]] = {}


def _patterns(words) -> tuple[re.Pattern, re.Pattern]:
    """(loose BP, meter limit) patterns for a word table, built once per table."""
    cached = _PATTERNS.get(id(words))
    if cached is not None and cached[0] is words:
        return cached[1]
    bp_words = _words_for(words, "bp", ("bp", "b.p", "b.p.", "b p"))
    glucose = _words_for(words, "glucose", ("glu", "gluc", "glucose", "sugar", "gl"))
    built = (re.compile(rf"(?<![\w.])(?:{bp_words})\W*(?:{_FILLERS}\W*)?{_PAIR}", re.IGNORECASE),
             re.compile(rf"(?<![\w.])(?:{glucose})\W*(hi|high|lo|low)\b", re.IGNORECASE))
    if len(_PATTERNS) > 8:
        _PATTERNS.clear()
    _PATTERNS[id(words)] = (words, built)
    return built


def _words_for(words, kind: str, codes: tuple[str, ...]) -> str:
    spelled = {w for w, k in words.items() if k == kind} | set(codes)
    return "|".join(re.escape(w) for w in sorted(spelled, key=len, reverse=True))


def _loose_bp(text: str, words) -> list[Reading]:
    pattern = _patterns(words)[0]
    found = []
    for high, low in pattern.findall(text):
        reading = Reading("bp", {"systolic": int(high), "diastolic": int(low)})
        if int(high) > int(low):
            found.append(reading)
    return found


def _meter_limits(text: str, words) -> list[str]:
    pattern = _patterns(words)[1]
    return [f"GLU {m.upper()}" for m in pattern.findall(text)]


def _as_typed(kind: str, token: str) -> list[Reading]:
    """The reading a refused token would be if its numbers were believed."""
    value = token.split(maxsplit=1)[1] if " " in token else re.sub(r"^[^\d]*", "", token)  # past the code (SPO2)
    numbers = [float(n.replace(",", ".")) for n in re.findall(r"\d+(?:[.,]\d+)?", value)]
    if not numbers:
        return []
    if kind == "bp":
        return [Reading("bp", {"systolic": int(numbers[0]), "diastolic": int(numbers[1])})] if len(numbers) > 1 else []
    if kind == "glucose":
        value = numbers[0]
        return [glucose_reading(value, MG_DL if value > 35 else MMOL_L)]
    measure = {"weight": "kg", "temperature": "celsius", "spo2": "percent", "pulse": "bpm"}.get(kind)
    return [Reading(kind, {measure: numbers[0]})] if measure else []



