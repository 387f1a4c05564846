"""What happens to a conversation around one step, the same wherever the step runs (the
service over SQLite, or the engine alone with records in memory in the golden tests)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from flows.context import PatientView
from flows.engine import Session


def open_session(session: Session, people: Sequence[PatientView], default_language: str) -> PatientView | None:
    """Make `session` ready for the next text on a phone with `people`; returns the
    person the conversation is with, if any."""
    if not session.updated_at:
        # A new conversation speaks the language of the patient(s) on this phone.
        session.language = people[0].language if people else default_language
    person = next((p for p in people if p.id == session.patient_id), None)
    if session.patient_id and person is None:
        session.patient_id = None  # the patient left this phone (number changed)
    return person


def session_change(session: Session, stored: dict, people: Sequence[PatientView], now: datetime) -> str:
    """What to do with the session after the step: "delete", "save" or "keep"."""
    if session.flow is None and session.patient_id is None and not people and not session.data:
        # Someone who said no (or only asked for help) leaves nothing behind.
        return "delete"
    if session.flow is not None or session.to_dict() != stored:
        # The idle clock only matters while a question is open; a text that changed
        # nothing else (a reading, HELP) does not rewrite the sealed session.
        session.updated_at = now.astimezone(UTC).isoformat(timespec="seconds")
        return "save"
    return "keep"
