"""Transports: how an outbox message leaves the building.

`console` prints (for trying Lowband on a laptop); `twilio` calls the REST API with a
request timeout, a status callback and a validity period (a reminder that could not
be delivered in time is worse than none). Tests pass an in-memory fake of the Twilio
API through twilio's `http_client` seam.
"""

from __future__ import annotations

import sys
import uuid
from dataclasses import dataclass
from typing import Protocol, TextIO

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from flows.phones import mask
from flows.redact import masked_body
from sms_gateway.pacing import Pace

# Twilio error 21610: the recipient replied STOP; sending again is refused.
TWILIO_UNSUBSCRIBED = 21610
RECONCILE_LOOKBACK = 20  # the last messages to a number searched for one we may have sent


@dataclass(frozen=True)
class SendResult:
    provider_sid: str | None
    transport: str = ""  # which transport took it (set by the failover list)


class TransportError(Exception):
    """`retryable`: the same transport may succeed later. `unreachable`: the message
    surely never left (no route, no name, connection refused or timed out before any
    byte was sent), so the next transport in the list may take it without any risk of
    it arriving twice."""

    def __init__(self, message: str, *, retryable: bool, opted_out: bool = False, unreachable: bool = False):
        super().__init__(message)
        self.retryable = retryable
        self.opted_out = opted_out
        self.unreachable = unreachable


def never_left(error: BaseException) -> bool:
    """A requests/urllib3 error raised before the request was sent: a refused or timed-out
    connection, or a name that does not resolve. (A read timeout or a dropped connection
    mid-request may have delivered it: not this.)"""
    from requests.exceptions import ConnectionError as RequestsConnectionError
    from requests.exceptions import ConnectTimeout
    from urllib3.exceptions import MaxRetryError, NewConnectionError

    if isinstance(error, ConnectTimeout):
        return True
    if isinstance(error, RequestsConnectionError) and error.args and isinstance(error.args[0], MaxRetryError):
        return isinstance(error.args[0].reason, NewConnectionError | ConnectTimeout)
    return isinstance(error, NewConnectionError)


class Transport(Protocol):
    name: str

    def send(self, to: str, body: str, *, status_callback: str | None = None, message_id: int | None = None,
             expires_at: str | None = None) -> SendResult:
        """Send one outbox message. `message_id` (the outbox row's id) lets a gateway make a
        retry idempotent; `expires_at` (UTC ISO) is when it is no longer worth delivering."""
        ...

    def call(self, to: str, url: str, *, status_callback: str | None = None) -> SendResult:
        """Place a call whose TwiML is at `url` (a reminder said on the voice line)."""
        ...

    def sent_already(self, to: str, body: str, message_id: int | None = None) -> str | None:
        """The provider's id of `body` if it already went to `to` (a sender died between
        handing it over and recording it), None if it did not; raises TransportError
        when the provider cannot say."""
        ...


class ConsoleTransport:
    """Prints each message. Terminals end up in logs, so the number and the body are
    masked (see masked_body) unless `full` (LOWBAND_CONSOLE_FULL=1, for demos)."""

    name = "console"
    places_calls = True  # it prints what the call would say

    def __init__(self, stream: TextIO | None = None, *, full: bool = False):
        self.stream = stream
        self.full = full

    def send(self, to: str, body: str, *, status_callback: str | None = None, message_id: int | None = None,
             expires_at: str | None = None) -> SendResult:
        stream = self.stream or sys.stdout
        print(f"[SMS to {mask(to)}] {body if self.full else masked_body(body)}", file=stream, flush=True)
        # Unique across processes and runs: the outbox keys delivery reports by it.
        return SendResult(f"console-{uuid.uuid4().hex}")

    def sent_already(self, to: str, body: str, message_id: int | None = None) -> str | None:
        return None  # printing twice costs nothing and reaches nobody

    def call(self, to: str, url: str, *, status_callback: str | None = None) -> SendResult:
        stream = self.stream or sys.stdout
        print(f"[CALL to {mask(to)}] (what it says: {url})", file=stream, flush=True)
        return SendResult(f"console-call-{uuid.uuid4().hex}")


class TwilioTransport:
    name = "twilio"
    places_calls = True

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        sender: str,
        *,
        http_client=None,
        timeout: float = 10.0,
        validity_seconds: int = 14400,
        segments_per_minute: int = 60,
    ):
        self.client = Client(account_sid, auth_token, http_client=http_client or TwilioHttpClient(timeout=timeout))
        self.sender = sender
        self.validity_seconds = validity_seconds
        # A long code takes one segment a second (sms_gateway.pacing says why we keep to it).
        self.pace = Pace(sender, segments_per_minute)

    def send(self, to: str, body: str, *, status_callback: str | None = None, message_id: int | None = None,
             expires_at: str | None = None) -> SendResult:
        kwargs = {"to": to, "body": body, "validity_period": self.validity_seconds}
        if self.sender.startswith("MG"):
            kwargs["messaging_service_sid"] = self.sender
        else:
            kwargs["from_"] = self.sender
        if status_callback:
            kwargs["status_callback"] = status_callback
        try:
            message = self.client.messages.create(**kwargs)
        except TwilioRestException as error:
            retryable = error.status >= 500 or error.status == 429
            # Twilio answered and created nothing: a refused account or token (401, 403),
            # too many requests or its own failure. Another line may take the message;
            # a number that opted out (21610) or cannot be texted must not.
            refused_account = error.status in (401, 403) and error.code != TWILIO_UNSUBSCRIBED
            raise TransportError(
                f"twilio error {error.code or error.status}", retryable=retryable or refused_account,
                opted_out=error.code == TWILIO_UNSUBSCRIBED, unreachable=retryable or refused_account,
            ) from None
        except TwilioException as error:
            raise TransportError(f"twilio unreachable: {type(error).__name__}", retryable=True) from None
        except OSError as error:  # timeouts and refused connections from requests
            raise TransportError(f"network error: {type(error).__name__}", retryable=True,
                                 unreachable=never_left(error)) from None
        return SendResult(message.sid)

    def sent_already(self, to: str, body: str, message_id: int | None = None) -> str | None:
        try:
            for message in self.client.messages.list(to=to, limit=RECONCILE_LOOKBACK):
                if message.body == body:
                    return message.sid
        except (TwilioException, OSError) as error:
            raise TransportError(f"twilio could not say: {type(error).__name__}", retryable=True) from None
        return None

    def call(self, to: str, url: str, *, status_callback: str | None = None) -> SendResult:
        """A call from our number; Twilio fetches `url` for what to say, and tells whether
        a person or a machine answered (AnsweredBy), so a voicemail hears nothing private."""
        if not self.sender.startswith("+"):
            raise TransportError("calls need TWILIO_FROM to be a phone number, not a messaging service",
                                 retryable=False)
        kwargs = {"to": to, "from_": self.sender, "url": url, "method": "POST", "machine_detection": "Enable"}
        if status_callback:
            kwargs.update(status_callback=status_callback, status_callback_method="POST",
                          status_callback_event=["completed"])
        try:
            call = self.client.calls.create(**kwargs)
        except TwilioRestException as error:
            raise TransportError(f"twilio error {error.code or error.status}",
                                 retryable=error.status >= 500 or error.status == 429) from None
        except (TwilioException, OSError) as error:
            raise TransportError(f"twilio unreachable: {type(error).__name__}", retryable=True) from None
        return SendResult(call.sid)
