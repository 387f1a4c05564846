"""Every message in every language fits one SMS segment with its longest realistic
placeholders, and the catalogs agree with each other and with the code."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from flows.catalog import LANGUAGES, PLACEHOLDERS, Catalog, default_catalog
from flows.engine import Message
from flows.segments import encoding, fits_one_segment, units

CATALOG = default_catalog()
# Word lists are matched, never sent; voice keys are spoken (tests/test_voice_prompts.py).
SENT_KEYS = [k for k in CATALOG.message_keys()
             if not k.startswith(("words.", "keywords.", "voice.")) and not k.endswith("@voice")]
FLOWS_DIR = Path(__file__).parent.parent / "flows"


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_all_four_languages_ship():
    assert set(CATALOG.languages) == set(LANGUAGES) == {"en", "sw", "fr", "es"}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_key_is_translated(language):
    missing = [k for k in CATALOG.message_keys() if not CATALOG.has(language, k)]
    assert not missing, f"{language}.po lacks {missing}"


def longest(language: str, *candidates: Message) -> Message:
    return max(candidates, key=lambda m: len(CATALOG.render(language, m)))


def nested(language: str) -> dict[str, object]:
    """Placeholders filled with other catalog messages, at their longest in `language`
    (they are not clipped, so they must be measured in each language)."""
    target = PLACEHOLDERS["target"]
    level = longest(language, *(Message(f"level.{lv}", {"target": target}) for lv in ("normal", "high", "low")))
    item = Message("reading.item", {"reading": PLACEHOLDERS["reading"], "level": level})
    hint = longest(
        language,
        Message("reading.right_form", {"example": PLACEHOLDERS["example"]}),
        Message("reading.one_each", {"example": PLACEHOLDERS["example"]}),
        Message("reading.glucose_unit", {"token": PLACEHOLDERS["token"]}),
    )
    problems = ("fever", "cough", "pain", "pregnancy", "wound", "other")
    return {
        "level": level,
        "readings": [item, item],  # flows.care.READINGS_PER_REPLY
        "who": longest(language, Message("alert.who_new", {}), Message("alert.who_shared", {}),
                       Message("alert.who_relay", {"patient_id": PLACEHOLDERS["patient_id"]})),
        "action": longest(language, Message("alert.advice_given", {}), Message("alert.no_sms", {})),
        "hint": hint,
        "problem": longest(language, *(Message(f"problem.{p}", {}) for p in problems)),
        "more": Message("chw.tasks_more", {"count": PLACEHOLDERS["count"]}),
    }


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("key", SENT_KEYS)
def test_message_fits_one_segment(language, key):
    template = CATALOG.text(language, key)
    realistic = nested(language)
    params = {name: realistic.get(name, PLACEHOLDERS.get(name)) for name in placeholders(template)}
    text = CATALOG.render(language, Message(key, params))
    assert fits_one_segment(text), f"{language} {key}: {units(text)} {encoding(text)} units: {text!r}"


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("key", SENT_KEYS)
def test_translation_uses_the_same_placeholders(language, key):
    assert placeholders(CATALOG.text(language, key)) == placeholders(CATALOG.text("en", key))


def test_every_placeholder_has_a_longest_value():
    used = set().union(*(placeholders(CATALOG.text(lang, k)) for lang in LANGUAGES for k in SENT_KEYS))
    assert used <= set(PLACEHOLDERS), f"no longest value for {used - set(PLACEHOLDERS)}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_typographic_punctuation_in_catalogs(language):
    # Smart quotes, dashes and ellipses are outside GSM-7: one would cost a second SMS.
    text = (FLOWS_DIR / "catalogs" / f"{language}.po").read_text(encoding="utf-8")
    assert not re.search("[\u2018\u2019\u201c\u201d\u2013\u2014\u2026\u00a0]", text)


def test_every_key_the_code_uses_exists():
    source = "\n".join(p.read_text() for p in FLOWS_DIR.glob("*.py"))
    used = set(re.findall(r'(?:msg|Message|Invalid|answered)\(\s*"([a-z_]+\.[a-z_.]+)"', source))
    used |= set(re.findall(r'(?:prompt|hint|words)="([a-z_]+\.[a-z_.]+)"', source))
    assert used, "the pattern found no keys: the test would pass vacuously"
    missing = sorted(k for k in used if not CATALOG.has("en", k))
    assert not missing, f"used in code but not in en.po: {missing}"


def test_render_folds_accents_that_gsm_lacks():
    catalog = Catalog({"en": {"x": "{name}"}})
    text = catalog.render("en", Message("x", {"name": "Fran\u00e7ois \u00c1lvarez"}))
    assert encoding(text) == "GSM-7"
