"""WAL checkpoints off the request path.

In WAL mode a commit appends to the -wal file; SQLite copies it back into the database
("checkpoints") when the WAL passes 1,000 pages, inside whichever commit crossed the
line. That commit's text waited for the copy: about one text in 80 under load, and it
set the 99th percentile. `lowband serve` runs this thread instead, in each process:
it checkpoints a few times a second on its own connection, PASSIVE (it never waits
for, or blocks, a writer or a reader), so the WAL stays small and commits only append.
Request connections keep an automatic checkpoint at a far higher mark, so the WAL is
still bounded should this thread ever stall.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 0.25
# Pages (4 KiB) a request connection lets the WAL reach before it checkpoints itself:
# only reached when this thread is not keeping up.
FALLBACK_PAGES = 16_000
WARN_EVERY_SECONDS = 60


class Checkpointer:
    def __init__(self, database: Path, interval: float = INTERVAL_SECONDS):
        self.database = database
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wal-checkpointer", daemon=True)

    def start(self) -> Checkpointer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        conn = None
        warned_at = float("-inf")
        try:
            while not self._stop.wait(self.interval):
                try:
                    if conn is None:
                        conn = sqlite3.connect(str(self.database), timeout=1, isolation_level=None,
                                               check_same_thread=False)
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error as error:  # a full disk, a busy checkpoint lock: try again soon
                    # Said once a minute, not four times a second for as long as it lasts.
                    if time.monotonic() - warned_at > WARN_EVERY_SECONDS:
                        warned_at = time.monotonic()
                        log.warning("WAL checkpoint failed (retrying; commits checkpoint at %d pages "
                                    "meanwhile): %s", FALLBACK_PAGES, error)
        except BaseException:
            log.exception("the WAL checkpointer stopped; commits checkpoint at %d pages from now on", FALLBACK_PAGES)
            raise
        finally:
            if conn is not None:
                conn.close()
