"""The compact reading parser (flows/compact.py), as a table of cases.

Each case is (text, readings, problems): readings as `format_reading` echoes them, problems
as (reason, token). CHW cases add the patient ID the parser must find.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flows.compact import ParseResult, Problem, looks_like_compact, parse_compact, pound_sign_as_unit
from flows.normalise import normalise
from flows.readings import MG_DL, MMOL_L, Reading, format_reading, glucose_reading

PATIENT_CASES = [
    # --- blood pressure: case, glue, every separator ---------------------------------------
    ("BP 140/90", ["BP 140/90"], []),
    ("bp 140/90", ["BP 140/90"], []),
    ("Bp 140/90", ["BP 140/90"], []),
    ("BP140/90", ["BP 140/90"], []),
    ("bp140/90", ["BP 140/90"], []),
    ("BP#140/90", ["BP 140/90"], []),
    ("BP:140/90", ["BP 140/90"], []),
    ("BP: 140/90", ["BP 140/90"], []),
    ("BP-140/90", ["BP 140/90"], []),
    ("BP,140/90", ["BP 140/90"], []),
    ("BP 140\\90", ["BP 140/90"], []),
    ("BP 140 / 90", ["BP 140/90"], []),
    ("BP 140/90 mmHg", ["BP 140/90"], []),
    ("BP 140/90mmhg", ["BP 140/90"], []),
    ("  BP   140/90  ", ["BP 140/90"], []),
    ("BP\n140/90", ["BP 140/90"], []),
    # --- pulse attached to the BP before it ----------------------------------------------------
    ("BP 140/90 P72", ["BP 140/90 P72"], []),
    ("BP 140/90 P 72", ["BP 140/90 P72"], []),
    ("bp140/90 p72", ["BP 140/90 P72"], []),
    ("BP 140/90 PULSE 72", ["BP 140/90 P72"], []),
    ("BP 140/90 hr:72 bpm", ["BP 140/90 P72"], []),
    ("BP 140/90, P 72", ["BP 140/90 P72"], []),
    ("BP 140/90 P 300", ["BP 140/90"], [("range", "P 300")]),
    ("BP 140/90 P", ["BP 140/90"], [("missing", "P")]),
    ("BP 300/90 P72", ["P 72"], [("range", "BP 300/90")]),
    ("BP140/90P72", ["BP 140/90 P72"], []),  # was syntax: the glued pulse is now read
    # --- blood pressure refused ----------------------------------------------------------------
    ("BP 90/140", [], [("range", "BP 90/140")]),
    ("BP 120/120", [], [("range", "BP 120/120")]),
    ("BP 300/90", [], [("range", "BP 300/90")]),
    ("BP 140/20", [], [("range", "BP 140/20")]),
    ("BP 59/40", [], [("range", "BP 59/40")]),
    ("BP 140", [], [("syntax", "BP 140")]),
    ("BP 140/", [], [("syntax", "BP 140/")]),
    ("BP /90", [], [("syntax", "BP /90")]),
    ("BP 140-90", [], [("syntax", "BP 140-90")]),
    ("BP 140.5/90", [], [("syntax", "BP 140.5/90")]),
    ("BP 140/90/72", ["BP 140/90 P72"], []),  # was syntax: a monitor's third number is the pulse
    ("BP 140/90.", ["BP 140/90"], []),  # was syntax: the closing full stop is ignored
    ("BP=140/90", [], [("syntax", "BP=140/90")]),
    ("BP 140/90 kg", [], [("unit", "BP 140/90 kg")]),  # was stored: a unit of another kind refuses it
    ("BP", [], [("missing", "BP")]),
    ("bp hello", [], [("missing", "bp"), ("unknown", "hello")]),
    ("BP GLU 6.1", ["GLU 6.1"], [("missing", "BP")]),
    # --- glucose: aliases, decimal comma, units -------------------------------------------------
    ("GLU 7.2", ["GLU 7.2"], []),
    ("GLU 7,2", ["GLU 7.2"], []),
    ("glu7.2", ["GLU 7.2"], []),
    ("GLU7,2", ["GLU 7.2"], []),
    ("GLUC 7.2", ["GLU 7.2"], []),
    ("Glucose 7.2", ["GLU 7.2"], []),
    ("SUGAR 7.2", ["GLU 7.2"], []),
    ("sugar:6", ["GLU 6"], []),
    ("GL 7.2", ["GLU 7.2"], []),
    ("GLU 7.2 mmol", ["GLU 7.2"], []),
    ("GLU 19.9", ["GLU 19.9"], []),
    ("GLU 130", ["GLU 7.2 (130mg/dL)"], []),
    ("GLU 130mg/dl", ["GLU 7.2 (130mg/dL)"], []),
    ("GLU 130 mg/dL", ["GLU 7.2 (130mg/dL)"], []),
    ("glu 130 MGDL", ["GLU 7.2 (130mg/dL)"], []),
    ("GLU 36", ["GLU 2 (36mg/dL)"], []),
    ("GLU 25mmol", ["GLU 25"], []),
    ("GLU 25 mmol/L", ["GLU 25"], []),
    ("GLU 25 mg", ["GLU 1.4 (25mg/dL)"], []),
    ("GLU 25mg/dl", ["GLU 1.4 (25mg/dL)"], []),
    # --- glucose refused ---------------------------------------------------------------------
    ("GLU 20", [], [("ambiguous_unit", "GLU 20")]),
    ("GLU 25", [], [("ambiguous_unit", "GLU 25")]),
    ("GLU 35", [], [("ambiguous_unit", "GLU 35")]),
    ("GLU 0.5", [], [("range", "GLU 0.5")]),
    ("GLU 700", [], [("range", "GLU 700")]),
    ("GLU 10 mg", [], [("range", "GLU 10 mg")]),
    ("GLU 40 mmol", [], [("range", "GLU 40 mmol")]),
    ("GLU 7.25", [], [("syntax", "GLU 7.25")]),
    ("GLU 7.2ppm", [], [("unit", "GLU 7.2ppm")]),  # was syntax: ppm is a unit, of pulse
    ("GLU 7.2 ppm", [], [("unit", "GLU 7.2 ppm")]),  # was stored as 7.2 mmol/L
    ("GLU", [], [("missing", "GLU")]),
    # --- weight ------------------------------------------------------------------------------
    ("WT 64.5", ["WT 64.5"], []),
    ("wt64.5", ["WT 64.5"], []),
    ("W 64.5", ["WT 64.5"], []),
    ("WEIGHT 64,5", ["WT 64.5"], []),
    ("KG 64.5", ["WT 64.5"], []),
    ("kg64.5", ["WT 64.5"], []),
    ("WT 64.5 kg", ["WT 64.5"], []),
    ("WT 64.5kg", ["WT 64.5"], []),
    ("WT 64", ["WT 64"], []),
    ("WT 0.5", [], [("range", "WT 0.5")]),
    ("WT 301", [], [("range", "WT 301")]),
    ("WT 64.55", [], [("syntax", "WT 64.55")]),
    ("WT 64 KG 70", ["WT 64"], [("duplicate", "KG 70")]),
    # --- temperature -------------------------------------------------------------------------
    ("T 38.2", ["T 38.2"], []),
    ("t38.2", ["T 38.2"], []),
    ("T 38,2", ["T 38.2"], []),
    ("TEMP 38,2", ["T 38.2"], []),
    ("temperature 38.2", ["T 38.2"], []),
    ("T 38.2C", ["T 38.2"], []),
    ("T 38.2 °C", ["T 38.2"], []),
    ("T 38.2\u2103", ["T 38.2"], []),  # the one-character degree Celsius sign
    ("T 45", ["T 45"], []),
    ("T 101", [], [("range", "T 101")]),
    ("T 101F", ["T 38.3 (101F)"], []),  # was syntax: Fahrenheit is converted
    ("T 29.9", [], [("range", "T 29.9")]),
    ("T 38.25", [], [("syntax", "T 38.25")]),
    ("T", [], [("missing", "T")]),
    # --- SpO2 --------------------------------------------------------------------------------
    ("SPO2 95", ["SPO2 95"], []),
    ("spo2 95%", ["SPO2 95"], []),
    ("SPO2 95 %", ["SPO2 95"], []),
    ("SPO 95", ["SPO2 95"], []),
    ("O2 95", ["SPO2 95"], []),
    ("Sat 95", ["SPO2 95"], []),
    ("SPO295", ["SPO2 95"], []),
    ("SPO2,95", ["SPO2 95"], []),
    ("SPO2-95", ["SPO2 95"], []),
    ("SPO2 101", [], [("range", "SPO2 101")]),
    ("SPO2 49", [], [("range", "SPO2 49")]),
    ("SPO2 95.5", [], [("syntax", "SPO2 95.5")]),
    # --- pulse -------------------------------------------------------------------------------
    ("P 72", ["P 72"], []),
    ("P72", ["P 72"], []),
    ("pulse 72", ["P 72"], []),
    ("HR 72 bpm", ["P 72"], []),
    ("P 250", [], [("range", "P 250")]),
    ("P 29", [], [("range", "P 29")]),
    ("P 72.5", [], [("syntax", "P 72.5")]),
    ("P", [], [("missing", "P")]),
    ("Pulse?", [], [("missing", "Pulse")]),  # was syntax: the closing "?" is ignored
    # --- several readings in one text ----------------------------------------------------------
    ("BP 150/95 GLU 6.1", ["BP 150/95", "GLU 6.1"], []),
    ("BP 150/95,GLU 6,1", ["BP 150/95", "GLU 6.1"], []),
    ("T 38,2,P 80", ["T 38.2", "P 80"], []),
    ("bp 140/90 glu 130 mg/dl", ["BP 140/90", "GLU 7.2 (130mg/dL)"], []),
    (
        "BP 150/95 P80 GLU 6.1 WT 70 T 37 SPO2 97",
        ["BP 150/95 P80", "GLU 6.1", "WT 70", "T 37", "SPO2 97"],
        [],
    ),
    ("GLU 6.1#WT 70:T 37", ["GLU 6.1", "WT 70", "T 37"], []),
    ("P 72 BP 140/90", ["P 72", "BP 140/90"], []),
    # --- the same kind twice -------------------------------------------------------------------
    ("BP 140/90 BP 150/95", ["BP 140/90"], [("duplicate", "BP 150/95")]),
    ("P 72 P 80", ["P 72"], [("duplicate", "P 80")]),
    ("BP 140/90 P72 P 80", ["BP 140/90 P72"], [("duplicate", "P 80")]),
    ("P 72 BP 140/90 P80", ["P 72", "BP 140/90"], [("duplicate", "P80")]),
    ("BP 300/90 BP 140/90", ["BP 140/90"], [("range", "BP 300/90")]),
    # --- junk is never dropped -----------------------------------------------------------------
    ("BP 140/90 hello", ["BP 140/90"], [("unknown", "hello")]),
    ("BP 140/90 72", ["BP 140/90"], [("unknown", "72")]),
    ("hello", [], [("unknown", "hello")]),
    ("Pain", [], [("unknown", "Pain")]),
    ("Thanks", [], [("unknown", "Thanks")]),
    ("Thanks doctor", [], [("unknown", "Thanks"), ("unknown", "doctor")]),
    ("140/90", ["BP 140/90"], []),  # was unknown: a plausible bare BP is a BP
    ("72", [], [("unknown", "72")]),
    ("1042 BP 150/95", ["BP 150/95"], [("unknown", "1042")]),
    ("GLU mg 130", [], [("missing", "GLU"), ("unknown", "mg"), ("unknown", "130")]),
    ("BP 140/90 \U0001f44d", ["BP 140/90"], [("unknown", "\U0001f44d")]),
    ("\U0001f44d", [], [("unknown", "\U0001f44d")]),
    (
        "BP 140/90 P72 GLU 6,1 hello \U0001f600",
        ["BP 140/90 P72", "GLU 6.1"],
        [("unknown", "hello"), ("unknown", "\U0001f600")],
    ),
    ("", [], []),
    ("   ", [], []),
    ("#,:-", [], []),
    # --- invisible characters and other digits --------------------------------------------------
    ("\u200bBP\u200b 140/90\u200d", ["BP 140/90"], []),
    ("\ufeffGLU 7.2", ["GLU 7.2"], []),
    ("BP\u00a0140/90", ["BP 140/90"], []),
    ("\uff22\uff30 \uff11\uff14\uff10/\uff19\uff10", ["BP 140/90"], []),  # full-width
    ("BP \u0661\u0664\u0660/\u0669\u0660", ["BP 140/90"], []),  # Arabic-Indic
    ("T \u0663\u0668\u066b\u0662", ["T 38.2"], []),  # Arabic-Indic with the Arabic decimal separator
    ("GLU \u096d.\u0968", ["GLU 7.2"], []),  # Devanagari
    ("WT \u06f6\u06f4", ["WT 64"], []),  # Extended Arabic-Indic (Persian, Urdu)
]

CHW_CASES = [
    # (text, patient_id, readings, problems)
    ("1042 BP 150/95 GLU 6.1", "1042", ["BP 150/95", "GLU 6.1"], []),
    ("BP 1042 150/95", "1042", ["BP 150/95"], []),
    ("BP 1042 150/95 GLU 6.1", "1042", ["BP 150/95", "GLU 6.1"], []),
    ("bp 1042 150/95 p80", "1042", ["BP 150/95 P80"], []),
    ("GLU 1042 6.1", "1042", ["GLU 6.1"], []),
    ("1042 bp150/95", "1042", ["BP 150/95"], []),
    ("1042#BP#150/95", "1042", ["BP 150/95"], []),
    ("1042, BP 150/95", "1042", ["BP 150/95"], []),
    ("1234567890 T 38", "1234567890", ["T 38"], []),
    ("\u0661\u0660\u0664\u0662 BP \u0661\u0665\u0660/\u0669\u0665", "1042", ["BP 150/95"], []),
    ("1042", "1042", [], []),
    ("BP 1042", "1042", [], [("missing", "BP")]),
    ("1042 1043 BP 150/95", "1042", ["BP 150/95"], [("unknown", "1043")]),
    ("1042 BP 150/95 hello", "1042", ["BP 150/95"], [("unknown", "hello")]),
    ("BP 150/95", None, ["BP 150/95"], [("no_id", "")]),
    ("BP 150/95 1042", None, ["BP 150/95"], [("no_id", ""), ("unknown", "1042")]),
    ("104 BP 150/95", None, ["BP 150/95"], [("no_id", ""), ("unknown", "104")]),
    ("12345678901 BP 150/95", None, ["BP 150/95"], [("no_id", ""), ("unknown", "12345678901")]),
    ("1O42 BP 150/95", None, ["BP 150/95"], [("no_id", ""), ("unknown", "1O42")]),
    ("A1042 BP 150/95", None, ["BP 150/95"], [("no_id", ""), ("unknown", "A1042")]),
    ("10.42 BP 150/95", None, ["BP 150/95"], [("no_id", ""), ("unknown", "10.42")]),
    # was ("unknown", "150/95"): a plausible bare BP is read (and a CHW text without an ID is refused whole)
    ("BP1042 150/95", None, ["BP 150/95"], [("no_id", ""), ("syntax", "BP1042")]),
    ("", None, [], [("no_id", "")]),
]


def _described(result: ParseResult) -> tuple[list[str], list[tuple[str, str]]]:
    return [format_reading(r) for r in result.readings], [(p.reason, p.token) for p in result.problems]


@pytest.mark.parametrize("text, readings, problems", PATIENT_CASES, ids=[repr(c[0])[:40] for c in PATIENT_CASES])
def test_patient_case(text, readings, problems):
    result = parse_compact(text)
    assert _described(result) == (readings, problems)
    assert result.patient_id is None


@pytest.mark.parametrize("text, patient_id, readings, problems", CHW_CASES, ids=[repr(c[0])[:40] for c in CHW_CASES])
def test_chw_case(text, patient_id, readings, problems):
    result = parse_compact(text, expect_patient_id=True)
    assert _described(result) == (readings, problems)
    assert result.patient_id == patient_id


def test_the_table_is_large_enough():
    assert len(PATIENT_CASES) + len(CHW_CASES) >= 100


def test_values_and_kinds():
    result = parse_compact("BP 140/90 P72 GLU 130 T 38,2 WT 64 SPO2 95 hello")
    assert result.readings == (
        Reading("bp", {"systolic": 140, "diastolic": 90, "pulse": 72}),
        Reading("glucose", {"mmol_l": 7.2, "entered": 130.0, "unit": MG_DL}),
        Reading("temperature", {"celsius": 38.2}),
        Reading("weight", {"kg": 64.0}),
        Reading("spo2", {"percent": 95}),
    )
    assert [r.text for r in result.readings] == ["BP 140/90 P72", "GLU 130", "T 38,2", "WT 64", "SPO2 95"]
    assert result.problems == (Problem("hello", "unknown", None),)


def test_problems_name_their_kind():
    kinds = {p.token: p.kind for p in parse_compact("BP 90/140 GLU 25 T P 300 x").problems}
    assert kinds == {"BP 90/140": "bp", "GLU 25": "glucose", "T": "temperature", "P 300": "pulse", "x": None}


def test_glucose_in_mmol_keeps_what_was_typed():
    (reading,) = parse_compact("GLU 7,2").readings
    assert reading == glucose_reading(7.2, MMOL_L)


# --- normalise (shared with the conversation engine) ------------------------------------------

@pytest.mark.parametrize(
    "text, expected",
    [
        ("  Bp  140/90 ", "Bp 140/90"),
        ("yes\n\tplease\r\n", "yes please"),
        ("\u200bST\u200cOP\u2060\ufeff", "STOP"),
        ("\uff39\uff25\uff33 \uff11", "YES 1"),
        ("\u0661\u0662\u0663 \u06f4\u06f5 \u0967\u0968 \u09e9", "123 45 12 3"),
        ("\u0663\u0668\u066b\u0662", "38.2"),
        ("a\u00a0b\u2003c", "a b c"),
        ("Caf\u0065\u0301", "Caf\u00e9"),
        ("", ""),
    ],
)
def test_normalise(text, expected):
    assert normalise(text) == expected


@given(st.text())
def test_normalise_is_idempotent(text):
    assert normalise(normalise(text)) == normalise(text)


# --- long texts ----------------------------------------------------------------------------

def test_two_thousand_characters_are_parsed_quickly():
    texts = [
        "BP 140/90 " * 200,
        "x" * 2000,
        "1" * 2000,
        "BP " + "1" * 2000,
        "BP 140/" + "9" * 2000,
        "GLU 7," + "2" * 2000,
        "\U0001f600" * 2000,
        "P" * 2000,
        ("BP 140/90 P72 GLU 6,1 hello " * 80)[:2000],
    ]
    started = time.perf_counter()
    results = [parse_compact(text) for text in texts]
    assert time.perf_counter() - started < 1.0
    assert len(results[0].readings) == 1
    assert [p.reason for p in results[0].problems] == ["duplicate"] * 199
    assert results[1].problems == (Problem("x" * 2000, "unknown"),)
    assert results[3].problems[0].reason == "syntax"


# --- routing -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "text",
    ["BP 140/90", "bp140/90", "BP: 140/90", "  BP 140/90", "BP 140", "T 38", "t38.2", "GLU 7,2", "SPO2 95", "P 72",
     "HR72", "WT 64.5 kg", "\uff22\uff30 \uff11\uff14\uff10/\uff19\uff10", "BP 1042 150/95"],
)
def test_looks_like_compact(text):
    assert looks_like_compact(text)


@pytest.mark.parametrize(
    "text",
    ["", " ", "P", "BP", "T", "Pain", "Thanks", "Temp is high", "Pulse?", "hello", "1", "YES", "STOP", "MENU",
     "1042 BP 150/95", "BP=140/90", "\U0001f600"],
)
def test_does_not_look_like_compact(text):
    assert not looks_like_compact(text)


def test_a_chw_text_looks_compact_with_its_leading_id():
    assert looks_like_compact("1042 BP 150/95", expect_patient_id=True)
    assert not looks_like_compact("1042", expect_patient_id=True)
    assert not looks_like_compact("1042 hello", expect_patient_id=True)


# --- properties ----------------------------------------------------------------------------

def _token_chars(text: str) -> Counter:
    # Characters that always belong to some token: not spaces, not separators.
    return Counter(ch for ch in text if not ch.isspace() and ch not in "#:,-")


def _typed_chars(text: str) -> Counter:
    # What the sender typed that must be accounted for: the closing punctuation of the
    # text (" BP 140/90." / "GLU 7.2!?") is ignored, unless it is all there is; a pound
    # sign after a number ("180#") is the unit lb.
    text = pound_sign_as_unit(normalise(text))
    return _token_chars(text.rstrip(" .,!?")) or _token_chars(text)


@given(st.text(max_size=300), st.booleans())
def test_never_raises_and_drops_nothing(text, expect_patient_id):
    result = parse_compact(text, expect_patient_id=expect_patient_id)
    accounted = [r.text for r in result.readings] + [p.token for p in result.problems] + [result.patient_id or ""]
    assert _typed_chars(text) == _token_chars(" ".join(accounted))
    assert all(format_reading(r).isascii() for r in result.readings)


CODES_AND_NOISE = st.lists(
    st.sampled_from(
        ["BP", "bp", "P", "GLU", "T", "WT", "SPO2", "KG", "mg", "mmol", "%", "C", "140/90", "90/140", "7,2", "7.2",
         "130", "25", "38.2", "101", "72", "1042", "#", ":", "-", ",", " ", "hello", "\U0001f600", "\u200b", "/"]
    ),
    max_size=12,
).map("".join)


@given(CODES_AND_NOISE, st.booleans())
def test_code_soup_drops_nothing(text, expect_patient_id):
    result = parse_compact(text, expect_patient_id=expect_patient_id)
    accounted = [r.text for r in result.readings] + [p.token for p in result.problems] + [result.patient_id or ""]
    assert _typed_chars(text) == _token_chars(" ".join(accounted))
    assert len({r.kind for r in result.readings}) == len(result.readings)  # one reading of each kind at most


PLAUSIBLE = st.one_of(
    st.builds(
        lambda s, d, p: Reading("bp", {"systolic": s, "diastolic": d, **({"pulse": p} if p else {})}),
        st.integers(61, 260), st.integers(30, 60), st.one_of(st.none(), st.integers(30, 220)),
    ),
    st.integers(10, 199).map(lambda n: glucose_reading(n / 10, MMOL_L)),
    st.integers(36, 630).map(lambda n: glucose_reading(float(n), MG_DL)),
    st.integers(10, 3000).map(lambda n: Reading("weight", {"kg": n / 10})),
    st.integers(300, 450).map(lambda n: Reading("temperature", {"celsius": n / 10})),
    st.integers(50, 100).map(lambda n: Reading("spo2", {"percent": n})),
    st.integers(30, 220).map(lambda n: Reading("pulse", {"bpm": n})),
)


@given(PLAUSIBLE)
def test_every_plausible_reading_is_accepted_in_its_compact_form(reading):
    text = format_reading(reading)
    if reading.kind == "glucose" and reading.values["unit"] == MG_DL:
        text = f"GLU {reading.values['entered']:.0f}"  # what people type; the echo adds mmol/L
    result = parse_compact(text)
    assert result == ParseResult((reading,), (), None)
