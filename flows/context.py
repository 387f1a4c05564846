"""What a step knows about the world: the clock, the sender, their records, settings.

The Directory is the port through which pure flows read (and only read) records; the
service module implements it over storage and tests implement it in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
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

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now


@dataclass(frozen=True)
class StaffView:
    id: int
    role: str
    display_name: str


class Directory(Protocol):
    def check_pin(self, patient_id: int, pin: str) -> bool: ...

    def new_patient_ids(self) -> tuple[int, str]:
        """A fresh (row id, short ID) pair that no patient has."""
        ...

    def medicines(self, patient_id: int) -> list[str]: ...

    def patient_by_short_id(self, short_id: str) -> PatientView | None: ...

    def short_id_valid(self, short_id: str) -> bool:
        """Does the ID's check digit hold (so a miss is a typo, not an unknown ID)?"""
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
    channel: str = "sms"
    config: FlowConfig = field(default_factory=FlowConfig)
    catalog: Catalog | None = None

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
