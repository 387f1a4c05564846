"""The clinic's own SIM in an Android phone running the SMS Gateway for Android app
(Local Server mode): a transport that sends through the phone and a gateway that reads
what the phone received.

Sending gives the phone the outbox row's id as the message id, so a retry of a message the
phone already took is refused by the phone (409) and counted as sent, never sent twice,
and a sender that died mid-send can ask the phone (`sent_already`).

Receiving is polled each dispatcher pass (GET /inbox from a watermark, re-reading an
overlap) and may also come by the app's signed webhook (sms_gateway.android.webhook):
either way a text has one id, and Lowband answers it once. The states of messages sent
are polled too (GET /message/{id}) and only ever move a message forward.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlsplit

import requests

from sms_gateway.android.client import CONNECT_TIMEOUT, READ_TIMEOUT, AppClient, parse_time, reason, received_text
from sms_gateway.gateway import ReceivedText, StateReport
from sms_gateway.pacing import Pace
from sms_gateway.transports import SendResult, TransportError

log = logging.getLogger("lowband.android")

# Each poll reads the inbox from the last stored poll minus this: the phone dates a text
# by the network's clock, which can be behind ours, and a text the network held back
# (the phone had no signal) arrives dated when it was sent. Texts already handed over
# are not handed over again (and Lowband's inbound record answers each id once anyway).
OVERLAP = timedelta(minutes=30)
# The first poll after a start reads this far back: what patients sent while Lowband was
# off is answered (each id once: what was answered before the restart is a duplicate).
FIRST_LOOKBACK = timedelta(hours=24)
INBOX_PAGE = 500  # the app's largest page
INBOX_PAGES = 10  # at most this many pages a poll
# Sent messages whose state is still followed: at most MAX_FOLLOWED, each for FOLLOW_FOR
# (a delivery report can be minutes late; Android may never send the last one), and
# STATES_PER_POLL asked about a poll, oldest news first.
MAX_FOLLOWED = 500
FOLLOW_FOR = timedelta(hours=12)
STATES_PER_POLL = 25
MAX_SEEN = 5000
# The app's states in ours; Pending and Processed (handed to Android) are not news.
STATES = {"Sent": "sent", "Delivered": "delivered", "Failed": "failed"}
FINAL = {"delivered", "failed"}


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _from(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Followed:
    since: datetime
    reported: str | None = None


class AndroidGateway:
    name = "android"
    places_calls = False

    def __init__(self, base_url: str, user: str, password: str, *, session: requests.Session | None = None,
                 segments_per_minute: int = 60, clock: Callable[[], datetime] | None = None,
                 timeout: tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT)):
        self.base_url = base_url.rstrip("/")
        self.client = AppClient(self.base_url, user, password, session=session, timeout=timeout)
        self.clock = clock or _utc_now
        # The phone's SIM sends at the carrier's pace; a burst waits in our outbox (by
        # priority), not in the phone's queue.
        self.pace = Pace(f"android:{base_url}", segments_per_minute)
        self._followed: OrderedDict[str, _Followed] = OrderedDict()
        self._seen: OrderedDict[str, datetime] = OrderedDict()  # text id -> when it was received
        self._since: datetime | None = None  # when the last poll whose texts were stored began
        self._polling: datetime | None = None  # when the last poll began (its texts not yet stored)
        self._asked: dict[str, str | None] = {}  # what the last poll learnt of followed messages
        self._no_inbox_said = False

    # -- sending -----------------------------------------------------------------------

    def send(self, to: str, body: str, *, status_callback: str | None = None, message_id: int | None = None,
             expires_at: str | None = None) -> SendResult:
        ident = str(message_id) if message_id is not None else uuid.uuid4().hex
        payload: dict = {"id": ident, "textMessage": {"text": body}, "phoneNumbers": [to],
                         "withDeliveryReport": True}
        ttl = self._ttl(expires_at)
        if ttl is not None:
            payload["ttl"] = ttl
        response = self.client.request("POST", "/message", json=payload)
        # 409: the phone knows this id: it took this message before (the answer was lost,
        # or the sender died before recording it). The same message, not a second SMS.
        if response.status_code != 409 and not 200 <= response.status_code < 300:
            raise self.client.refused(response, "handing over an SMS")
        self._follow(ident)
        return SendResult(f"android:{ident}")

    def _ttl(self, expires_at: str | None) -> int | None:
        expires = parse_time(expires_at) if expires_at else None
        if expires is None:
            return None
        return max(1, math.ceil((expires - self.clock()).total_seconds()))

    def sent_already(self, to: str, body: str, message_id: int | None = None) -> str | None:
        if message_id is None:
            return None  # the phone knows messages by the id we gave it; without one, it never had it
        ident = str(message_id)
        response = self.client.request("GET", f"/message/{quote(ident, safe='')}")
        if response.status_code == 404:
            return None
        if not 200 <= response.status_code < 300:
            raise self.client.refused(response, "looking up a message")
        self._follow(ident)
        return f"android:{ident}"

    def call(self, to: str, url: str, *, status_callback: str | None = None) -> SendResult:
        raise TransportError("an Android gateway sends SMS only", retryable=False)

    def _follow(self, ident: str) -> None:
        self._followed[ident] = _Followed(self.clock())
        self._followed.move_to_end(ident)
        while len(self._followed) > MAX_FOLLOWED:
            self._followed.popitem(last=False)

    # -- receiving ---------------------------------------------------------------------

    def poll(self) -> tuple[list[ReceivedText], list[StateReport]]:
        started = self.clock()
        since = self._since - OVERLAP if self._since else started - FIRST_LOOKBACK
        texts = [t for t in self._inbox(since) if t.gateway_id not in self._seen]
        texts.sort(key=lambda t: t.received_at or started)  # in the order they were sent
        reports, self._asked = self._states(started)
        self._polling = started
        return texts, reports

    def _inbox(self, since: datetime) -> list[ReceivedText]:
        found: list[ReceivedText] = []
        for page in range(INBOX_PAGES):
            response = self.client.request("GET", "/inbox", params={
                "type": "SMS", "from": _from(since), "limit": INBOX_PAGE, "offset": page * INBOX_PAGE})
            if response.status_code == 404:
                if not self._no_inbox_said:
                    log.warning("the Android gateway app has no GET /inbox (it needs version 1.59 or later): "
                                "texts come only by its sms:received webhook")
                    self._no_inbox_said = True
                return []
            if not 200 <= response.status_code < 300:
                raise self.client.refused(response, "reading its inbox")
            entries = self.client.json(response, "reading its inbox")
            if not isinstance(entries, list):
                raise TransportError("the Android gateway's inbox is not a list", retryable=True)
            for entry in entries:
                text = received_text(entry)
                if text is not None:
                    found.append(text)
            if len(entries) < INBOX_PAGE:
                break
        return found

    def _states(self, now: datetime) -> tuple[list[StateReport], dict[str, str | None]]:
        """Reports for the followed messages whose state changed, and what to remember
        of each asked (its state now, or None: stop following it)."""
        reports: list[StateReport] = []
        followed: dict[str, str | None] = {}
        for ident, known in list(self._followed.items())[:STATES_PER_POLL]:
            if now - known.since > FOLLOW_FOR:
                followed[ident] = None
                continue
            response = self.client.request("GET", f"/message/{quote(ident, safe='')}")
            if response.status_code == 404:  # the phone forgot it (its log was trimmed)
                followed[ident] = None
                continue
            if not 200 <= response.status_code < 300:
                raise self.client.refused(response, "asking what became of a message")
            state, error = _state_of(self.client.json(response, "asking what became of a message"))
            if state is not None and state != known.reported:
                reports.append(StateReport(f"android:{ident}", state, error))
            followed[ident] = None if state in FINAL else (state or known.reported)
        return reports, followed

    def stored(self, texts: list[ReceivedText]) -> None:
        """Nothing to delete on the phone. The texts are not handed over again, and the
        next poll reads from this one's start (less the overlap). Called after every poll
        whose texts were committed (none, too)."""
        now = self.clock()
        for text in texts:
            self._seen[text.gateway_id] = text.received_at or now
            self._seen.move_to_end(text.gateway_id)
        if self._polling is not None:
            self._since = self._polling
        # What the poll learnt of sent messages counts only now: a pass that failed before
        # this hears the same news again next time.
        for ident, update in self._asked.items():
            if update is None:
                self._followed.pop(ident, None)
            elif ident in self._followed:
                self._followed[ident].reported = update
                self._followed.move_to_end(ident)  # the others are asked first next time
        self._asked = {}
        # Forget what the next poll can no longer return.
        horizon = (self._since or now) - OVERLAP - timedelta(minutes=5)
        for ident, received in list(self._seen.items()):
            if received < horizon:
                del self._seen[ident]
        while len(self._seen) > MAX_SEEN:
            self._seen.popitem(last=False)

    # -- checking ----------------------------------------------------------------------

    def status(self) -> tuple[bool, str]:
        where = f"the phone at {shown_url(self.base_url)}"
        try:
            health = self.client.request("GET", "/health", auth=False)
            signed_in = self.client.request("GET", "/device")
        except TransportError as error:
            return False, (f"{where} cannot be reached ({error}): is the app's Local Server on, and the phone on "
                           f"the same Wi-Fi (or `adb forward tcp:8080 tcp:8080` running)?")
        if signed_in.status_code in (401, 403):
            return False, f"{where} refused LOWBAND_ANDROID_USER/LOWBAND_ANDROID_PASSWORD: copy them from the app"
        try:
            said = health.json()
        except ValueError:
            said = None
        if not isinstance(said, dict):
            if 200 <= signed_in.status_code < 300:
                return True, f"{where} answers"
            return False, f"{where} answers HTTP {signed_in.status_code}: is it the SMS Gateway app?"
        return _health_words(where, said)


def _state_of(message) -> tuple[str | None, str | None]:
    """Our state for the app's message (its one recipient's state, or the message's)."""
    if not isinstance(message, dict):
        return None, None
    state, error = message.get("state"), None
    recipients = message.get("recipients")
    if isinstance(recipients, list) and recipients and isinstance(recipients[0], dict):
        state = recipients[0].get("state") or state
        error = reason(recipients[0].get("error"))
    ours = STATES.get(state) if isinstance(state, str) else None
    return ours, (error or "android: failed") if ours == "failed" else None


def _health_words(where: str, health: dict) -> tuple[bool, str]:
    """What the app's /health says, for an admin. Its internet check is ignored: the
    phone needs the clinic's Wi-Fi and a signal, not the internet."""
    checks = health.get("checks") if isinstance(health.get("checks"), dict) else {}

    def value(name: str):
        check = checks.get(name)
        return check.get("observedValue") if isinstance(check, dict) else None

    def status(name: str):
        check = checks.get(name)
        return check.get("status") if isinstance(check, dict) else None

    said = [f"{where}: SMS Gateway {health.get('version') or '(version unknown)'}"]
    up = True
    battery, charging = value("battery:level"), value("battery:charging")
    if isinstance(battery, int | float):
        plugged = isinstance(charging, int) and charging & 1
        said.append(f"battery {battery:.0f}%{', charging' if plugged else ', NOT charging: plug it in'}")
    if status("messages:failed") == "fail":
        up = False
        said.append("every SMS in the last hour failed: check the SIM's credit and signal")
    elif status("messages:failed") == "warn":
        said.append(f"{value('messages:failed')} SMS failed in the last hour")
    return up, "; ".join(said)


def shown_url(url: str) -> str:
    """The phone's address as status may show it: never a user or password written in it."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}"
