"""Units, the forms real phones send, and reading words in each language (flows/compact.py).

Tables in the style of tests/test_compact_parser.py: (text, readings, problems), readings as
`format_reading` echoes them, problems as (reason, token). Every group here pins a way
the parser used to harm patients: `WT 180 lbs` stored as 180 kg, `T 101F` refused,
`140/90` or `B.P. 140/90` not understood, `sukari 7.2` never read.
"""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flows.care_rules import load_rules
from flows.compact import UNIT, ParseResult, Problem, looks_like_compact, parse_compact, pound_sign_as_unit
from flows.normalise import normalise
from flows.readings import (
    FAHRENHEIT,
    KINDS,
    LB,
    OTHER_UNITS,
    Reading,
    format_reading,
    out_of_range,
    temperature_reading,
    weight_reading,
)

# What a caller builds from the message catalogs: a language's words for each kind.
WORDS = {
    "presha": "bp", "sukari": "glucose", "tension": "bp", "azucar": "glucose", "presion": "bp", "uzito": "weight",
    "poids": "weight", "peso": "weight", "pouls": "pulse", "pulso": "pulse",
    # phrases, and keys written with accents, as the catalogs have them
    "sukari ya damu": "glucose", "tension artérielle": "bp", "mapigo ya moyo": "pulse", "température": "temperature",
}


def _described(result: ParseResult) -> tuple[list[str], list[tuple[str, str]]]:
    return [format_reading(r) for r in result.readings], [(p.reason, p.token) for p in result.problems]


def _ids(cases) -> list[str]:
    return [repr(c[0])[:40] for c in cases]


# --- 1. units are read and converted, never silent noise ----------------------------------------

