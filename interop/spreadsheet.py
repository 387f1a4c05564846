"""CSV cells a spreadsheet opens safely. A cell starting with = + - @ (or a tab or a
carriage return) is read by Excel and LibreOffice as a formula, and anyone who can text
the clinic chooses what lands in an export ("=HYPERLINK(...)" as words to the nurse).
Such a cell is written with a leading apostrophe, which the spreadsheet shows as text
and hides (OWASP's advice); reading our own files back, the apostrophe is taken off."""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def read_cell(value: str) -> str:
    """A cell from a file we wrote (a rejected-rows file, fixed and imported again)."""
    if value.startswith("'") and value[1:].startswith(FORMULA_STARTS):
        return value[1:]
    return value
