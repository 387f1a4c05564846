"""Every script in tests/conversations/ runs through the real webhook, signed, on a
real SQLite file, with the clock under the script's control."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from lowband import create_app
from tests.helpers.conversation_script import Clock, ScriptRunner
from tests.helpers.twilio_client import AUTH_TOKEN, TwilioClient

SCRIPTS = sorted((Path(__file__).parent / "conversations").glob("*.txt"))


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_conversation(script: Path, installation):
    clock = Clock(datetime(2026, 11, 22, 8, 0, tzinfo=UTC))
    app = create_app({**installation.config, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "CLOCK": clock})
    runtime = app.extensions["lowband"]
    try:
        runner = ScriptRunner(script, TwilioClient(app.test_client()), runtime.store, clock)
        failures = runner.run()
    finally:
        runtime.close()
    assert not failures, "\n" + "\n\n".join(failures)
