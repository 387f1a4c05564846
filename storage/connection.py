"""The one place that opens the database.

WAL lets the web server read while the scheduler or `keys rotate` writes; foreign
keys catch orphans; the busy timeout makes a writer wait its turn instead of failing.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlite_utils import Database

BUSY_TIMEOUT_MS = 5000
WAL_SIZE_LIMIT_BYTES = 4 * 2**20


def connect(path: str | Path) -> Database:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # isolation_level=None: no implicit BEGIN. Transactions are explicit (Store.write),
    # so a request holds the write lock exactly as long as its one transaction.
    conn = sqlite3.connect(
        str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    # When a checkpoint has copied the whole WAL back, the next writer starts it over
    # and cuts the file to this size: under steady load it otherwise stays at its
    # largest (tens of MB, several times a small clinic's database).
    conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT_BYTES}")
    # NORMAL is durable across application crashes in WAL mode, and far cheaper than FULL.
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    # Freed pages are zeroed so deleted personal data does not linger in the file.
    conn.execute("PRAGMA secure_delete = ON")
    return Database(conn, execute_plugins=False)
