"""The hazard log (docs/safety/hazards.md) names, for every hazard, the tests that prove
its control: each one named must exist, so the log cannot point at nothing."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parent.parent
LOG = ROOT / "docs" / "safety" / "hazards.md"


def rows() -> list[tuple[str, str]]:
    found = []
    for line in LOG.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and re.fullmatch(r"H\d+", cells[0]):
            found.append((cells[0], cells[4]))
    return found


def test_every_hazard_names_tests_that_exist():
    hazards = rows()
    assert len(hazards) >= 20
    for hazard, proof in hazards:
        named = re.findall(r"`([^`]+)`", proof)
        assert named, f"{hazard} names no test"
        for name in named:
            path = ROOT / name if "/" in name else ROOT / "tests" / "conversations" / name
            assert path.exists(), f"{hazard} points at {name}, which does not exist"


def test_hazard_numbers_are_unique_and_in_order():
    numbers = [int(h[1:]) for h, _ in rows()]
    assert numbers == list(range(1, len(numbers) + 1))