UNIT_CASES = [
    # weight in pounds, converted to kg (1 lb = 0.45359237 kg, to 0.1 kg)
    ("WT 180 lbs", ["WT 81.6 (180lb)"], []),
    ("WT 180lbs", ["WT 81.6 (180lb)"], []),
    ("WT 180 lb", ["WT 81.6 (180lb)"], []),
    ("wt 180 LB", ["WT 81.6 (180lb)"], []),
    ("WT 180 pounds", ["WT 81.6 (180lb)"], []),
    ("WT 180.5 lbs", ["WT 81.9 (180.5lb)"], []),
    ("WT 180,5lbs", ["WT 81.9 (180.5lb)"], []),
    ("KG 180 lbs", ["WT 81.6 (180lb)"], []),
    ("WT 70 lb.", ["WT 31.8 (70lb)"], []),
    ("WT 70 lb. T 38", ["WT 31.8 (70lb)", "T 38"], []),
    ("WT 661 lb", ["WT 299.8 (661lb)"], []),
    ("WT 662 lb", [], [("range", "WT 662 lb")]),
    ("WT 2 lb", [], [("range", "WT 2 lb")]),
    # weight in kg, every spelling
    ("WT 64 kilos", ["WT 64"], []),
    ("WT 64 Kilo", ["WT 64"], []),
    ("WT 64 kgs", ["WT 64"], []),
    ("WT 64 kg.", ["WT 64"], []),
    ("WT 64 kg kg", ["WT 64"], []),
    # temperature in Fahrenheit, converted to Celsius (to 0.1)
    ("T 101 F", ["T 38.3 (101F)"], []),
    ("T 101°F", ["T 38.3 (101F)"], []),
    ("T 101 °F", ["T 38.3 (101F)"], []),
    ("T 101° F", ["T 38.3 (101F)"], []),
    ("T 101 ° F", ["T 38.3 (101F)"], []),
    ("T 101 degF", ["T 38.3 (101F)"], []),
    ("T 101\u2109", ["T 38.3 (101F)"], []),  # the one-character degree Fahrenheit sign
    ("T 101 fahrenheit", ["T 38.3 (101F)"], []),
    ("temp 98.6f", ["T 37 (98.6F)"], []),
    ("T 104F", ["T 40 (104F)"], []),
    ("T 50F", [], [("range", "T 50F")]),
    ("T 114F", [], [("range", "T 114F")]),
    # temperature in Celsius, every spelling; a degree sign alone is read as Celsius
    ("T 38 celsius", ["T 38"], []),
    ("T 38 degC", ["T 38"], []),
    ("T 38°", ["T 38"], []),
    ("T 38 degrees", ["T 38"], []),
    ("T 38 ° C", ["T 38"], []),
    # glucose as before, with the slash written as a space
    ("GLU 130 mg dl", ["GLU 7.2 (130mg/dL)"], []),
    ("GLU 7.2 mmol L", ["GLU 7.2"], []),
    # other kinds' other spellings
    ("SPO2 95 pct", ["SPO2 95"], []),
    ("P 72 lpm", ["P 72"], []),
    ("BP 140/90 mm/Hg", ["BP 140/90"], []),
    # a unit that is not this kind's: the reading is refused, never stored as typed
    ("WT 80 st", [], [("unit", "WT 80 st")]),
    ("WT 80st", [], [("unit", "WT 80st")]),
    ("WT 80 stone", [], [("unit", "WT 80 stone")]),
    ("WT 64 g", [], [("unit", "WT 64 g")]),
    ("WT 64 %", [], [("unit", "WT 64 %")]),
    ("T 38 mg", [], [("unit", "T 38 mg")]),
    ("T 38mg", [], [("unit", "T 38mg")]),
    ("T 38 K", [], [("unit", "T 38 K")]),
    ("GLU 7 kg", [], [("unit", "GLU 7 kg")]),
    ("GLU 7.2 g/l", [], [("unit", "GLU 7.2 g/l")]),
    ("GLU 7.2 %", [], [("unit", "GLU 7.2 %")]),
    ("SPO2 95 kg", [], [("unit", "SPO2 95 kg")]),
    ("P 72 mmHg", [], [("unit", "P 72 mmHg")]),
    ("BP 140/90 bpm", [], [("unit", "BP 140/90 bpm")]),
    ("BP 140/90 cmHg", [], [("unit", "BP 140/90 cmHg")]),
    ("BP 140/90 P 72 kg", ["BP 140/90"], [("unit", "P 72 kg")]),
    # two units that disagree
    ("WT 64 kg lbs", [], [("unit", "WT 64 kg lbs")]),
    ("T 38 C F", [], [("unit", "T 38 C F")]),
    ("GLU 130 mg kg", [], [("unit", "GLU 130 mg kg")]),
    # a unit-like word followed by a value is the next reading's code, as before
    ("GLU 7 kg 70", ["GLU 7", "WT 70"], []),
    # plain words stay "unknown"
    ("WT 64 kg thanks", ["WT 64"], [("unknown", "thanks")]),
    ("T 38 thanks doctor", ["T 38"], [("unknown", "thanks"), ("unknown", "doctor")]),
]


@pytest.mark.parametrize("text, readings, problems", UNIT_CASES, ids=_ids(UNIT_CASES))
def test_units(text, readings, problems):
    assert _described(parse_compact(text)) == (readings, problems)


def test_converted_values_keep_the_canonical_measure_and_what_was_typed():
    (weight,) = parse_compact("WT 180 lbs").readings
    assert weight.values == {"kg": 81.6, "entered": 180.0, "unit": LB}
    (temperature,) = parse_compact("T 101F").readings
    assert temperature.values == {"celsius": 38.3, "entered": 101.0, "unit": FAHRENHEIT}
    assert (weight.text, temperature.text) == ("WT 180 lbs", "T 101F")


@pytest.mark.parametrize(
    "same",
    [
        ["WT 64", "WT 64 kg", "WT 64kgs", "wt 64,0 kilos", "KG 64"],
        ["T 38", "T 38C", "T 38 °C", "T 38\u00b0", "t 38,0 degrees"],
        ["WT 180 lbs", "WT 180lb", "W 180 pounds"],
        ["T 101F", "T 101 °F", "temp 101 fahrenheit"],
    ],
)
def test_the_same_reading_in_any_spelling_is_one_reading(same):
    (first, *others) = [parse_compact(text) for text in same]
    assert len(first.readings) == 1 and not first.problems
    assert all(other == first for other in others), (first, others)
    # ...with no extra keys for the canonical unit, so storage dedupes `WT 64` and `WT 64 kg`
    assert set(first.readings[0].values) in ({"kg"}, {"celsius"}, {"kg", "entered", "unit"},
                                                   {"celsius", "entered", "unit"})


