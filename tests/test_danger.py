"""The safety net's eyes (flows/danger.py): every dangerous value found however it is
written, and no alarm for numbers in ordinary talk."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from flows.care_rules import load_rules
from flows.catalog import default_catalog
from flows.context import Context
from flows.danger import urgent_in

CTX = Context(now=datetime(2026, 11, 22, tzinfo=UTC), sender="+254712345678", directory=None, rules=load_rules(),
              reading_words=default_catalog().reading_words())


@pytest.mark.parametrize(("text", "found"), [
    ("BP 190/125", ["BP 190/125"]),
    ("190/125", ["BP 190/125"]),
    ("hi BP 190/125", ["BP 190/125"]),
    ("my bp is 190 125", ["BP 190/125"]),
    ("presha 190/125", ["BP 190/125"]),
    ("tension 19/12", ["BP 190/120"]),  # centimetres of mercury, as many French speakers write it
    ("BP 270/150", ["BP 270/150"]),  # past what the parser believes: still a danger
    ("SPO2 45", ["SPO2 45"]),
    ("GLU 0.8", ["GLU 0.8"]),
    ("GLU 700", ["GLU 38.9 (700mg/dL)"]),
    ("GLU 30", ["GLU 30"]),  # unit unclear, urgent in both
    ("GLU HI", ["GLU HI"]),
    ("sukari LO", ["GLU LO"]),
    ("4376 bp 190 125", ["BP 190/125"]),
    ("T 104F", ["T 40 (104F)"]),
])
def test_danger_is_found_however_it_is_written(text, found):
    assert urgent_in(text, CTX) == found


@pytest.mark.parametrize("text", [
    "I paid 200/150 shillings",
    "pressure pills 200 100 mg",
    "BP machine cost 2000. I walked 190 120 steps",
    "2 sugar 30",
    "12/11/2026",
    "call me at 0712345678",
    "BP 120/80",
    "GLU 6.1",
    "REG Amina Zawadi F 1968 0712345678",
])
def test_no_alarm_for_talk_or_normal_values(text):
    assert urgent_in(text, CTX) == []
