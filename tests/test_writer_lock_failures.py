"""The writers' lock (storage/writer_lock.py) when things go wrong.

1. flock() belongs to an open file, which a fork shares: a process that forked a helper
   and is then killed mid-write must not leave the lock held by the helper's copy.
2. A writer waits no longer than SQLite's busy timeout, as before the lock: a command
   stopped (Ctrl-Z) or stuck inside a write gets every other writer "database is
   locked" (the webhook's 503, which Twilio retries), never a hang.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from storage.connection import BUSY_TIMEOUT_MS
from storage.writer_lock import lock_path

pytestmark = pytest.mark.skipif(os.name != "posix", reason="flock is POSIX")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PROBE = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    print("held")
else:
    print("free")
"""

FORK_THEN_DIE = """
import os, signal, sys, time
sys.path.insert(0, {root!r})
from storage import load_key_file, open_store
store = open_store({db!r}, load_key_file({key!r}), pin_work=4)
with store.write():  # this process's lock file is open from here on
    store.audit.record("cli", "test.first")
helper = os.fork()
if helper == 0:  # a helper forked as multiprocessing's 'fork' does; it never writes
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    time.sleep(60)
    os._exit(0)
print(helper, flush=True)
cm = store.write()
cm.__enter__()
store.audit.record("cli", "test.mid")
os.kill(os.getpid(), signal.SIGKILL)  # killed mid-transaction
"""

HOLD = """
import sys, time
sys.path.insert(0, {root!r})
from storage import load_key_file, open_store
store = open_store({db!r}, load_key_file({key!r}), pin_work=4)
with store.write():
    store.audit.record("cli", "test.hold")
    print("holding", flush=True)
    time.sleep({seconds})
"""


def probe(path) -> str:
    return subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True,
                          check=True, timeout=30).stdout.strip()


def test_a_writer_killed_after_forking_a_helper_does_not_leave_the_lock_held(installation):
    script = FORK_THEN_DIE.format(root=ROOT, db=str(installation.db), key=str(installation.key_file))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == -signal.SIGKILL, done.stderr
    helper = int(done.stdout.split()[0])
    try:
        time.sleep(0.5)
        assert probe(lock_path(installation.db)) == "free", "the dead writer's lock is still held by its helper"
    finally:
        os.kill(helper, signal.SIGKILL)


def test_a_writer_gives_up_after_the_busy_timeout_as_before(installation, store):
    hold_for = BUSY_TIMEOUT_MS / 1000 + 6
    script = HOLD.format(root=ROOT, db=str(installation.db), key=str(installation.key_file), seconds=hold_for)
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        started = time.monotonic()
        with pytest.raises(Exception, match="locked"), store.write():  # noqa: PT012
            store.audit.record("cli", "test.waiter")
        waited = time.monotonic() - started
        assert waited < BUSY_TIMEOUT_MS / 1000 + 2, f"waited {waited:.1f} s"
    finally:
        holder.kill()
        holder.wait()
