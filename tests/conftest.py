"""Shared fixtures: a real installation (key file + SQLite file) in a temp folder,
the app built by create_app, and the `lowband` CLI run as a user runs it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from lowband import create_app
from lowband.cli import cli
from storage import create_key_file, open_store

# scrypt at full cost takes ~50 ms a PIN; tests keep the format but lower the cost.
TEST_PIN_WORK = 4


@dataclass
class Installation:
    root: Path
    db: Path
    key_file: Path
    region: str = "KE"

    @property
    def env(self) -> dict[str, str]:
        return {
            "LOWBAND_DB": str(self.db),
            "LOWBAND_KEY_FILE": str(self.key_file),
            "LOWBAND_REGION": self.region,
            "LOWBAND_PIN_WORK": str(TEST_PIN_WORK),
            "LOWBAND_PUBLIC_URL": "https://clinic.example.org",
        }

    @property
    def config(self) -> dict:
        return {
            "DB": self.db,
            "KEY_FILE": self.key_file,
            "REGION": self.region,
            "PIN_WORK": TEST_PIN_WORK,
            "PUBLIC_URL": "https://clinic.example.org",
        }

    def store(self, **kwargs):
        from storage import load_key_file

        return open_store(self.db, load_key_file(self.key_file), pin_work=TEST_PIN_WORK, **kwargs)


@pytest.fixture
def installation(tmp_path: Path) -> Installation:
    """A fresh, initialised, empty installation."""
    inst = Installation(root=tmp_path, db=tmp_path / "data" / "lowband.db", key_file=tmp_path / "data" / "lowband.key")
    ring = create_key_file(inst.key_file)
    open_store(inst.db, ring, create=True, pin_work=TEST_PIN_WORK).db.close()
    return inst


@pytest.fixture
def store(installation: Installation):
    s = installation.store()
    yield s
    s.db.close()


@pytest.fixture
def run_cli(installation: Installation, monkeypatch: pytest.MonkeyPatch):
    """Run `lowband ARGS...` with the installation's environment; returns the Result."""
    for name in ("LOWBAND_TRANSPORT", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM", "LOWBAND_DEV"):
        monkeypatch.delenv(name, raising=False)

    def run(*args: str, input: str | None = None, env: dict | None = None):
        runner = CliRunner()
        return runner.invoke(cli, list(args), input=input, env={**installation.env, **(env or {})})

    return run


@pytest.fixture
def app(installation: Installation):
    application = create_app(installation.config)
    yield application
    application.extensions["lowband"].close()


@pytest.fixture
def client(app):
    return app.test_client()


def assert_one_line_error(result, *expected: str) -> str:
    """The CLI's contract for errors: non-zero exit, exactly one line on stderr,
    nothing on stdout, and a handled error (an uncaught exception would be a traceback)."""
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), f"unhandled {result.exception!r}\n{result.output}"
    assert "Traceback" not in result.output
    assert result.stdout == "", result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def cli_error():
    """`cli_error(result, "text", ...)` asserts a one-line error containing each text."""
    return assert_one_line_error


@pytest.fixture
def no_rotation_grace(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """`keys rotate` waits a few seconds for in-flight requests; tests have none in flight.
    Returns the list of waits that were skipped."""
    import types

    import storage.rotation

    waits: list[float] = []
    monkeypatch.setattr(storage.rotation, "time", types.SimpleNamespace(sleep=waits.append))
    return waits


@pytest.fixture
def clock():
    from datetime import UTC, datetime

    from tests.helpers.conversation_script import Clock

    return Clock(datetime(2026, 11, 22, 8, 0, tzinfo=UTC))


@pytest.fixture
def sms_app(installation: Installation, clock):
    """The app with a known Twilio auth token and a clock the test moves."""
    from tests.helpers.twilio_client import AUTH_TOKEN

    application = create_app({**installation.config, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "CLOCK": clock})
    yield application
    application.extensions["lowband"].close()


@pytest.fixture
def twilio(sms_app):
    from tests.helpers.twilio_client import TwilioClient

    return TwilioClient(sms_app.test_client())
