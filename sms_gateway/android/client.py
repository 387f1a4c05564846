"""HTTP to the SMS Gateway for Android app (capcom6, Local Server mode), and the shapes it
speaks: what its inbox and its webhooks call a received text.

Every request has a timeout (connect CONNECT_TIMEOUT, read READ_TIMEOUT) and Basic auth.
Network failures become TransportError: `unreachable` only when the request surely never
reached the phone (transports.never_left); a read timeout may have been accepted, so it
is retryable on the phone, never handed to another transport.

Nothing here logs or raises with a phone number or a message's text in it: the errors
end up in the outbox's error column and in logs.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import requests

from sms_gateway.gateway import ReceivedText
from sms_gateway.transports import TransportError, never_left

CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 10.0
GATEWAY = "android"
# Five or more digits in a row (spaces and dashes allowed): could be a phone number.
_NUMBER = re.compile(r"\+?\d[\d \-]{3,}\d")


class AppClient:
    """The app's Local Server API: POST /message, GET /message/{id}, GET /inbox,
    GET /health, GET /device."""

    def __init__(self, base_url: str, user: str, password: str, *, session: requests.Session | None = None,
                 timeout: tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT)):
        self.base_url = base_url.rstrip("/")
        self.auth = (user, password)
        self.session = session or requests.Session()
        self.timeout = timeout

    def request(self, method: str, path: str, *, auth: bool = True, **kwargs) -> requests.Response:
        try:
            return self.session.request(method, self.base_url + path, auth=self.auth if auth else None,
                                        timeout=self.timeout, allow_redirects=False, **kwargs)
        except requests.exceptions.ReadTimeout:
            # The phone took the request and did not answer in time: it may have queued it.
            raise TransportError("the Android gateway did not answer in time", retryable=True) from None
        except requests.exceptions.RequestException as error:
            unreachable = never_left(error)
            what = "cannot be reached" if unreachable else "dropped the connection"
            raise TransportError(f"the Android gateway {what}: {type(error).__name__}", retryable=True,
                                 unreachable=unreachable) from None

    def refused(self, response: requests.Response, doing: str) -> TransportError:
        """The error for an answer that is not what `doing` needed. The app's own words
        are left out: they may repeat a phone number."""
        status = response.status_code
        if status in (401, 403):
            return TransportError(
                f"the Android gateway refused LOWBAND_ANDROID_USER/LOWBAND_ANDROID_PASSWORD (HTTP {status}) "
                f"while {doing}: copy them again from the app's Home tab", retryable=False)
        if status >= 500 or status in (408, 429):
            return TransportError(f"the Android gateway failed (HTTP {status}) while {doing}", retryable=True)
        return TransportError(f"the Android gateway refused (HTTP {status}) while {doing}", retryable=False)

    def json(self, response: requests.Response, doing: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise TransportError(f"the Android gateway answered something that is not JSON while {doing}",
                                 retryable=True) from None


def reason(value: Any) -> str | None:
    """Why the phone says a message failed ("RESULT_ERROR_NO_SERVICE"), short, and with
    anything that looks like a phone number taken out."""
    if not isinstance(value, str) or not value.strip():
        return None
    return "android: " + _NUMBER.sub("…", value.strip())[:120]


def parse_time(value: Any) -> datetime | None:
    """The app's times: ISO 8601 with an offset ("2024-06-22T15:46:11.000+07:00", "...Z"),
    or milliseconds since 1970. Aware, in UTC; None when unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 1e11 else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def text_id(raw: str) -> str:
    """One id for one received text, however the app named it. Its inbox calls a text
    "text:<hash>" (a signed 32-bit decimal) and its sms:received webhook calls the same
    text by the same hash as unsigned hex: both become the hex, so a text seen by the
    poll and by the webhook is one text (answered once)."""
    raw = raw.strip()
    prefix, _, number = raw.partition(":")
    if prefix == "text" and number.lstrip("-").isdigit() and number.isascii():
        return format(int(number) & 0xFFFFFFFF, "x")
    return raw


def _first_text(fields: dict, *names: str) -> str | None:
    for name in names:
        value = fields.get(name)
        if isinstance(value, str) and value != "":
            return value
    return None


def received_text(fields: Any) -> ReceivedText | None:
    """A received SMS, from an inbox entry (id, sender, contentPreview, createdAt) or an
    sms:received payload (messageId, phoneNumber or sender, message, receivedAt). None
    when it is not one (no id, no sender, no text, or another kind of message)."""
    if not isinstance(fields, dict):
        return None
    kind = fields.get("type")
    if kind not in (None, "SMS"):
        return None
    ident = _first_text(fields, "messageId", "id")
    sender = _first_text(fields, "phoneNumber", "sender", "from")
    body = _first_text(fields, "message", "text", "contentPreview", "body")
    if ident is None or sender is None or body is None:
        return None
    when = None
    for name in ("receivedAt", "createdAt", "date"):
        when = parse_time(fields.get(name))
        if when is not None:
            break
    return ReceivedText(gateway=GATEWAY, gateway_id=text_id(ident), sender=sender.strip(), body=body,
                        received_at=when)
