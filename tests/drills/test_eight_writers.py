"""Drill: eight processes and more write to one database at once: two `lowband serve` (each
with two workers) taking
texts, a dispatcher, a 2,000-row `patients import`, `keys rotate` re-sealing everything,
and three admins enrolling patients from the CLI. No "database is locked" reaches anyone
(every text gets its answer, every command succeeds), nothing is lost or doubled, and
afterwards every record opens under the new key and the audit chain verifies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from tests.drills.test_kill_during_burst import TOKEN, free_port, serve, text
from tests.helpers.conversation_script import ScriptRunner
from tests.helpers.twilio_client import new_sid

PHONES = [f"+2547123500{n:02d}" for n in range(4)]
TEXTS_EACH = 40
IMPORT_ROWS = 2000
CLI_PATIENTS = 10


def letters(n: int) -> str:
    """A name's worth of letters for a number (names are letters only)."""
    word = ""
    for _ in range(4):
        n, digit = divmod(n, 26)
        word += "abcdefghijklmnopqrstuvwxyz"[digit]
    return word.capitalize()


def lowband(installation, *args: str) -> subprocess.Popen:
    env = {**os.environ, **installation.env, "TWILIO_AUTH_TOKEN": TOKEN}
    return subprocess.Popen([sys.executable, "-c", "from lowband.cli import main; main()", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_eight_writers_at_once_lose_nothing_and_nobody_sees_locked(installation, tmp_path):
    store = installation.store()
    with store.write():
        for n, phone in enumerate(PHONES):
            ScriptRunner.add_patient(store, [f"{5100 + n}", f"Burst {n}", phone, "pin=1111", "consent", "born=1970"])
    before = store.one("SELECT count(*) FROM patients")[0]
    store.db.close()
    rows = tmp_path / "patients.csv"
    rows.write_text("name,birth_year\n" + "".join(f"Imported {letters(n)},{1950 + n % 50}\n"
                                                   for n in range(IMPORT_ROWS)))
    ports = [free_port(), free_port()]
    servers = [serve(installation, port) for port in ports]
    try:
        workers = [lowband(installation, "dispatch", "--interval", "0.5"),
                   lowband(installation, "patients", "import", str(rows)),
                   lowband(installation, "keys", "rotate")]
        admins = [lowband(installation, "patients", "add", "--name", f"Admin {letters(10_000 + a * 100 + n)}",
                          "--birth-year", "1980") for a in range(3) for n in range(CLI_PATIENTS // 3 + 1)]
        burst = [(ports[n % 2], new_sid(), PHONES[n % len(PHONES)], f"BP {100 + n // len(PHONES)}/{60 + n % 4}")
                 for n in range(TEXTS_EACH * len(PHONES))]
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda item: text(*item), burst))
        finished = [p.communicate(timeout=120) + (p.returncode,) for p in [*workers[1:], *admins]]
        workers[0].terminate()
        _, dispatcher_err = workers[0].communicate(timeout=20)
    finally:
        for server in servers:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=20)
    assert all(status == 200 and "saved" in body for status, body in answers), [
        a for a in answers if a[0] != 200 or "saved" not in a[1]][:3]
    for _out, err, code in finished:
        assert code == 0 and "locked" not in err.lower(), err
    assert "locked" not in dispatcher_err.lower()
    store = installation.store()
    try:
        assert store.one("SELECT count(*) FROM readings")[0] == len(burst)  # each once
        added = sum(1 for _ in admins)
        assert store.one("SELECT count(*) FROM patients")[0] == before + IMPORT_ROWS + added
        names = [p.name for p in store.patients.all()]  # every one opens (under the new key)
        assert len(names) == len(set(names)) == before + IMPORT_ROWS + added
        assert store.audit.verify().ok
    finally:
        store.db.close()
