"""Phone numbers: parsed with phonenumbers, kept as E.164, shown masked."""

from __future__ import annotations

import functools
import unicodedata

import phonenumbers
from phonenumbers import timezone as number_timezones

FALLBACK_TIME_ZONE = "UTC"


class InvalidPhoneNumber(ValueError):
    """Raised with a message that does not repeat the number (it may be personal)."""


# Every webhook parses its sender, and phonenumbers takes about 0.1 ms a parse: the
# numbers that text most are remembered (in this process's memory only, as each
# request's own number already is). A number that fails raises and is not remembered.
@functools.lru_cache(maxsize=4096)
def to_e164(text: str, region: str | None) -> str:
    """Parse a number as people write it ("0712 345 678", "+254 712-345-678")."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise InvalidPhoneNumber(
            "not a phone number; write it with its country code, like +254712345678"
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber("not a valid phone number for its country; check the digits")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def default_time_zone(e164: str, fallback: str = FALLBACK_TIME_ZONE) -> str:
    """The number's time zone when it has exactly one; otherwise the clinic's fallback.

    Countries with several zones (US, Brazil, Russia) give several or none for a
    number; guessing would send reminders at the wrong hour, so we fall back instead.
    """
    zones = number_timezones.time_zones_for_number(phonenumbers.parse(e164, None))
    if len(zones) == 1 and zones[0] != number_timezones.UNKNOWN_TIMEZONE:
        return zones[0]
    return fallback


def region_time_zone(region: str | None, fallback: str = FALLBACK_TIME_ZONE) -> str:
    """The clinic's zone from its country (KE: Africa/Nairobi) when the country has one."""
    if not region:
        return fallback
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    if example is None:
        return fallback
    # Every zone the country spans (phonenumbers' own table); one zone or no guess.
    zones = number_timezones._country_level_time_zones_for_number(example)
    return zones[0] if len(zones) == 1 and zones[0] != number_timezones.UNKNOWN_TIMEZONE else fallback


def is_short_code_or_alphanumeric(sender: str) -> bool:
    """Senders we must never auto-reply to: short codes and alphanumeric sender ids.
    Replying to them wastes money and can start a reply loop with another robot."""
    # NFKC first: a full-width plus ("＋254...") is a phone number, not a named sender.
    digits = unicodedata.normalize("NFKC", sender).lstrip("+")
    if not digits.isdigit():
        return True
    return len(digits) <= 6


def mask(e164: str | None) -> str:
    """For logs and screens: keep the country code and last two digits."""
    if not e164:
        return "-"
    if len(e164) <= 6:
        return "*" * len(e164)
    return e164[:4] + "*" * (len(e164) - 6) + e164[-2:]
