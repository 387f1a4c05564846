"""Care rules (flows/care_rules.py, flows/care_rules.toml): every threshold's boundary, the
trend rule, a clinic's override file, bad override files, and the sources in the defaults."""

from __future__ import annotations

import re
import tomllib
from datetime import UTC, datetime, timedelta

import pytest

from flows.care_rules import DEFAULTS, LEVELS, MEASURES, Assessment, CareRulesError, load_rules
from flows.readings import KINDS, MG_DL, MMOL_L, Reading, glucose_reading


@pytest.fixture(scope="module")
def rules():
    return load_rules()


def bp(systolic, diastolic, pulse=None):
    return Reading("bp", {"systolic": systolic, "diastolic": diastolic, "pulse": pulse})


def glucose(mmol_l):
    return Reading("glucose", {"mmol_l": mmol_l, "entered": mmol_l, "unit": MMOL_L})


def one(kind, value):
    (measure,) = MEASURES[kind]
    return Reading(kind, {measure: value})


BOUNDARIES = [
    # Blood pressure: at or above 180 systolic OR 120 diastolic urgent; 140 OR 90 high.
    (bp(139, 89), "normal", None),
    (bp(140, 85), "high", "bp.high"),
    (bp(135, 90), "high", "bp.high"),
    (bp(179, 119), "high", "bp.high"),
    (bp(180, 80), "urgent", "bp.urgent_high"),
    (bp(150, 120), "urgent", "bp.urgent_high"),
    (bp(220, 130), "urgent", "bp.urgent_high"),
    # The pulse inside a blood pressure is judged by the pulse rules; the worse one wins.
    (bp(130, 80, 72), "normal", None),
    (bp(130, 80, 131), "urgent", "pulse.urgent_high"),
    (bp(130, 80, 40), "urgent", "pulse.urgent_low"),
    (bp(130, 80, 105), "high", "pulse.high"),
    (bp(150, 95, 72), "high", "bp.high"),
    (bp(150, 95, 105), "high", "bp.high"),  # a tie names the blood pressure
    (bp(185, 95, 45), "urgent", "bp.urgent_high"),
    # Glucose (mmol/L): below 3.0 urgent, below 3.9 low, above 10.0 high, above 16.7 urgent.
    (glucose(2.99), "urgent", "glucose.urgent_low"),
    (glucose(3.0), "low", "glucose.low"),
    (glucose(3.89), "low", "glucose.low"),
    (glucose(3.9), "normal", None),
    (glucose(10.0), "normal", None),
    (glucose(10.01), "high", "glucose.high"),
    (glucose(16.7), "high", "glucose.high"),
    (glucose(16.71), "urgent", "glucose.urgent_high"),
    # SpO2: below 92 urgent, below 95 low.
    (one("spo2", 95), "normal", None),
    (one("spo2", 94), "low", "spo2.low"),
    (one("spo2", 92), "low", "spo2.low"),
    (one("spo2", 91), "urgent", "spo2.urgent_low"),
    # Temperature: 38.0 fever, 40.0 urgent, below 35.0 low.
    (one("temperature", 35.0), "normal", None),
    (one("temperature", 34.9), "low", "temperature.low"),
    (one("temperature", 37.9), "normal", None),
    (one("temperature", 38.0), "high", "temperature.high"),
    (one("temperature", 39.9), "high", "temperature.high"),
    (one("temperature", 40.0), "urgent", "temperature.urgent_high"),
    # Pulse: 40 or less urgent (NEWS2), below 50 low, above 100 high, above 130 urgent.
    (one("pulse", 40), "urgent", "pulse.urgent_low"),
    (one("pulse", 41), "low", "pulse.low"),
    (one("pulse", 49), "low", "pulse.low"),
    (one("pulse", 50), "normal", None),
    (one("pulse", 100), "normal", None),
    (one("pulse", 101), "high", "pulse.high"),
    (one("pulse", 130), "high", "pulse.high"),
    (one("pulse", 131), "urgent", "pulse.urgent_high"),
    # Weight has no population threshold.
    (one("weight", 1), "normal", None),
    (one("weight", 300), "normal", None),
]