def test_identical_readings_share_one_dedupe_index(store):
    def index(text: str) -> bytes:
        (reading,) = parse_compact(text).readings
        return store.readings.dedupe_index(1, reading.kind, dict(reading.values))

    assert index("WT 64") == index("WT 64 kg") == index("WT 64.0 kgs")
    assert index("T 38") == index("T 38 °C")
    assert index("WT 180 lbs") == index("WT 180lb")
    assert index("T 101F") == index("T 101 \u00b0F")
    assert index("WT 180 lbs") != index("WT 181 lbs")


def test_a_stored_converted_reading_echoes_what_was_typed():
    # UNDO rebuilds the echo from the stored values alone.
    for text, echo in [("WT 180 lbs", "WT 81.6 (180lb)"), ("T 101F", "T 38.3 (101F)"), ("WT 64 kg", "WT 64")]:
        (reading,) = parse_compact(text).readings
        assert format_reading(Reading(reading.kind, dict(reading.values))) == echo


@pytest.mark.parametrize(
    "text, level",
    [("T 101F", "high"), ("T 104F", "urgent"), ("T 93F", "low"), ("T 99F", "normal"), ("WT 180 lbs", "normal")],
)
def test_care_rules_judge_the_converted_value(text, level):
    (reading,) = parse_compact(text).readings
    assert load_rules().assess(reading).level == level


def test_out_of_range_judges_the_converted_value():
    assert out_of_range(weight_reading(661.0, LB)) == ()
    assert out_of_range(weight_reading(662.0, LB)) == ("kg",)
    assert out_of_range(temperature_reading(113.0, FAHRENHEIT)) == ()
    assert out_of_range(temperature_reading(86.0, FAHRENHEIT)) == ()
    assert out_of_range(temperature_reading(85.0, FAHRENHEIT)) == ("celsius",)


def _example_value(kind: str) -> str:
    return KINDS[kind].example.split(" ", 1)[1]


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_spelling_of_a_kinds_own_units_is_read(kind):
    for spelling in KINDS[kind].units:
        for typed in (spelling, spelling.lower(), spelling.lower() + "."):
            result = parse_compact(f"{KINDS[kind].codes[0]} {_example_value(kind)} {typed}")
            assert not {p.reason for p in result.problems} & {"unit", "syntax", "unknown"}, (typed, result)


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_other_unit_refuses_the_reading(kind):
    others = set(OTHER_UNITS) | {s for k in KINDS.values() if k.name != kind for s in k.units}
    for spelling in sorted(others - set(KINDS[kind].units)):
        result = parse_compact(f"{KINDS[kind].codes[0]} {_example_value(kind)} {spelling.lower()}")
        assert result.readings == (), (spelling, result)
        assert [p.reason for p in result.problems] == [UNIT], (spelling, result)


# --- did you mean ...? --------------------------------------------------------------------------

SUGGESTION_CASES = [
    # (text, reason, suggestion)
    ("T 101", "range", "T 101F"),
    ("T 101.3", "range", "T 101.3F"),
    ("T 101,3", "range", "T 101.3F"),
    ("T 101°", "range", "T 101F"),
    ("T 101 degrees", "range", "T 101F"),
    ("T 86", "range", "T 86F"),
    ("T 113", "range", "T 113F"),
    ("T 101C", "range", None),  # Celsius was written: simply wrong
    ("T 120", "range", None),  # no scale makes it plausible
    ("T 29", "range", None),
    ("WT 350", "range", "WT 350lb"),
    ("WT 661.4", "range", "WT 661.4lb"),
    ("WT 700", "range", None),
    ("WT 350 kg", "range", None),
    ("BP 14/9", "range", "BP 140/90"),  # cmHg, as French speakers say it
    ("BP 12/8/72", "range", "BP 120/80 P72"),
    ("BP 14/9 cmHg", "unit", "BP 140/90"),
    ("BP 9/14", "range", None),
    ("GLU 1.2 g/l", "unit", "GLU 120mg/dL"),
    ("GLU 0.9 g/L", "unit", "GLU 90mg/dL"),
    ("GLU 0.1 g/l", "unit", None),
    ("WT 80 st", "unit", None),
    ("GLU 25", "ambiguous_unit", None),
]


