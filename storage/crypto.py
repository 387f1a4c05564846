"""Field encryption and blind indexes.

Every personal value is sealed on its own with AES-256-GCM. The associated data
binds the ciphertext to (table, column, row id) and to its header, so a value
copied into another row or column, or altered by one byte, fails to open.

Ciphertext layout (bytes):  version(1) | key id(2, big endian) | nonce(12) | ciphertext+tag
The key id lets keys rotate: old rows stay readable until `keys rotate` re-seals them.

Format 2 (current) pads the plaintext so a ciphertext's length does not tell what it
holds (a blood-pressure reading from a glucose one, "urgent" from "normal", a short
name from a long one): the compact JSON is followed by ASCII spaces up to the next
multiple of PAD_BUCKET bytes. JSON ignores trailing whitespace, and a JSON text never
ends inside a string, so the true value is exactly the JSON and nothing is lost.
Format 1 (unpadded) still opens; `keys rotate` rewrites it as format 2.

Phone numbers are looked up through a blind index: HMAC-SHA256 under a separate key
that never rotates, so an index computed today still matches a row written last year.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from storage.errors import StorageError
from storage.schema import BUCKETS, ROOM_PER_ITEM

FORMAT_VERSION = 2
UNPADDED_VERSION = 1
SUPPORTED_VERSIONS = (UNPADDED_VERSION, FORMAT_VERSION)
PAD_BUCKET = 64  # bytes of plaintext: every reading, name and phone fits in one bucket
_HEADER = struct.Struct(">BH")
_NONCE_LEN = 12
_MIN_LEN = _HEADER.size + _NONCE_LEN + 16


class FieldIntegrityError(StorageError):
    """A sealed value failed its integrity check: altered, moved, or under an unknown key."""


@dataclass(frozen=True)
class KeyRing:
    """The secrets of one installation, loaded once at start-up.

    field_keys maps key id to a 32-byte AES key; `current` seals new values.
    index_key, audit_key and pin_key never rotate (rotating them would orphan
    blind indexes, break the audit chain and invalidate every PIN).
    """

    current: int
    field_keys: dict[int, bytes]
    index_key: bytes
    audit_key: bytes
    pin_key: bytes
    # Keys a finished rotation replaced: kept only so backups made under them still open.
    retired: frozenset[int] = frozenset()
    _aead: dict[int, AESGCM] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.current not in self.field_keys:
            raise StorageError(f"current key {self.current} is not in the key ring")
        if self.current in self.retired or not self.retired <= set(self.field_keys):
            raise StorageError("the retired keys must be held keys other than the current one")
        for key_id, key in self.field_keys.items():
            if len(key) != 32:
                raise StorageError(f"key {key_id} is not 256 bits")
            # Build each cipher object once: constructing AESGCM per value would
            # cost more than the encryption itself on the hot path.
            self._aead[key_id] = AESGCM(key)

    def aead(self, key_id: int) -> AESGCM:
        try:
            return self._aead[key_id]
        except KeyError:
            raise FieldIntegrityError(
                f"value sealed under key {key_id}, which the key file does not hold"
            ) from None

    @property
    def active(self) -> set[int]:
        """Keys in use: the current one, and during a rotation the one it replaces."""
        return set(self.field_keys) - set(self.retired)

    def fingerprint(self) -> str:
        """A short public tag that says which installation these keys belong to."""
        return hmac.new(self.index_key, b"lowband key check", hashlib.sha256).hexdigest()[:32]


def pad(plaintext: bytes, bucket: int = PAD_BUCKET, room: int = 0) -> bytes:
    """Spaces up to the next multiple of `bucket` at or above `room` bytes (and at least
    one bucket)."""
    size = -(-max(len(plaintext), room, 1) // bucket) * bucket
    return plaintext + b" " * (size - len(plaintext))


def version_of(blob: bytes) -> int:
    return bytes(blob[:1])[0]


def _aad(table: str, column: str, row_id: object, header: bytes) -> bytes:
    # Rows keyed by a blind index (bytes) are bound by its hex form.
    key = row_id.hex() if isinstance(row_id, bytes | bytearray) else str(row_id)
    return b"\x1f".join((table.encode(), column.encode(), key.encode(), header))


class FieldCipher:
    """Seals and opens single values; also computes blind indexes."""

    def __init__(self, keys: KeyRing):
        self.keys = keys

    def seal(self, table: str, column: str, row_id: object, value: Any, key_id: int | None = None) -> bytes | None:
        """Encrypt one value (anything JSON can hold). None stays None."""
        if value is None:
            return None
        key_id = self.keys.current if key_id is None else key_id
        header = _HEADER.pack(FORMAT_VERSION, key_id)
        nonce = os.urandom(_NONCE_LEN)
        room = ROOM_PER_ITEM.get((table, column), 0) * len(value) if isinstance(value, list) else 0
        plaintext = pad(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode(),
                        BUCKETS.get((table, column), PAD_BUCKET), room)
        sealed = self.keys.aead(key_id).encrypt(nonce, plaintext, _aad(table, column, row_id, header))
        return header + nonce + sealed

    def open(self, table: str, column: str, row_id: object, blob: bytes | None) -> Any:
        """Decrypt one value, or raise FieldIntegrityError naming where it failed."""
        if blob is None:
            return None
        where = f"{table}.{column} of row {row_id}"
        if not isinstance(blob, bytes | bytearray | memoryview) or len(blob) < _MIN_LEN:
            raise FieldIntegrityError(f"integrity check failed for {where}: not a sealed value")
        blob = bytes(blob)
        header = blob[: _HEADER.size]
        version, key_id = _HEADER.unpack(header)
        if version not in SUPPORTED_VERSIONS:
            raise FieldIntegrityError(f"integrity check failed for {where}: unknown format {version}")
        nonce = blob[_HEADER.size : _HEADER.size + _NONCE_LEN]
        try:
            aead = self.keys.aead(key_id)
            plaintext = aead.decrypt(nonce, blob[_HEADER.size + _NONCE_LEN :], _aad(table, column, row_id, header))
        except InvalidTag:
            raise FieldIntegrityError(
                f"integrity check failed for {where}: altered, moved, or sealed under another key"
            ) from None
        except FieldIntegrityError as error:
            raise FieldIntegrityError(f"integrity check failed for {where}: {error}") from None
        return json.loads(plaintext)

    @staticmethod
    def key_id_of(blob: bytes) -> int:
        return _HEADER.unpack(bytes(blob[: _HEADER.size]))[1]

    def blind_index(self, kind: str, value: str) -> bytes:
        """A keyed hash to find a row by an exact value without storing the value."""
        return hmac.new(self.keys.index_key, f"{kind}\x1f{value}".encode(), hashlib.sha256).digest()
