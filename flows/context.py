"""What a step knows about the world: the clock, the sender, their records, settings.

The Directory is the port through which pure flows read (and only read) records; the
service module implements it over storage and tests implement it in memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from flows.care_rules import CareRules
    from flows.catalog import Catalog


@dataclass(frozen=True)
class PatientView:
    """The little a conversation needs to know about a patient on this phone."""

    id: int
    short_id: str
    display_name: str
    language: str
    has_pin: bool
    consented: bool
    locked_until: datetime | None = None
    pin_failures: int = 0
    chw_id: int | None = None
    discreet: bool = False
    time_zone: str = "UTC"

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now


@dataclass(frozen=True)
class StaffView:
    id: int
    role: str
    display_name: str


@dataclass(frozen=True)
class Submission:
    """The last readings a phone sent: what UNDO would remove."""

    id: int
    patient_id: int
    echo: str  # the readings as sent, e.g. "BP 150/95 GLU 6.1"
    at: datetime | None = None  # when they were sent


@dataclass(frozen=True)
class ReminderView:
    """The last medicine or appointment reminder this phone got and has not answered
    (within a day): 1/2 is taken/skipped, or confirm/another day."""

    send_id: int
    patient_id: int
    label: str  # the medicine as the pharmacist writes it
    sent_at: datetime
    kind: str = "medicine"  # or "appointment"
    visit: datetime | None = None  # an appointment's own time


@dataclass(frozen=True)
class ReminderRule:
    """One of a patient's reminders, as "My reminders" shows it."""

    id: int
    what: str  # "Metformin 500mg x60", or a reading's code ("BP")
    times: str  # "08:00,20:00", the patient's own time
    next_at: datetime | None
    paused_until: datetime | None = None


@dataclass(frozen=True)
class RequestView:
    """A refill, consult or alert as a staff command sees it."""

    ref: str
    patient_id: int
    status: str
    label: str = ""  # the medicine of a refill
    owner_id: int | None = None  # the clinician who answered a consult first
    owner_name: str = ""


class Directory(Protocol):
    def check_pin(self, patient_id: int, pin: str) -> bool: ...

    def new_patient_ids(self) -> tuple[int, str]:
        """A fresh (row id, short ID) pair that no patient has."""
        ...

    def patient_by_short_id(self, short_id: str) -> PatientView | None: ...

    def short_id_valid(self, short_id: str) -> bool:
        """Does the ID's check digit hold (so a miss is a typo, not an unknown ID)?"""
        ...

    def patient(self, patient_id: int) -> PatientView: ...

    def profile(self, patient_id: int) -> tuple[str | None, int | None]:
        """(sex, birth year) for a clinician's summary."""
        ...

    def allocate_ref(self, name: str, prefix: str) -> str:
        """The next short reference ("RF12") for refills, consults..."""
        ...

    def duplicate_since(self, patient_id: int, kind: str, values: dict, since: datetime) -> datetime | None: ...

    def recent_levels(self, patient_id: int, kind: str, since: datetime) -> list[tuple[datetime, str]]: ...

    def last_submission(self, sender: str, since: datetime) -> Submission | None: ...

    def medications(self, patient_id: int) -> list[tuple[int, str]]:
        """(medication id, label like "Metformin 500mg x60") for each active medicine."""
        ...

    def request(self, kind: str, ref: str) -> RequestView | None:
        """A refill ("refill"), consult ("consult") or alert ("alert") by reference."""
        ...

    def chw_tasks(self, chw_id: int, now: datetime) -> list[tuple[str, str]]:
        """(short ID, what is due) for the CHW's patients: open alerts first, then
        overdue readings."""
        ...

    def held_messages(self, patient_id: int) -> list[tuple[int, str]]: ...

    def reminders(self, patient_id: int) -> list[ReminderRule]:
        """The patient's active reminders, next first."""
        ...

    def has_open_alert(self, patient_id: int) -> bool: ...

    def is_staff_phone(self, phone: str) -> bool: ...

    def can_text(self, patient_id: int) -> bool:
        """Will an SMS for this patient reach a phone: their own (not opted out), or their
        active CHW's?"""
        ...

    def people_on_phone(self, phone: str) -> int:
        """How many patients already use this phone number (E.164)."""
        ...

    def likely_duplicate(self, name: str, birth_year: int | None, phone: str | None, chw_id: int | None) -> str | None:
        """The short ID of a patient who is probably this person already (same phone and
        name, or same name and birth year in the CHW's panel), or None."""
        ...


@dataclass(frozen=True)
class FlowConfig:
    clinic_name: str = "Lowband Clinic"
    emergency_number: str = "112"
    session_timeout_minutes: int = 30
    # How long a correct PIN keeps health data open on a (possibly shared) phone.
    unlock_minutes: int = 10
    pin_attempts: int = 5
    pin_lock_minutes: int = 30
    consent_version: str = "consent-v1"
    default_language: str = "en"
    # A repeat of the same reading within this window is stored once; UNDO reaches back as far.
    repeat_minutes: int = 10
    undo_minutes: int = 10
    # A CHW's patients without a reading for this long show up in TASKS.
    reading_due_days: int = 7
    # May a CHW submit for patients outside their own panel?
    chw_any_patient: bool = False
    region: str | None = None
    time_zone: str = "UTC"


@dataclass(frozen=True)
class Context:
    now: datetime
    sender: str
    directory: Directory
    people: tuple[PatientView, ...] = ()
    staff: StaffView | None = None
    opted_out: bool = False
    # Opted out with a word the carrier acts on: it blocks every reply we send.
    carrier_blocked: bool = False
    channel: str = "sms"
    config: FlowConfig = field(default_factory=FlowConfig)
    catalog: Catalog | None = None
    rules: CareRules | None = None
    # Words that name a reading in the shipped languages ("sukari" -> glucose), so
    # `sukari 7.2` reads like `GLU 7.2`.
    reading_words: Mapping[str, str] = field(default_factory=dict)
    # Pictures or recordings that came with the text (an MMS): we cannot read them.
    media: int = 0
    # A voice message the caller just left (Twilio's RecordingSid and RecordingUrl): it
    # stands for the words a texter would type.
    recording: Mapping[str, str] | None = None
    # A medicine reminder waiting for 1 (taken) or 2 (skipped), loaded by the service.
    reminder: ReminderView | None = None

    def words(self, language: str, key: str) -> set[str]:
        """The words that mean `key` ("yes": yes, y, ndio...) in this language and English."""
        if self.catalog is None:
            return set()
        return self.catalog.words(language, key) | self.catalog.words("en", key)

    def person(self, patient_id: int | None) -> PatientView | None:
        for person in self.people:
            if person.id == patient_id:
                return person
        return None
