"""Drill: a command is stopped (Ctrl-Z) in the middle of a write, holding the database.
A patient's urgent reading arriving meanwhile must not be answered with a 200 apology
(Twilio would never send it again, and the reading and its alert would be lost): after
the busy timeout it gets 503, so Twilio retries; once the command lets go, the retry is
stored once and the clinician is alerted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from tests.helpers.conversation_script import ScriptRunner
from tests.helpers.twilio_client import new_sid

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGSTOP and flock are POSIX")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
JOSEPH = "+254722300301"
CLINICIAN = "+254700100101"

# A CLI command's write, then the command is suspended (as by Ctrl-Z) before it commits.
SUSPENDED_WRITER = """
import os, signal, sys
sys.path.insert(0, {root!r})
from storage import load_key_file, open_store
store = open_store({db!r}, load_key_file({key!r}), pin_work=4)
with store.write():
    store.audit.record("cli", "test.suspended")
    print("holding", flush=True)
    os.kill(os.getpid(), signal.SIGSTOP)
"""


def test_an_urgent_reading_behind_a_suspended_writer_gets_503_and_its_retry_alerts(twilio, sms_app, installation):
    store = sms_app.extensions["lowband"].store()
    with store.write():
        store.staff.add(role="clinician", name="Wanjiru Kamau", phone=CLINICIAN)
        ScriptRunner.add_patient(store, ["1479", "Joseph Mwangi", JOSEPH, "pin=1111", "consent", "born=1957"])
    script = SUSPENDED_WRITER.format(root=ROOT, db=str(installation.db), key=str(installation.key_file))
    writer = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "holding"
        sid = new_sid()
        refused = twilio.sms(JOSEPH, "BP 210/130", sid=sid)
        assert refused.status == 503 and refused.messages == []
        assert store.one("SELECT count(*) FROM readings")[0] == 0
    finally:
        writer.send_signal(signal.SIGCONT)
        writer.wait(timeout=30)
    retried = twilio.sms(JOSEPH, "BP 210/130", sid=sid)  # Twilio's retry, once the writer let go
    assert retried.status == 200 and "210/130" in retried.messages[0]
    assert store.one("SELECT count(*) FROM readings")[0] == 1
    assert store.one("SELECT count(*) FROM alerts")[0] == 1
