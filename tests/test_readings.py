"""Reading kinds as data: codes, plausible ranges, glucose units, the compact echo (flows/readings.py)."""

from __future__ import annotations

import pytest

from flows.readings import (
    CODES,
    KINDS,
    MG_DL,
    MMOL_L,
    Reading,
    format_reading,
    glucose_reading,
    glucose_unit_guess,
    kind_for_code,
    out_of_range,
)


@pytest.mark.parametrize(
    "code, kind",
    [
        ("BP", "bp"), ("bp", "bp"), ("Bp", "bp"),
        ("GLU", "glucose"), ("gluc", "glucose"), ("Sugar", "glucose"), ("GL", "glucose"), ("glucose", "glucose"),
        ("WT", "weight"), ("w", "weight"), ("Weight", "weight"), ("kg", "weight"),
        ("T", "temperature"), ("temp", "temperature"), ("temperature", "temperature"),
        ("SPO2", "spo2"), ("spo", "spo2"), ("o2", "spo2"), ("Sat", "spo2"),
        ("P", "pulse"), ("pulse", "pulse"), ("hr", "pulse"),
    ],
)
def test_codes_any_case(code, kind):
    assert kind_for_code(code).name == kind


@pytest.mark.parametrize("code", ["", "X", "PAIN", "BPM", "GLUCO", "TEMPS", "S"])
def test_unknown_codes(code):
    assert kind_for_code(code) is None


def test_every_code_belongs_to_exactly_one_kind():
    all_codes = [code for kind in KINDS.values() for code in kind.codes]
    assert len(all_codes) == len(set(all_codes)) == len(CODES)
    assert all(code == code.upper() for code in all_codes)


def test_every_kind_shows_its_first_code_in_its_example():
    for kind in KINDS.values():
        assert kind.example.split()[0] == kind.codes[0]
        assert kind.example.isascii()


@pytest.mark.parametrize(
    "reading, echo",
    [
        (Reading("bp", {"systolic": 140, "diastolic": 90}), "BP 140/90"),
        (Reading("bp", {"systolic": 140, "diastolic": 90, "pulse": 72}), "BP 140/90 P72"),
        (Reading("bp", {"systolic": 140, "diastolic": 90, "pulse": None}), "BP 140/90"),
        (glucose_reading(7.2, MMOL_L), "GLU 7.2"),
        (glucose_reading(7.0, MMOL_L), "GLU 7"),
        (glucose_reading(130.0, MG_DL), "GLU 7.2 (130mg/dL)"),
        (glucose_reading(99.5, MG_DL), "GLU 5.5 (99.5mg/dL)"),
        (Reading("weight", {"kg": 64.5}), "WT 64.5"),
        (Reading("weight", {"kg": 64.0}), "WT 64"),
        (Reading("temperature", {"celsius": 38.2}), "T 38.2"),
        (Reading("temperature", {"celsius": 38.0}), "T 38"),
        (Reading("spo2", {"percent": 95}), "SPO2 95"),
        (Reading("pulse", {"bpm": 72}), "P 72"),
    ],
)
def test_format_reading(reading, echo):
    assert format_reading(reading) == echo
    assert format_reading(reading).isascii()


def test_glucose_is_stored_in_mmol_per_litre():
    assert glucose_reading(130, MG_DL).values == {"mmol_l": 7.2, "entered": 130.0, "unit": MG_DL}
    assert glucose_reading(7.2, MMOL_L).values == {"mmol_l": 7.2, "entered": 7.2, "unit": MMOL_L}
    # the factor is 18.0, so the two ranges line up exactly
    assert glucose_reading(18, MG_DL).values["mmol_l"] == 1.0
    assert glucose_reading(630, MG_DL).values["mmol_l"] == 35.0


@pytest.mark.parametrize(
    "value, unit",
    [(1.0, MMOL_L), (19.9, MMOL_L), (20.0, None), (25.0, None), (35.0, None), (35.1, MG_DL), (130.0, MG_DL)],
)
def test_glucose_unit_guess(value, unit):
    assert glucose_unit_guess(value) == unit


def test_text_is_not_part_of_equality():
    assert Reading("pulse", {"bpm": 72}, "P72") == Reading("pulse", {"bpm": 72})


@pytest.mark.parametrize(
    "reading, bad",
    [
        (Reading("bp", {"systolic": 60, "diastolic": 30}), ()),
        (Reading("bp", {"systolic": 260, "diastolic": 159}), ()),
        (Reading("bp", {"systolic": 59, "diastolic": 40}), ("systolic",)),
        (Reading("bp", {"systolic": 261, "diastolic": 90}), ("systolic",)),
        (Reading("bp", {"systolic": 140, "diastolic": 29}), ("diastolic",)),
        (Reading("bp", {"systolic": 200, "diastolic": 161}), ("diastolic",)),
        (Reading("bp", {"systolic": 90, "diastolic": 140}), ("systolic", "diastolic")),
        (Reading("bp", {"systolic": 120, "diastolic": 120}), ("systolic", "diastolic")),
        (Reading("bp", {"systolic": 140, "diastolic": 90, "pulse": 221}), ("pulse",)),
        (Reading("bp", {"systolic": 140, "diastolic": 90, "pulse": 30}), ()),
        (glucose_reading(1.0, MMOL_L), ()),
        (glucose_reading(35.0, MMOL_L), ()),
        (glucose_reading(0.9, MMOL_L), ("mmol_l",)),
        (glucose_reading(35.1, MMOL_L), ("mmol_l",)),
        (glucose_reading(18, MG_DL), ()),
        (glucose_reading(630, MG_DL), ()),
        (glucose_reading(17, MG_DL), ("mg_dl",)),
        (glucose_reading(631, MG_DL), ("mg_dl",)),
        (Reading("weight", {"kg": 1.0}), ()),
        (Reading("weight", {"kg": 300.0}), ()),
        (Reading("weight", {"kg": 0.9}), ("kg",)),
        (Reading("weight", {"kg": 300.1}), ("kg",)),
        (Reading("temperature", {"celsius": 30.0}), ()),
        (Reading("temperature", {"celsius": 45.0}), ()),
        (Reading("temperature", {"celsius": 29.9}), ("celsius",)),
        (Reading("temperature", {"celsius": 101.0}), ("celsius",)),  # Fahrenheit is refused
        (Reading("spo2", {"percent": 50}), ()),
        (Reading("spo2", {"percent": 100}), ()),
        (Reading("spo2", {"percent": 49}), ("percent",)),
        (Reading("spo2", {"percent": 101}), ("percent",)),
        (Reading("pulse", {"bpm": 30}), ()),
        (Reading("pulse", {"bpm": 220}), ()),
        (Reading("pulse", {"bpm": 29}), ("bpm",)),
        (Reading("pulse", {"bpm": 221}), ("bpm",)),
    ],
)
def test_out_of_range(reading, bad):
    assert out_of_range(reading) == bad
