"""The kinds of health reading, as data: codes people type, plausible ranges, units, echo.

Plausible ranges only catch typing mistakes (a value no living patient can have, or a
value in the wrong unit). Whether a plausible value is high, low or urgent is a care
rule, decided elsewhere from the clinic's settings.

Glucose is stored in mmol/L. Values entered in mg/dL are divided by 18.0, the factor
meters and clinical tables use (glucose is 180.16 g/mol, so 18.016 exactly; the 0.1 %
difference is far below a meter's own error). The mg/dL range 18-630 is the mmol/L range
1.0-35.0 times that same factor, so both units refuse the same readings.

Weight is stored in kg and temperature in degrees Celsius. A weight typed in pounds is
converted with the exact international pound (0.45359237 kg) and a temperature typed in
Fahrenheit with (F - 32) * 5/9, both rounded to 0.1. Like glucose in mg/dL, a converted
reading keeps what was typed ("entered", "unit") so the echo can show it: `WT 81.6 (180lb)`,
`T 38.3 (101F)`. A reading typed in the canonical unit has no such keys, so `WT 64` and
`WT 64 kg` are the same reading (and dedupe as one); plausibility is judged on the
converted value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

MG_DL_PER_MMOL_L = 18.0
MMOL_L = "mmol/L"
MG_DL = "mg/dL"
# A glucose value above this is mg/dL (35 mmol/L is already beyond a meter's "HI")...
GLUCOSE_MG_DL_ABOVE = 35.0
# ...and one below this is mmol/L (under 20 mg/dL is barely compatible with life).
GLUCOSE_MMOL_L_BELOW = 20.0

KG_PER_LB = 0.45359237
KG = "kg"
LB = "lb"
CELSIUS = "C"
FAHRENHEIT = "F"
# A degree sign or word with no scale ("38°", "38 degrees"): read like a plain number.
DEGREE = "°"


@dataclass(frozen=True)
class Measure:
    """One number in a reading: its plausible range (inclusive) and the decimals allowed."""

    name: str
    low: float
    high: float
    decimals: int

    def plausible(self, value: float) -> bool:
        return self.low <= value <= self.high


@dataclass(frozen=True)
class Kind:
    """A kind of reading. `codes` are upper case, the first one is what replies show;
    `units` maps each unit spelling people type (upper case, accents stripped, no
    trailing full stop) to the canonical unit;
    `example` is the right form shown when a reading is refused."""

    name: str
    label: str
    codes: tuple[str, ...]
    measures: Mapping[str, Measure]
    units: Mapping[str, str]
    example: str


@dataclass(frozen=True)
class Reading:
    """One reading, e.g. Reading("bp", {"systolic": 140, "diastolic": 90, "pulse": 72}).

    values by kind (int where no decimals are allowed, float otherwise):
      bp          systolic, diastolic, pulse (optional)
      glucose     mmol_l, entered, unit ("mmol/L" or "mg/dL")
      weight      kg, and entered, unit ("lb") only when typed in pounds
      temperature celsius, and entered, unit ("F") only when typed in Fahrenheit
      spo2        percent;  pulse  bpm
    `text` is the part of the message it was read from, for echoes; == ignores it.
    Treat `values` as read-only.
    """

    kind: str
    values: dict
    text: str = field(default="", compare=False)


def _measures(*measures: Measure) -> dict[str, Measure]:
    return {m.name: m for m in measures}


def _spellings(units: Mapping[str, str]) -> dict[str, str]:
    """{canonical: "SPELLING SPELLING ..."} as {spelling: canonical}."""
    return {spelling: canonical for canonical, spellings in units.items() for spelling in spellings.split()}


KINDS: Mapping[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind(
            "bp",
            "blood pressure",
            ("BP",),
            _measures(Measure("systolic", 60, 260, 0), Measure("diastolic", 30, 160, 0), Measure("pulse", 30, 220, 0)),
            {"MMHG": "mmHg", "MM/HG": "mmHg"},
            "BP 140/90",
        ),
        Kind(
            "glucose",
            "blood glucose",
            ("GLU", "GLUC", "GLUCOSE", "SUGAR", "GL"),
            _measures(Measure("mmol_l", 1.0, 35.0, 1), Measure("mg_dl", 18, 630, 1)),
            {"MMOL": MMOL_L, "MMOL/L": MMOL_L, "MMOLL": MMOL_L, "MG": MG_DL, "MG/DL": MG_DL, "MGDL": MG_DL},
            "GLU 7.2",
        ),
        Kind("weight", "weight", ("WT", "W", "WEIGHT", "KG"), _measures(Measure("kg", 1, 300, 1)),
             _spellings({
                 KG: "KG KGS KILO KILOS KILOGRAM KILOGRAMS KILOGRAMME KILOGRAMMES KILOGRAMO KILOGRAMOS KILOGRAMU",
                 LB: "LB LBS POUND POUNDS LIVRE LIVRES LIBRA LIBRAS PAUNI",
             }), "WT 64.5"),
        Kind("temperature", "temperature", ("T", "TEMP", "TEMPERATURE"), _measures(Measure("celsius", 30.0, 45.0, 1)),
             _spellings({
                 CELSIUS: "C °C DEGC CELSIUS CENTIGRADE CENTIGRADO CENTIGRADOS",
                 FAHRENHEIT: "F °F DEGF FAHRENHEIT",
                 DEGREE: "° DEG DEGS DEGREE DEGREES DEGRE DEGRES GRADO GRADOS NYUZI",
             }), "T 38.2"),
        Kind("spo2", "oxygen saturation", ("SPO2", "SPO", "O2", "SAT"), _measures(Measure("percent", 50, 100, 0)),
             _spellings({"%": "% PCT PERCENT POURCENT PORCENTAJE ASILIMIA"}), "SPO2 95"),
        # LPM: latidos por minuto (Spanish); PPM: pulsations par minute (French).
        Kind("pulse", "pulse", ("P", "PULSE", "HR"), _measures(Measure("bpm", 30, 220, 0)),
             _spellings({"bpm": "BPM /MIN B/MIN LPM PPM"}), "P 72"),
    )
}

CODES: Mapping[str, str] = {code: kind.name for kind in KINDS.values() for code in kind.codes}

# Spellings of units that no kind accepts, in the same form as `Kind.units` keys. A unit
# of one kind written after another kind's value ("GLU 7 kg") is just as wrong, so
# UNIT_LIKE is these and every kind's own units together. Single letters that are also
# words people write after a number ("in", "m" for morning) are left out on purpose.
OTHER_UNITS = frozenset((
    # mass (MG is a glucose unit already)
    "G", "GR", "GRS", "GRAM", "GRAMS", "GRAMME", "GRAMMES", "GRAMO", "GRAMOS", "GRAMU", "UG", "MCG", "OZ",
    "ST", "STONE", "STONES", "K",
    # length
    "CM", "MM", "FT", "FEET", "INCH", "INCHES", "METRE", "METRES", "METER", "METERS", "METRO", "METROS",
    # volume
    "L", "ML", "DL", "CC", "LITRE", "LITRES", "LITER", "LITERS", "LITRO", "LITROS", "LITA",
    # concentration and pressure
    "G/L", "G/DL", "MG/L", "UMOL/L", "UMOL", "MEQ", "MEQ/L", "IU", "UI", "KPA", "CMHG", "CM/HG",
    # time and energy
    "MIN", "MINS", "MINUTE", "MINUTES", "SEC", "KCAL", "CAL",
))
UNIT_LIKE = OTHER_UNITS | {spelling for kind in KINDS.values() for spelling in kind.units}


def kind_for_code(code: str) -> Kind | None:
    """The kind a typed code stands for (any case), or None."""
    name = CODES.get(code.strip().upper())
    return KINDS[name] if name else None


def glucose_unit_guess(value: float) -> str | None:
    """mg/dL above 35, mmol/L below 20, None in between: the sender must say which."""
    if value > GLUCOSE_MG_DL_ABOVE:
        return MG_DL
    if value < GLUCOSE_MMOL_L_BELOW:
        return MMOL_L
    return None


def glucose_reading(entered: float, unit: str, text: str = "") -> Reading:
    """A glucose reading from a value in `unit` ("mmol/L" or "mg/dL"), stored in mmol/L."""
    mmol_l = entered if unit == MMOL_L else entered / MG_DL_PER_MMOL_L
    return Reading("glucose", {"mmol_l": round(mmol_l, 1), "entered": float(entered), "unit": unit}, text)


def weight_reading(entered: float, unit: str = KG, text: str = "") -> Reading:
    """A weight from a value in `unit` ("kg" or "lb"), stored in kg (to 0.1 kg)."""
    if unit == LB:
        return Reading("weight", {"kg": round(entered * KG_PER_LB, 1), "entered": float(entered), "unit": LB}, text)
    return Reading("weight", {"kg": float(entered)}, text)


def temperature_reading(entered: float, unit: str = CELSIUS, text: str = "") -> Reading:
    """A temperature from a value in `unit` ("C" or "F"), stored in Celsius (to 0.1)."""
    if unit == FAHRENHEIT:
        celsius = round((entered - 32) * 5 / 9, 1)
        return Reading("temperature", {"celsius": celsius, "entered": float(entered), "unit": FAHRENHEIT}, text)
    return Reading("temperature", {"celsius": float(entered)}, text)


def out_of_range(reading: Reading) -> tuple[str, ...]:
    """Names of the values no patient can plausibly have; empty when the reading is plausible.
    A blood pressure whose systolic does not exceed its diastolic gives both names."""
    kind = KINDS[reading.kind]
    values = reading.values
    if reading.kind == "glucose":
        measure = kind.measures["mg_dl"] if values["unit"] == MG_DL else kind.measures["mmol_l"]
        return () if measure.plausible(values["entered"]) else (measure.name,)
    # "entered" and "unit" (a converted weight or temperature) say how it was typed: the
    # converted value is the one judged.
    bad = tuple(
        name
        for name, value in values.items()
        if name in kind.measures and value is not None and not kind.measures[name].plausible(value)
    )
    if reading.kind == "bp" and not bad and values["systolic"] <= values["diastolic"]:
        return ("systolic", "diastolic")
    return bad


def number_text(value: float, decimals: int) -> str:
    # "38.0" echoes as "38": shorter, and what people write.
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_reading(reading: Reading) -> str:
    """The compact ASCII echo used in replies: "BP 140/90 P72", "GLU 7.2",
    "GLU 7.2 (130mg/dL)", "WT 64.5", "WT 81.6 (180lb)", "T 38.2", "T 38.3 (101F)",
    "SPO2 95", "P 72"."""
    v = reading.values
    if reading.kind == "bp":
        text = f"BP {v['systolic']}/{v['diastolic']}"
        return f"{text} P{v['pulse']}" if v.get("pulse") is not None else text
    if reading.kind == "glucose":
        text = f"GLU {number_text(v['mmol_l'], 1)}"
        return f"{text} ({number_text(v['entered'], 1)}mg/dL)" if v["unit"] == MG_DL else text
    kind = KINDS[reading.kind]
    (measure,) = kind.measures.values()
    text = f"{kind.codes[0]} {number_text(v[measure.name], measure.decimals)}"
    if v.get("unit") in (LB, FAHRENHEIT) and v.get("entered") is not None:
        return f"{text} ({number_text(v['entered'], measure.decimals)}{v['unit']})"
    return text
