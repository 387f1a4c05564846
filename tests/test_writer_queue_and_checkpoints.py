"""Writers queue outside SQLite's busy handler, and WAL checkpoints happen off the
request path (issue 14): another process (a second gunicorn worker, the CLI) sees the
writers' lock taken for exactly as long as a write transaction; `lowband serve`'s
checkpointer copies the WAL into the database while the request connections only append.

When things go wrong: flock() belongs to an open file, which a fork shares, so a writer
killed after forking a helper must not leave the lock held by the helper's copy; and a
writer waits no longer than SQLite's busy timeout ("database is locked": the webhook's
503, which Twilio retries), never forever behind a stopped or stuck command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from storage.checkpointer import FALLBACK_PAGES, Checkpointer
from storage.connection import BUSY_TIMEOUT_MS
from storage.writer_lock import lock_path

pytestmark = pytest.mark.skipif(os.name != "posix", reason="flock is POSIX")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Another process asks, without waiting, whether it could take the writers' lock now.
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


def test_another_process_waits_while_a_write_is_open_and_not_after(store, installation):
    with store.write():
        store.audit.record("cli", "test.write")
        assert probe(lock_path(installation.db)) == "held"
    assert probe(lock_path(installation.db)) == "free"


def test_a_write_that_fails_lets_the_lock_go(store, installation):
    with pytest.raises(RuntimeError), store.write():
        store.audit.record("cli", "test.write")
        raise RuntimeError("the step failed")
    assert probe(lock_path(installation.db)) == "free"
    with store.write():  # and this process can write again at once
        store.audit.record("cli", "test.write")


def test_the_lock_file_is_private(store, installation):
    with store.write():
        store.audit.record("cli", "test.write")
    assert lock_path(installation.db).stat().st_mode & 0o077 == 0


def test_the_checkpointer_copies_the_wal_into_the_database(tmp_path):
    import sqlite3

    db = tmp_path / "wal.db"
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("PRAGMA journal_mode = WAL")
    writer.execute("PRAGMA wal_autocheckpoint = 0")  # this connection never checkpoints itself
    writer.execute("CREATE TABLE t (x BLOB)")
    size_before = db.stat().st_size
    checkpointer = Checkpointer(db, interval=0.05).start()
    try:
        for _ in range(50):
            writer.execute("INSERT INTO t VALUES (randomblob(20000))")  # about 1 MB in all
        deadline = time.monotonic() + 10
        while db.stat().st_size < size_before + 900_000 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        checkpointer.stop()
        writer.close()
    assert db.stat().st_size >= size_before + 900_000


def test_serve_hands_request_connections_checkpoints_to_the_checkpointer(app):
    from lowband import serving

    runtime = app.extensions["lowband"]
    assert runtime.store().one("PRAGMA wal_autocheckpoint")[0] == 1000  # SQLite's default, before serve
    runtime.close()
    serving.start_checkpointer(app, runtime.settings)
    try:
        assert runtime.store().one("PRAGMA wal_autocheckpoint")[0] == FALLBACK_PAGES
    finally:
        runtime.checkpointer.stop()


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
