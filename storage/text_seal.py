"""Sealing short text columns that must stay TEXT and outlive key rotation: the audit
log's actor, subject and detail, and an outbox message's purpose.

A thief with the database file learns from these who did what to whom ("patient:4376
alert.raised urgent=True", an 'alert' SMS to a phone index). Sealed, they read as
"s1:" and base64; the plaintext is padded to 32-byte buckets so lengths tell nothing
either. The key is derived from the key file's audit key, which never rotates, so the
audit chain (computed over the stored text) never has to be rewritten. Values stored
before sealing (no "s1:" prefix) still read as they are.
"""

from __future__ import annotations

import base64
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "s1:"
BUCKET = 32


class TextSealer:
    def __init__(self, audit_key: bytes):
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"lowband text seal v1").derive(audit_key)
        self._aead = AESGCM(key)

    def seal(self, text: str, where: str) -> str:
        """`where` ("audit_log.detail") binds the value to its column: moved, it fails."""
        if not text:
            return text  # an empty field tells nothing and stays empty
        raw = text.encode()
        length = len(raw).to_bytes(2, "big")
        padded = length + raw + bytes(-(len(raw) + 2) % BUCKET)
        nonce = os.urandom(12)
        return PREFIX + base64.b64encode(nonce + self._aead.encrypt(nonce, padded, where.encode())).decode()

    def open(self, stored: str, where: str) -> str:
        if not stored.startswith(PREFIX):
            return stored  # written before sealing
        blob = base64.b64decode(stored[len(PREFIX):])
        padded = self._aead.decrypt(blob[:12], blob[12:], where.encode())
        return padded[2:2 + int.from_bytes(padded[:2], "big")].decode()
