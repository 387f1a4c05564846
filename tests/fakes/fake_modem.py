"""A GSM modem on a pseudo-terminal, answering AT commands as a real one does.

The gateway opens `FakeModem.port` like a USB modem's stable name (/dev/serial/by-id/...):
a symlink to the pty's slave end, re-pointed when the modem "comes back" after being
pulled (`drop` closes its end and removes the name; `come_back` makes a new pty, its SIM
still holding what it held). The modem echoes until ATE0, asks for the PIN when it has
one, takes AT+CMGS=<n>, the prompt, the PDU and Ctrl-Z and answers +CMGS: <mr>, stores
texts it receives at the lowest free index and says +CMTI, lists, reads and deletes them,
and sends +CDS status reports. It can answer ERROR, be slow, or drop the line on cue.

The network side (SMS-DELIVER and SMS-STATUS-REPORT PDUs) is encoded here, on the
codec's low-level pieces (GSM-7 septets and the time stamp); a long UCS-2 text is cut
every 134 octets as some phones do, a surrogate pair split across two parts.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import threading
import time
import tty
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sms_gateway.modem.pdu import (
    Submit,
    decode,
    encode_timestamp,
    gsm7_septets,
    pack_septets,
    split_text,
)

SMSC = "07912547000000F1"  # the service centre's address, as a modem shows it first in a PDU
UCS2_PART_OCTETS = 134


def _address(number: str) -> bytes:
    if not number.lstrip("+").isdigit():  # a named sender ("Safaricom"): GSM-7 packed
        packed = pack_septets(gsm7_septets(number))
        return bytes([-(-len(number) * 7 // 4), 0xD0]) + packed
    digits = number.lstrip("+")
    padded = digits + ("F" if len(digits) % 2 else "")
    swapped = "".join(padded[i + 1] + padded[i] for i in range(0, len(padded), 2))
    return bytes([len(digits), 0x91 if number.startswith("+") else 0x81]) + bytes.fromhex(swapped)


def deliver_pdus(sender: str, text: str, *, when: datetime, reference: int = 0x42,
                 reference16: bool = False) -> list[str]:
    """SMS-DELIVER PDUs (service centre address first) for a text from `sender`."""
    kind, gsm_parts = split_text(text)
    if kind == "gsm7":
        chunks: list[bytes | list[int]] = [gsm7_septets(part) for part in gsm_parts]
    else:
        raw = text.encode("utf-16-be")
        chunks = [raw] if len(raw) <= 140 else [raw[i:i + UCS2_PART_OCTETS]
                                                for i in range(0, len(raw), UCS2_PART_OCTETS)]
    out = []
    for sequence, chunk in enumerate(chunks, start=1):
        header = b""
        if len(chunks) > 1:
            header = (bytes([6, 0x08, 4, reference >> 8 & 0xFF, reference & 0xFF, len(chunks), sequence])
                      if reference16 else bytes([5, 0x00, 3, reference & 0xFF, len(chunks), sequence]))
        if kind == "gsm7":
            user_data = pack_septets(chunk, header)
            udl = (-(-len(header) * 8 // 7) if header else 0) + len(chunk)
        else:
            user_data = header + chunk
            udl = len(user_data)
        first = 0x04 | (0x40 if header else 0)
        tpdu = (bytes([first]) + _address(sender) + bytes([0x00, 0x00 if kind == "gsm7" else 0x08])
                + encode_timestamp(when) + bytes([udl]) + user_data)
        out.append(SMSC + tpdu.hex().upper())
    return out


def status_report_pdu(reference: int, recipient: str, status: int, *, when: datetime, with_smsc: bool = True) -> str:
    tpdu = (bytes([0x06, reference]) + _address(recipient) + encode_timestamp(when) + encode_timestamp(when)
            + bytes([status]))
    return (SMSC if with_smsc else "") + tpdu.hex().upper()


def tpdu_length(pdu: str) -> int:
    data = bytes.fromhex(pdu)
    return len(data) - data[0] - 1


@dataclass
class Sent:
    """One SMS-SUBMIT the modem took (one part of a long text)."""
    reference: int  # the +CMGS: <mr> it was given
    message: Submit


@dataclass
class _Cue:
    prefix: str
    answer: str | None = None  # a final answer instead of the usual one
    after_pdu: bool = False  # for AT+CMGS: after the PDU came (the part went) rather than at once
    drop: bool = False  # drop the line instead of answering
    times: int = 1


@dataclass
class _Line:
    master: int
    slave: int
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    hung_up_by_cue: bool = False


@dataclass
class FakeModem:
    folder: Path
    pin: str | None = None
    network: str = "Safaricom"
    sim: dict[int, tuple[int, str]] = field(default_factory=dict)  # index -> (stat, PDU)
    sent: list[Sent] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    delays: dict[str, float] = field(default_factory=dict)  # command prefix -> seconds before answering
    next_reference: int = 7

    def __post_init__(self):
        self.link = self.folder / "usb-Fake_GSM_Modem-if00-port0"
        self.port = str(self.link)
        self._lock = threading.RLock()
        self._write_lock = threading.Lock()
        self._cues: list[_Cue] = []
        self._line: _Line | None = None
        self.pin_tries = 3
        self.start()

    # -- the line ------------------------------------------------------------------------------

    def start(self) -> None:
        """Power on: a new pty under the same name, echo on, the PIN asked again."""
        master, slave = os.openpty()
        tty.setraw(slave)
        line = _Line(master, slave)
        self.echo, self.unlocked, self.indications, self.reports_as_cds = True, self.pin is None, False, False
        if self.link.is_symlink():
            self.link.unlink()
        self.link.symlink_to(os.ttyname(slave))
        self._line = line
        line.thread = threading.Thread(target=self._serve, args=(line,), daemon=True)
        line.thread.start()

    def drop(self) -> None:
        """The modem is pulled: its end closes and its name goes."""
        line = self._line
        if line is None:
            return
        line.stop.set()
        if line.thread is not None and line.thread is not threading.current_thread():
            line.thread.join(timeout=2)
        self._hang_up(line)

    def _hang_up(self, line: _Line) -> None:
        line.stop.set()
        with self._write_lock:
            for fd in (line.master, line.slave):
                with contextlib.suppress(OSError):
                    os.close(fd)
            line.master = line.slave = -1
            if self._line is line:
                self._line = None
                if self.link.is_symlink():
                    self.link.unlink()

    def come_back(self) -> None:
        self.start()

    def close(self) -> None:
        self.drop()

    @property
    def connected(self) -> bool:
        return self._line is not None

    def _say(self, text: str) -> None:
        with self._write_lock:
            if self._line is None or self._line.master < 0:
                return
            with contextlib.suppress(OSError):
                os.write(self._line.master, text.encode("ascii"))

    # -- cues for tests --------------------------------------------------------------------------

    def answer_next(self, prefix: str, answer: str, *, after_pdu: bool = False, times: int = 1) -> None:
        """The next command starting with `prefix` is answered `answer` (ERROR, +CMS ERROR: 1)."""
        with self._lock:
            self._cues.append(_Cue(prefix, answer=answer, after_pdu=after_pdu, times=times))

    def drop_at(self, prefix: str, *, after_pdu: bool = False) -> None:
        """The next command starting with `prefix` pulls the line (after its PDU went, if asked)."""
        with self._lock:
            self._cues.append(_Cue(prefix, drop=True, after_pdu=after_pdu))

    def _cue(self, command: str, *, after_pdu: bool) -> _Cue | None:
        with self._lock:
            for cue in self._cues:
                if command.upper().startswith(cue.prefix.upper()) and cue.after_pdu == after_pdu:
                    cue.times -= 1
                    if cue.times <= 0:
                        self._cues.remove(cue)
                    return cue
        return None

    # -- the network's side ---------------------------------------------------------------------

    def receive(self, sender: str, text: str, *, order: list[int] | None = None, when: datetime | None = None,
                reference: int = 0x42, reference16: bool = False) -> list[int]:
        """A text arrives from `sender`: its parts stored (in `order`) and announced."""
        pdus = deliver_pdus(sender, text, when=when or datetime.now(UTC).replace(microsecond=0),
                            reference=reference, reference16=reference16)
        return [self.store(pdus[i]) for i in (order if order is not None else range(len(pdus)))]

    def store(self, pdu: str) -> int:
        with self._lock:
            index = next(i for i in range(1, 1000) if i not in self.sim)
            self.sim[index] = (0, pdu)
            announce = self.connected and self.indications
        if announce:
            self._say(f'\r\n+CMTI: "SM",{index}\r\n')
        return index

    def report(self, reference: int, status: int = 0x00, *, with_smsc: bool = True) -> None:
        """The network's status report for the part that was given `reference`."""
        sent = next(s for s in reversed(self.sent) if s.reference == reference)
        pdu = status_report_pdu(reference, sent.message.recipient, status, when=datetime.now(UTC),
                                with_smsc=with_smsc)
        length = tpdu_length(pdu) if with_smsc else len(pdu) // 2
        self._say(f"\r\n+CDS: {length}\r\n{pdu}\r\n")

    def texts_sent(self) -> list[tuple[str, str]]:
        """(recipient, text) of each whole text the modem sent, parts joined."""
        out: list[tuple[str, str]] = []
        groups: dict[tuple, list[Submit]] = {}
        for sent in self.sent:
            message = sent.message
            if message.concat is None:
                out.append((message.recipient, message.text))
                continue
            key = (message.recipient, message.concat.reference, message.concat.total)
            groups.setdefault(key, []).append(message)
            if len(groups[key]) == message.concat.total:
                parts = sorted(groups.pop(key), key=lambda m: m.concat.sequence)
                if parts[0].ucs2 is not None:
                    text = b"".join(p.ucs2 for p in parts).decode("utf-16-be")
                else:
                    text = "".join(p.text for p in parts)
                out.append((message.recipient, text))
        return out

    # -- the modem -------------------------------------------------------------------------------

    def _serve(self, line_: _Line) -> None:
        master, stop = line_.master, line_.stop
        buffer = b""
        pdu_for: str | None = None  # the AT+CMGS command whose PDU is being typed
        while not stop.is_set():
            try:
                ready, _, _ = select.select([master], [], [], 0.05)
                if not ready:
                    continue
                chunk = os.read(master, 4096)
            except OSError:
                return
            if not chunk:
                continue
            buffer += chunk
            while not stop.is_set():
                if pdu_for is not None:
                    end = min((i for i in (buffer.find(b"\x1a"), buffer.find(b"\x1b")) if i >= 0), default=-1)
                    if end < 0:
                        break
                    data, ended_by, buffer = buffer[:end], buffer[end:end + 1], buffer[end + 1:]
                    command, pdu_for = pdu_for, None
                    if ended_by == b"\x1a":
                        self._submit(command, data.decode("ascii", "replace").strip(), stop)
                    else:
                        self._say("\r\nOK\r\n")
                    continue
                end = buffer.find(b"\r")
                if end < 0:
                    break
                line, buffer = buffer[:end].decode("ascii", "replace"), buffer[end + 1:].lstrip(b"\n")
                line = line.replace("\x1b", "").strip()
                if self.echo and line:
                    self._say(line + "\r")
                if not line:
                    continue
                if self._command(line, stop):
                    pdu_for = line
        if line_.hung_up_by_cue:
            self._hang_up(line_)

    def _pull(self, stop: threading.Event) -> None:
        line = self._line
        if line is not None and line.stop is stop:
            line.hung_up_by_cue = True
        stop.set()

    def _pause(self, command: str, stop: threading.Event) -> None:
        for prefix, seconds in self.delays.items():
            if command.upper().startswith(prefix.upper()):
                stop.wait(seconds)

    def _command(self, line: str, stop: threading.Event) -> bool:
        """Answer one command; True when it opened a PDU prompt."""
        self.commands.append(line)
        self._pause(line, stop)
        if stop.is_set():
            return False
        cue = self._cue(line, after_pdu=False)
        if cue is not None and cue.drop:
            self._pull(stop)
            return False
        if cue is not None:
            self._say(f"\r\n{cue.answer}\r\n")
            return False
        upper = line.upper()
        if upper.startswith("AT+CMGS="):
            if not self.unlocked:
                self._say("\r\n+CMS ERROR: 311\r\n")
                return False
            self._say("\r\n> ")
            return True
        answer = self._answer(line, upper)
        self._say("".join(f"\r\n{part}" for part in answer) + "\r\n")
        return False

    def _answer(self, line: str, upper: str) -> list[str]:
        with self._lock:
            if upper in ("AT", "ATZ"):
                return ["OK"]
            if upper in ("ATE0", "ATE1"):
                self.echo = upper == "ATE1"
                return ["OK"]
            if upper.startswith("AT+CMEE="):
                return ["OK"]
            if upper == "AT+CPIN?":
                return [f"+CPIN: {'READY' if self.unlocked else ('SIM PIN' if self.pin_tries else 'SIM PUK')}", "OK"]
            found = re.fullmatch(r'AT\+CPIN="?(\d+)"?', line, re.IGNORECASE)
            if found:
                if self.unlocked or not self.pin_tries:
                    return ["+CME ERROR: 3"]
                if found.group(1) == self.pin:
                    self.unlocked, self.pin_tries = True, 3
                    return ["OK"]
                self.pin_tries -= 1
                return ["+CME ERROR: 16"]
            if not self.unlocked and upper.startswith(("AT+CMG", "AT+CNMI", "AT+CPMS", "AT+CSQ", "AT+COPS")):
                return ["+CME ERROR: 11"]  # SIM PIN required
            if upper == "AT+CMGF=0" or upper.startswith("AT+CPMS="):
                return ['+CPMS: 0,30,0,30,0,30', "OK"] if upper.startswith("AT+CPMS") else ["OK"]
            if upper.startswith("AT+CNMI="):
                values = upper.split("=", 1)[1].split(",")
                self.indications = len(values) > 1 and values[1] == "1"
                self.reports_as_cds = len(values) > 3 and values[3] == "1"
                return ["OK"]
            if upper == "AT+CMGL=4":
                out = []
                for index in sorted(self.sim):
                    stat, pdu = self.sim[index]
                    out += [f"+CMGL: {index},{stat},,{tpdu_length(pdu)}", pdu]
                    self.sim[index] = (1 if stat == 0 else stat, pdu)
                return [*out, "OK"]
            found = re.fullmatch(r"AT\+CMG([RD])=(\d+)", upper)
            if found:
                index = int(found.group(2))
                if index not in self.sim:
                    return ["+CMS ERROR: 321"]
                stat, pdu = self.sim[index]
                if found.group(1) == "D":
                    del self.sim[index]
                    return ["OK"]
                self.sim[index] = (1 if stat == 0 else stat, pdu)
                return [f"+CMGR: {stat},,{tpdu_length(pdu)}", pdu, "OK"]
            if upper == "AT+CSQ":
                return ["+CSQ: 18,99", "OK"]
            if upper == "AT+CREG?":
                return ["+CREG: 0,1", "OK"]
            if upper == "AT+COPS?":
                return [f'+COPS: 0,0,"{self.network}",2', "OK"]
            return ["ERROR"]

    def _submit(self, command: str, pdu: str, stop: threading.Event) -> None:
        length = int(command.split("=", 1)[1])
        try:
            data = bytes.fromhex(pdu)
            if len(data) != length + data[0] + 1:
                raise ValueError("length")
            message = decode(pdu, length)
            if not isinstance(message, Submit):
                raise ValueError("not a submit")
        except ValueError:
            self._say("\r\n+CMS ERROR: 304\r\n")
            return
        cue = self._cue(command, after_pdu=True)
        if cue is not None and cue.answer is not None:
            self._say(f"\r\n{cue.answer}\r\n")
            return
        with self._lock:
            reference = self.next_reference
            self.next_reference = (self.next_reference + 1) % 256
            self.sent.append(Sent(reference, message))
        if cue is not None and cue.drop:
            self._pull(stop)
            return
        self._pause("CMGS-ANSWER", stop)
        if not stop.is_set():
            self._say(f"\r\n+CMGS: {reference}\r\n\r\nOK\r\n")


def wait_for(condition, timeout: float = 3.0) -> bool:
    """Poll `condition` until true or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()
