"""The queue writers stand in before SQLite's own write lock.

SQLite's busy handler polls: a writer that finds the database locked sleeps 1, 2, 5,
10... up to 100 ms between tries, so with two server processes a text could wait
hundreds of milliseconds for a lock that was free after one. Here writers wait in the
kernel instead, and the next one wakes the moment the lock is let go:
- threads of one process on a threading lock;
- processes (gunicorn's workers, the dispatcher, the CLI) on flock() of a file beside
  the database, `<name>.db-writer`. The kernel drops it when a process dies, even by
  SIGKILL, so a crash never leaves it held.
SQLite's lock stays the real guard (BEGIN IMMEDIATE is still taken under this one);
where flock does not exist (Windows) writers meet at SQLite's lock as before.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

_THREADS = threading.RLock()
# One open lock file per process and database. A file opened before a fork is shared
# with the child (flock belongs to the open file, not the process), so each process
# opens its own: the key holds the pid.
_FILES: dict[tuple[int, str], int] = {}
_FILES_GUARD = threading.Lock()
_DEPTH = threading.local()  # a thread that writes inside its own write takes the file once


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + "-writer")


def _descriptor(database: str) -> int | None:
    if fcntl is None or not database:
        return None
    key = (os.getpid(), database)
    with _FILES_GUARD:
        fd = _FILES.get(key)
        if fd is None:
            try:
                fd = os.open(lock_path(Path(database)), os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
            except OSError:
                return None  # a read-only folder: SQLite's lock alone, as before
            _FILES[key] = fd
        return fd


@contextmanager
def held(database: str) -> Iterator[None]:
    """Hold the writers' lock for `database` (a file path; "" for in-memory)."""
    with _THREADS:
        depth = getattr(_DEPTH, "value", 0)
        fd = _descriptor(database) if depth == 0 else None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        _DEPTH.value = depth + 1
        try:
            yield
        finally:
            _DEPTH.value = depth
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
