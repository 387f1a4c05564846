"""SMS segment arithmetic, counted the way carriers bill it (3GPP TS 23.038 and 23.040).

A text that uses only the GSM 03.38 alphabet is sent as GSM-7: 160 units in one SMS,
153 per part once it is split (the concatenation header takes the rest). Characters of
the extension table (`^{}\\[~]|€` and form feed) are an escape plus a code: 2 units.
Any other character makes the whole text UCS-2: 70 UTF-16 code units in one SMS, 67 per
part; characters outside the Basic Multilingual Plane (most emoji) are 2 units.
Phones never split an escape pair or a surrogate pair across parts, so neither do we.

`fold_to_gsm` swaps characters outside GSM-7 for their nearest GSM-7 text, so one
stray accent or smart quote does not halve the room and double the bill.
"""

from __future__ import annotations

import unicodedata

GSM_7 = "GSM-7"
UCS_2 = "UCS-2"

# GSM 03.38 default alphabet in code order, 0x00-0x7F (a modem's PDU codec needs each
# character's code; 0x1B is the escape to the extension table, not a character).
GSM_ESCAPE = 0x1B
GSM_BASIC_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
GSM_BASIC = frozenset(GSM_BASIC_TABLE) - {"\x1b"}
# The extension table, by code: each sent after the escape, so each costs 2 units.
GSM_EXTENSION_CODES = {0x0A: "\f", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\", 0x3C: "[", 0x3D: "~", 0x3E: "]",
                       0x40: "|", 0x65: "€"}
GSM_EXTENSION = frozenset(GSM_EXTENSION_CODES.values())

SINGLE_LIMIT = {GSM_7: 160, UCS_2: 70}
PART_LIMIT = {GSM_7: 153, UCS_2: 67}


_GSM_ALL = GSM_BASIC | GSM_EXTENSION


def _is_gsm(ch: str) -> bool:
    return ch in _GSM_ALL


def encoding(text: str) -> str:
    """"GSM-7" when every character is in the GSM 03.38 tables, else "UCS-2"."""
    # issuperset walks the string in C: this runs on every reply, on the hot path.
    return GSM_7 if _GSM_ALL.issuperset(text) else UCS_2


def _widths(text: str, enc: str) -> list[int]:
    # Units per character: an escape pair (GSM-7) or a surrogate pair (UCS-2) is 2.
    if enc == GSM_7:
        return [2 if ch in GSM_EXTENSION else 1 for ch in text]
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def units(text: str, enc: str | None = None) -> int:
    """Length as the carrier counts it: GSM-7 units (extension characters 2) or,
    for UCS-2 texts, UTF-16 code units (an emoji outside the BMP is 2). `enc` counts it
    as sent in that encoding (a GSM-7 text inside a UCS-2 message: 1 unit a character)."""
    return sum(_widths(text, enc or encoding(text)))


def segments(text: str, enc: str | None = None) -> int:
    """How many SMS the text is sent as (in `enc` if given, as part of a longer message
    in that encoding would be). An empty text is still one SMS."""
    enc = enc or encoding(text)
    widths = _widths(text, enc)
    if sum(widths) <= SINGLE_LIMIT[enc]:
        return 1
    limit = PART_LIMIT[enc]
    count, used = 1, 0
    for width in widths:
        # A pair that does not fit whole moves to the next part, leaving one unit unused.
        if used + width > limit:
            count, used = count + 1, 0
        used += width
    return count


def fits_one_segment(text: str) -> bool:
    """True when the text goes out as a single SMS (160 GSM-7 or 70 UCS-2 units)."""
    return units(text) <= SINGLE_LIMIT[encoding(text)]


# Nearest GSM-7 text for characters that do not decompose into a GSM letter.
_FOLD = {
    # quotes and apostrophes
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "`": "'", "\u00b4": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2039": "'", "\u203a": "'", "\u00a8": '"', "\u02bc": "'",
    # dashes, hyphens, minus
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
    "\u00af": "-", "\u00ac": "-",
    # other punctuation and signs
    "\u2026": "...", "\u2022": "-", "\u00b7": ".", "\u00b8": ",", "\u2044": "/", "\u00f7": "/", "\u00d7": "x",
    "\u00b1": "+/-", "\u00b0": "deg", "\u00a2": "c", "\u00a9": "(c)", "\u00ae": "(R)", "\u00b6": "P",
    "\u00a6": "|", "\u00b5": "u",
    # letters without a decomposition
    "\u0153": "oe", "\u0152": "OE", "\u00f0": "d", "\u00d0": "D", "\u00fe": "th", "\u00de": "TH",
    "\u0111": "d", "\u0110": "D", "\u0142": "l", "\u0141": "L", "\u0131": "i", "\u0127": "h", "\u0126": "H",
    # invisible: zero-width characters and the soft hyphen
    "\u200b": "", "\u200c": "", "\u200d": "", "\u2060": "", "\ufeff": "", "\u00ad": "",
    # line and paragraph separators, tabs
    "\u2028": "\n", "\u2029": "\n", "\u0085": "\n", "\t": " ", "\v": " ",
}


_DROP_ZERO_WIDTH = str.maketrans("", "", "\u200b\u200c\u200d\u2060\ufeff")


def _strip_marks(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFD", text) if not unicodedata.combining(ch))


def _fold_char(ch: str) -> str | None:
    """The GSM-7 text for one character, or None when it has no GSM equivalent."""
    if _is_gsm(ch):
        return ch
    if ch in _FOLD:
        return _FOLD[ch]
    category = unicodedata.category(ch)
    if category == "Zs":
        return " "
    if category == "Cc":
        # Control characters show nothing on a phone and are never wanted in an SMS.
        return ""
    for form in (_strip_marks(ch), _strip_marks(unicodedata.normalize("NFKD", ch))):
        folded = "".join(_FOLD.get(part, part) for part in form)
        if folded and all(_is_gsm(part) for part in folded):
            return folded
    return None


def fold_to_gsm(text: str) -> str:
    """Replace characters outside GSM-7 by their nearest GSM-7 text.

    Accents GSM-7 lacks are dropped (á -> a, ç -> c, ê -> e) while GSM-7 letters stay
    (é è à ù ì ò ñ ü ä ö å ø æ ß Ç É Ñ Ü Ä Ö Å); smart quotes, dashes, ellipsis, unusual
    spaces and ligatures become plain text; zero-width and control characters go. Anything
    with no GSM equivalent (emoji, Arabic, Cyrillic) is kept, so the text stays UCS-2 and
    still reads right. Idempotent. The result can be longer than the input (œ -> oe).
    """
    if _GSM_ALL.issuperset(text):
        return text  # already GSM-7 (every catalog message): nothing to fold
    # Compose first so a decomposed "e" + U+0301 is treated as é (a GSM letter).
    text = unicodedata.normalize("NFC", text.translate(_DROP_ZERO_WIDTH))
    out: list[str] = []
    last_kept_gsm = True  # a stray mark at the very start has nothing to sit on
    for ch in text:
        if unicodedata.combining(ch):
            # A mark left over after composition: drop it on a folded GSM letter,
            # keep it on a script we leave alone (Arabic vowel signs, Devanagari).
            if not last_kept_gsm:
                out.append(ch)
            continue
        folded = _fold_char(ch)
        if folded is None:
            out.append(ch)
            last_kept_gsm = False
        else:
            out.append(folded)
            last_kept_gsm = True
    return "".join(out)