@pytest.mark.parametrize("text, reason, suggestion", SUGGESTION_CASES, ids=_ids(SUGGESTION_CASES))
def test_suggestions(text, reason, suggestion):
    result = parse_compact(text)
    assert result.readings == ()
    ((problem),) = result.problems
    assert (problem.reason, problem.suggestion) == (reason, suggestion)
    if suggestion:
        # The suggestion is itself a compact text that is read without a problem.
        fixed = parse_compact(suggestion)
        assert len(fixed.readings) == 1 and fixed.problems == (), fixed


def test_problem_suggestion_is_optional():
    assert Problem("x", "unknown") == Problem("x", "unknown", None, None)
    assert parse_compact("T 101").problems == (Problem("T 101", "range", "temperature", "T 101F"),)


# --- 2. forms real phones send ------------------------------------------------------------------

FORM_CASES = [
    # a bare blood pressure, when it is plausible as one
    ("140/90", ["BP 140/90"], []),
    ("140 / 90", ["BP 140/90"], []),
    ("140\\90", ["BP 140/90"], []),
    ("140/90 mmHg", ["BP 140/90"], []),
    ("140/90mmhg", ["BP 140/90"], []),
    ("140/90 P72", ["BP 140/90 P72"], []),
    ("140/90 pulse 72", ["BP 140/90 P72"], []),
    ("140/90P72", ["BP 140/90 P72"], []),
    ("140/90/72", ["BP 140/90 P72"], []),
    ("140/90 72", ["BP 140/90"], [("unknown", "72")]),  # 72 could be a weight as well as a pulse
    ("GLU 6.1 140/90", ["GLU 6.1", "BP 140/90"], []),
    ("140/90 BP 150/95", ["BP 140/90"], [("duplicate", "BP 150/95")]),
    ("60/40", ["BP 60/40"], []),
    ("12/5", [], [("unknown", "12/5")]),  # a date
    ("25/12/2024", [], [("unknown", "25/12/2024")]),
    ("1/2", [], [("unknown", "1/2")]),
    ("90/140", [], [("unknown", "90/140")]),
    ("300/90", [], [("unknown", "300/90")]),
    ("140/90/300", [], [("unknown", "140/90/300")]),
    ("140/90x", [], [("unknown", "140/90x")]),
    # the code written with full stops, or a full stop after it
    ("B.P 140/90", ["BP 140/90"], []),
    ("B.P. 140/90", ["BP 140/90"], []),
    ("b.p:140/90", ["BP 140/90"], []),
    ("b.p.140/90", ["BP 140/90"], []),
    ("B.P.: 140/90", ["BP 140/90"], []),
    ("Bp-140/90", ["BP 140/90"], []),
    ("BP. 140/90", ["BP 140/90"], []),
    ("Bp.140/90", ["BP 140/90"], []),
    ("H.R. 72", ["P 72"], []),
    ("Temp. 38.2", ["T 38.2"], []),
    ("B.P. 140/90 P.72", ["BP 140/90 P72"], []),
    ("B.P.", [], [("missing", "B.P")]),
    ("P.S. thanks", [], [("unknown", "P.S."), ("unknown", "thanks")]),
    # the pulse glued on, or as a monitor's third number
    ("BP140/90P72", ["BP 140/90 P72"], []),
    ("bp140/90p72", ["BP 140/90 P72"], []),
    ("BP 140/90P72", ["BP 140/90 P72"], []),
    ("BP 140/90p 72", ["BP 140/90 P72"], []),
    ("BP 140/90HR72", ["BP 140/90 P72"], []),
    ("BP 140/90/72", ["BP 140/90 P72"], []),
    ("BP 140\\90\\72", ["BP 140/90 P72"], []),
    ("BP 140/90/72 mmHg", ["BP 140/90 P72"], []),
    ("BP 140/90/300", [], [("range", "BP 140/90/300")]),
    ("BP 140/90/72 P80", ["BP 140/90 P72"], [("duplicate", "P80")]),
    ("P 80 BP 140/90/72", ["P 80"], [("duplicate", "BP 140/90/72")]),
    ("BP 140/90/72/60", [], [("syntax", "BP 140/90/72/60")]),
    ("BP140/90P", [], [("syntax", "BP140/90P")]),
    ("140/90p 72", ["BP 140/90 P72"], []),
    ("140/90P", [], [("syntax", "140/90P")]),
    ("BP 140/90kg 70", [], [("unit", "BP 140/90kg"), ("unknown", "70")]),  # a glued unit stays a unit
    ("GLU7.2T38", ["GLU 7.2", "T 38"], []),
    # closing punctuation is ignored; a decimal point is not
    ("BP 140/90.", ["BP 140/90"], []),
    ("BP 140/90 .", ["BP 140/90"], []),
    ("GLU 7.2.", ["GLU 7.2"], []),
    ("GLU 7,2!", ["GLU 7.2"], []),
    ("T 38.2?", ["T 38.2"], []),
    ("BP 140/90 P72!!", ["BP 140/90 P72"], []),
    ("WT 64.5 kg.", ["WT 64.5"], []),
    ("GLU 7.", ["GLU 7"], []),
    ("GLU 7.2. WT 70.", ["GLU 7.2", "WT 70"], []),
    ("BP 140/90. P 72", ["BP 140/90 P72"], []),
    ("GLU 7.2.5", [], [("syntax", "GLU 7.2.5")]),
    ("GLU 7.25.", [], [("syntax", "GLU 7.25")]),
    ("GLU .", [], [("missing", "GLU")]),
    ("hello.", [], [("unknown", "hello")]),
    ("?", [], [("unknown", "?")]),
    ("...", [], [("unknown", "...")]),
]


