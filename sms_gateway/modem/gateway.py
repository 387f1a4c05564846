"""A USB GSM modem as the clinic's SMS line (LOWBAND_TRANSPORT=modem).

Texts go out in PDU mode, each asking for a status report; the parts' message
references make the provider id ("modem:12,13#<outbox id>"), and the +CDS reports that
name them move the outbox message to delivered or failed. Texts that arrive stay on the
SIM (+CMTI says where) until Lowband has stored them: only `stored` deletes them, so a
crash, a pulled cable or a restart loses nothing, and a text read twice has the same id.

The port is opened on first use and again after the line drops. Every command has a
timeout: a hung modem gives a TransportError, never a hung dispatcher.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import queue
import re
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sms_gateway.gateway import ReceivedText, StateReport
from sms_gateway.modem.at import AtChannel, AtError, AtTimeout, LineDropped, Unsolicited
from sms_gateway.modem.inbox import INCOMPLETE_AFTER, Inbox, Offer
from sms_gateway.modem.pdu import Deliver, PduError, StatusReport, decode, encode_submit, relative_validity
from sms_gateway.modem.tracking import Outstanding
from sms_gateway.pacing import Pace
from sms_gateway.transports import SendResult, TransportError

log = logging.getLogger("lowband.modem")

SWEEP_EVERY = 300.0  # seconds between listings of the whole SIM (a +CMTI may be missed)
SEND_TIMEOUT_FACTOR = 6  # the network may take a while to take a text: 60 s at timeout=10
PIN_READY_WAIT = 0.25  # seconds between asks while the SIM settles after its PIN
# +CMS ERROR causes (24.011 §E.2, 27.005 §3.2.5) that no retry will fix: the number does
# not exist or cannot be reached by SMS, or the PDU itself is refused.
NOT_RETRYABLE = {1: "unassigned number", 28: "unidentified subscriber", 30: "unknown subscriber",
                 96: "invalid mandatory information (the number)", 304: "invalid PDU"}
_CPIN = re.compile(r"\+CPIN:\s*(.+)")
_CMGS = re.compile(r"\+CMGS:\s*(\d+)")
_LISTED = re.compile(r"\+CMG[LR]:\s*(?:(\d+)\s*,)?\s*(\d+)\s*,[^,]*,\s*(\d+)")
_CMTI = re.compile(r'\+(?:CMTI|CDSI):\s*"?(\w*)"?\s*,\s*(\d+)')


PIN_REFUSED = ("the SIM refused LOWBAND_MODEM_PIN (or did not answer it); it is not tried again, since three "
               "wrong tries lock the SIM: correct the setting and restart Lowband")


def _part_way(where: str) -> TransportError:
    """Earlier parts of a long message went and a later one did not: sending it all again
    would give the patient the first parts twice (a resend of just the rest is not what
    a phone joins), so a person decides (`lowband outbox --status failed`)."""
    return TransportError(f"modem: {where} failed after the earlier parts went; check with the patient before "
                          "resending", retryable=False)


class ModemGateway:
    name = "modem"
    places_calls = False

    def __init__(self, port: str, *, baud: int = 115200, pin: str | None = None, segments_per_minute: int = 60,
                 timeout: float = 10.0, clock: Callable[[], float] = time.monotonic,
                 incomplete_after: float = INCOMPLETE_AFTER, pin_memory: Path | None = None):
        self.port = port
        self.baud = baud
        self.pin = pin
        self.timeout = timeout
        self.pace = Pace(f"modem:{port}", segments_per_minute)
        self.clock = clock
        self._lock = threading.RLock()
        self._channel: AtChannel | None = None
        self._pin_refused = False
        # A PIN the SIM refused (or did not answer) is remembered across restarts: three
        # wrong tries lock the SIM, and a service manager restarts us more than that.
        self.pin_memory = pin_memory
        self._inbox = Inbox(incomplete_after)
        self._offered: dict[str, Offer] = {}
        self._outstanding = Outstanding()
        self._reports: list[StateReport] = []
        self._swept_at: float | None = None
        self._reference = secrets.randbelow(256)
        self._said = "not opened yet"

    # -- the Transport protocol -------------------------------------------------------------

    def send(self, to: str, body: str, *, status_callback: str | None = None, message_id: int | None = None,
             expires_at: str | None = None) -> SendResult:
        try:
            parts = encode_submit(to, body, reference=self._next_reference(), validity=self._validity(expires_at))
        except ValueError as error:
            raise TransportError(f"modem: cannot encode the message ({error})", retryable=False) from None
        with self._lock:
            channel = self._ensure()
            references: list[int] = []
            for number, part in enumerate(parts, start=1):
                where = f"part {number} of {len(parts)}" if len(parts) > 1 else "the message"
                try:
                    lines = channel.command(f"AT+CMGS={part.length}", self.timeout * SEND_TIMEOUT_FACTOR,
                                            data=part.pdu, prompt_timeout=self.timeout)
                except AtError as error:
                    if references:
                        raise _part_way(where) from None
                    raise self._send_refused(error, where, nothing_sent=True) from None
                except (AtTimeout, LineDropped) as error:
                    self._down(str(error))
                    if references:
                        raise _part_way(where) from None
                    raise TransportError(f"modem: {error} while sending {where}", retryable=True,
                                         unreachable=not error.after_data) from None
                found = next((m for m in map(_CMGS.match, lines) if m), None)
                if found:
                    references.append(int(found.group(1)))
            sid = f"modem:{','.join(map(str, references)) or '-'}#{message_id if message_id is not None else ''}"
            if message_id is None:
                sid += secrets.token_hex(4)
            if references:
                self._outstanding.sent(sid, to, references, self.clock())
        return SendResult(sid)

    def sent_already(self, to: str, body: str, message_id: int | None = None) -> str | None:
        raise TransportError("a modem cannot say", retryable=False)

    def call(self, to: str, url: str, *, status_callback: str | None = None) -> SendResult:
        raise TransportError("a modem gateway sends SMS only", retryable=False)

    # -- the Gateway protocol ---------------------------------------------------------------

    def poll(self) -> tuple[list[ReceivedText], list[StateReport]]:
        """Texts ready (offered again on each poll until `stored`: Lowband knows them by
        their id), and the status reports since the last poll."""
        with self._lock:
            channel = self._ensure()
            try:
                self._read_news(channel)
                if self._swept_at is None or self.clock() - self._swept_at >= SWEEP_EVERY:
                    self._sweep(channel)
            except (AtTimeout, LineDropped) as error:
                self._down(str(error))
                raise TransportError(f"modem: {error}", retryable=True, unreachable=True) from None
            offers = self._inbox.ready(self.clock())
            self._offered = {offer.text.gateway_id: offer for offer in offers}
            reports, self._reports = self._reports, []
            return [offer.text for offer in offers], reports

    def stored(self, texts: list[ReceivedText]) -> None:
        """Delete these texts' parts from the SIM: Lowband has committed them."""
        with self._lock:
            offers = [self._offered.pop(t.gateway_id) for t in texts if t.gateway_id in self._offered]
            if not offers:
                return
            channel = self._ensure()
            try:
                for offer in offers:
                    for index, pdu in offer.parts:
                        if not self._inbox.holds(index, pdu):
                            continue  # read again meanwhile as something else: not ours to delete
                        self._delete(channel, index)
                        self._inbox.remove(index)
            except (AtTimeout, LineDropped) as error:
                # What was not deleted is read again after reconnecting: a duplicate Lowband knows.
                self._down(str(error))
                raise TransportError(f"modem: {error}", retryable=True, unreachable=True) from None

    def status(self) -> tuple[bool, str]:
        if not self._lock.acquire(timeout=self.timeout):
            return self._channel is not None and self._channel.alive, f"busy ({self._said})"
        try:
            try:
                channel = self._ensure()
                signal = _signal(channel.command("AT+CSQ", self.timeout))
                registered, network = _registration(channel, self.timeout)
            except TransportError as error:
                return False, str(error)
            except (AtTimeout, LineDropped) as error:
                self._down(str(error))
                return False, f"modem: {error}"
            except AtError as error:
                return False, f"modem: {error.result} when asked for its signal"
            waiting = len(self._inbox)
            said = f"SIM ready; {network}; signal {signal}" + (f"; {waiting} part(s) on the SIM" if waiting else "")
            self._said = said
            return registered, said
        finally:
            self._lock.release()

    def close(self) -> None:
        with self._lock:
            if self._channel is not None:
                self._channel.close()
                self._channel = None

    # -- start-up ---------------------------------------------------------------------------

    def _ensure(self) -> AtChannel:
        """The open, set-up channel; opened (again) when it is not."""
        if self._channel is not None and self._channel.alive:
            return self._channel
        if self._channel is not None:
            self._down(self._channel.dropped or "the line dropped")
        if not self.port:
            self._said = "no port: set LOWBAND_MODEM_PORT"
            raise TransportError("modem: no port: set LOWBAND_MODEM_PORT", retryable=True, unreachable=True)
        try:
            channel = AtChannel.open(self.port, self.baud, write_timeout=self.timeout)
        except LineDropped as error:
            self._said = f"modem: {error}"
            raise TransportError(f"modem at {self.port}: {error}", retryable=True, unreachable=True) from None
        try:
            self._set_up(channel)
            self._sweep(channel)
        except TransportError:
            channel.close()
            raise
        except (AtTimeout, LineDropped) as error:
            channel.close()
            self._said = "the modem does not answer"
            raise TransportError(f"modem at {self.port} does not answer ({error})", retryable=True,
                                 unreachable=True) from None
        except AtError as error:
            channel.close()
            raise TransportError(f"modem at {self.port} refused its set-up ({error.result})", retryable=True,
                                 unreachable=True) from None
        self._channel = channel
        self._said = "ready"
        log.info("modem at %s: ready", self.port)
        return channel

    def _set_up(self, channel: AtChannel) -> None:
        channel.write_raw("\x1b")  # leaves a PDU prompt a previous run left open
        with contextlib.suppress(AtError):  # the escape or stray bytes before it; the next command tells
            channel.command("AT", self.timeout)
        channel.command("ATE0", self.timeout)
        channel.command("AT+CMEE=1", self.timeout)
        self._unlock(channel)
        try:
            channel.command("AT+CMGF=0", self.timeout)
        except AtError:
            raise TransportError("the modem has no PDU mode (AT+CMGF=0 refused); it cannot be used",
                                 retryable=True, unreachable=True) from None
        for storage in ('AT+CPMS="SM","SM","SM"',):
            try:
                channel.command(storage, self.timeout)
            except AtError:
                log.info("modem: keeps its own message storage")
        for indications in ("AT+CNMI=2,1,0,1,0", "AT+CNMI=2,1,0,2,0", "AT+CNMI=1,1,0,1,0"):
            try:
                channel.command(indications, self.timeout)
                break
            except AtError:
                continue
        else:
            log.warning("modem: refuses new-message indications; the SIM is listed every %d s", SWEEP_EVERY)

    def _unlock(self, channel: AtChannel) -> None:
        state = self._sim_state(channel)
        if state == "SIM PIN":
            if not self.pin:
                raise TransportError("the SIM asks for its PIN: set LOWBAND_MODEM_PIN", retryable=True,
                                     unreachable=True)
            if self._pin_refused or self._refused_before():
                raise TransportError(PIN_REFUSED, retryable=True, unreachable=True)
            self._remember_refused()  # until the SIM says READY: a timeout may have been a refusal
            try:
                channel.command(f'AT+CPIN="{self.pin}"', self.timeout)
            except AtError:
                self._pin_refused = True
                raise TransportError(PIN_REFUSED, retryable=True, unreachable=True) from None
            except Exception:
                self._pin_refused = True  # no answer: never typed again blindly
                raise
            deadline = self.clock() + self.timeout
            while (state := self._sim_state(channel)) != "READY" and self.clock() < deadline:
                time.sleep(PIN_READY_WAIT)
            if state == "READY" and self.pin_memory is not None:
                self.pin_memory.unlink(missing_ok=True)
        if state != "READY":
            why = {"SIM PUK": "the SIM is locked (PUK needed): unlock it in a phone",
                   "NO SIM": "no SIM in the modem"}.get(state, f"the SIM is not ready ({state})")
            raise TransportError(why, retryable=True, unreachable=True)

    def _pin_mark(self, salt: bytes) -> str:
        return hashlib.scrypt(f"{self.port}\x1f{self.pin}".encode(), salt=salt, n=2**14, r=8, p=1).hex()

    def _refused_before(self) -> bool:
        if self.pin_memory is None or not self.pin_memory.exists():
            return False
        salt, _, mark = self.pin_memory.read_text().strip().partition(":")
        try:
            return self._pin_mark(bytes.fromhex(salt)) == mark
        except ValueError:
            return False

    def _remember_refused(self) -> None:
        if self.pin_memory is None:
            return
        salt = secrets.token_bytes(16)
        fd = os.open(self.pin_memory, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(f"{salt.hex()}:{self._pin_mark(salt)}\n")

    def _sim_state(self, channel: AtChannel) -> str:
        try:
            lines = channel.command("AT+CPIN?", self.timeout)
        except AtError as error:
            if error.code == 10:
                return "NO SIM"
            if error.code == 14:
                return "SIM BUSY"
            raise
        found = next((m for m in map(_CPIN.match, lines) if m), None)
        return found.group(1).strip().strip('"') if found else "UNKNOWN"

    # -- receiving --------------------------------------------------------------------------

    def _read_news(self, channel: AtChannel) -> None:
        while True:
            try:
                news = channel.unsolicited.get_nowait()
            except queue.Empty:
                return
            if news.line.startswith(("+CMTI:", "+CDSI:")):
                found = _CMTI.match(news.line)
                if found:
                    self._read_index(channel, int(found.group(2)))
            elif news.line.startswith("+CDS:") and news.pdu:
                self._status_report(news)

    def _status_report(self, news: Unsolicited) -> None:
        length = news.line.split(":", 1)[1].strip().split(",")[-1]
        try:
            message = decode(news.pdu or "", int(length) if length.isdigit() else None)
        except PduError as error:
            log.warning("modem: a status report cannot be read (%s)", error)
            return
        if isinstance(message, StatusReport):
            report = self._outstanding.report(message, self.clock())
            if report is not None:
                self._reports.append(report)

    def _read_index(self, channel: AtChannel, index: int) -> None:
        try:
            lines = channel.command(f"AT+CMGR={index}", self.timeout)
        except AtError:
            self._swept_at = None  # gone or unreadable: the next poll lists the SIM
            return
        for found_index, pdu, length in _listing(lines, index):
            self._take(channel, found_index, pdu, length)

    def _sweep(self, channel: AtChannel) -> None:
        """Every message on the SIM (at start-up, after the line drops, and now and then)."""
        try:
            lines = channel.command("AT+CMGL=4", self.timeout * 3)
        except AtError as error:
            log.warning("modem: cannot list the SIM (%s)", error.result)
            return
        listed = _listing(lines)
        self._inbox.keep_only({index for index, _, _ in listed})
        for index, pdu, length in listed:
            self._take(channel, index, pdu, length)
        self._swept_at = self.clock()

    def _take(self, channel: AtChannel, index: int | None, pdu: str, length: int | None) -> None:
        try:
            message = decode(pdu, length)
        except PduError as error:
            log.warning("modem: a message at index %s cannot be read (%s); left on the SIM", index, error)
            return
        if isinstance(message, Deliver) and index is not None:
            self._inbox.add(index, message, self.clock())
        elif isinstance(message, StatusReport):
            report = self._outstanding.report(message, self.clock())
            if report is not None:
                self._reports.append(report)
            if index is not None:
                self._delete(channel, index)  # a report kept on the SIM: read, so done with

    def _delete(self, channel: AtChannel, index: int) -> None:
        try:
            channel.command(f"AT+CMGD={index}", self.timeout)
        except AtError as error:
            log.info("modem: could not delete index %d (%s)", index, error.result)

    # -- helpers ----------------------------------------------------------------------------

    def _down(self, why: str) -> None:
        """The line is gone or the modem stopped answering: opened afresh on next use."""
        self._said = f"modem: {why}"
        if self._channel is not None:
            self._channel.close()
            self._salvage(self._channel)
            self._channel = None

    def _salvage(self, channel: AtChannel) -> None:
        """Status reports the dead channel heard but nobody read yet (they are on no SIM).
        New-text news is let go: the texts are on the SIM, listed after reconnecting."""
        while True:
            try:
                news = channel.unsolicited.get_nowait()
            except queue.Empty:
                return
            if news.line.startswith("+CDS:") and news.pdu:
                self._status_report(news)

    def _send_refused(self, error: AtError, where: str, *, nothing_sent: bool) -> TransportError:
        reason = NOT_RETRYABLE.get(error.code) if error.kind == "CMS" else None
        if reason is None and error.detail and not error.detail.isdigit():
            low = error.detail.lower()
            reason = next((v for v in NOT_RETRYABLE.values() if v.split(" (")[0] in low), None)
        if reason:
            return TransportError(f"modem: the network refused {where}: {reason}", retryable=False,
                                  unreachable=nothing_sent)
        # Refused before the PDU was written: it surely never left.
        return TransportError(f"modem: {error.result} for {where}", retryable=True,
                              unreachable=nothing_sent and not error.after_data)

    def _next_reference(self) -> int:
        with self._lock:
            self._reference = (self._reference + 1) % 256
            return self._reference

    @staticmethod
    def _validity(expires_at: str | None) -> int | None:
        if not expires_at:
            return None
        try:
            until = datetime.fromisoformat(expires_at)
        except ValueError:
            return None
        if until.tzinfo is None:
            until = until.replace(tzinfo=UTC)
        return relative_validity((until - datetime.now(UTC)).total_seconds())


def _listing(lines: list[str], index: int | None = None) -> list[tuple[int, str, int | None]]:
    """(index, PDU, TPDU length) from the answer to AT+CMGL or AT+CMGR=<index>."""
    found: list[tuple[int, str, int | None]] = []
    header = None
    for line in lines:
        match = _LISTED.match(line)
        if match:
            header = match
            continue
        if header is not None:
            listed_index = int(header.group(1)) if header.group(1) is not None else index
            if listed_index is not None and re.fullmatch(r"[0-9A-Fa-f]+", line):
                found.append((listed_index, line, int(header.group(3))))
            header = None
    return found


def _signal(lines: list[str]) -> str:
    found = next((m for m in (re.match(r"\+CSQ:\s*(\d+)", line) for line in lines) if m), None)
    if not found or int(found.group(1)) == 99:
        return "unknown"
    rssi = int(found.group(1))
    return f"{rssi}/31 ({-113 + 2 * rssi} dBm)"


def _registration(channel: AtChannel, timeout: float) -> tuple[bool, str]:
    """(registered, in words): home or roaming network, and its name when it says."""
    state = "registration unknown"
    registered = True
    # A modem that does not answer either question is reported as "registration unknown".
    with contextlib.suppress(AtError):
        for line in channel.command("AT+CREG?", timeout):
            found = re.match(r"\+CREG:\s*(?:\d+\s*,\s*)?(\d+)", line)
            if found:
                code = int(found.group(1))
                registered = code in (1, 5)
                state = {0: "not registered", 1: "home network", 2: "searching for a network",
                         3: "registration refused", 5: "roaming"}.get(code, "registration unknown")
    with contextlib.suppress(AtError):
        for line in channel.command("AT+COPS?", timeout):
            found = re.search(r'"([^"]+)"', line)
            if found:
                state += f" {found.group(1)}"
    return registered, state
