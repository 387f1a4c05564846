"""Key rotation: re-seal every personal value under a new field key.

Stateless and resumable by design: progress is the data itself (each ciphertext names
its key), so a rotation killed at any point simply continues when run again. Each batch
is its own short transaction, so a running server keeps answering; the server reloads
the key file when it changes (KeyFileWatcher) and seals new values under the new key.
The old key is retired only after a full pass finds nothing left under it; a retired
key stays in the key file (marked retired) so backups made under it can be restored.
A value in the old, unpadded format (crypto format 1) is stale too, whatever its key.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from storage.crypto import FORMAT_VERSION, FieldCipher, KeyRing, version_of
from storage.errors import StorageError
from storage.keyfile import changing, load_key_file, with_new_field_key, with_old_keys_retired, write_key_file
from storage.migrations import ENCRYPTED
from storage.store import Store

Progress = Callable[[int], None]


@dataclass(frozen=True)
class RotationResult:
    new_key: int
    resumed: bool
    resealed: int
    retired: list[int]


_VERSION = f"X'{FORMAT_VERSION:02x}'"


def _stale(columns: tuple[str, ...]) -> str:
    # A value is stale if its key id (bytes 2-3 of the header) is not the current key,
    # or its format (byte 1) is not the current, padded one.
    return " OR ".join(
        f"({c} IS NOT NULL AND (substr({c}, 2, 2) != :key OR substr({c}, 1, 1) != {_VERSION}))" for c in columns
    )


def is_stale(blob: bytes, ring: KeyRing) -> bool:
    return FieldCipher.key_id_of(blob) != ring.current or version_of(blob) != FORMAT_VERSION


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
                        if blob is not None and is_stale(blob, ring):
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
    with changing(key_path):
        ring = load_key_file(key_path)
        resumed = len(ring.active) > 1
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
        retired = sorted(ring.active - {ring.current})
        with store.write():
            store.audit.record("cli", "keys.rotate", f"key:{ring.current}", f"retired={retired} resealed={resealed}")
    finally:
        store.db.close()
    with changing(key_path):
        # As the file is now (a backup may have listed itself meantime), old keys retired.
        now = load_key_file(key_path)
        if now.current != ring.current:
            raise StorageError(f"key file {key_path} changed during the rotation; run `lowband keys rotate` again")
        write_key_file(key_path, with_old_keys_retired(now), replace=True)
    return RotationResult(new_key=ring.current, resumed=resumed, resealed=resealed, retired=retired)
