"""Settings: defaults, then the environment (LOWBAND_*, TWILIO_*), then overrides.

Values are read the way Flask's `from_prefixed_env` reads them (JSON when it parses,
text otherwise), then checked here once, so a bad value is one clear line at start-up
instead of a traceback at the first text message.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

from flows.phones import region_time_zone


class SettingsError(Exception):
    """A missing or bad setting; the message names the variable and what to set."""


TRANSPORTS = ("console", "twilio", "android", "modem")


@dataclass(frozen=True)
class Settings:
    db: Path = Path("lowband-data/lowband.db")
    key_file: Path | None = None
    public_url: str = "http://127.0.0.1:5000"
    region: str | None = None
    time_zone: str = "UTC"
    transport: str = "console"
    dev: bool = False
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_from: str | None = None
    # log2 of scrypt's cost for PIN hashes; tests lower it, production never should.
    pin_work: int = 14
    clinic_name: str = "Lowband Clinic"
    emergency_number: str = "112"
    language: str = "en"
    session_minutes: int = 30
    # Texts a minute from one number before the loop guard steps in.
    rate_limit: int = 10
    # How long Twilio may keep trying to deliver an SMS before dropping it.
    sms_validity_seconds: int = 14400
    # Segments a minute the sender number may send: 60 fits a long code (1 a second).
    send_rate: int = 60
    # The clinic's own care thresholds, over the defaults in flows/care_rules.toml.
    care_rules: Path | None = None
    # May a CHW relay readings for patients outside their own panel?
    chw_any_patient: bool = False
    reading_due_days: int = 7
    refill_wait_hours: int = 24
    # Minutes an urgent alert may go unacknowledged before the next people are told.
    alert_ack_minutes: int = 15
    # Addresses (IPs or networks) whose X-Forwarded-* headers are believed; none by default.
    trusted_proxies: tuple[str, ...] = ()
    # Print whole message bodies with the console transport (demos only: they are health data).
    console_full: bool = False
    # The clinic's recordings of voice messages: <language>/<message key>.mp3.
    prompts_dir: Path | None = None
    # A caller who asks for the nurse may be put through to the clinician on call.
    voice_connect: bool = False
    # The clinic's own SIM: the SMS Gateway for Android app (Local Server), or a USB modem.
    android_url: str | None = None
    android_user: str | None = None
    android_password: str | None = None
    android_signing_key: str | None = None
    modem_port: str | None = None
    modem_baud: int = 115200
    modem_pin: str | None = None

    @property
    def transports(self) -> tuple[str, ...]:
        return tuple(self.transport.split(","))

    @property
    def key_path(self) -> Path:
        return self.key_file or self.db.with_name(self.db.stem + ".key")

    @property
    def public_base(self) -> str:
        return self.public_url.rstrip("/")


_ENV_NAMES = {
    "LOWBAND_DB": "db",
    "LOWBAND_KEY_FILE": "key_file",
    "LOWBAND_PUBLIC_URL": "public_url",
    "LOWBAND_REGION": "region",
    "LOWBAND_TIME_ZONE": "time_zone",
    "LOWBAND_TRANSPORT": "transport",
    "LOWBAND_DEV": "dev",
    "LOWBAND_PIN_WORK": "pin_work",
    "LOWBAND_CLINIC_NAME": "clinic_name",
    "LOWBAND_EMERGENCY_NUMBER": "emergency_number",
    "LOWBAND_LANGUAGE": "language",
    "LOWBAND_SESSION_MINUTES": "session_minutes",
    "LOWBAND_RATE_LIMIT": "rate_limit",
    "LOWBAND_SMS_VALIDITY_SECONDS": "sms_validity_seconds",
    "LOWBAND_SEND_RATE": "send_rate",
    "LOWBAND_CARE_RULES": "care_rules",
    "LOWBAND_CHW_ANY_PATIENT": "chw_any_patient",
    "LOWBAND_READING_DUE_DAYS": "reading_due_days",
    "LOWBAND_REFILL_WAIT_HOURS": "refill_wait_hours",
    "LOWBAND_ALERT_ACK_MINUTES": "alert_ack_minutes",
    "LOWBAND_TRUSTED_PROXIES": "trusted_proxies",
    "LOWBAND_CONSOLE_FULL": "console_full",
    "LOWBAND_PROMPTS_DIR": "prompts_dir",
    "LOWBAND_VOICE_CONNECT": "voice_connect",
    "LOWBAND_ANDROID_URL": "android_url",
    "LOWBAND_ANDROID_USER": "android_user",
    "LOWBAND_ANDROID_PASSWORD": "android_password",
    "LOWBAND_ANDROID_SIGNING_KEY": "android_signing_key",
    "LOWBAND_MODEM_PORT": "modem_port",
    "LOWBAND_MODEM_BAUD": "modem_baud",
    "LOWBAND_MODEM_PIN": "modem_pin",
    "TWILIO_ACCOUNT_SID": "twilio_account_sid",
    "TWILIO_AUTH_TOKEN": "twilio_auth_token",
    "TWILIO_FROM": "twilio_from",
}
_TEXT_ONLY = {
    "twilio_account_sid", "twilio_auth_token", "twilio_from", "region", "public_url", "clinic_name",
    "emergency_number", "language", "care_rules", "trusted_proxies", "prompts_dir", "android_url", "android_user",
    "android_password", "android_signing_key", "modem_port", "modem_pin",
}
_WHOLE_NUMBERS = {"pin_work": (1, 20), "session_minutes": (1, 1440), "rate_limit": (1, 1000),
                  "sms_validity_seconds": (1, 36000),
                  "send_rate": (1, 60000), "modem_baud": (300, 4_000_000), "reading_due_days": (1, 365),
                  "refill_wait_hours": (1, 720),
                  "alert_ack_minutes": (1, 1440)}
LANGUAGES = ("en", "sw", "fr", "es")


def _whole_number(value: Any) -> int | None:
    """An int, or a string of ASCII digits: "1.5", "1e3", "true" and "٦٠" are not whole
    numbers an admin meant (JSON would read them as 1.5, 1000.0, True and 60)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    return None


