"""SMS PDUs, as a GSM modem takes and gives them in PDU mode (AT+CMGF=0).

3GPP TS 23.040 (the TPDUs: SMS-SUBMIT out, SMS-DELIVER and SMS-STATUS-REPORT in) and
TS 23.038 (the alphabets: GSM-7 with its extension table, 8-bit data, UCS-2). A text is
split the way flows.segments counts it (153 GSM-7 units or 67 UTF-16 code units a part,
an escape pair or a surrogate pair never cut), so what we send costs what we counted.

Hex strings in and out, upper case, as the AT commands carry them. A PDU as the modem
shows it starts with the service centre's address (the SMSC); ours start with "00"
(the SIM's own SMSC).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from flows.segments import (
    GSM_7,
    GSM_BASIC_TABLE,
    GSM_ESCAPE,
    GSM_EXTENSION_CODES,
    PART_LIMIT,
    SINGLE_LIMIT,
    encoding,
    units,
)

ESCAPE = GSM_ESCAPE
_BASIC_ORDER = GSM_BASIC_TABLE
_EXTENSION_CODES = GSM_EXTENSION_CODES
_CODE = {ch: code for code, ch in enumerate(_BASIC_ORDER) if code != ESCAPE}
_EXTENSION = {ch: code for code, ch in _EXTENSION_CODES.items()}

GSM7, EIGHT_BIT, UCS2 = "gsm7", "8bit", "ucs2"
_DCS = {GSM7: 0x00, UCS2: 0x08}
# A concatenation header with an 8-bit reference: UDHL, IEI 00, IEDL 3, ref, total, seq.
CONCAT_HEADER_OCTETS = 6
_SEMI_OCTET_DIGITS = "0123456789*#abc"


class PduError(ValueError):
    """A PDU we cannot read (cut short, or a type we do not know)."""


# -- GSM-7 --------------------------------------------------------------------------------

def gsm7_septets(text: str) -> list[int]:
    """The septets of a GSM-7 text (an extension character is the escape and its code).
    Raises ValueError for a character outside both tables."""
    septets: list[int] = []
    for ch in text:
        if ch in _CODE:
            septets.append(_CODE[ch])
        elif ch in _EXTENSION:
            septets += [ESCAPE, _EXTENSION[ch]]
        else:
            raise ValueError("a character outside the GSM 03.38 alphabet")
    return septets


def gsm7_text(septets: list[int]) -> str:
    """Septets back to text. An escape before a code the extension table lacks reads as
    that code's basic character (23.038 §6.2.1.1); an escape at the very end is dropped."""
    out: list[str] = []
    escaped = False
    for septet in septets:
        if escaped:
            out.append(_EXTENSION_CODES.get(septet) or (" " if septet == ESCAPE else _BASIC_ORDER[septet]))
            escaped = False
        elif septet == ESCAPE:
            escaped = True
        else:
            out.append(_BASIC_ORDER[septet])
    return "".join(out)


def header_septets(header_octets: int) -> int:
    """Septets a user data header takes, fill bits included (the text starts on a septet)."""
    return math.ceil(header_octets * 8 / 7)


