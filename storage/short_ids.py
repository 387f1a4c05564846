"""Short patient IDs that people read out over a phone and type on a keypad.

Digits only, with a final mod-11 check digit (as the Community Health Toolkit does).
Weights 1..n are distinct and non-zero modulo the prime 11, so every change of a single
digit and every swap of two different digits (adjacent or not, check digit included)
changes the weighted sum mod 11 and is caught. Bases whose check digit would be 10 are
skipped rather than given an "X" that a keypad cannot type.
"""

from __future__ import annotations

import secrets

MIN_BASE_DIGITS = 3
MAX_DIGITS = 10  # weights must stay distinct mod 11


def check_digit(base: str) -> int | None:
    """The digit that makes the weighted sum divisible by 11, or None if it would be 10."""
    n = len(base) + 1
    total = sum(weight * int(d) for weight, d in enumerate(base, start=1))
    # Solve total + n * c = 0 (mod 11); pow(n, -1, 11) is n's inverse mod 11.
    c = (-total * pow(n, -1, 11)) % 11
    return None if c == 10 else c


def is_valid(short_id: str) -> bool:
    if not short_id.isascii() or not short_id.isdigit():
        return False
    if not MIN_BASE_DIGITS + 1 <= len(short_id) <= MAX_DIGITS:
        return False
    return sum(w * int(d) for w, d in enumerate(short_id, start=1)) % 11 == 0


def random_short_id(base_digits: int) -> str:
    """A random valid ID with base_digits digits before the check digit (no leading zero,
    which gets dropped when people write numbers down)."""
    while True:
        base = str(secrets.randbelow(9 * 10 ** (base_digits - 1)) + 10 ** (base_digits - 1))
        digit = check_digit(base)
        if digit is not None:
            return base + str(digit)
