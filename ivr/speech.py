"""What a caller hears, as TwiML built with the twilio library.

Statements are said first and cannot be skipped (safety advice must be heard whole); the
question is said inside <Gather>, so a caller who knows the menu can press at once. After
the Gather comes a <Redirect> to the same turn's silence route: no key pressed is a turn
of its own (asked again once, then a goodbye).

A clinic can record any message: a file `<prompts dir>/<language>/<message key>.mp3` is
played instead of the synthesised voice, for a message said without parameters (a menu
spoken by a nurse from the village reaches people a robot voice does not, and some
engines have no Swahili voice at all).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from twilio.twiml.voice_response import Gather, VoiceResponse

from ivr.keypad import Gather as GatherSpec

# The synthesised voice for each language (Twilio's Google voices).
VOICES = {
    "en": ("en-GB", "Google.en-GB-Standard-A"),
    "sw": ("sw-KE", "Google.sw-KE-Standard-A"),
    "fr": ("fr-FR", "Google.fr-FR-Standard-A"),
    "es": ("es-ES", "Google.es-ES-Standard-A"),
}
SECONDS_TO_ANSWER = 8
DIAL_SECONDS = 25  # about five rings
# Characters XML 1.0 cannot carry; a name typed with one must not break the call.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class Spoken:
    """One thing to say: its text, and the key of a recording that may stand for it."""

    text: str
    key: str | None = None  # the catalog key it was rendered from
    language: str | None = None  # said in another language than the call's (a language offer)
    recordable: bool = False  # the same for every caller, so a clinic's recording may replace it


def _say(parent, line: Spoken, language: str, prompt_url) -> None:
    language = line.language or language
    recorded = prompt_url(language, line.key) if line.key and line.recordable else None
    if recorded:
        parent.play(recorded)
        return
    locale, voice = VOICES.get(language, VOICES["en"])
    parent.say(_NOT_XML.sub("", line.text), language=locale, voice=voice)


def no_prompt(language: str, key: str) -> str | None:
    return None


def ask(statements: Sequence[Spoken], question: Sequence[Spoken], language: str, *, action: str, silence: str,
        gather: GatherSpec, prompt_url=no_prompt) -> str:
    """Say the statements, then ask the question and wait for keys."""
    response = VoiceResponse()
    for line in statements:
        _say(response, line, language, prompt_url)
    options = {"input": "dtmf", "action": action, "method": "POST", "timeout": SECONDS_TO_ANSWER,
               "action_on_empty_result": False}
    if gather.num_digits:
        options["num_digits"] = gather.num_digits
    options["finish_on_key"] = gather.finish_on_key
    question_gather = Gather(**options)
    for line in question:
        _say(question_gather, line, language, prompt_url)
    response.append(question_gather)
    response.redirect(silence, method="POST")
    return str(response)


def record(statements: Sequence[Spoken], language: str, *, action: str, status: str, silence: str,
           max_seconds: int, prompt_url=no_prompt) -> str:
    """Say the statements, then record a voice message (ended by # or silence). Twilio
    calls `action` only when something was recorded; otherwise it goes on to the next
    verb, a redirect to `silence`, so the question is not lost with the call."""
    response = VoiceResponse()
    for line in statements:
        _say(response, line, language, prompt_url)
    response.record(action=action, method="POST", max_length=max_seconds, finish_on_key="#", play_beep=True,
                    timeout=5, recording_status_callback=status, recording_status_callback_method="POST",
                    trim="trim-silence")
    response.redirect(silence, method="POST")
    return str(response)


def dial(statements: Sequence[Spoken], language: str, numbers: Sequence[str], *, caller_id: str, action: str,
         whisper: str, prompt_url=no_prompt) -> str:
    """Ring the nurses on call at once; the first to press 1 in the whisper takes the
    call (a voicemail cannot press 1, so it never swallows the caller). The caller hears
    ringing until then (answerOnBridge)."""
    response = VoiceResponse()
    for line in statements:
        _say(response, line, language, prompt_url)
    connect = response.dial(action=action, method="POST", caller_id=caller_id, answer_on_bridge=True,
                            timeout=DIAL_SECONDS)
    for number in numbers:
        connect.number(number, url=whisper, method="POST")
    return str(response)


def whisper(text: str, language: str, *, action: str) -> str:
    """Said to the nurse who picks up, before the caller is put through."""
    response = VoiceResponse()
    accept = Gather(input="dtmf", num_digits=1, action=action, method="POST", timeout=SECONDS_TO_ANSWER)
    _say(accept, Spoken(text), language, no_prompt)
    response.append(accept)
    response.hangup()  # no key: not taken (a voicemail), the caller is told and may leave a message
    return str(response)


def goodbye(statements: Sequence[Spoken], language: str, prompt_url=no_prompt) -> str:
    response = VoiceResponse()
    for line in statements:
        _say(response, line, language, prompt_url)
    response.hangup()
    return str(response)


def prompt_file(folder: Path | None, language: str, key: str) -> Path | None:
    """The clinic's recording of `key` in `language`, if it has one."""
    if folder is None or not re.fullmatch(r"[a-z0-9_.@-]+", key) or language not in VOICES:
        return None
    path = folder / language / f"{key}.mp3"
    return path if path.is_file() else None