@pytest.mark.parametrize("text, readings, problems", FORM_CASES, ids=_ids(FORM_CASES))
def test_forms(text, readings, problems):
    assert _described(parse_compact(text)) == (readings, problems)


CHW_FORM_CASES = [
    # (text, patient_id, readings, problems)
    ("1042 140/90", "1042", ["BP 140/90"], []),
    ("1042 140/90/72.", "1042", ["BP 140/90 P72"], []),
    ("1042 B.P. 150/95", "1042", ["BP 150/95"], []),
    ("B.P. 1042 150/95", "1042", ["BP 150/95"], []),
    ("1042 WT 180 lbs", "1042", ["WT 81.6 (180lb)"], []),
    ("1042.", "1042", [], []),
]


@pytest.mark.parametrize("text, patient_id, readings, problems", CHW_FORM_CASES, ids=_ids(CHW_FORM_CASES))
def test_chw_forms(text, patient_id, readings, problems):
    result = parse_compact(text, expect_patient_id=True)
    assert _described(result) == (readings, problems)
    assert result.patient_id == patient_id


LOOKS_COMPACT = [
    "140/90", "140/90 P72", "140/90 72", "140/90/72", "140/90P72", "B.P 140/90", "B.P. 140/90", "b.p:140/90",
    "Bp-140/90", "BP140/90P72", "BP 140/90/72", "BP 140/90.", "GLU 7.2.", "T 38.2?", "WT 180 lbs", "T 101F", "T 101",
    "Temp. 38", "H.R. 72",
]


@pytest.mark.parametrize("text", LOOKS_COMPACT)
def test_each_form_looks_compact(text):
    assert looks_like_compact(text)


@pytest.mark.parametrize(
    "text", ["12/5", "90/140", "1/2", "25/12/2024", "B.P.", "Pulse?", "P.S. thanks", "?", ".", "Temp is high."]
)
def test_what_still_does_not_look_compact(text):
    assert not looks_like_compact(text)


def test_a_chw_bare_bp_looks_compact_after_the_id():
    assert looks_like_compact("1042 140/90", expect_patient_id=True)
    assert not looks_like_compact("1042 140/90")


# --- 3. words of each language -------------------------------------------------------------------