def pack_septets(septets: list[int], header: bytes = b"") -> bytes:
    """Pack septets least significant bit first, after `header` and its fill bits."""
    start = header_septets(len(header)) * 7 if header else 0
    value = int.from_bytes(header, "little")
    for i, septet in enumerate(septets):
        value |= (septet & 0x7F) << (start + 7 * i)
    bits = start + 7 * len(septets)
    return value.to_bytes((bits + 7) // 8, "little")


def unpack_septets(data: bytes, count: int, skip_septets: int = 0) -> list[int]:
    """`count` septets from packed `data`, after the first `skip_septets` (a header)."""
    value = int.from_bytes(data, "little")
    start = skip_septets * 7
    return [(value >> (start + 7 * i)) & 0x7F for i in range(count)]


# -- addresses and time stamps ---------------------------------------------------------------

def _semi_octets(digits: str) -> bytes:
    nibbles = [_SEMI_OCTET_DIGITS.index(d) for d in digits]
    if len(nibbles) % 2:
        nibbles.append(0xF)
    return bytes(nibbles[i] | nibbles[i + 1] << 4 for i in range(0, len(nibbles), 2))


def _digits(data: bytes) -> str:
    out = []
    for octet in data:
        for nibble in (octet & 0xF, octet >> 4):
            if nibble == 0xF:
                continue
            out.append(_SEMI_OCTET_DIGITS[nibble] if nibble < len(_SEMI_OCTET_DIGITS) else "?")
    return "".join(out)


def encode_address(number: str) -> bytes:
    """A destination address: "+" makes it international (type 0x91), else unknown/ISDN (0x81)."""
    international = number.startswith("+")
    digits = number[1:] if international else number
    if not digits or len(digits) > 20 or any(d not in "0123456789*#" for d in digits):
        raise ValueError("not a number an SMS can be addressed to")
    return bytes([len(digits), 0x91 if international else 0x81]) + _semi_octets(digits)


def decode_address(data: bytes, pos: int) -> tuple[str, int]:
    """(address, position after it). International numbers get "+"; an alphanumeric
    sender (type of number 101) is GSM-7 packed; its length counts semi-octets."""
    length, toa = data[pos], data[pos + 1]
    size = (length + 1) // 2
    body = data[pos + 2: pos + 2 + size]
    if len(body) < size:
        raise PduError("address cut short")
    ton = (toa >> 4) & 0x7
    if ton == 0b101:
        address = gsm7_text(unpack_septets(body, length * 4 // 7))
    else:
        address = _digits(body)
        if ton == 0b001 and address and not address.startswith("+"):
            address = "+" + address
    return address, pos + 2 + size


def decode_timestamp(data: bytes) -> datetime | None:
    """A service centre time stamp (7 octets). Its zone is in quarter hours, the sign
    in bit 3 of the last octet. None when the network sent nonsense."""
    swapped = [(octet & 0xF) * 10 + (octet >> 4) for octet in data[:6]]
    zone_octet = data[6]
    quarters = (zone_octet & 0x7) * 10 + (zone_octet >> 4)
    sign = -1 if zone_octet & 0x8 else 1
    year, month, day, hour, minute, second = swapped
    try:
        zone = timezone(timedelta(minutes=15 * quarters * sign))
        return datetime(2000 + year, month, day, hour, minute, second, tzinfo=zone)
    except ValueError:
        return None


def encode_timestamp(moment: datetime) -> bytes:
    """A service centre time stamp for `moment` (tests and fakes play the network with it)."""
    offset = moment.utcoffset() or timedelta(0)
    quarters = int(abs(offset.total_seconds()) // 900)
    fields = [moment.year % 100, moment.month, moment.day, moment.hour, moment.minute, moment.second]
    out = bytes((value % 10) << 4 | value // 10 for value in fields)
    zone = (quarters % 10) << 4 | (quarters // 10) | (0x8 if offset < timedelta(0) else 0)
    return out + bytes([zone])


def relative_validity(seconds: float) -> int:
    """TP-VP in the relative format (23.040 §9.2.3.12.1), rounded down: a message is
    not delivered after its use (at least 5 minutes, at most 63 weeks)."""
    seconds = max(0, int(seconds))
    if seconds <= 12 * 3600:
        return max(0, seconds // 300 - 1)
    if seconds <= 24 * 3600:
        return 143 + (seconds - 12 * 3600) // 1800
    if seconds <= 30 * 86400:
        return max(167, 166 + seconds // 86400)
    return min(255, max(197, 192 + seconds // (7 * 86400)))


# -- alphabets and headers ------------------------------------------------------------------

def alphabet(dcs: int) -> str:
    """The alphabet a data coding scheme names (23.038 §4); reserved values read as GSM-7."""
    group = dcs >> 4
    if group <= 0b0111:  # general data coding (with or without automatic deletion)
        return {0b00: GSM7, 0b01: EIGHT_BIT, 0b10: UCS2}.get((dcs >> 2) & 0b11, GSM7)
    if group == 0b1110:  # message waiting, UCS-2 text
        return UCS2
    if group == 0b1111:
        return EIGHT_BIT if dcs & 0x04 else GSM7
    return GSM7


@dataclass(frozen=True)
class Concat:
    reference: int
    total: int
    sequence: int


def parse_header(header: bytes) -> Concat | None:
    """The concatenation element of a user data header (8- or 16-bit reference), if any."""
    pos = 0
    while pos + 2 <= len(header):
        iei, length = header[pos], header[pos + 1]
        value = header[pos + 2: pos + 2 + length]
        if iei == 0x00 and length == 3 and len(value) == 3 and value[1]:
            return Concat(value[0], value[1], value[2])
        if iei == 0x08 and length == 4 and len(value) == 4 and value[2]:
            return Concat(value[0] << 8 | value[1], value[2], value[3])
        pos += 2 + length
    return None


@dataclass(frozen=True)
class UserData:
    text: str
    concat: Concat | None
    ucs2: bytes | None = None  # the raw UTF-16-BE, so a pair split across parts joins whole


def decode_user_data(data: bytes, pos: int, dcs: int, udhi: bool) -> UserData:
    if pos >= len(data):
        raise PduError("no user data length")
    udl, ud = data[pos], data[pos + 1:]
    kind = alphabet(dcs)
    header = b""
    if udhi and ud:
        header = ud[1: 1 + ud[0]]
    concat = parse_header(header) if header else None
    if kind == GSM7:
        skip = header_septets(len(header) + 1) if udhi and ud else 0
        if len(ud) * 8 // 7 < udl:
            raise PduError("user data cut short")
        return UserData(gsm7_text(unpack_septets(ud, udl - skip, skip)), concat)
    body = ud[len(header) + 1 if udhi and ud else 0: udl]
    if kind == UCS2:
        return UserData(body.decode("utf-16-be", errors="replace"), concat, body)
    return UserData(body.decode("latin-1"), concat)


# -- the three TPDUs --------------------------------------------------------------------------

@dataclass(frozen=True)
class Deliver:
    """An SMS-DELIVER: a text someone sent us."""
    sender: str
    timestamp: datetime | None
    stamp: str  # the time stamp as its digits (yymmddhhmmss + zone), for ids
    text: str
    concat: Concat | None
    ucs2: bytes | None
    pdu: str  # the TPDU's hex, to tell one stored message from another


@dataclass(frozen=True)
class StatusReport:
    """An SMS-STATUS-REPORT: what became of a message we sent (23.040 §9.2.3.15)."""
    reference: int  # TP-MR: the `+CMGS: <mr>` the modem gave when it was sent
    recipient: str
    status: int

    @property
    def final(self) -> bool:
        """0x20-0x3F: the service centre is still trying; anything else is the end."""
        return not 0x20 <= self.status <= 0x3F

    @property
    def delivered(self) -> bool:
        return self.status <= 0x1F


@dataclass(frozen=True)
class Submit:
    """An SMS-SUBMIT, read back (a fake network decodes what we sent with it)."""
    reference: int
    recipient: str
    status_report: bool
    validity: int | None
    text: str
    concat: Concat | None
    ucs2: bytes | None
    dcs: int


def decode(pdu: str, tpdu_length: int | None = None) -> Deliver | StatusReport | Submit:
    """A PDU as the modem lists it. `tpdu_length` is the <length> the modem gave (the TPDU
    without the service centre's address): it tells whether that address is there (some
    modems leave it out of +CDS). Without it, the address is taken to be there."""
    try:
        data = bytes.fromhex(pdu)
    except ValueError:
        raise PduError("not hexadecimal") from None
    if not data:
        raise PduError("empty PDU")
    start = data[0] + 1
    if tpdu_length is not None and len(data) == tpdu_length:
        start = 0
    tpdu = data[start:]
    try:
        return _decode_tpdu(tpdu)
    except IndexError:
        raise PduError("PDU cut short") from None


def _decode_tpdu(tpdu: bytes) -> Deliver | StatusReport | Submit:
    first = tpdu[0]
    mti = first & 0x03
    udhi = bool(first & 0x40)
    if mti == 0b00:
        sender, pos = decode_address(tpdu, 1)
        dcs = tpdu[pos + 1]
        stamp_octets = tpdu[pos + 2: pos + 9]
        if len(stamp_octets) < 7:
            raise PduError("time stamp cut short")
        user = decode_user_data(tpdu, pos + 9, dcs, udhi)
        return Deliver(sender, decode_timestamp(stamp_octets), _digits_of(stamp_octets), user.text, user.concat,
                       user.ucs2, tpdu.hex().upper())
    if mti == 0b10:
        reference = tpdu[1]
        recipient, pos = decode_address(tpdu, 2)
        status = tpdu[pos + 14]  # after the service centre's and the discharge time stamps
        return StatusReport(reference, recipient, status)
    if mti == 0b01:
        reference = tpdu[1]
        recipient, pos = decode_address(tpdu, 2)
        dcs = tpdu[pos + 1]
        vpf = (first >> 3) & 0b11
        validity = tpdu[pos + 2] if vpf == 0b10 else None
        pos += 2 + {0b00: 0, 0b10: 1}.get(vpf, 7)
        user = decode_user_data(tpdu, pos, dcs, udhi)
        return Submit(reference, recipient, bool(first & 0x20), validity, user.text, user.concat, user.ucs2, dcs)
    raise PduError("a message type we do not read")


def _digits_of(octets: bytes) -> str:
    return "".join(f"{octet & 0xF:x}{octet >> 4:x}" for octet in octets)


@dataclass(frozen=True)
class SubmitPart:
    pdu: str  # hex, with "00" for the SIM's own service centre first
    length: int  # octets of the TPDU: what AT+CMGS=<length> says


def split_text(text: str) -> tuple[str, list[str]]:
    """(alphabet, parts): one part when it fits one SMS, else parts of at most 153 GSM-7
    units or 67 UTF-16 code units, a pair never cut (flows.segments counts the same)."""
    enc = encoding(text)
    kind = GSM7 if enc == GSM_7 else UCS2
    if units(text, enc) <= SINGLE_LIMIT[enc]:
        return kind, [text]
    limit = PART_LIMIT[enc]
    parts: list[str] = []
    current: list[str] = []
    used = 0
    for ch in text:
        width = units(ch, enc)
        if used + width > limit:
            parts.append("".join(current))
            current, used = [], 0
        current.append(ch)
        used += width
    parts.append("".join(current))
    return kind, parts


def encode_submit(to: str, text: str, *, reference: int = 0, status_report: bool = True,
                  validity: int | None = None) -> list[SubmitPart]:
    """The SMS-SUBMIT PDUs for `text` to `to`: one, or one per part with a concatenation
    header (8-bit `reference`, the same in each part). `validity` is a relative TP-VP."""
    kind, parts = split_text(text)
    if len(parts) > 255:
        raise ValueError("a text too long for one concatenated SMS")
    address = encode_address(to)
    out = []
    for sequence, part in enumerate(parts, start=1):
        header = bytes([5, 0x00, 3, reference & 0xFF, len(parts), sequence]) if len(parts) > 1 else b""
        if kind == GSM7:
            septets = gsm7_septets(part)
            user_data = pack_septets(septets, header)
            udl = (header_septets(len(header)) if header else 0) + len(septets)
        else:
            user_data = header + part.encode("utf-16-be")
            udl = len(user_data)
        first = 0x01 | (0x10 if validity is not None else 0) | (0x20 if status_report else 0) | (
            0x40 if header else 0)
        tpdu = bytes([first, 0x00]) + address + bytes([0x00, _DCS[kind]])
        if validity is not None:
            tpdu += bytes([validity])
        tpdu += bytes([udl]) + user_data
        out.append(SubmitPart("00" + tpdu.hex().upper(), len(tpdu)))
    return out
