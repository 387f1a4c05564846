"""Checking the details of a new patient, whoever enrols them (clinic CLI, CHW, patient).

Pure: takes text, returns clean values or raises EnrolmentError with a `field` that
callers map to a message (English for the CLI, the patient's language over SMS).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flows.phones import InvalidPhoneNumber, default_time_zone, to_e164

LANGUAGES = ("en", "sw", "fr", "es")
SEXES = {"F": "F", "M": "M", "FEMALE": "F", "MALE": "M", "K": "F", "ME": "M", "H": "M"}
NAME_MAX = 60
OLDEST_BIRTH_YEAR = 1900


class EnrolmentError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class NewPatient:
    name: str
    phone: str | None
    birth_year: int | None
    sex: str | None
    language: str
    time_zone: str


def clean_name(text: str) -> str:
    name = " ".join(unicodedata.normalize("NFC", text).split())
    if not name or len(name) > NAME_MAX:
        raise EnrolmentError("name", f"a name needs 1 to {NAME_MAX} characters")
    # Control characters (NUL, escapes) would garble an SMS or a terminal; refuse them too.
    if (
        not any(ch.isalpha() for ch in name)
        or re.search(r"[\d<>{}\[\]\\|@#$%^*=+~`]", name)
        or any(unicodedata.category(ch) == "Cc" for ch in name)
    ):
        raise EnrolmentError("name", "a name is letters, spaces, hyphens and apostrophes")
    return name


def clean_birth_year(value: object, this_year: int) -> int:
    try:
        year = int(str(value).strip())
    except ValueError:
        raise EnrolmentError("birth_year", "a year of birth is four digits, like 1984") from None
    if not OLDEST_BIRTH_YEAR <= year <= this_year:
        raise EnrolmentError("birth_year", f"a year of birth is between {OLDEST_BIRTH_YEAR} and {this_year}")
    return year


def clean_sex(value: str) -> str:
    sex = SEXES.get(value.strip().upper())
    if sex is None:
        raise EnrolmentError("sex", "sex is F or M")
    return sex


def clean_language(value: str) -> str:
    language = value.strip().lower()
    if language not in LANGUAGES:
        raise EnrolmentError("language", f"language is one of {', '.join(LANGUAGES)}")
    return language


def clean_time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise EnrolmentError("time_zone", "time zone is an IANA name like Africa/Nairobi") from None
    return value


def clean_phone(value: str, region: str | None) -> str:
    try:
        return to_e164(value, region)
    except InvalidPhoneNumber as error:
        raise EnrolmentError("phone", str(error)) from None


def new_patient(
    *,
    name: str,
    phone: str | None,
    region: str | None,
    this_year: int,
    birth_year: object = None,
    sex: str | None = None,
    language: str = "en",
    time_zone: str | None = None,
    fallback_time_zone: str = "UTC",
) -> NewPatient:
    e164 = clean_phone(phone, region) if phone else None
    if time_zone:
        zone = clean_time_zone(time_zone)
    elif e164:
        zone = default_time_zone(e164, fallback_time_zone)
    else:
        zone = fallback_time_zone
    return NewPatient(
        name=clean_name(name),
        phone=e164,
        birth_year=clean_birth_year(birth_year, this_year) if birth_year not in (None, "") else None,
        sex=clean_sex(sex) if sex else None,
        language=clean_language(language),
        time_zone=zone,
    )


def looks_like_text(short_ids: list[str], *, same_phone: bool, same_birth_year: bool) -> str:
    """Why an enrolment is stopped or a row skipped, in short IDs only, never names:
    "looks like patient 4376 (same name and birth year)"."""
    if same_phone:
        why = "same name and phone"
    elif same_birth_year:
        why = "same name and birth year"
    else:
        why = "same name, and no phone or birth year to tell them apart"
    noun = "patient" if len(short_ids) == 1 else "patients"
    return f"looks like {noun} {', '.join(short_ids)} ({why})"
