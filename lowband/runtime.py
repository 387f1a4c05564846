"""The running installation: settings, keys and database connections, made once.

Keys are loaded at start-up (and reloaded only when `keys rotate` rewrites the file);
each thread keeps one open connection, so a request costs no connect or key setup.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Callable
from datetime import datetime

from sqlite_utils import Database

from lowband.settings import Settings
from storage import Store, WrongKeyError
from storage.checkpointer import FALLBACK_PAGES
from storage.connection import connect
from storage.keyfile import KeyFileWatcher
from storage.store import check_keys, open_database, utc_now


class Runtime:
    def __init__(self, settings: Settings, *, clock: Callable[[], datetime] = utc_now):
        self.settings = settings
        self.clock = clock
        self.keys = KeyFileWatcher(settings.key_path)
        # Open once up front: applies pending migrations and checks the key file fits.
        db = open_database(settings.db)
        try:
            self._check(db)
        finally:
            db.close()
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[Database] = []
        # Set by `lowband serve` once its dispatcher runs: a gateway webhook's text gets
        # its reply sent at once rather than at the next tick.
        self.nudge: Callable[[], None] | None = None
        # Set by `lowband serve` when its checkpointer runs: the connections that serve
        # requests then leave the WAL checkpoints to it (storage/checkpointer.py).
        self.checkpoints_elsewhere = False

    def _check(self, db: Database) -> None:
        try:
            check_keys(db, self.keys.ring())
        except WrongKeyError as error:
            raise WrongKeyError(
                f"key file {self.settings.key_path} does not fit database {self.settings.db}: {error}"
            ) from None

    def store(self) -> Store:
        db = getattr(self._local, "db", None)
        if db is None:
            db = connect(self.settings.db)
            if self.checkpoints_elsewhere:
                db.execute(f"PRAGMA wal_autocheckpoint = {FALLBACK_PAGES}")
            self._local.db = db
            with self._lock:
                self._connections.append(db)
        return Store(db, self.keys.ring(), clock=self.clock, pin_work=self.settings.pin_work,
                     keys_source=self.keys.ring)

    def webhook_token(self) -> str:
        """The secret Twilio signs webhooks with. Without a Twilio account, a local
        token derived from the key file lets the simulator sign exactly as Twilio would."""
        if self.settings.twilio_auth_token:
            return self.settings.twilio_auth_token
        ring = self.keys.ring()
        return hmac.new(ring.index_key, b"local webhook token", hashlib.sha256).hexdigest()[:32]

    def console_secret(self) -> bytes:
        """Signs the console's session cookies: derived from the key file, so it is never
        in the repository or the settings, and the same in every process and restart."""
        return hmac.new(self.keys.ring().index_key, b"console session cookies", hashlib.sha256).digest()

    def close(self) -> None:
        with self._lock:
            for db in self._connections:
                db.close()
            self._connections.clear()
        self._local = threading.local()
