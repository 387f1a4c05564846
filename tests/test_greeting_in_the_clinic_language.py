"""A new number's "Hi" or "Hello" (the commonest first text, whatever the sender
speaks) gets the welcome in the clinic's language (LOWBAND_LANGUAGE), not English:
only a greeting that names a language ("habari", "bonjour", "hola") changes it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lowband import create_app
from tests.helpers.conversation_script import Clock, ScriptRunner
from tests.helpers.twilio_client import AUTH_TOKEN, TwilioClient

SWAHILI_WELCOME = ("Karibu SMS za afya za Lowband Clinic. Taarifa zako ni siri. Jibu NDIO kujiunga, au HAPANA. "
                   "English EN, Francais FR, Espanol ES")


@pytest.mark.parametrize("first", ["Hi", "Hello", "hey there"])
def test_a_swahili_clinic_welcomes_hi_in_swahili(first, installation, tmp_path):
    script = tmp_path / "script.txt"
    script.write_text(f"@from +254733400520\n> {first}\n< {SWAHILI_WELCOME}\n")
    clock = Clock(datetime(2026, 11, 22, 8, 0, tzinfo=UTC))
    app = create_app({**installation.config, "LANGUAGE": "sw", "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "CLOCK": clock})
    runtime = app.extensions["lowband"]
    try:
        failures = ScriptRunner(script, TwilioClient(app.test_client()), runtime.store, clock).run()
    finally:
        runtime.close()
    assert not failures, "\n" + "\n\n".join(failures)
