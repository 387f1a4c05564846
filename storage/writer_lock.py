"""The queue writers stand in before SQLite's own write lock.

SQLite's busy handler polls: a writer that finds the database locked sleeps 1, 2, 5,
10... up to 100 ms between tries, so with two server processes a text could wait
hundreds of milliseconds for a lock that was free after one. Here:
- threads of one process queue on a lock in the kernel (a futex), woken the moment the
  one before lets go;
- processes (gunicorn's workers, the dispatcher, the CLI) meet at flock() of a file
  beside the database, `<name>.db-writer`, which the kernel drops when a process dies,
  even by SIGKILL, so a crash never leaves it held. Only one thread of each process
  waits for it, and it tries every millisecond.
A writer gives up after the busy timeout, as with SQLite's lock alone ("database is
locked": the webhook answers 503 and Twilio retries), so a stuck or suspended command
holding the lock never hangs every request behind it.
SQLite's lock stays the real guard (BEGIN IMMEDIATE is still taken under this one);
where flock does not exist (Windows) or fails (some network file systems), writers meet
at SQLite's lock as before.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

# As long as SQLite's own busy timeout (storage.connection), for the same reason.
TIMEOUT_SECONDS = 5.0
_POLL_SECONDS = 0.001

_THREADS = threading.RLock()
# One open lock file per process and database. flock belongs to the open file, and a
# forked child shares its parent's: the child closes its copies (below) and opens its own.
_FILES: dict[str, int] = {}
_FILES_GUARD = threading.Lock()
_DEPTH = threading.local()  # a thread that writes inside its own write takes the file once


def _forget_files_in_child() -> None:
    # Were the parent killed mid-write, the child's copy would keep the lock held for as
    # long as the child lives. Closing a copy does not release the parent's lock.
    global _FILES, _FILES_GUARD, _DEPTH, _THREADS
    for fd in _FILES.values():
        with suppress(OSError):
            os.close(fd)
    _FILES, _FILES_GUARD, _DEPTH, _THREADS = {}, threading.Lock(), threading.local(), threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_files_in_child)


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + "-writer")


def _descriptor(database: str) -> int | None:
    if fcntl is None or not database:
        return None
    with _FILES_GUARD:
        fd = _FILES.get(database)
        if fd is None:
            try:
                fd = os.open(lock_path(Path(database)), os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
            except OSError:
                return None  # a read-only folder: SQLite's lock alone, as before
            _FILES[database] = fd
        return fd


def _take_file(fd: int, deadline: float) -> bool:
    """Lock the file by the deadline: True, or raise "database is locked". False when
    this file system cannot lock files (then SQLite's lock alone guards)."""
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise sqlite3.OperationalError("database is locked") from None
            time.sleep(_POLL_SECONDS)
        except OSError:
            return False


@contextmanager
def held(database: str, timeout: float = TIMEOUT_SECONDS) -> Iterator[None]:
    """Hold the writers' lock for `database` (a file path; "" for in-memory)."""
    deadline = time.monotonic() + timeout
    threads = _THREADS
    if not threads.acquire(timeout=timeout):
        raise sqlite3.OperationalError("database is locked")
    try:
        depth = getattr(_DEPTH, "value", 0)
        fd = _descriptor(database) if depth == 0 else None
        if fd is not None and not _take_file(fd, deadline):
            fd = None
        _DEPTH.value = depth + 1
        try:
            yield
        finally:
            _DEPTH.value = depth
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        threads.release()
