"""Drill: `lowband serve` (two worker processes) is killed with SIGKILL, every process,
in the middle of a burst of texts.
Every text that got a 200 is stored, its reading kept once; Twilio then sends every text
again (its retries, same MessageSid) to the restarted server, and each is applied once:
the texts that were answered get the same answer again, those cut off are answered now."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from twilio.request_validator import RequestValidator

from tests.helpers.conversation_script import ScriptRunner
from tests.helpers.twilio_client import new_sid

TOKEN = "drill-token-" + "x" * 20
PHONES = [f"+2547123400{n:02d}" for n in range(6)]
TEXTS = 120


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve(installation, port: int) -> subprocess.Popen:
    env = {**os.environ, **installation.env, "TWILIO_AUTH_TOKEN": TOKEN, "LOWBAND_RATE_LIMIT": "1000",
           "LOWBAND_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    # Its own session: killing the group kills gunicorn's master and every worker at once.
    server = subprocess.Popen([sys.executable, "-c", "from lowband.cli import main; main()", "serve", "--port",
                               str(port), "--processes", "2"], env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)  # noqa: S310 (loopback)
            return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise AssertionError("lowband serve did not start")


def text(port: int, sid: str, sender: str, body: str) -> tuple[int, str]:
    url = f"http://127.0.0.1:{port}/sms"
    params = {"MessageSid": sid, "AccountSid": "AC" + "1" * 32, "From": sender, "To": "+15005550006",
              "Body": body, "NumMedia": "0"}
    request = urllib.request.Request(url, data=urllib.parse.urlencode(params).encode(), headers={  # noqa: S310
        "X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(url, params)})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
            return response.status, response.read().decode()
    except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError):
        return 0, ""  # cut off: no answer reached Twilio, which will retry


def test_a_server_killed_mid_burst_loses_nothing_and_doubles_nothing(installation):
    store = installation.store()
    with store.write():
        for n, phone in enumerate(PHONES):
            ScriptRunner.add_patient(store, [f"{4376 + n}", f"Patient {n}", phone, "pin=1111", "consent", "born=1970"])
    store.db.close()
    burst = [(new_sid(), PHONES[n % len(PHONES)], f"BP {100 + n}/70") for n in range(TEXTS)]
    port = free_port()
    server = serve(installation, port)
    answered = {}
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(text, port, *item) for item in burst]
        while sum(f.done() for f in futures) < TEXTS // 3:
            time.sleep(0.005)
        os.killpg(server.pid, signal.SIGKILL)  # mid-burst, every process: some answered, some in flight
        server.wait()
        for item, future in zip(burst, futures, strict=True):
            status, body = future.result()
            if status == 200:
                answered[item[0]] = body
    assert 0 < len(answered) < TEXTS
    store = installation.store()
    assert store.one("SELECT count(*) FROM readings")[0] >= len(answered)  # every 200 is stored
    store.db.close()
    server = serve(installation, port)
    try:
        with ThreadPoolExecutor(8) as pool:  # Twilio retries every one of them
            again = dict(zip((sid for sid, _, _ in burst), pool.map(lambda item: text(port, *item), burst),
                             strict=True))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
    assert all(status == 200 for status, _ in again.values())
    assert all(again[sid][1] == body for sid, body in answered.items())  # the same answer, not a second one
    store = installation.store()
    try:
        assert store.one("SELECT count(*) FROM readings")[0] == TEXTS  # each reading once
        assert store.one("SELECT count(*) FROM inbound_messages")[0] == TEXTS
        assert store.one("PRAGMA integrity_check")[0] == "ok"
    finally:
        store.db.close()
