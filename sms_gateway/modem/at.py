"""The AT command line to a GSM modem (3GPP TS 27.007 and 27.005), over a serial port.

One reader thread splits what the modem says into lines. A line that is the modem's own
news (+CMTI a text arrived, +CDS a status report, RING...) goes to `unsolicited`; any
other line belongs to the command being answered. Commands go one at a time, each with
its timeout, and end at OK, ERROR, +CME ERROR or +CMS ERROR. AT+CMGS waits for the "> "
prompt before its PDU is written, then Ctrl-Z. Echo and blank lines are skipped.

When the line drops (the USB modem is pulled, the pty closes) the reader records why,
any waiting command wakes with LineDropped, and the channel is dead: open a new one.

Logs never show a PDU, a phone number or the SIM's PIN (see `shown`).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import serial

log = logging.getLogger("lowband.modem")

READ_POLL = 0.1  # seconds the reader waits for a byte before looking whether to stop
CTRL_Z, ESC = "\x1a", "\x1b"
# The modem's own news, not an answer to anything we asked.
UNSOLICITED = ("+CMTI:", "+CDSI:", "+CDS:", "+CMT:", "+CBM:", "RING", "+CRING:", "+CLIP:", "+CUSD:", "^",
               "+CREG:", "+CGREG:", "+CEREG:", "+CIEV:", "+PACSP", "RDY", "SMS Ready", "Call Ready")
WITH_PDU = ("+CDS:", "+CMT:", "+CBM:")  # followed by a line holding the PDU
# Registration news shares its prefix with the answer to AT+CREG? and the like: it is
# news only while no command that asks for it is waiting.
SHARED = {"+CREG:": "AT+CREG", "+CGREG:": "AT+CGREG", "+CEREG:": "AT+CEREG"}


class LineDropped(Exception):  # noqa: N818 (the line, not a programming error)
    """The serial line is gone (or was never there)."""

    def __init__(self, why: str, *, after_data: bool = False):
        super().__init__(why)
        self.after_data = after_data


class AtTimeout(Exception):  # noqa: N818
    """No final answer in time: the modem is slow, hung, or not a modem."""

    def __init__(self, why: str, *, after_data: bool = False):
        super().__init__(why)
        self.after_data = after_data


class AtError(Exception):
    """The modem answered ERROR, +CME ERROR: <n> or +CMS ERROR: <n>."""

    def __init__(self, result: str, lines: list[str] | None = None, *, after_data: bool = False):
        super().__init__(result)
        self.result = result
        self.lines = lines or []
        self.after_data = after_data
        found = re.match(r"\+(CME|CMS) ERROR:\s*(.*)", result)
        self.kind = found.group(1) if found else None
        detail = found.group(2).strip() if found else ""
        self.code = int(detail) if detail.isdigit() else None
        self.detail = detail


@dataclass(frozen=True)
class Unsolicited:
    line: str
    pdu: str | None = None  # the line after +CDS: / +CMT:


@dataclass
class _Exchange:
    command: str
    echoes: set[str]
    lines: list[str] = field(default_factory=list)
    final: str | None = None
    wants_prompt: bool = False
    prompted: bool = False


_HEX = re.compile(r"\b[0-9A-Fa-f]{16,}\b")
_NUMBER = re.compile(r"\+?\d{6,}")
_PIN = re.compile(r'(\+CPIN=)"?[^"]*"?', re.IGNORECASE)


def shown(line: str) -> str:
    """A command or an answer as a log may show it: PDUs, numbers and the PIN hidden."""
    line = _PIN.sub(r'\1"****"', line)
    line = _HEX.sub(lambda m: f"<PDU {len(m.group(0)) // 2} octets>", line)
    return _NUMBER.sub("<number>", line)


class AtChannel:
    def __init__(self, port: serial.SerialBase):
        self.port = port
        self.unsolicited: queue.SimpleQueue[Unsolicited] = queue.SimpleQueue()
        self.dropped: str | None = None  # why the line is gone; None while it is up
        self._cond = threading.Condition()
        self._one_at_a_time = threading.Lock()
        self._pending: _Exchange | None = None
        self._buffer = ""
        self._news_awaiting_pdu: str | None = None
        self._closing = False
        self._reader = threading.Thread(target=self._read, name="modem-reader", daemon=True)
        self._reader.start()

    @classmethod
    def open(cls, url: str, baud: int, *, write_timeout: float) -> AtChannel:
        """Open the port. Raises LineDropped when it cannot be opened."""
        try:
            # exclusive: a second program on the same port (ModemManager, another Lowband)
            # would take half of each answer; better that it cannot open it at all.
            port = serial.serial_for_url(url, baudrate=baud, timeout=READ_POLL, write_timeout=write_timeout,
                                         exclusive=True)
        except (serial.SerialException, OSError, ValueError) as error:
            if "lock" in str(error).lower():
                raise LineDropped("the port is in use by another program (ModemManager? a second Lowband?)") from None
            raise LineDropped(f"cannot open the port ({type(error).__name__})") from None
        with contextlib.suppress(serial.SerialException, OSError):
            port.reset_input_buffer()
        return cls(port)

    @property
    def alive(self) -> bool:
        return self.dropped is None

    # -- commands ----------------------------------------------------------------------------

    def command(self, text: str, timeout: float, *, data: str | None = None,
                prompt_timeout: float | None = None) -> list[str]:
        """Send one command; the lines of its answer (without echo and the final OK).
        With `data` (AT+CMGS), wait for the prompt, then write data and Ctrl-Z.
        Raises AtError, AtTimeout or LineDropped; their `after_data` says whether the
        data had been written."""
        with self._one_at_a_time:
            exchange = _Exchange(text, {text}, wants_prompt=data is not None)
            with self._cond:
                if self.dropped:
                    raise LineDropped(self.dropped)
                self._pending = exchange
            try:
                self._write(text + "\r")
                after_data = False
                if data is not None:
                    self._wait(exchange, lambda: exchange.prompted or exchange.final is not None,
                               prompt_timeout or timeout, after_data=False)
                    if exchange.final is None:
                        exchange.echoes.add(data)
                        after_data = True
                        self._write(data + CTRL_Z, after_data=True)
                self._wait(exchange, lambda: exchange.final is not None, timeout, after_data=after_data)
            except AtTimeout:
                if data is not None and not exchange.prompted:
                    self._write_quietly(ESC)  # leave the PDU prompt, should it come late
                raise
            finally:
                with self._cond:
                    self._pending = None
        if exchange.final != "OK":
            raise AtError(exchange.final or "ERROR", exchange.lines, after_data=after_data)
        return exchange.lines

    def write_raw(self, text: str) -> None:
        """Bytes outside any command (an escape to leave a half-finished PDU prompt)."""
        self._write_quietly(text)

    def _wait(self, exchange: _Exchange, done: Callable[[], bool], timeout: float, *, after_data: bool) -> None:
        with self._cond:
            self._cond.wait_for(lambda: done() or self.dropped is not None, timeout)
            if done():
                return
            if self.dropped is not None:
                raise LineDropped(self.dropped, after_data=after_data)
        log.debug("modem: no answer to %s in %.1f s", shown(exchange.command), timeout)
        raise AtTimeout(f"the modem did not answer in {timeout:g} s", after_data=after_data)

    def _write(self, text: str, *, after_data: bool = False) -> None:
        log.debug("modem <- %s", shown(text.rstrip("\r" + CTRL_Z)))
        try:
            self.port.write(text.encode("ascii"))
        except (serial.SerialException, OSError) as error:
            self._lost(f"the line dropped while writing ({type(error).__name__})")
            raise LineDropped(self.dropped or "the line dropped", after_data=after_data) from None

    def _write_quietly(self, text: str) -> None:
        with contextlib.suppress(serial.SerialException, OSError):
            self.port.write(text.encode("ascii"))

    # -- the reader --------------------------------------------------------------------------

    def _read(self) -> None:
        while not self._closing:
            try:
                chunk = self.port.read(self.port.in_waiting or 1)
            except Exception as error:  # noqa: BLE001 (pyserial raises several kinds as the line goes)
                if not self._closing:
                    self._lost(f"the line dropped ({type(error).__name__})")
                return
            if chunk:
                self._feed(chunk.decode("ascii", errors="replace"))

    def _feed(self, text: str) -> None:
        with self._cond:
            self._buffer += text
            while True:
                found = re.search(r"[\r\n]", self._buffer)
                if not found:
                    break
                line, self._buffer = self._buffer[:found.start()].strip(), self._buffer[found.end():]
                if line:
                    self._line(line)
            pending = self._pending
            if self._buffer.strip() == ">" and pending is not None and pending.wants_prompt:
                self._buffer = ""
                pending.prompted = True
                self._cond.notify_all()

    def _line(self, line: str) -> None:
        log.debug("modem -> %s", shown(line))
        pending = self._pending
        if self._news_awaiting_pdu is not None:
            self.unsolicited.put(Unsolicited(self._news_awaiting_pdu, line))
            self._news_awaiting_pdu = None
            return
        if line.startswith(WITH_PDU):
            self._news_awaiting_pdu = line
            return
        if line.startswith(UNSOLICITED):
            asked = next((cmd for prefix, cmd in SHARED.items() if line.startswith(prefix)), None)
            if asked is None or pending is None or not pending.command.upper().startswith(asked):
                self.unsolicited.put(Unsolicited(line))
                return
        if pending is None:
            return  # an answer nobody waits for (a late one, after a timeout)
        if line.startswith(">"):
            line = line.lstrip("> ")
            pending.prompted = pending.prompted or pending.wants_prompt
            if not line:
                self._cond.notify_all()
                return
        if line in pending.echoes:
            return
        if line == "OK" or line == "ERROR" or line.startswith(("+CME ERROR", "+CMS ERROR")):
            pending.final = line
            self._cond.notify_all()
        else:
            pending.lines.append(line)

    def _lost(self, why: str) -> None:
        with self._cond:
            if self.dropped is None:
                self.dropped = why
                log.info("modem: %s", why)
            self._cond.notify_all()

    def close(self) -> None:
        self._closing = True
        self._lost("closed")
        if self._reader is not threading.current_thread():
            self._reader.join(timeout=2 * READ_POLL + 1)
        with contextlib.suppress(serial.SerialException, OSError):
            self.port.close()
