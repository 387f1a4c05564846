"""Every call script in tests/calls/ runs through the real voice webhooks, signed, on a
real SQLite file: what the caller hears, what the keypad waits for, what is stored."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from lowband import create_app
from tests.helpers.conversation_script import Clock, ScriptRunner
from tests.helpers.twilio_client import AUTH_TOKEN, TwilioClient

SCRIPTS = sorted((Path(__file__).parent / "calls").glob("*.txt"))


def test_there_are_call_scripts():
    assert len(SCRIPTS) >= 10


def script_settings(script: Path) -> dict[str, str]:
    settings = {}
    for line in script.read_text(encoding="utf-8").splitlines():
        if line.startswith("@settings "):
            name, _, value = line[len("@settings "):].partition("=")
            settings[name.strip()] = value.strip()
    return settings


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_call(script: Path, installation):
    clock = Clock(datetime(2026, 11, 22, 8, 0, tzinfo=UTC))
    app = create_app({**installation.config, **script_settings(script), "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                      "CLOCK": clock})
    runtime = app.extensions["lowband"]
    try:
        runner = ScriptRunner(script, TwilioClient(app.test_client()), runtime.store, clock)
        failures = runner.run()
    finally:
        runtime.close()
    assert not failures, "\n" + "\n\n".join(failures)