@pytest.mark.parametrize("reading, level, rule", BOUNDARIES, ids=lambda x: getattr(x, "values", x))
def test_boundaries(rules, reading, level, rule):
    assessment = rules.assess(reading)
    assert (assessment.level, assessment.rule) == (level, rule)


@pytest.mark.parametrize(
    "mg_dl, level",
    # Judged on the stored mmol/L (mg/dL / 18, one decimal), the number the reply echoes.
    [(53, "urgent"), (54, "low"), (69, "low"), (70, "normal"), (180, "normal"), (185, "high"), (300, "high"),
     (310, "urgent")],
)
def test_glucose_in_mg_dl(rules, mg_dl, level):
    assert rules.assess(glucose_reading(mg_dl, MG_DL)).level == level


@pytest.mark.parametrize(
    "reading, target",
    [
        (bp(120, 80), "<140/90"),
        (bp(190, 100), "<140/90"),
        (bp(120, 80, 140), "50-100"),  # the target of the rule that fired
        (glucose(7.2), "4.0-10.0"),
        (one("spo2", 97), "95+"),
        (one("temperature", 38.5), "<38.0"),
        (one("pulse", 72), "50-100"),
        (one("weight", 64.5), None),
    ],
)
def test_targets(rules, reading, target):
    assert rules.assess(reading).target == target


def test_assessment_is_a_plain_value(rules):
    assert rules.assess(bp(180, 80)) == Assessment("urgent", "bp.urgent_high", "<140/90")
    assert LEVELS == ("normal", "low", "high", "urgent")


def test_every_kind_has_rules(rules):
    assert set(MEASURES) == set(KINDS) == set(rules.kinds)
    for kind, measures in MEASURES.items():
        assert set(measures) <= set(KINDS[kind].measures)


def test_unknown_kind_is_a_programming_error(rules):
    with pytest.raises(ValueError, match="pain"):
        rules.assess(Reading("pain", {"score": 9}))
    with pytest.raises(ValueError, match="pain"):
        rules.trend("pain", [], NOW)


# Trend: three high (or urgent) readings of one kind within seven days, the new one included.

NOW = datetime(2024, 5, 10, 12, 0, tzinfo=UTC)


def ago(days, level):
    return (NOW - timedelta(days=days), level)


@pytest.mark.parametrize(
    "history, expected",
    [
        ([ago(0, "high"), ago(2, "high")], False),
        ([ago(0, "high"), ago(2, "high"), ago(5, "high")], True),
        ([ago(0, "urgent"), ago(1, "high"), ago(6.9, "urgent")], True),
        ([ago(0, "high"), ago(2, "high"), ago(7, "high")], True),  # seven days ago to the minute counts
        ([ago(0, "high"), ago(2, "high"), ago(7.01, "high"), ago(20, "high")], False),  # older ones ignored
        ([ago(0, "high"), ago(1, "normal"), ago(2, "low"), ago(3, "normal"), ago(4, "high")], False),
        ([ago(0, "high"), ago(1, "normal"), ago(2, "high"), ago(3, "normal"), ago(4, "high")], True),
        ([ago(0, "high"), ago(1, "high"), ago(-1, "high")], False),  # after `now` is not "up to now"
        ([], False),
    ],
)
def test_trend(rules, history, expected):
    assert rules.trend("bp", history, NOW) is expected


# A clinic's override file: same tables, only the keys it changes (acceptance 4, pure half).