WORD_CASES = [
    ("sukari 7.2", ["GLU 7.2"], []),
    ("Sukari 7,2", ["GLU 7.2"], []),
    ("SUKARI 130", ["GLU 7.2 (130mg/dL)"], []),
    ("sukari: 130 mg/dl", ["GLU 7.2 (130mg/dL)"], []),
    ("tension 140/90", ["BP 140/90"], []),
    ("azucar 7.2", ["GLU 7.2"], []),
    ("azúcar 7.2", ["GLU 7.2"], []),
    ("AZÚCAR 7.2", ["GLU 7.2"], []),
    ("PRESIÓN 140/90", ["BP 140/90"], []),
    ("presión: 140/90", ["BP 140/90"], []),
    ("presha 150/95 P 80", ["BP 150/95 P80"], []),
    ("presha 150/95 pouls 80", ["BP 150/95 P80"], []),
    ("presha 150/95/80", ["BP 150/95 P80"], []),
    ("uzito 70", ["WT 70"], []),
    ("poids 70 kg", ["WT 70"], []),
    ("peso 154 libras", ["WT 69.9 (154lb)"], []),
    ("pouls 72", ["P 72"], []),
    ("pulso 72 lpm", ["P 72"], []),
    ("température 38,5", ["T 38.5"], []),
    ("temperature 101F", ["T 38.3 (101F)"], []),
    ("sukari7.2", ["GLU 7.2"], []),
    ("tension140/90", ["BP 140/90"], []),
    ("sukari ya damu 6.1", ["GLU 6.1"], []),
    ("Sukari ya Damu: 6,1", ["GLU 6.1"], []),
    ("tension arterielle 140/90", ["BP 140/90"], []),
    ("mapigo ya moyo 80", ["P 80"], []),
    ("tension 140/90 sukari 7.2", ["BP 140/90", "GLU 7.2"], []),
    ("sukari 7.2 sukari 8", ["GLU 7.2"], [("duplicate", "sukari 8")]),
    ("sukari 7 kg", [], [("unit", "sukari 7 kg")]),
    ("tension 14/9", [], [("range", "tension 14/9")]),
    ("sukari 25", [], [("ambiguous_unit", "sukari 25")]),
    # a word with no value right after it is an ordinary word, never a reading or a code
    ("tension is high", [], [("unknown", "tension"), ("unknown", "is"), ("unknown", "high")]),
    ("sukari iko juu", [], [("unknown", "sukari"), ("unknown", "iko"), ("unknown", "juu")]),
    ("sukari", [], [("unknown", "sukari")]),
    ("sukari ni 7.2", [], [("unknown", "sukari"), ("unknown", "ni"), ("unknown", "7.2")]),
    ("presha ya damu", [], [("unknown", "presha"), ("unknown", "ya"), ("unknown", "damu")]),
    ("sukari ya damu", [], [("unknown", "sukari"), ("unknown", "ya"), ("unknown", "damu")]),
    ("BP 140/90 sukari", ["BP 140/90"], [("unknown", "sukari")]),
    ("sukarini 7.2", [], [("unknown", "sukarini"), ("unknown", "7.2")]),
    # not a word of the mapping; the 140/90 after it is a bare BP
    ("tensions 140/90", ["BP 140/90"], [("unknown", "tensions")]),
]


@pytest.mark.parametrize("text, readings, problems", WORD_CASES, ids=_ids(WORD_CASES))
def test_words(text, readings, problems):
    assert _described(parse_compact(text, words=WORDS)) == (readings, problems)


def test_word_problems_name_their_kind():
    kinds = {p.token: p.kind for p in parse_compact("presha 90/140 sukari 25 hello", words=WORDS).problems}
    assert kinds == {"presha 90/140": "bp", "sukari 25": "glucose", "hello": None}


def test_without_words_the_words_are_unknown():
    assert _described(parse_compact("sukari 7.2")) == ([], [("unknown", "sukari"), ("unknown", "7.2")])
    assert not looks_like_compact("sukari 7.2")


@pytest.mark.parametrize(
    "text", ["sukari 7.2", "azúcar 7.2", "PRESIÓN 140/90", "tension 140/90", "sukari7.2", "sukari ya damu 6.1",
             "presha 150/95 P 80"],
)
def test_words_look_compact(text):
    assert looks_like_compact(text, words=WORDS)


@pytest.mark.parametrize(
    "text", ["tension is high", "sukari", "Sukari iko juu", "presha ya damu", "peso", "sukari ni 7.2", "pouls?"],
)
def test_words_alone_do_not_look_compact(text):
    assert not looks_like_compact(text, words=WORDS)


