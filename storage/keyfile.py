"""The key file: where an installation's secrets live, beside (never inside) the database.

Losing it loses the data; that is the point. It is created once, mode 0600, and never
overwritten. Rotation appends a new field key and, once every row is re-sealed, marks
the old one retired: it seals nothing new, but stays so that backups made under it can
still be restored. `lowband backup` lists in the file which keys each backup needs, and
`lowband keys retire ID` (which drops a retired key for good) refuses while a listed
backup needs it. Writes are atomic (temp file, fsync, rename) so a crash never leaves a
half-written key file.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import stat
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

try:  # POSIX: commands that change the key file queue on a lock in the kernel
    import fcntl
except ImportError:  # pragma: no cover - Windows runs one command at a time
    fcntl = None

from storage.crypto import KeyRing
from storage.errors import StorageError

KEY_FILE_FORMAT = "lowband-keys/1"


class KeyFileError(StorageError):
    """The key file is missing, unreadable or malformed; the message names the file."""


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _unb64(text: str, what: str, path: Path) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (ValueError, TypeError):
        raise KeyFileError(f"key file {path} is damaged: {what} is not base64") from None
    if len(raw) != 32:
        raise KeyFileError(f"key file {path} is damaged: {what} is not a 256-bit key")
    return raw


def make_private_dir(folder: Path) -> None:
    """Create `folder` (and its parents) if missing; a folder made here is mode 0700,
    whatever the umask, so the files Lowband keeps in it are not even listed to others.
    An existing folder is left as it is (it may be the admin's own)."""
    folder = Path(folder)
    if folder.is_dir():
        return
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)


def make_private_files(paths: list[Path]) -> None:
    """Those of `paths` that exist made readable by their owner only (the database and
    its -wal and -shm files; one from before this was checked, or copied in, is tightened)."""
    for path in paths:
        with suppress(FileNotFoundError, PermissionError):
            if stat.S_IMODE(os.stat(path).st_mode) & 0o077:
                os.chmod(path, 0o600)


def check_key_file_mode(path: Path) -> None:
    """Refuse a key file that group or others may read or write: anyone who can read it
    can read every record, and anyone who can write it can destroy them all."""
    path = Path(path)
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return  # said, with what to do, by whoever needs the file
    except OSError as error:
        raise KeyFileError(f"key file {path} cannot be read: {error.strerror}") from None
    if mode & 0o077:
        raise KeyFileError(
            f"key file {path} is open to group or others (mode {mode:04o}); "
            f"run `chmod 600 {path}` so only its owner can read and write it"
        )


def new_key_ring() -> KeyRing:
    return KeyRing(
        current=1,
        field_keys={1: secrets.token_bytes(32)},
        index_key=secrets.token_bytes(32),
        audit_key=secrets.token_bytes(32),
        pin_key=secrets.token_bytes(32),
    )


def _document(ring: KeyRing, backups: list[dict]) -> dict:
    return {
        "format": KEY_FILE_FORMAT,
        "current": ring.current,
        "field_keys": {str(k): _b64(v) for k, v in sorted(ring.field_keys.items())},
        "retired": sorted(ring.retired),
        "index_key": _b64(ring.index_key),
        "audit_key": _b64(ring.audit_key),
        "pin_key": _b64(ring.pin_key),
        "backups": backups,
    }


def _write(fd: int, ring: KeyRing, backups: list[dict]) -> None:
    with os.fdopen(fd, "w") as handle:
        json.dump(_document(ring, backups), handle, indent=1)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())


def write_key_file(path: Path, ring: KeyRing, *, replace: bool, backups: list[dict] | None = None) -> None:
    """Write with mode 0600. Without `replace`, an existing file is an error (the file
    is created exclusively, so a race cannot clobber it either); with `replace`, the
    new file is written aside and renamed over the old, so a crash leaves one or the
    other, never half of each. The list of known backups is kept unless given."""
    path = Path(path)
    if backups is None:
        backups = known_backups(path) if replace else []
    try:
        _write_file(path, ring, replace=replace, backups=backups)
    except OSError as error:  # a full disk, a read-only folder, a file where a folder should be
        raise KeyFileError(f"cannot write key file {path}: {error.strerror or error}") from None


def _write_file(path: Path, ring: KeyRing, *, replace: bool, backups: list[dict]) -> None:
    make_private_dir(path.parent)
    if not replace:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise KeyFileError(f"key file {path} already exists; refusing to overwrite it") from None
        try:
            os.fchmod(fd, 0o600)  # 0600 whatever the umask
            _write(fd, ring, backups)
        except BaseException:
            with suppress(OSError):
                path.unlink(missing_ok=True)  # never a 0-byte or half-written key file
            raise
        return
    # A temp file of its own: two writers sharing one name would truncate each other's.
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    tmp = Path(name)
    try:
        os.fchmod(fd, 0o600)
        _write(fd, ring, backups)
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise


_held = threading.local()


@contextmanager
def changing(path: Path) -> Iterator[None]:
    """Hold the key file's lock while it is read, changed and written back. A backup
    that records its keys and a rotation that adds one would otherwise both read the old
    file and each write their own, and one would lose the other's key or backup. Taken
    again by the same thread, it is already held."""
    path = Path(path)
    held = getattr(_held, "paths", None)
    if held is None:
        held = _held.paths = set()
    if path in held or fcntl is None:
        yield
        return
    make_private_dir(path.parent)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        held.add(path)
        try:
            yield
        finally:
            held.discard(path)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def create_key_file(path: Path) -> KeyRing:
    ring = new_key_ring()
    write_key_file(path, ring, replace=False)
    return ring