def write(tmp_path, text, name="clinic_rules.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_override_changes_one_threshold_and_the_assessment_follows(rules, tmp_path):
    assert rules.assess(bp(172, 80)).level == "high"
    clinic = load_rules(write(tmp_path, "[bp]\nurgent_at_or_above = { systolic = 170 }\n"))
    assert clinic.assess(bp(172, 80)) == Assessment("urgent", "bp.urgent_high", "<140/90")
    assert clinic.assess(bp(169, 80)).level == "high"
    # Only what the clinic wrote changed: the diastolic and every other kind keep their defaults.
    assert clinic.assess(bp(150, 120)).level == "urgent"
    assert clinic.assess(bp(150, 119)).level == "high"
    assert clinic.assess(glucose(2.9)).level == "urgent"
    assert clinic.trend("bp", [ago(0, "high"), ago(1, "high")], NOW) is False


def test_override_of_target_trend_and_a_new_bound(tmp_path):
    clinic = load_rules(write(tmp_path, (
        "[bp]\n"
        'target = "below 130/80"\n'
        "low_below = { systolic = 90 }\n"
        "[spo2]\n"
        "urgent_below = 88\n"
        "low_below = 92\n"
        "[trend]\n"
        "count = 2\n"
    )))
    assert clinic.assess(bp(120, 80)).target == "below 130/80"
    assert clinic.assess(bp(85, 60)) == Assessment("low", "bp.low", "below 130/80")
    assert clinic.assess(one("spo2", 90)).level == "low"
    assert clinic.assess(one("spo2", 87)).level == "urgent"
    assert clinic.trend("bp", [ago(0, "high"), ago(1, "high")], NOW) is True


def test_override_in_the_other_spelling_replaces_the_bound(tmp_path):
    clinic = load_rules(write(tmp_path, "[glucose]\nurgent_at_or_above = 16.7\n"))
    assert clinic.assess(glucose(16.7)).level == "urgent"
    # Raising the bound works too: the default's `urgent_above = 16.7` is gone, not kept beside it.
    clinic = load_rules(write(tmp_path, "[glucose]\nurgent_at_or_above = 20.0\n"))
    assert clinic.assess(glucose(19.9)).level == "high"
    assert clinic.assess(glucose(20.0)).level == "urgent"


def test_override_path_may_be_text(tmp_path):
    path = write(tmp_path, "[temperature]\nhigh_at_or_above = 37.5\n")
    assert load_rules(str(path)).assess(one("temperature", 37.5)).level == "high"


def test_empty_override_is_the_defaults(rules, tmp_path):
    assert load_rules(write(tmp_path, "# nothing changed yet\n")) == rules


@pytest.mark.parametrize(
    "text, where",
    [
        ("[bloodpressure]\nhigh_at_or_above = { systolic = 150 }\n", "[bloodpressure]"),
        ("bp = 150\n", "[bp]"),
        ("[bp]\nurgent_over = { systolic = 170 }\n", "[bp] urgent_over"),
        ("[glucose]\nlow_below = \"3.5\"\n", "[glucose] low_below"),
        ("[spo2]\nurgent_below = true\n", "[spo2] urgent_below"),
        ("[temperature]\nhigh_at_or_above = nan\n", "[temperature] high_at_or_above"),
        ("[bp]\nhigh_at_or_above = 150\n", "[bp] high_at_or_above"),
        ("[bp]\nhigh_at_or_above = {}\n", "[bp] high_at_or_above"),
        ("[bp]\nhigh_at_or_above = { systolic = \"150\" }\n", "[bp] high_at_or_above.systolic"),
        ("[bp]\nhigh_at_or_above = { pulse = 100 }\n", "[bp] high_at_or_above.pulse"),
        ("[pulse]\nhigh_above = { bpm = 100 }\n", "[pulse] high_above"),
        ("[bp]\ntarget = 140\n", "[bp] target"),
        ("[glucose]\nurgent_above = 17\nurgent_at_or_above = 17\n", "[glucose] urgent_at_or_above"),
        # Order: an urgent threshold must lie beyond the high (or low) one.
        ("[bp]\nurgent_at_or_above = { systolic = 130 }\n", "[bp] urgent_at_or_above.systolic"),
        ("[bp]\nurgent_at_or_above = { diastolic = 90 }\n", "[bp] urgent_at_or_above.diastolic"),
        ("[glucose]\nurgent_below = 4.0\n", "[glucose] urgent_below"),
        ("[glucose]\nlow_below = 12.0\n", "[glucose] high_above"),
        ("[temperature]\nhigh_at_or_above = 40.0\n", "[temperature] urgent_at_or_above"),
        ("[spo2]\nlow_below = 90\n", "[spo2] urgent_below"),
        ("[trend]\ncount = 0\n", "[trend] count"),
        ("[trend]\ncount = 2.5\n", "[trend] count"),
        ("[trend]\ndays = -1\n", "[trend] days"),
        ("[trend]\nweeks = 1\n", "[trend] weeks"),
        ("[bp\n", "not valid TOML"),
    ],
)
def test_bad_override_is_one_clear_line(tmp_path, text, where):
    path = write(tmp_path, text)
    with pytest.raises(CareRulesError) as caught:
        load_rules(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert where in message
    assert "\n" not in message
    # No chained exception (a TOML or OS error) would be printed under it.
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None or caught.value.__suppress_context__
    assert isinstance(caught.value, ValueError)


def test_order_message_names_both_keys(tmp_path):
    with pytest.raises(CareRulesError) as caught:
        load_rules(write(tmp_path, "[bp]\nurgent_at_or_above = { systolic = 130 }\n"))
    assert str(caught.value).endswith(
        "[bp] urgent_at_or_above.systolic: 130 must be above high_at_or_above.systolic (140)"
    )


def test_missing_override_file(tmp_path):
    path = tmp_path / "no_such_rules.toml"
    with pytest.raises(CareRulesError, match=r"no_such_rules\.toml: file: cannot read it"):
        load_rules(path)


# The defaults file: every threshold's source is written beside it (issue 4, acceptance 4).

DEFAULTS_TEXT = DEFAULTS.read_text(encoding="utf-8")
TABLE = re.compile(r"^\[(\w+)\]\s*$")


def tables_with_comment_blocks():
    lines = DEFAULTS_TEXT.splitlines()
    for number, line in enumerate(lines):
        match = TABLE.match(line)
        if match:
            block = []
            above = number - 1
            while above >= 0 and lines[above].startswith("#"):
                block.insert(0, lines[above])
                above -= 1
            yield match.group(1), block


def test_every_table_in_the_defaults_is_preceded_by_its_source():
    found = dict(tables_with_comment_blocks())
    assert set(found) == set(MEASURES) | {"trend"} == set(tomllib.loads(DEFAULTS_TEXT))
    for table, block in found.items():
        assert any(line.startswith("# Source:") for line in block), f"[{table}] has no '# Source:' comment above it"


def test_every_threshold_line_cites_its_source_beside_it():
    data = tomllib.loads(DEFAULTS_TEXT)
    thresholds = {key for table in data.values() for key in table if key != "target"}
    cited = 0
    for line in DEFAULTS_TEXT.splitlines():
        key = line.split("=", 1)[0].strip()
        if not line.startswith("#") and "=" in line and key in thresholds:
            assert re.search(r"#\s*\S", line.split("=", 1)[1]), f"no source beside: {line}"
            cited += 1
    assert cited == sum(len([k for k in table if k != "target"]) for table in data.values())


def test_header_documents_every_key():
    header = DEFAULTS_TEXT.split("\n[", 1)[0]
    keys = ["target", "urgent_at_or_above", "urgent_above", "high_at_or_above", "high_above", "low_below",
            "low_at_or_below", "urgent_below", "urgent_at_or_below", "count", "days"]
    for key in keys:
        assert re.search(rf"^#\s+{key}\s", header, re.MULTILINE), f"{key} is not explained in the header"