def test_a_chw_may_use_words_with_the_id_after_them():
    result = parse_compact("presha 1042 150/95 sukari 6.1", expect_patient_id=True, words=WORDS)
    assert result.patient_id == "1042"
    assert _described(result) == (["BP 150/95", "GLU 6.1"], [])
    assert looks_like_compact("1042 sukari 6.1", expect_patient_id=True, words=WORDS)


def test_a_word_naming_no_kind_is_the_callers_mistake():
    with pytest.raises(ValueError, match="pain"):
        parse_compact("BP 140/90", words={"maumivu": "pain"})


def test_words_are_matched_casefolded_and_without_accents_on_both_sides():
    words = {"AZÚCAR": "glucose", "Pression Artérielle": "bp"}
    assert _described(parse_compact("azucar 7.2 PRESSION ARTERIELLE 140/90", words=words)) == (
        ["GLU 7.2", "BP 140/90"], [],
    )


# --- properties ----------------------------------------------------------------------------------


def _token_chars(text: str) -> Counter:
    return Counter(ch for ch in text if not ch.isspace() and ch not in "#:,-")


def _typed_chars(text: str) -> Counter:
    text = pound_sign_as_unit(normalise(text))  # "180#" is 180 lb
    return _token_chars(text.rstrip(" .,!?")) or _token_chars(text)


SOUP = st.lists(
    st.sampled_from(
        ["BP", "B.P.", "b.p", "P", "P72", "GLU", "T", "WT", "KG", "kg", "lb", "lbs.", "F", "\u00b0", "\u00b0F", "C",
         "mg", "%", "st", "g/l", "cmHg", "140/90", "14/9", "140/90/72", "90/140", "7,2", "7.2", "130", "25", "38.2",
         "101", "350", "72", "1042", "#", ":", "-", ",", " ", ".", "!", "?", "hello", "sukari", "tension",
         "art\u00e9rielle", "ya", "damu", "az\u00facar", "\U0001f600", "\u200b", "/"]
    ),
    max_size=14,
).map("".join)


@given(st.one_of(SOUP, st.text(max_size=80)), st.booleans(), st.booleans())
def test_nothing_is_dropped_and_nothing_raises_with_words(text, expect_patient_id, with_words):
    words = WORDS if with_words else None
    result = parse_compact(text, expect_patient_id=expect_patient_id, words=words)
    looks_like_compact(text, expect_patient_id=expect_patient_id, words=words)
    accounted = [r.text for r in result.readings] + [p.token for p in result.problems] + [result.patient_id or ""]
    assert _typed_chars(text) == _token_chars(" ".join(accounted))
    kinds = [r.kind for r in result.readings] + [
        "pulse" for r in result.readings if r.kind == "bp" and "pulse" in r.values
    ]
    assert len(kinds) == len(set(kinds))  # one of each kind at most, a BP's pulse included
    assert all(not out_of_range(r) and format_reading(r).isascii() for r in result.readings)
    for problem in result.problems:
        if problem.suggestion is not None:
            fixed = parse_compact(problem.suggestion)
            assert len(fixed.readings) == 1 and fixed.problems == ()


@given(st.integers(23, 6614).map(lambda n: n / 10), st.sampled_from(["lb", "lbs", " lbs", " pounds", "LB"]))
def test_every_plausible_weight_in_pounds_is_converted(pounds, unit):
    expected = weight_reading(pounds, LB)
    result = parse_compact(f"WT {pounds:g}{unit}")
    if out_of_range(expected):
        assert [p.reason for p in result.problems] == ["range"]
    else:
        assert result == ParseResult((expected,), ())
        assert format_reading(result.readings[0]).endswith(f"({pounds:g}lb)")


@given(st.integers(860, 1130).map(lambda n: n / 10), st.sampled_from(["F", "f", " F", "\u00b0F", " \u00b0 F", " degF"]))
def test_every_plausible_temperature_in_fahrenheit_is_converted(fahrenheit, unit):
    result = parse_compact(f"T {fahrenheit:g}{unit}")
    assert result == ParseResult((temperature_reading(fahrenheit, FAHRENHEIT),), ())
    assert format_reading(result.readings[0]).endswith(f"({fahrenheit:g}F)")
