"""The modem's PDU codec (3GPP TS 23.040 / 23.038) against known PDUs, and round trips.

What a patient would notice if it were wrong: a reply that arrives garbled, cut, in
several SMS where one was counted, or a text from them read as something else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flows.segments import GSM_BASIC, GSM_EXTENSION, segments
from sms_gateway.modem.inbox import Inbox
from sms_gateway.modem.pdu import (
    Deliver,
    PduError,
    StatusReport,
    Submit,
    decode,
    decode_timestamp,
    encode_submit,
    encode_timestamp,
    relative_validity,
)
from tests.fakes.fake_modem import deliver_pdus, status_report_pdu, tpdu_length


def test_the_classic_hellohello_sms_submit_is_encoded_byte_for_byte():
    # The well-known worked example: "hellohello" to +46708251358, validity 4 days (0xAA).
    [part] = encode_submit("+46708251358", "hellohello", status_report=False, validity=0xAA)
    assert part.pdu == "0011000B916407281553F80000AA0AE8329BFD4697D9EC37"
    assert part.length == 23  # what AT+CMGS=<length> says: the TPDU without the "00" SMSC octet


def test_a_status_report_is_asked_for_by_default():
    [part] = encode_submit("+46708251358", "hellohello", validity=0xAA)
    assert part.pdu.startswith("0031")  # TP-SRR (0x20) set on 0x11


def test_the_classic_sms_deliver_reads_how_are_you_from_its_international_sender():
    message = decode("07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07")
    assert isinstance(message, Deliver)
    assert message.sender == "+31641600986"
    assert message.text == "How are you?"
    assert message.concat is None
    # 20806291731408: 2002-08-26 19:37:41; the zone octet 08 is "-0 quarters" (the sign bit): UTC.
    assert message.timestamp == datetime(2002, 8, 26, 19, 37, 41, tzinfo=UTC)


def test_a_named_sender_is_read_as_gsm7_packed_letters():
    # "hello" packs to E8 32 9B FD 06; type of address D0 (alphanumeric), 10 semi-octets.
    pdu = "00" + "04" + "0AD0E8329BFD06" + "0000" + "62117231000021" + "02" + "E834"
    message = decode(pdu)
    assert message.sender == "hello"
    assert message.text == "hi"
    assert message.timestamp == datetime(2026, 11, 27, 13, 0, 0, tzinfo=timezone(timedelta(hours=3)))


def test_a_national_sender_keeps_its_digits_without_a_plus():
    pdu = "00" + "04" + "0A81" + "7021436587" + "0000" + "62117231000021" + "02" + "E834"
    assert decode(pdu).sender == "0712345678"


def test_time_stamps_carry_their_zone_with_its_sign():
    assert decode_timestamp(bytes.fromhex("6211723100000A")) == datetime(
        2026, 11, 27, 13, 0, tzinfo=timezone(timedelta(hours=-5)))
    moment = datetime(2031, 2, 3, 4, 5, 6, tzinfo=timezone(timedelta(hours=5, minutes=45)))
    assert decode_timestamp(encode_timestamp(moment)) == moment


def test_a_status_report_names_the_message_reference_the_recipient_and_the_outcome():
    # A worked example: MR 0xD6 to +31628870634, delivered (status 00); no SMSC in front.
    report = decode("0006D60B911326880736F4111011719551401110117195714000", tpdu_length=25)
    assert isinstance(report, StatusReport)
    assert (report.reference, report.recipient, report.status) == (214, "+31628870634", 0)
    assert report.final and report.delivered
    # The same TPDU with the SMSC's address first, as +CDS gives it on most modems.
    assert decode("07912547000000F1" + "06D60B911326880736F4111011719551401110117195714000",
                  tpdu_length=25) == report


@pytest.mark.parametrize(("status", "final", "delivered"), [(0x00, True, True), (0x20, False, False),
                                                             (0x46, True, False), (0x62, True, False)])
def test_status_values_still_trying_are_not_final(status, final, delivered):
    report = decode(status_report_pdu(3, "+254712345678", status, when=datetime.now(UTC)), tpdu_length=None)
    assert (report.final, report.delivered) == (final, delivered)


def test_an_extension_character_is_the_escape_and_its_code():
    # "€" is 0x1B 0x65: packed LSB first, 0x1B | 0x65 << 7 = 0x329B -> 9B 32; 2 septets.
    [part] = encode_submit("+254712345678", "€", status_report=False)
    assert part.pdu.endswith("00" + "02" + "9B32")
    assert decode(part.pdu).text == "€"


def test_ucs2_is_utf16_big_endian_with_dcs_08():
    [part] = encode_submit("+254712345678", "Ωœ", status_report=False)
    assert part.pdu.endswith("0008" + "04" + "03A90153")


def test_a_concatenated_gsm7_part_starts_its_text_after_one_fill_bit():
    parts = encode_submit("+254712345678", "h" * 200, reference=0xCC, status_report=False)
    assert len(parts) == 2
    # 00 SMSC, first octet, MR, address (0C 91 + 6 octets), PID, DCS, UDL, then the user data.
    data = bytes.fromhex(parts[0].pdu)
    assert data[1] & 0x40  # TP-UDHI: a header comes first
    assert data[13] == 7 + 153  # UDL in septets: the header's 7 (48 bits + 1 fill bit), then 153 letters
    assert data[14:20] == bytes([0x05, 0x00, 0x03, 0xCC, 0x02, 0x01])  # 8-bit reference CC, part 1 of 2
    assert data[20] == (ord("h") << 1) & 0xFF  # the fill bit, then 'h'


def test_validity_is_rounded_down_so_nothing_arrives_after_it_is_useful():
    assert relative_validity(4 * 86400) == 0xAA
    assert relative_validity(12 * 3600) == 143
    assert relative_validity(24 * 3600) == 167
    assert relative_validity(4 * 3600) == 47  # Twilio's default validity: (47 + 1) x 5 min
    assert relative_validity(60) == 0


def test_a_pdu_cut_short_is_an_error_not_a_garbled_text():
    with pytest.raises(PduError):
        decode("07911326040000F0040B911346610089F60000208062917314080CC8F71D")
    with pytest.raises(PduError):
        decode("not hex")


def test_a_number_with_letters_cannot_be_sent_to():
    with pytest.raises(ValueError):
        encode_submit("+2547-CALL-ME", "hi")


GSM_CHARS = sorted(GSM_BASIC | GSM_EXTENSION)
ANY_CHAR = st.characters(blacklist_categories=("Cs",))
TEXTS = st.one_of(
    st.text(st.sampled_from(GSM_CHARS), max_size=400),
    st.text(st.one_of(st.sampled_from(GSM_CHARS), st.sampled_from(["œ", "’", "😀", "👍", "\U0001F3FE", "ŋ"]),
                      ANY_CHAR), max_size=300),
)


def _joined(messages: list[Submit | Deliver]) -> str:
    if messages[0].ucs2 is not None:
        return b"".join(m.ucs2 for m in messages).decode("utf-16-be")
    return "".join(m.text for m in messages)


@settings(max_examples=200, deadline=None)
@given(TEXTS)
def test_any_text_sent_reads_back_whole_in_the_parts_flows_segments_counted(text):
    parts = encode_submit("+254712345678", text, reference=9)
    assert len(parts) == segments(text)
    decoded = [decode(part.pdu, part.length) for part in parts]
    assert all(isinstance(m, Submit) and m.recipient == "+254712345678" and m.status_report for m in decoded)
    for part, message in zip(parts, decoded, strict=True):
        data = bytes.fromhex(part.pdu)
        assert len(data) - 1 == part.length
        assert len(data) - 14 <= 140  # the user data fits one SMS (no validity: it starts at octet 14)
        if len(parts) > 1:
            assert (message.concat.reference, message.concat.total) == (9, len(parts))
            # no part ends inside a surrogate pair: each decodes on its own
            assert "\ufffd" not in message.text or "\ufffd" in text
    assert [m.concat.sequence for m in decoded if m.concat] == list(range(1, len(parts) + 1)) or len(parts) == 1
    assert _joined(decoded) == text


@settings(max_examples=150, deadline=None)
@given(TEXTS, st.randoms(use_true_random=False), st.booleans())
def test_any_text_received_in_parts_in_any_order_is_joined_whole(text, rnd, reference16):
    when = datetime(2026, 11, 27, 10, 0, tzinfo=timezone(timedelta(hours=3)))
    pdus = deliver_pdus("+254712345678", text, when=when, reference=0x1234 if reference16 else 0x42,
                        reference16=reference16)
    order = list(range(len(pdus)))
    rnd.shuffle(order)
    inbox = Inbox()
    for index, i in enumerate(order, start=1):
        inbox.add(index, decode(pdus[i], tpdu_length(pdus[i])), now=0.0)
    [offer] = inbox.ready(now=0.0)
    assert offer.text.body == text
    assert offer.text.sender == "+254712345678"
    assert offer.text.received_at == when
