"""What the voice line remembers about one call between its requests.

Kept sealed in the sessions table under a keyed index of the CallSid (not of the phone),
beside the call's own conversation: a call starts at the menu, whatever the phone was
texting, and leaves that text conversation as it was.

`next` is the turn the call waits for: each Gather's action carries it in its path
(/voice/t/<turn>), so a request Twilio retries is recognised (its turn is `done`) and
answered with the same TwiML, never applied twice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from storage import Store

LINE, CONVERSATION = "call-line", "call"

# Where a call is between turns, when it is not simply at a step of a flow.
CHOOSING_LANGUAGE, ENGINE, READBACK, RECORDING = "language", "engine", "readback", "recording"
CONNECT_OFFER, DIALING, ENDED = "connect-offer", "dialing", "ended"


@dataclass
class Line:
    next: int = 0  # /voice itself is turn 0
    done: int = -1
    last: str = ""  # the TwiML that answered turn `done`
    phase: str = ENGINE
    language: str = "en"
    question: list[dict[str, Any]] = field(default_factory=list)  # said again on 9
    first: str | None = None  # a blood pressure's top number, while the bottom one is asked
    candidate: str | None = None  # a reading read back, waiting for 1 (save) or 2 (again)
    silences: int = 0
    caller: str = ""  # the keyed index of the number that called: a CallSid is bound to it

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> Line | None:
        if not raw:
            return None
        known = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def keys_of(store: Store, call_sid: str) -> tuple[bytes, bytes]:
    """(the line's key, the call conversation's key): keyed indexes, so the database
    holds no CallSid that could be matched with Twilio's call logs."""
    return store.cipher.blind_index(LINE, call_sid), store.cipher.blind_index(CONVERSATION, call_sid)


def load(store: Store, call_sid: str) -> Line | None:
    return Line.from_dict(store.sessions.load(keys_of(store, call_sid)[0]))


def save(store: Store, call_sid: str, line: Line) -> None:
    store.sessions.save(keys_of(store, call_sid)[0], asdict(line))


def end(store: Store, call_sid: str) -> None:
    """The call ended: its conversation goes (what it stored is in the records). The line
    stays, marked ended, so a request that reuses the CallSid gets a goodbye, never the
    old call's answers; a voice message still being recorded keeps both until it is in."""
    line = load(store, call_sid)
    if line is None or line.phase == RECORDING:
        return
    store.sessions.delete(keys_of(store, call_sid)[1])
    line.phase, line.last, line.question, line.first, line.candidate = ENDED, "", [], None, None
    save(store, call_sid, line)
