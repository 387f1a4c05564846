"""What a log, a terminal or the console's outbox page may show of a message."""

from __future__ import annotations

import re

from flows.segments import segments

# A leading reference (A12, RF3, C1) says which task a message is about and nothing of
# whom: it may be shown. Any other word may be a name ("Amina Z.: BP ...", "Joseph M.,
# your PIN ..."), so none is.
_REFERENCE = re.compile(r"[A-Z]{1,3}\d{1,9}[:.,]?")


def masked_body(body: str) -> str:
    """A message as a log may show it: a leading reference and its size, nothing of the
    name or health data that follows."""
    first = body.split(maxsplit=1)[0] if body.strip() else ""
    shown = f"{first} …" if _REFERENCE.fullmatch(first) else "…"
    count = segments(body)
    return f"{shown} ({count} segment{'s' if count != 1 else ''}, {len(body)} chars)"
