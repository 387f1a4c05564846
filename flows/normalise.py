"""Cleaning what people type before any parser or keyword match sees it.

Basic phones and SMS gateways add things people cannot see: zero-width characters,
full-width or Arabic-Indic digits, non-breaking spaces, line breaks. `normalise` removes
that noise so `BP 140/90`, `ＢＰ １４０/９０` and `BP ١٤٠/٩٠` all read the same.
Case is kept: callers that match keywords compare case-insensitively themselves.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

# Invisible characters that phones and copy-paste insert; NFKC keeps them, so we drop them.
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
# Smartphones type curly apostrophes and quotes; word lists hold the straight ones
# ("d'accord"), and a curly one would also make a reply cost three SMS if echoed.
_STRAIGHTEN = {ord(ch): "'" for ch in "\u2018\u2019\u201a\u201b\u02bc\u2032"} | {
    ord(ch): '"' for ch in "\u201c\u201d\u201e\u201f\u2033"} | {
    # The ordinal sign on Spanish and French keyboards stands for a degree in "37º";
    # NFKC would turn it into the letter o.
    ord("\u00ba"): "\u00b0"}
_CLEAN = str.maketrans({**{ord(ch): None for ch in ZERO_WIDTH}, **_STRAIGHTEN})

# The Arabic decimal separator, as typed on Arabic keyboards in "٣٨٫٢".
_ARABIC_DECIMAL_SEPARATOR = "\u066b"


def _ascii_digit(ch: str) -> str:
    # Any Unicode decimal digit (Arabic-Indic, Devanagari, ...) becomes its ASCII digit.
    if ch.isdecimal() and not ch.isascii():
        return str(unicodedata.decimal(ch))
    if ch == _ARABIC_DECIMAL_SEPARATOR:
        return "."
    return ch


def _visible(ch: str) -> bool:
    # Control and format characters (NUL, escape, bidi marks...) mean nothing in a
    # text message, and some cannot even be written into the TwiML reply.
    # Noncharacters and unassigned code points (U+FFFE, U+FFFF...) are not allowed in
    # XML at all, so they could never be echoed back in a reply.
    return ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Cn")


@lru_cache(maxsize=1024)
def normalise(text: str) -> str:
    """NFKC, invisible characters removed, curly quotes straightened, every decimal
    digit as ASCII, runs of whitespace (line breaks included) as one space, no
    surrounding spaces; case kept. Cached: one text is looked at from several places
    (the loop guard, the keywords, the parsers), and it is worked out once."""
    # Straightened before NFKC (which would make the ordinal sign a letter) and after
    # (NFKC itself makes primes out of some marks: U+2057 is four of them).
    text = unicodedata.normalize("NFKC", text.translate(_CLEAN)).translate(_CLEAN)
    text = "".join(_ascii_digit(ch) for ch in text if _visible(ch))
    return " ".join(text.split())
