"""PINs are stored as slow, salted, peppered hashes, never encrypted and never plain.

A 4-digit PIN has only 10,000 values, so the slow hash alone would not stop an offline
search; the pepper (an HMAC under the key file's pin key) makes the stored hash useless
without the key file, and scrypt makes each guess cost memory and time.
Format: scrypt$<log2 n>$<r>$<p>$<salt b64>$<hash b64>
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

R, P = 8, 1


def _derive(pin_key: bytes, pin: str, salt: bytes, log_n: int, r: int, p: int) -> bytes:
    peppered = hmac.new(pin_key, pin.encode(), hashlib.sha256).digest()
    return hashlib.scrypt(peppered, salt=salt, n=2**log_n, r=r, p=p, maxmem=2**26, dklen=32)


def hash_pin(pin_key: bytes, pin: str, work: int = 14) -> str:
    salt = secrets.token_bytes(16)
    digest = _derive(pin_key, pin, salt, work, R, P)
    return "$".join(
        ("scrypt", str(work), str(R), str(P), base64.b64encode(salt).decode(), base64.b64encode(digest).decode())
    )


def verify_pin(pin_key: bytes, pin: str, stored: str | None) -> bool:
    if not stored:
        return False
    try:
        scheme, log_n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = _derive(pin_key, pin, base64.b64decode(salt), int(log_n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)
