"""The conversation scripts again, on the engine alone: no HTTP, no SQLite, records in
memory (tests/helpers/memory_clinic.py). What the engine decides is checked here in
milliseconds; tests/test_conversations.py runs the same scripts end to end. A script
that tests what only the whole server does (the loop guard, the alert rota, the outbox)
says `@end-to-end` and is skipped here."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from flows.care_rules import load_rules
from flows.catalog import default_catalog
from flows.context import FlowConfig
from tests.helpers.conversation_script import Clock, EndToEndOnly, ScriptRunner
from tests.helpers.memory_clinic import MemoryClinic, MemoryWorld

SCRIPTS = sorted((Path(__file__).parent / "conversations").glob("*.txt"))
CATALOG = default_catalog()
RULES = load_rules()


def run(script: Path) -> list[str]:
    clock = Clock(datetime(2026, 11, 22, 8, 0, tzinfo=UTC))
    clinic = MemoryClinic(CATALOG, FlowConfig(region="KE", time_zone="Africa/Nairobi"), RULES,
                          CATALOG.reading_words(), clock)
    return ScriptRunner(script, None, None, clock, world=MemoryWorld(clinic)).run()


@pytest.fixture
def no_database(monkeypatch):
    """Proof that nothing here touches SQLite: opening any database fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("the engine alone opened a database")

    monkeypatch.setattr(sqlite3, "connect", refuse)


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_conversation_on_the_engine_alone(script: Path, no_database):
    try:
        failures = run(script)
    except EndToEndOnly as why:
        pytest.skip(f"end to end only: {why}")
    assert not failures, "\n" + "\n\n".join(failures)


def test_most_scripts_run_on_the_engine_alone():
    end_to_end = [s.name for s in SCRIPTS if "\n@end-to-end" in "\n" + s.read_text(encoding="utf-8")]
    assert len(end_to_end) * 3 < len(SCRIPTS), f"too many scripts need the whole server: {end_to_end}"
