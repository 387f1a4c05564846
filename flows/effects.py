"""Effects: what a conversation step asks the service module to do, as plain data.

Steps never write; they return these, and flows.service applies them all inside the
same transaction that stores the new session, so a crash leaves either all or none.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RegisterPatient:
    """A person who texted in and agreed: enrol them with consent and PIN."""

    patient_id: int
    short_id: str
    name: str
    birth_year: int
    pin: str
    language: str
    consent_version: str


@dataclass(frozen=True)
class RecordConsent:
    patient_id: int
    consent_version: str


@dataclass(frozen=True)
class DeclineConsent:
    patient_id: int


@dataclass(frozen=True)
class SetPin:
    patient_id: int
    pin: str


@dataclass(frozen=True)
class PinFailed:
    """A wrong PIN; `lock_minutes` is set when this failure locks the profile."""

    patient_id: int
    lock_minutes: int | None = None


@dataclass(frozen=True)
class PinPassed:
    patient_id: int


@dataclass(frozen=True)
class SetLanguage:
    patient_id: int
    language: str


@dataclass(frozen=True)
class OptOut:
    """Stop every message to the sender's number (STOP and its synonyms)."""


@dataclass(frozen=True)
class OptIn:
    """Messages may go to the sender's number again (START, UNSTOP)."""


@dataclass(frozen=True)
class ResetPin:
    """A CHW or the clinic clears a patient's PIN; they set a new one on next contact."""

    patient_id: int
    by_staff_id: int


@dataclass(frozen=True)
class Audit:
    action: str
    subject: str
    detail: str = ""
