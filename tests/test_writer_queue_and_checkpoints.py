"""Writers queue in the kernel, and WAL checkpoints happen off the request path
(issue 14): another process (a second gunicorn worker, the CLI) sees the writers' lock
taken for exactly as long as a write transaction; `lowband serve`'s checkpointer
copies the WAL into the database while the request connections only append."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from storage.checkpointer import FALLBACK_PAGES, Checkpointer
from storage.writer_lock import lock_path

pytestmark = pytest.mark.skipif(os.name != "posix", reason="flock is POSIX")

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
