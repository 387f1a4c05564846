"""Message catalogs: every word a patient reads or hears lives in a .po file.

Keys are symbolic ("menu.main"); the English catalog holds the English text, so code
never carries prose. Catalogs are read once at start-up with Babel (no compile step to
forget). A key may have a voice variant ("menu.main@voice") for the IVR.

Every SMS must fit one segment, so each placeholder has a longest length, and the segment
test renders every message with values that long. Names and other text from outside are
clipped to it. Values that are clinical or that someone types back are never clipped (see
WHOLE): references, an alert's readings, staff advice and notes, task lists, numbers. The
code that makes them keeps them in bounds instead: references are sized for ten years
(`ref`), staff text is refused unless it fits whole (flows.staff_commands), lists are
paged by measuring each page (TASKS, the refill list), and an alert whose readings do not
fit one SMS runs into a second segment of the same message rather than lose one.
Outgoing SMS text is folded to GSM-7 (accents that GSM lacks are dropped) because a
single non-GSM letter would cut the segment from 160 characters to 70; letters with no GSM
equivalent (Amharic, Arabic, Chinese, emoji) in a whole value are sent as UCS-2, never as
question marks.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po

from flows.engine import Choices, Message
from flows.segments import GSM_7, encoding, fits_one_segment, fold_to_gsm

CATALOG_DIR = Path(__file__).parent / "catalogs"
LANGUAGES = ("en", "sw", "fr", "es")
FALLBACK = "en"

# Longest value each placeholder may take in an SMS, and a realistic example that
# long for the segment test. Longer values are clipped (names) or rejected earlier.
PLACEHOLDERS: dict[str, str] = {
    "name": "Bartholomew K.",  # display names: first name and initial
    "clinic": "Homa Bay Town Clinic",
    "emergency": "+254 700 123456",
    "patient_id": "12345678",
    "tries": "4",
    "minutes": "30",
    "medicines": "Metformin 500mg, Amlodipine 5mg, Losartan 50mg",
    # Numbered profiles on a shared phone, or numbered medicines for a refill.
    "choices": "1 Metformin 500mg x60 2 Amlodipine 5mg x30 3 Hydrochlorothiazide 25mg x30",
    "target": "4.0-10.0",
    "reading": "GLU 16.7 (301mg/dL)",
    "readings": "BP 185/125 P130: HIGH (aim <140/90). GLU 16.7 (301mg/dL): HIGH (aim 4.0-10.0).",
    "level": "HIGH (aim 4.0-10.0)",
    "danger": "GLU 16.7 (301mg/dL)",  # the reading alone: the message says DANGER once
    "time": "23:59",
    "token": "GLU 25",
    "tokens": "hello, BP 300/90, x12",
    "hint": "Send it like: BP 140/90 GLU 7.2",
    "example": "BP 140/90 GLU 7.2",
    "value": "25.5",
    "label": "Oxygen (SpO2)",  # an option as said on a call
    "digit": "9",
    "second": "120",  # the bottom number of a blood pressure, said back on a call
    "date": "31/12",  # a day, as a patient reads it
    "when": "31/12 23:59",  # a day and a time
    "times": "08:00 14:00 20:00 23:30",  # a reminder's times of day
    "what": "Hydrochlorothiazide 25mg x30",  # a reminder: a medicine, or a reading's code
    # References: the prefix and up to 7 digits, ten years of a district's traffic
    # (2 million alerts) five times over. Never clipped.
    "ref": "RF1234567",
    "medicine": "Hydrochlorothiazide 25mg x30",
    # A pharmacist's note: staff_commands.NOTE_MAX characters, never clipped.
    "where": "Pharmacy window 12, Kisumu East clinic 1",
    "why": "out of stock till Friday, come on Monday",
    "advice": "x" * 130,  # staff_commands.ADVICE_MAX
    "about": "F 102y",
    "problem": "Cough/breathing",
    "days": "365",
    # An alert's readings: what fits one SMS. More urgent values than this run the alert
    # into a second segment (never clipped); tests/test_staff_text_whole.py measures five.
    "summary": "BP 185/125 P130 GLU 16.7 (301mg/dL)",
    "tasks": "1042 alert A123; 5520 no reading yet; 3381 last reading 12d ago; 7781 last reading 30d ago",
    "more": " And 12 more.",
    "count": "12",
    "hours": "168",
    "limit": "130",
    "over": "999",
    "text": "Nurse (C1234567): " + "x" * 130,  # a held or relayed message: the longest advice
    "phone": "+254712345678901",  # E.164 at its longest in practice
    "who": "shared phone",  # alert.who_*, measured nested in each language
    "action": "Opted out, no advice: CALL.",  # alert.advice_given or alert.no_sms, likewise
    "words": "x" * 130,  # a patient's own words for the nurse: care_flows.DESCRIPTION_MAX
    "parts": "3",  # SMS a staff message in UCS-2 may take: staff_commands.WIDE_PARTS_MAX
    # A page of a list (TASKS, the refill list): items first-last of total, then page next.
    # Numbers are never clipped; each page is measured as sent by the code that pages.
    "first": "999",
    "last": "999",
    "total": "999",
    "next": "99",
}
LIMITS = {key: len(value) for key, value in PLACEHOLDERS.items()}
# Never clipped: a clipped reference finds nothing when typed back ("RF10.. OK"), and a
# clipped reading, advice or task list hides something clinical. Each is kept in bounds
# where it is made (see the module's docstring); numbers are never clipped either.
WHOLE = frozenset({"ref", "summary", "advice", "where", "why", "text", "tasks", "words"})


def strip_accents(word: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFD", word) if not unicodedata.combining(ch))


def _gsm_only(value: str) -> str:
    return "".join(ch if encoding(ch) == GSM_7 else "?" for ch in fold_to_gsm(value))


def _clip(value: str, limit: int | None) -> str:
    if limit is None or len(value) <= limit:
        return value
    return value[: max(limit - 2, 1)].rstrip() + ".."


class Catalog:
    def __init__(self, messages: Mapping[str, Mapping[str, str]]):
        self.messages = {lang: dict(table) for lang, table in messages.items()}
        self._words: dict[tuple[str, str], frozenset[str]] = {}

    @classmethod
    def load(cls, directory: Path = CATALOG_DIR) -> Catalog:
        messages: dict[str, dict[str, str]] = {}
        for path in sorted(directory.glob("*.po")):
            with path.open("rb") as handle:
                catalog = read_po(handle)
            messages[path.stem] = {m.id: m.string for m in catalog if m.id and m.string and not m.fuzzy}
        if FALLBACK not in messages:
            raise RuntimeError(f"no {FALLBACK}.po in {directory}")
        return cls(messages)

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(lang for lang in LANGUAGES if lang in self.messages)

    def message_keys(self) -> list[str]:
        return sorted(self.messages[FALLBACK])

    def has(self, language: str, key: str) -> bool:
        return key in self.messages.get(language, {})

    def text(self, language: str, key: str) -> str:
        """The template for `key`, falling back to English, then to the key itself
        (visible in tests, never silently empty)."""
        table = self.messages.get(language) or self.messages[FALLBACK]
        return table.get(key) or self.messages[FALLBACK].get(key) or key

    def words(self, language: str, key: str) -> frozenset[str]:
        """A comma-separated word list entry ("words.yes") as a set of casefolded words,
        each also without its accents (people type `si` for `sí`, `menu` for `menú`)."""
        cache_key = (language, key)
        if cache_key not in self._words:
            table = self.messages.get(language, {})
            raw = table.get(key, "")
            words = {w.strip().casefold() for w in raw.split(",") if w.strip()}
            self._words[cache_key] = frozenset(words | {strip_accents(w) for w in words})
        return self._words[cache_key]

    def reading_words(self) -> dict[str, str]:
        """Every word or phrase that names a kind of reading in any language ("sukari",
        "sukari ya damu", "tension"), accents stripped, to the kind: `sukari 7.2` is `GLU 7.2`."""
        found: dict[str, str] = {}
        for language in self.languages:
            for key in self.messages[language]:
                if key.startswith("words.kind."):
                    kind = key.removeprefix("words.kind.")
                    for word in self.words(language, key):
                        found.setdefault(strip_accents(word), kind)
        return found

    def render(self, language: str, message: Message, channel: str = "sms") -> str:
        voice_key = f"{message.key}@voice"
        key = voice_key if channel == "voice" and self.has(language, voice_key) else message.key
        template = self.text(language, key)
        values = {name: self._value(language, name, value, channel) for name, value in message.params.items()}
        try:
            text = template.format(**values)
        except (KeyError, IndexError, ValueError):
            # A translator's typo in a placeholder must not silence the message.
            text = self.text(FALLBACK, key).format(**values)
        if channel == "sms":
            text = fold_to_gsm(text)
            if not fits_one_segment(text):
                # Something the sender typed (a name, an ID) has a letter GSM-7 lacks,
                # which would make this SMS cost 2-3x: replace those letters instead. A
                # whole value keeps its letters (staff advice in Amharic is sent as UCS-2,
                # measured and bounded by the code that accepted it).
                gsm_values = {k: v if k in WHOLE else _gsm_only(v) for k, v in values.items()}
                try:
                    text = fold_to_gsm(template.format(**gsm_values))
                except (KeyError, IndexError, ValueError):
                    text = fold_to_gsm(self.text(FALLBACK, key).format(**gsm_values))
        return text

    def _value(self, language: str, name: str, value: Any, channel: str) -> str:
        # Catalog text nested in catalog text is measured by the segment test in every
        # language; only values from outside (names, typed text) are clipped.
        if isinstance(value, Message):
            return self.render(language, value, channel)
        if isinstance(value, Choices):
            if channel == "voice":
                parts = [self.render(language, Message("voice.press", {"label": label, "digit": digit}), channel)
                         for digit, label in value.items]
            else:
                parts = [f"{digit} {self._value(language, name, label, channel)}" for digit, label in value.items]
            if value.note is not None:
                parts.append(self.render(language, value.note, channel))
            return " ".join(parts)
        if isinstance(value, Sequence) and not isinstance(value, str):
            return " ".join(self._value(language, name, v, channel) for v in value)
        if name in WHOLE or isinstance(value, int | float) or channel == "voice":
            return str(value)  # a call has no SMS to fit: nothing is clipped
        return _clip(str(value), LIMITS.get(name))


@lru_cache(maxsize=1)
def default_catalog() -> Catalog:
    return Catalog.load()
