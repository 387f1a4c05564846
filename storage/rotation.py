"""Key rotation: re-seal every personal value under a new field key.

Stateless and resumable by design: progress is the data itself (each ciphertext names
its key), so a rotation killed at any point simply continues when run again. Each batch
is its own short transaction, so a running server keeps answering; the server reloads
the key file when it changes (KeyFileWatcher) and seals new values under the new key.
The old key is retired only after a full pass finds nothing left under it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from storage.crypto import FieldCipher, KeyRing
from storage.keyfile import load_key_file, with_new_field_key, with_only_current, write_key_file
from storage.migrations import ENCRYPTED
from storage.store import Store

Progress = Callable[[int], None]


@dataclass(frozen=True)
class RotationResult:
    new_key: int
    resumed: bool
    resealed: int
    retired: list[int]


def _stale(columns: tuple[str, ...]) -> str:
    # A value is stale if its key id (bytes 2-3 of the header) is not the current key.
    return " OR ".join(f"({c} IS NOT NULL AND substr({c}, 2, 2) != :key)" for c in columns)


def count_stale(store: Store, key_id: int) -> int:
    key = key_id.to_bytes(2, "big")
    total = 0
    for table, (_, columns) in ENCRYPTED.items():
        total += store.one(f"SELECT count(*) FROM {table} WHERE {_stale(columns)}", {"key": key})[0]  # noqa: S608
    return total


def _reseal_pass(store: Store, ring: KeyRing, batch_size: int, progress: Progress | None) -> int:
    cipher = FieldCipher(ring)
    key = ring.current.to_bytes(2, "big")
    done = 0
    for table, (pk, columns) in ENCRYPTED.items():
        cursor = None
        while True:
            after = "" if cursor is None else f"{pk} > :after AND "
            with store.write():
                rows = store.execute(
                    f"SELECT {pk}, {', '.join(columns)} FROM {table} "  # noqa: S608
                    f"WHERE {after}({_stale(columns)}) ORDER BY {pk} LIMIT :n",
                    {"key": key, "after": cursor, "n": batch_size},
                ).fetchall()
                for row in rows:
                    row_id, values = row[0], row[1:]
                    changes = {}
                    for column, blob in zip(columns, values, strict=True):
                        if blob is not None and FieldCipher.key_id_of(blob) != ring.current:
                            value = cipher.open(table, column, row_id, blob)
                            changes[column] = cipher.seal(table, column, row_id, value)
                    sets = ", ".join(f"{c} = ?" for c in changes)
                    store.execute(f"UPDATE {table} SET {sets} WHERE {pk} = ?", [*changes.values(), row_id])  # noqa: S608
            if not rows:
                break
            cursor = rows[-1][0]
            done += len(rows)
            if progress:
                progress(len(rows))
    return done


def rotate(
    store_for: Callable[[KeyRing], Store],
    key_path: Path,
    *,
    batch_size: int = 200,
    grace_seconds: float = 5.0,
    progress: Progress | None = None,
    on_start: Callable[[int, bool], None] | None = None,
) -> RotationResult:
    """Rotate to a new field key, or finish a rotation that was interrupted.

    `store_for(ring)` opens the database with the given keys. `on_start(total, resumed)`
    is called once the amount of work is known (for a progress bar).
    """
    ring = load_key_file(key_path)
    resumed = len(ring.field_keys) > 1
    if not resumed:
        # Prove these keys open this database before adding a key to the file: a wrong
        # key file or a missing database must leave the key file as it was.
        store_for(ring).db.close()
        ring = with_new_field_key(ring)
        write_key_file(key_path, ring, replace=True)
    store = store_for(ring)
    try:
        if on_start:
            on_start(count_stale(store, ring.current), resumed)
        resealed = _reseal_pass(store, ring, batch_size, progress)
        # A server that read the old key file just before the switch may still commit a
        # value under the old key; give in-flight requests time to finish, then sweep
        # again until nothing stale is left.
        time.sleep(grace_seconds)
        while count_stale(store, ring.current):
            resealed += _reseal_pass(store, ring, batch_size, progress)
        retired = sorted(k for k in ring.field_keys if k != ring.current)
        store.audit.record("cli", "keys.rotate", f"key:{ring.current}", f"retired={retired} resealed={resealed}")
    finally:
        store.db.close()
    write_key_file(key_path, with_only_current(ring), replace=True)
    return RotationResult(new_key=ring.current, resumed=resumed, resealed=resealed, retired=retired)