def _from_env_value(name: str, raw: str) -> Any:
    if name in _TEXT_ONLY:
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def load_settings(environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None) -> Settings:
    """Build and check settings. Overrides use field names or LOWBAND_-less upper names
    (`{"DB": path}` as in Flask's test_config)."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for env_name, field_name in _ENV_NAMES.items():
        if environ.get(env_name, "") != "":
            values[field_name] = (env_name, _from_env_value(field_name, environ[env_name]))
    known = {f.name for f in fields(Settings)}
    for key, value in (overrides or {}).items():
        name = key.lower()
        if name not in known:
            raise SettingsError(f"unknown setting {key}")
        values[name] = (key, value)
    return _checked({name: value for name, (_, value) in values.items()}, {n: src for n, (src, _) in values.items()})


def _proxies(value: Any, label: str) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else list(value)
    out = []
    for item in (str(i).strip() for i in items):
        if not item:
            continue
        try:
            out.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise SettingsError(f"{label}: {item!r} is not an IP address like 10.0.0.5 or ::1") from None
    return tuple(out)


def _checked(values: dict[str, Any], source: dict[str, str]) -> Settings:
    def label(name: str) -> str:
        return source.get(name, name.upper())

    out: dict[str, Any] = {}
    if "db" in values:
        if not str(values["db"]).strip():
            raise SettingsError(f"{label('db')} is empty; set it to a file path")
        out["db"] = Path(str(values["db"]))
    if values.get("key_file"):
        out["key_file"] = Path(str(values["key_file"]))
    if "public_url" in values:
        url = str(values["public_url"]).strip()
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            raise SettingsError(
                f"{label('public_url')}={url!r} is not a base URL like https://clinic.example.org"
            )
        out["public_url"] = url
    if values.get("region") not in (None, ""):
        region = str(values["region"]).upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise SettingsError(f"{label('region')}={values['region']!r} is not a country code like KE, UG or US")
        out["region"] = region
    if "time_zone" in values:
        try:
            ZoneInfo(str(values["time_zone"]))
        except (ZoneInfoNotFoundError, ValueError):
            raise SettingsError(
                f"{label('time_zone')}={values['time_zone']!r} is not a time zone like Africa/Nairobi"
            ) from None
        out["time_zone"] = str(values["time_zone"])
    if "time_zone" not in out and out.get("region"):
        # The clinic's own zone: alert times a clinician reads, and patients without a phone.
        out["time_zone"] = region_time_zone(out["region"])
    if "transport" in values:
        # An ordered list: the first that is up sends; when it cannot be reached, the next.
        chosen = [name.strip() for name in str(values["transport"]).lower().split(",") if name.strip()]
        unknown = [name for name in chosen if name not in TRANSPORTS]
        if not chosen or unknown or len(set(chosen)) != len(chosen):
            raise SettingsError(f"{label('transport')}={values['transport']!r}: a list of {', '.join(TRANSPORTS)}, "
                                "each once, in the order to try them")
        out["transport"] = ",".join(chosen)
    if values.get("trusted_proxies"):
        out["trusted_proxies"] = _proxies(values["trusted_proxies"], label("trusted_proxies"))
    for flag in ("dev", "chw_any_patient", "console_full", "voice_connect"):
        if flag in values:
            out[flag] = values[flag] in (True, 1, "1", "true", "yes", "on")
    if values.get("care_rules"):
        out["care_rules"] = Path(str(values["care_rules"]))
    if values.get("prompts_dir"):
        prompts = Path(str(values["prompts_dir"]))
        if not prompts.is_dir():
            raise SettingsError(f"{label('prompts_dir')}={prompts}: no such folder (it holds <language>/<key>.mp3)")
        out["prompts_dir"] = prompts
    for name, (low, high) in _WHOLE_NUMBERS.items():
        if name not in values:
            continue
        number = _whole_number(values[name])
        if number is None:
            number = low - 1
        if not low <= number <= high:
            raise SettingsError(f"{label(name)} must be a whole number from {low} to {high}")
        out[name] = number
    if "language" in values:
        language = str(values["language"]).lower()
        if language not in LANGUAGES:
            raise SettingsError(f"{label('language')}={values['language']!r}: use one of {', '.join(LANGUAGES)}")
        out["language"] = language
    for name, longest in (("clinic_name", 20), ("emergency_number", 15)):
        if name in values:
            text = " ".join(str(values[name]).split())
            # These appear in one-segment SMS; longer values would break the budget.
            if not 1 <= len(text) <= longest:
                raise SettingsError(f"{label(name)} must be 1 to {longest} characters (it goes into every SMS)")
            out[name] = text
    for name in ("twilio_account_sid", "twilio_auth_token", "twilio_from"):
        if values.get(name):
            out[name] = str(values[name]).strip()
    for name in ("android_url", "android_user", "android_password", "android_signing_key", "modem_port",
                 "modem_pin"):
        if values.get(name):
            out[name] = str(values[name]).strip()
    settings = Settings(**out)
    if settings.android_url and not settings.android_url.lower().startswith(("http://", "https://")):
        raise SettingsError(f"LOWBAND_ANDROID_URL must start with http:// (like http://{settings.android_url}); "
                            "the app shows the address without it")
    if "android" in settings.transports and not (settings.android_url and settings.android_user
                                                 and settings.android_password):
        raise SettingsError("LOWBAND_TRANSPORT=android needs LOWBAND_ANDROID_URL, LOWBAND_ANDROID_USER and "
                            "LOWBAND_ANDROID_PASSWORD (as the SMS Gateway app shows them)")
    if "modem" in settings.transports and not settings.modem_port:
        raise SettingsError("LOWBAND_TRANSPORT=modem needs LOWBAND_MODEM_PORT (like /dev/ttyUSB2)")
    if "twilio" in settings.transports:
        missing = [
            env for env, name in _ENV_NAMES.items() if name.startswith("twilio_") and not getattr(settings, name)
        ]
        if missing:
            raise SettingsError(f"LOWBAND_TRANSPORT={settings.transport} needs {', '.join(missing)}")
    return settings
