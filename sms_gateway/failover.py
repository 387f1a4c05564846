"""An ordered list of transports (LOWBAND_TRANSPORT=twilio,android): the first that can
be reached sends. A transport that cannot be reached (the clinic's internet is down, the
phone is off the Wi-Fi) is passed over for BACK_OFF, then tried first again, so Twilio
takes over again when the link is back.

Only an error that proves the message never left moves it to the next transport
(`TransportError.unreachable`); a timeout after the request went out may have delivered
it, so that message is retried on the same transport later (or looked up), never sent
again through another: no patient gets it twice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sms_gateway.transports import SendResult, Transport, TransportError

BACK_OFF = timedelta(minutes=2)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Failover:
    name = "failover"

    def __init__(self, transports: list[Transport], *, clock: Callable[[], datetime] = _utc_now):
        self.transports = list(transports)
        self.clock = clock
        self.down_until: dict[str, datetime] = {}

    def _order(self) -> list[Transport]:
        """Those not resting first, in the clinic's order; then the resting ones (one may
        be back, and trying beats failing)."""
        now = self.clock()
        up = [t for t in self.transports if self.down_until.get(t.name, now) <= now]
        return up + [t for t in self.transports if t not in up]

    @property
    def pace(self):
        """The send rate of the transport that would send now (Twilio's long code, or the
        phone's SIM)."""
        return getattr(self._order()[0], "pace", None)

    def send(self, to: str, body: str, *, status_callback: str | None = None, message_id: int | None = None,
             expires_at: str | None = None, pinned: str | None = None) -> SendResult:
        """`pinned`: the transport that may already have this message (an earlier try
        ended without an answer): only it is tried, so the patient never gets it twice
        by two lines. (A repeat on the same line is recognised: Twilio is asked, the
        phone answers 409.)"""
        unreachable = []
        order = [t for t in self.transports if t.name == pinned] if pinned else self._order()
        for transport in order or self._order():
            try:
                result = transport.send(to, body, status_callback=status_callback, message_id=message_id,
                                        expires_at=expires_at)
            except TransportError as error:
                if not error.unreachable:
                    error.transport = transport.name  # it may have the message: retried there only
                    raise
                if pinned:
                    raise TransportError(f"{transport.name} may already have this message and cannot be reached: "
                                         "it waits for that line", retryable=True) from None
                self.down_until[transport.name] = self.clock() + BACK_OFF
                unreachable.append(f"{transport.name}: {error}")
                continue
            self.down_until.pop(transport.name, None)
            return SendResult(result.provider_sid, transport.name)
        raise TransportError("no transport could be reached (" + "; ".join(unreachable) + ")", retryable=True)

    def call(self, to: str, url: str, *, status_callback: str | None = None) -> SendResult:
        """Calls go through the first transport that places calls (Twilio); a SIM gateway
        carries SMS only."""
        for transport in self._order():
            if getattr(transport, "places_calls", False):
                result = transport.call(to, url, status_callback=status_callback)
                return SendResult(result.provider_sid, transport.name)
        raise TransportError("no transport here places calls (they need Twilio)", retryable=False)

    def sent_already(self, to: str, body: str, message_id: int | None = None) -> str | None:
        """Asked of each: any that took it says so (Twilio unreachable need not stop the
        phone from saying it has it). None only when every one could say it does not."""
        cannot_say = None
        for transport in self.transports:
            try:
                sid = transport.sent_already(to, body, message_id)
            except TransportError as error:
                cannot_say = error
                continue
            if sid:
                return sid
        if cannot_say is not None:
            raise cannot_say
        return None

    def status(self) -> list[tuple[str, bool, str]]:
        """(name, up, what to say) for each transport, in order."""
        now = self.clock()
        found = []
        for transport in self.transports:
            try:
                up, said = transport.status() if hasattr(transport, "status") else (True, "ready")
            except Exception as error:  # a device that cannot say is down  # noqa: BLE001
                up, said = False, type(error).__name__
            if self.down_until.get(transport.name, now) > now:
                again = self.down_until[transport.name]
                up, said = False, f"unreachable at the last try; tried again after {again:%H:%M} UTC"
            found.append((transport.name, up, said))
        return found