def _read_document(path: Path) -> dict:
    check_key_file_mode(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(
            f"key file {path} not found; without it the data cannot be read "
            "(set LOWBAND_KEY_FILE, or run `lowband init` for a new installation)"
        ) from None
    except OSError as error:
        raise KeyFileError(f"key file {path} cannot be read: {error.strerror}") from None
    try:
        doc = json.loads(raw.decode("utf-8"))
    except ValueError:  # binary, truncated or garbled (UnicodeDecodeError is a ValueError)
        raise KeyFileError(f"key file {path} is damaged or not a Lowband key file") from None
    if not isinstance(doc, dict) or doc.get("format") != KEY_FILE_FORMAT:
        raise KeyFileError(f"key file {path} is not a Lowband key file")
    return doc


def load_key_file(path: Path) -> KeyRing:
    path = Path(path)
    doc = _read_document(path)
    try:
        return KeyRing(
            current=int(doc["current"]),
            field_keys={int(k): _unb64(v, f"field key {k}", path) for k, v in doc["field_keys"].items()},
            index_key=_unb64(doc["index_key"], "index key", path),
            audit_key=_unb64(doc["audit_key"], "audit key", path),
            pin_key=_unb64(doc["pin_key"], "pin key", path),
            retired=frozenset(int(k) for k in doc.get("retired", [])),
        )
    except KeyFileError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, StorageError):
        raise KeyFileError(f"key file {path} is damaged or not a Lowband key file") from None


def known_backups(path: Path) -> list[dict]:
    """The backups `lowband backup` made: [{"file", "keys", "at"}], oldest first."""
    path = Path(path)
    if not path.exists():
        return []
    backups = _read_document(path).get("backups", [])
    if not isinstance(backups, list) or not all(_is_backup_entry(b) for b in backups):
        raise KeyFileError(f"key file {path} is damaged: its list of backups is malformed")
    return backups


def _is_backup_entry(entry: object) -> bool:
    return (isinstance(entry, dict) and isinstance(entry.get("file"), str) and isinstance(entry.get("at", ""), str)
            and isinstance(entry.get("keys"), list) and all(type(k) is int for k in entry["keys"]))


def record_backup(path: Path, backup_file: str, key_ids: set[int], at: str) -> None:
    """Note in the key file that a backup needs these keys (so none is dropped early)."""
    path = Path(path)
    with changing(path):
        ring = load_key_file(path)
        backups = [b for b in known_backups(path) if b.get("file") != backup_file]
        backups.append({"file": backup_file, "keys": sorted(key_ids), "at": at})
        write_key_file(path, ring, replace=True, backups=backups)


def forget_backup(path: Path, backup_file: str) -> dict | None:
    """Drop a backup from the key file's list (it was deleted, or is kept with its own
    copy of the key file); returns what was forgotten, or None if it was not listed."""
    path = Path(path)
    with changing(path):
        backups = known_backups(path)
        kept = [b for b in backups if b.get("file") != backup_file]
        if len(kept) == len(backups):
            return None
        write_key_file(path, load_key_file(path), replace=True, backups=kept)
    return next(b for b in backups if b.get("file") == backup_file)


def backups_needing(path: Path, key_id: int) -> list[dict]:
    return [b for b in known_backups(path) if key_id in b.get("keys", [])]


def with_new_field_key(ring: KeyRing) -> KeyRing:
    new_id = max(ring.field_keys) + 1
    if new_id > 0xFFFF:
        raise KeyFileError("no key ids left; this installation has rotated 65,535 times")
    return KeyRing(
        current=new_id,
        field_keys={**ring.field_keys, new_id: secrets.token_bytes(32)},
        index_key=ring.index_key,
        audit_key=ring.audit_key,
        pin_key=ring.pin_key,
        retired=ring.retired,
    )


def with_old_keys_retired(ring: KeyRing) -> KeyRing:
    """Every key but the current one marked retired (kept for backups, sealing nothing)."""
    return KeyRing(
        current=ring.current,
        field_keys=dict(ring.field_keys),
        index_key=ring.index_key,
        audit_key=ring.audit_key,
        pin_key=ring.pin_key,
        retired=frozenset(k for k in ring.field_keys if k != ring.current),
    )


def without_key(ring: KeyRing, key_id: int) -> KeyRing:
    """The ring less one retired key: whatever was sealed under it is unreadable for good."""
    return KeyRing(
        current=ring.current,
        field_keys={k: v for k, v in ring.field_keys.items() if k != key_id},
        index_key=ring.index_key,
        audit_key=ring.audit_key,
        pin_key=ring.pin_key,
        retired=frozenset(ring.retired - {key_id}),
    )


class KeyFileWatcher:
    """Holds the loaded key ring and reloads it when the file changes on disk.

    A running server calls `ring()` once per request; that costs one stat(), and keys
    are only re-derived when `keys rotate` has rewritten the file.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self._stamp = self._stat()
        self._ring = load_key_file(self.path)

    def _stat(self) -> tuple[int, ...]:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return ()
        # ctime changes on every rename over the file, even within one mtime tick.
        return (st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)

    def ring(self) -> KeyRing:
        stamp = self._stat()
        if stamp != self._stamp and stamp:
            try:
                ring = load_key_file(self.path)
            except KeyFileError:
                return self._ring  # mid-write or damaged: keep serving with what we have
            self._ring, self._stamp = ring, stamp
        return self._ring
