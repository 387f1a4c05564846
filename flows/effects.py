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
    consent_at: str  # when they said YES (ISO)


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
    """Stop every message to the sender's number (STOP and its synonyms). `carrier`: the
    word was one the carrier acts on too, so it now blocks even our replies."""

    carrier: bool = True


@dataclass(frozen=True)
class OptIn:
    """Messages may go to the sender's number again (START, UNSTOP). `carrier`: a word
    the carrier acts on too, so its own block is lifted (ANZA or DEMARRER lift only ours)."""

    carrier: bool = True


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


# -- care ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SavedReading:
    kind: str
    values: dict
    level: str


@dataclass(frozen=True)
class SaveReadings:
    """One text's readings for one patient: one submission, undone together."""

    patient_id: int
    readings: tuple[SavedReading, ...]
    submitted_by: str  # "patient:1042" or "staff:<id>"


@dataclass(frozen=True)
class RaiseAlert:
    """An alert for the clinician on call. `summary` is shown in their SMS; the service
    gives the alert its reference and links it to this text's readings, if any.

    `patient_id` is None when the sender is not yet told apart: a new number, or a shared
    phone whose people are `candidates` (short IDs); the clinician then gets the number
    to call. `reachable` is False when we may not text the sender (opted out), so no
    advice went out and the clinician must call."""

    patient_id: int | None
    reason: str
    summary: str
    urgent: bool = True
    candidates: tuple[str, ...] = ()
    reachable: bool = True
    relayed: bool = False  # sent by staff (a CHW) about a patient, not by the patient


@dataclass(frozen=True)
class UndoSubmission:
    submission_id: int


@dataclass(frozen=True)
class EnrolPatient:
    """A CHW registers a patient by SMS (`REG ...`)."""

    patient_id: int
    short_id: str
    name: str
    sex: str
    birth_year: int
    phone: str | None
    chw_id: int


@dataclass(frozen=True)
class UndoEnrolment:
    """A CHW's REG taken back: the record goes if nothing was stored for it yet."""

    patient_id: int


@dataclass(frozen=True)
class RequestRefill:
    patient_id: int
    medication_id: int
    ref: str


@dataclass(frozen=True)
class AnswerRefill:
    ref: str
    ready: bool
    note: str
    staff_id: int


@dataclass(frozen=True)
class OpenConsult:
    patient_id: int
    ref: str
    summary: dict


@dataclass(frozen=True)
class TakeConsult:
    """The first clinician to answer a consult owns it."""

    ref: str
    staff_id: int


@dataclass(frozen=True)
class NotifyStaffMember:
    """Queue one SMS to one staff user (a consult's owner)."""

    staff_id: int
    message: object
    purpose: str = "consult"


@dataclass(frozen=True)
class ReplyToConsult:
    """A patient's words about their own consult, kept in its thread."""

    ref: str
    words: str


@dataclass(frozen=True)
class CloseConsult:
    ref: str
    staff_id: int


@dataclass(frozen=True)
class AcknowledgeAlert:
    ref: str
    staff_id: int


@dataclass(frozen=True)
class NotifyStaff:
    """Queue one SMS to every staff user of `role` on call (rendered per recipient)."""

    role: str
    message: object  # flows.engine.Message
    purpose: str = "alert"


@dataclass(frozen=True)
class NotifyPatient:
    """Queue one SMS to a patient (their CHW's phone when they have none). `held` is
    shown only after the PIN for a discreet patient: they get `message` meanwhile."""

    patient_id: int
    message: object
    purpose: str = "care"
    held: object | None = None


@dataclass(frozen=True)
class MarkHeldRead:
    message_ids: tuple[int, ...]


@dataclass(frozen=True)
class SetDiscreet:
    patient_id: int
    discreet: bool


@dataclass(frozen=True)
class AnswerReminder:
    """A patient answered a reminder: a medicine's "taken" or "skipped" (adherence), an
    appointment's "confirmed" or "another day" (the clinic is told to call)."""

    send_id: int
    answer: str


@dataclass(frozen=True)
class PauseReminders:
    """Hold every reminder of a patient until `until` (ISO), or start them again (None)."""

    patient_id: int
    until: str | None


@dataclass(frozen=True)
class StopReminders:
    patient_id: int


@dataclass(frozen=True)
class ChangeReminderTimes:
    """New local times for one reminder ("08:00", "20:00"); the dispatcher plans its next."""

    reminder_id: int
    times: tuple[str, ...]


@dataclass(frozen=True)
class SetReminderChannel:
    """Reminders as phone calls (for someone who cannot read) or as SMS."""

    patient_id: int
    calls: bool

