"""What the bench texts, and how it judges the answers. Pure: no sockets here.

Passes:
  mix  registered patients (a compact reading `BP 1xx/8x` most of the time, else MENU
       or HELP in their language) and CHWs relaying a panel patient's reading. Values
       vary per number and visit so no text is a repeat the flow short-circuits, and
       no number texts fast enough for the loop guard at the rates measured.
  new  numbers the clinic has never seen say "hi" (the join flow's first step).
  pin  a patient opens the menu, picks "My reminders" and types their PIN: every third
       request runs the full-cost scrypt check. Each patient does this once.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from xml.etree import ElementTree

from bench.installation import NEW_BASE, PIN, phone

# A patient's texts cycle through this, starting at a place set by the patient's index.
PATIENT_CYCLE = ("bp", "bp", "menu", "bp", "bp", "help", "bp")
# Each CHW appears this many times in the rotation; with panels of 6, relays are 1 in 7
# (14%) of the mix.
CHW_WEIGHT = 1
REMINDERS_OPTION = "4"  # "My reminders" in the main menu (flows.patient_flows.MENU_OPTIONS)
# Fresh numbers per load thread in the `new` pass; more than any thread can send.
NEW_BLOCK = 100_000


@dataclass(frozen=True)
class Text:
    kind: str  # what it is, for per-kind latencies: bp, menu, help, relay, hi, pin_ask, pin_check
    sender: str
    body: str
    expect: str | None = None  # a piece every right answer contains (a reading's values)


def bp_values(index: int, visit: int) -> tuple[int, int]:
    """Normal readings (no alert), different at each visit of the same number."""
    return 100 + (index * 3 + visit) % 40, 80 + (index + visit * 3) % 10


def mix_rotation(crowd: dict) -> list[dict]:
    """Everyone who texts in the mix, in the order the load threads take them."""
    rotation = [{"role": "patient", **p} for p in crowd["patients"]]
    for slot in range(CHW_WEIGHT):
        rotation += [{"role": "chw", "slot": slot, **c} for c in crowd["chws"] if c["panel"]]
    return rotation


def patient_text(p: dict, visit: int, words: dict) -> Text:
    kind = PATIENT_CYCLE[(p["index"] + visit) % len(PATIENT_CYCLE)]
    if kind == "bp":
        systolic, diastolic = bp_values(p["index"], visit)
        return Text("bp", p["phone"], f"BP {systolic}/{diastolic}", f"{systolic}/{diastolic}")
    return Text(kind, p["phone"], words[kind][p["language"]])


def relay_text(c: dict, visit: int) -> Text:
    turn = visit * CHW_WEIGHT + c["slot"]
    panel = c["panel"]
    short_id = panel[turn % len(panel)]
    systolic, diastolic = bp_values(c["index"] * 7 + c["slot"], turn)
    return Text("relay", c["phone"], f"BP {short_id} {systolic}/{diastolic}", f"{systolic}/{diastolic}")


def conversations(script: str, senders: list[dict], words: dict, new_block: int = 0) -> Iterator[list[Text]]:
    """The conversations one load thread holds, one after the other. Each conversation
    is a list of texts from one number, sent in order, each after the previous reply."""
    if script == "mix":
        if not senders:
            return
        for visit in itertools.count():
            for s in senders:
                yield [patient_text(s, visit, words) if s["role"] == "patient" else relay_text(s, visit)]
    elif script == "new":
        for n in range(NEW_BLOCK):
            yield [Text("hi", phone(NEW_BASE, new_block * NEW_BLOCK + n), "hi")]
    elif script == "pin":
        for p in senders:
            yield [
                Text("menu", p["phone"], words["menu"][p["language"]]),
                Text("pin_ask", p["phone"], REMINDERS_OPTION),
                Text("pin_check", p["phone"], PIN),
            ]
    else:
        raise ValueError(f"unknown pass {script!r}")


def form(text: Text, sid: str, to: str = "+15005550006") -> dict[str, str]:
    """The parameters Twilio posts for an inbound SMS."""
    return {
        "ToCountry": "KE",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "SmsSid": sid,
        "SmsStatus": "received",
        "Body": text.body,
        "To": to,
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": text.sender,
        "ApiVersion": "2010-04-01",
    }


# Verdicts on one answer.
OK, ERROR, GUARDED, EMPTY, UNEXPECTED = "ok", "error", "guarded", "empty", "unexpected"


def judge(status: int, content_type: str, raw: bytes, text: Text | None, apology: set[str], slow_down: set[str]) -> str:
    """error: not 200, not TwiML, or Lowband's apology (its error handler answers 200).
    guarded: the loop guard's note. empty: no reply. unexpected: a reading not echoed.
    With `text` None only the HTTP status and the TwiML are checked (the bare app)."""
    if status != 200 or not content_type.startswith("text/xml"):
        return ERROR
    try:
        root = ElementTree.fromstring(raw)  # noqa: S314 (TwiML from our own server under test)
    except ElementTree.ParseError:
        return ERROR
    if root.tag != "Response":
        return ERROR
    if text is None:
        return OK
    replies = [m.text or "" for m in root.iter("Message")]
    if any(r in apology for r in replies):
        return ERROR
    if any(r in slow_down for r in replies):
        return GUARDED
    if not replies:
        return EMPTY
    if text.expect and not any(text.expect in r for r in replies):
        return UNEXPECTED
    return OK


def catalog_texts() -> dict:
    """From the app's own catalogs: keywords per language, and the two answers the
    bench must recognise (the apology and the loop guard's note) in every language."""
    from flows.catalog import default_catalog
    from flows.engine import Message

    catalog = default_catalog()
    base = {"clinic": "Lowband Clinic", "emergency": "112"}

    def keyword(language: str, key: str) -> str:
        words = sorted(w for w in catalog.words(language, key) if not w.isdigit())
        return (words[0] if words else sorted(catalog.words("en", key))[0]).upper()

    return {
        "words": {
            "menu": {lang: keyword(lang, "keywords.menu") for lang in catalog.languages},
            "help": {lang: keyword(lang, "keywords.help") for lang in catalog.languages},
        },
        "apology": sorted({catalog.render(lang, Message("error.retry", base)) for lang in catalog.languages}),
        "slow_down": sorted({catalog.render(lang, Message("loop.slow_down", {**base, "minutes": m}))
                             for lang in catalog.languages for m in range(1, 61)}),
    }
