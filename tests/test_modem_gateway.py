"""The USB GSM modem gateway against a fake modem on a pseudo-terminal.

Each test is what a patient or the clinic's admin would notice: a text read with the
right sender and words, once; the reply in their language, sent once; a message shown
delivered; nothing lost or answered twice when the modem is pulled; a clear error, not
a hung clinic, when the modem says ERROR or goes quiet."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

import pytest

from lowband.settings import load_settings
from lowband.wiring import conversation_service
from scheduler.dispatcher import dispatch_once
from sms_gateway.modem import ModemGateway
from sms_gateway.transports import TransportError
from tests.fakes.fake_modem import FakeModem, wait_for
from tests.helpers.conversation_script import ScriptRunner

AMINA = "+254712345678"
CLAIRE = "+254722000111"
OTHER = "+254733400401"
KISWAHILI = "Habari daktari, leo nimeamka na kizunguzungu kidogo. Je, nimeze dawa yangu kabla ya chakula?"
FRENCH = ("Bonjour docteur, depuis hier j’ai mal à la tête et mon cœur bat très vite quand je monte la "
          "côte vers le marché. J’ai pris mes médicaments ce matin à sept heures, comme d’habitude, mais "
          "je me sens encore fatiguée et un peu essoufflée. Dois-je venir à la clinique aujourd’hui ou "
          "attendre demain matin ? Merci beaucoup pour votre aide 🙏")
TIMEOUT = 0.4  # every command's wait: a test never waits long for a fake that went quiet


@pytest.fixture
def modem(tmp_path):
    fake = FakeModem(tmp_path)
    yield fake
    fake.close()


@pytest.fixture
def gateways(modem):
    """Make gateways on the fake's port (closed at the end): `gateways()`."""
    made: list[ModemGateway] = []

    def make(**kwargs) -> ModemGateway:
        gateway = ModemGateway(modem.port, **{"timeout": TIMEOUT, **kwargs})
        made.append(gateway)
        return gateway

    yield make
    for gateway in made:
        gateway.close()


def settle(gateway: ModemGateway, wanted: int = 1, *, timeout: float = 3.0):
    """Poll until `wanted` texts are ready (the +CMTI news crosses a real pty)."""
    found: list = [[], []]

    def ready() -> bool:
        found[:] = gateway.poll()
        return len(found[0]) >= wanted

    wait_for(ready, timeout)
    return found[0], found[1]


# -- (a) texts in ---------------------------------------------------------------------------------

def test_a_kiswahili_text_and_a_long_french_one_in_parts_out_of_order_arrive_whole_and_once(modem, gateways):
    assert len(FRENCH) >= 300
    gateway = gateways()
    gateway.poll()  # started: the modem now announces new texts
    modem.receive(AMINA, KISWAHILI)
    # The French text is UCS-2 (œ, ’ and an emoji), in 5 parts stored out of order, with
    # someone else's long text interleaved between them.
    # (The other sender happens to use the same concatenation reference.)
    when = datetime.now(UTC).replace(microsecond=0)
    french = modem.receive(CLAIRE, FRENCH, order=[3, 0], reference=0x42, when=when)
    modem.receive(OTHER, "x" * 200, reference=0x42, order=[1], when=when)
    french += modem.receive(CLAIRE, FRENCH, order=[4, 2, 1], reference=0x42, when=when)
    modem.receive(OTHER, "x" * 200, reference=0x42, order=[0], when=when)
    assert len(french) == 5

    texts, _ = settle(gateway, 3)
    by_sender = {t.sender: t for t in texts}
    assert by_sender[AMINA].body == KISWAHILI
    assert by_sender[CLAIRE].body == FRENCH
    assert by_sender[OTHER].body == "x" * 200
    assert {t.gateway for t in texts} == {"modem"}
    assert len({t.gateway_id for t in texts}) == 3

    gateway.stored(texts)
    assert modem.sim == {}  # deleted from the SIM only now
    assert gateway.poll() == ([], [])
    gateway.close()
    assert gateways().poll() == ([], [])  # and a restarted gateway finds nothing more


def test_a_text_read_again_after_a_restart_has_the_same_id_so_lowband_takes_it_once(modem, gateways):
    modem.receive(CLAIRE, FRENCH, order=[2, 0, 4, 1, 3])
    first = gateways()
    before, _ = first.poll()
    first.close()  # the laptop restarted before Lowband said it was stored
    after, _ = gateways().poll()
    assert [(t.gateway_id, t.body) for t in after] == [(t.gateway_id, t.body) for t in before]
    assert len(modem.sim) == 5  # nothing was deleted meanwhile


def test_an_index_the_sim_reuses_is_a_new_text_not_a_duplicate(modem, gateways):
    gateway = gateways()
    modem.receive(AMINA, "BP 140/90")
    texts, _ = settle(gateway)
    gateway.stored(texts)
    modem.receive(AMINA, "BP 140/90", when=datetime.now(UTC) + timedelta(minutes=1))
    again, _ = settle(gateway)
    assert again[0].gateway_id != texts[0].gateway_id  # same index 1, same words: a new text


def test_a_long_text_missing_a_part_is_given_as_what_came_after_an_hour(modem, gateways):
    clock = [1000.0]
    gateway = gateways(clock=lambda: clock[0])
    modem.receive(CLAIRE, FRENCH, order=[0, 1, 3, 4])  # part 3 never comes
    time.sleep(0.2)
    assert gateway.poll() == ([], [])
    clock[0] += 3601
    texts, _ = gateway.poll()
    [text] = texts
    assert text.sender == CLAIRE
    assert text.body.startswith("Bonjour docteur") and text.body.endswith("🙏")
    assert len(text.body) < len(FRENCH)


def test_a_named_sender_and_a_national_number_come_through_as_the_network_gave_them(modem, gateways):
    modem.receive("Safaricom", "Umepokea bonus")
    modem.receive("0712345678", "Habari")
    texts, _ = settle(gateways(), 2)
    assert sorted((t.sender, t.body) for t in texts) == [("0712345678", "Habari"), ("Safaricom", "Umepokea bonus")]


# -- (b) through Lowband ----------------------------------------------------------------------------

@pytest.fixture
def clinic(installation):
    store = installation.store()
    ScriptRunner.add_patient(store, ["4376", "Amina Zawadi", AMINA, "pin=1111", "consent", "born=1968", "lang=sw"])
    ScriptRunner.add_patient(store, ["5521", "Claire Mbala", CLAIRE, "pin=2222", "consent", "born=1970", "lang=fr"])
    service = conversation_service(load_settings(overrides=installation.config))
    yield store, service
    store.db.close()


def dispatch(clinic, gateway, *, later: timedelta = timedelta(0)):
    store, service = clinic
    return dispatch_once(store, gateway, service=service, now=store.now() + later)


def test_a_reading_texted_to_the_modem_is_answered_in_kiswahili_once(modem, gateways, clinic):
    store, _ = clinic
    gateway = gateways()
    modem.receive(AMINA, "BP 150/95")
    dispatch(clinic, gateway)
    reply = "Amina Z.: tumehifadhi BP 150/95: JUU, iwe <140/90. Jibu FUTA kama si sahihi."
    assert modem.texts_sent() == [(AMINA, reply)]
    [message] = store.outbox.to_phone(AMINA)
    assert message.status == "sent" and message.body == modem.texts_sent()[0][1]
    assert modem.sim == {}  # stored by Lowband, then deleted from the SIM
    dispatch(clinic, gateway)
    dispatch(clinic, gateways())  # even a new gateway (a restart) answers nothing again
    assert len(modem.texts_sent()) == 1


def test_a_long_french_text_is_answered_in_french(modem, gateways, clinic):
    gateway = gateways()
    modem.receive(CLAIRE, FRENCH, order=[4, 3, 2, 1, 0])
    dispatch(clinic, gateway)
    [(to, reply)] = modem.texts_sent()
    assert to == CLAIRE
    assert reply.startswith("Menu : 1 Envoyer une mesure")


# -- (c) status reports -------------------------------------------------------------------------------

def test_a_status_report_for_every_part_shows_the_message_delivered(modem, gateways, clinic):
    store, _ = clinic
    gateway = gateways()
    modem.receive(AMINA, "BP 150/95")
    dispatch(clinic, gateway)
    [message] = store.outbox.to_phone(AMINA)
    # Sent in this pass, or the next when the modem was still busy answering the health
    # probe (seen once in CI under load): queued meanwhile, never lost.
    wait_for(lambda: (dispatch(clinic, gateway), store.outbox.get(message.id).status == "sent")[1])
    assert store.outbox.get(message.id).status == "sent"
    modem.report(modem.sent[-1].reference, 0x00)
    wait_for(lambda: (dispatch(clinic, gateway), store.outbox.get(message.id).status == "delivered")[1])
    assert store.outbox.get(message.id).status == "delivered"


def test_a_long_message_is_delivered_only_when_all_its_parts_are(modem, gateways):
    gateway = gateways()
    result = gateway.send(AMINA, "Asante sana. " * 30)
    first, second, third = (sent.reference for sent in modem.sent)
    assert result.provider_sid.startswith(f"modem:{first},{second},{third}#")
    modem.report(first)
    modem.report(third, with_smsc=False)  # some modems leave the SMSC out of +CDS
    time.sleep(0.2)
    assert gateway.poll() == ([], [])
    modem.report(second)
    _, reports = settle_reports(gateway)
    assert [(r.provider_sid, r.state) for r in reports] == [(result.provider_sid, "delivered")]


def test_a_failed_part_shows_the_message_failed_with_the_reason(modem, gateways):
    gateway = gateways()
    result = gateway.send(AMINA, "Habari", message_id=41)
    assert result.provider_sid == f"modem:{modem.sent[-1].reference}#41"
    modem.report(modem.sent[-1].reference, 0x21)  # the network is still trying: not the end
    modem.report(modem.sent[-1].reference, 0x46)  # then the validity period ran out
    _, reports = settle_reports(gateway)
    assert [(r.state, r.error) for r in reports] == [("failed", "status report: validity period expired")]


def settle_reports(gateway, timeout: float = 3.0):
    found: list = [[], []]

    def ready() -> bool:
        found[:] = gateway.poll()
        return bool(found[1])

    wait_for(ready, timeout)
    return found[0], found[1]


# -- (d) the line drops ----------------------------------------------------------------------------------

def test_texts_that_came_while_the_modem_was_pulled_are_answered_once_it_is_back(modem, gateways, clinic):
    gateway = gateways()
    gateway.poll()
    modem.drop()
    modem.receive(AMINA, "BP 150/95")  # the SIM holds it while the laptop cannot reach the modem
    dispatch(clinic, gateway)  # the pass goes on without the modem
    up, said = gateway.status()
    assert not up and "cannot open the port" in said
    assert modem.texts_sent() == []
    modem.come_back()
    dispatch(clinic, gateway)
    dispatch(clinic, gateway)
    assert [to for to, _ in modem.texts_sent()] == [AMINA]


def test_the_line_dropping_before_the_sim_is_cleared_answers_nothing_twice(modem, gateways, clinic):
    store, _ = clinic
    gateway = gateways()
    modem.receive(AMINA, "BP 150/95")
    modem.drop_at("AT+CMGD")  # Lowband stored the text and queued its reply; then the cable goes
    dispatch(clinic, gateway)
    assert wait_for(lambda: not modem.connected)
    assert len(modem.sim) == 1  # still on the SIM
    assert modem.texts_sent() == []  # and the reply could not go: it waits for its retry
    modem.come_back()
    dispatch(clinic, gateway, later=timedelta(minutes=1))  # read again: a duplicate, deleted now
    dispatch(clinic, gateway, later=timedelta(minutes=2))
    assert modem.sim == {}
    assert [to for to, _ in modem.texts_sent()] == [AMINA]
    assert len(store.outbox.to_phone(AMINA)) == 1


def test_the_line_dropping_after_a_part_went_is_retryable_but_not_passed_to_another_transport(modem, gateways):
    gateway = gateways()
    modem.drop_at("AT+CMGS", after_pdu=True)
    with pytest.raises(TransportError) as caught:
        gateway.send(AMINA, "Asante sana. " * 30)
    assert caught.value.retryable and not caught.value.unreachable
    modem.come_back()
    gateway.send(AMINA, "Habari")  # opened again on the next use
    assert modem.texts_sent()[-1] == (AMINA, "Habari")


def test_a_later_part_failing_is_never_sent_again_whole(modem, gateways):
    """Part 1 went, part 2 was refused: resending all of it would give the patient part 1
    twice, so it goes to a person to check instead."""
    from sms_gateway.modem.pdu import encode_submit

    text = "Asante sana. " * 15  # two parts, the second shorter
    second = encode_submit(AMINA, text, reference=1)[1]
    gateway = gateways()
    modem.answer_next(f"AT+CMGS={second.length}", "+CMS ERROR: 500", after_pdu=True)
    with pytest.raises(TransportError) as caught:
        gateway.send(AMINA, text)
    assert not caught.value.retryable and "check with the patient" in str(caught.value)


# -- (e) ERROR and slowness ---------------------------------------------------------------------------------

def test_an_unassigned_number_is_not_retried(modem, gateways):
    gateway = gateways()
    modem.answer_next("AT+CMGS", "+CMS ERROR: 1", after_pdu=True)
    with pytest.raises(TransportError) as caught:
        gateway.send("+254799999999", "Habari")
    assert not caught.value.retryable
    assert "unassigned number" in str(caught.value)


def test_no_network_before_the_prompt_means_it_never_left(modem, gateways):
    gateway = gateways()
    modem.answer_next("AT+CMGS", "+CMS ERROR: 331")
    with pytest.raises(TransportError) as caught:
        gateway.send(AMINA, "Habari")
    assert caught.value.retryable and caught.value.unreachable
    assert gateway.send(AMINA, "Habari").provider_sid  # the line is still good


def test_a_modem_that_never_answers_gives_an_error_in_bounded_time(modem, gateways):
    modem.delays["AT"] = 30
    gateway = gateways()
    started = time.monotonic()
    with pytest.raises(TransportError) as caught:
        gateway.send(AMINA, "Habari")
    assert time.monotonic() - started < 2
    assert caught.value.retryable and caught.value.unreachable
    assert "does not answer" in str(caught.value)
    started = time.monotonic()
    with pytest.raises(TransportError):
        gateway.poll()
    assert time.monotonic() - started < 2


def test_a_send_the_network_is_slow_to_confirm_times_out_as_maybe_sent(modem, gateways):
    gateway = gateways()
    gateway.poll()
    modem.delays["CMGS-ANSWER"] = 30
    started = time.monotonic()
    with pytest.raises(TransportError) as caught:
        gateway.send(AMINA, "Habari")
    assert time.monotonic() - started < 4  # six times the command timeout
    assert caught.value.retryable and not caught.value.unreachable


def test_a_port_that_does_not_exist_is_unreachable_and_said_so(tmp_path):
    gateway = ModemGateway(str(tmp_path / "ttyUSB9"), timeout=TIMEOUT)
    with pytest.raises(TransportError) as caught:
        gateway.send(AMINA, "Habari")
    assert caught.value.retryable and caught.value.unreachable
    up, said = gateway.status()
    assert not up and "ttyUSB9" in said


def test_status_tells_the_admin_signal_sim_and_network(modem, gateways):
    up, said = gateways().status()
    assert up
    assert said == "SIM ready; home network Safaricom; signal 18/31 (-77 dBm)"


def test_calls_and_lookups_are_refused_plainly(gateways):
    gateway = gateways()
    assert gateway.name == "modem" and gateway.places_calls is False
    with pytest.raises(TransportError, match="SMS only") as caught:
        gateway.call(AMINA, "https://clinic.example.org/voice")
    assert not caught.value.retryable
    with pytest.raises(TransportError, match="cannot say"):
        gateway.sent_already(AMINA, "Habari", 3)


# -- the SIM PIN ----------------------------------------------------------------------------------------------

def test_the_sim_pin_is_given_when_asked(tmp_path):
    fake = FakeModem(tmp_path, pin="4821")
    gateway = ModemGateway(fake.port, pin="4821", timeout=TIMEOUT)
    try:
        gateway.send(AMINA, "Habari")
        assert fake.texts_sent() == [(AMINA, "Habari")]
    finally:
        gateway.close()
        fake.close()


def test_a_sim_asking_for_a_pin_none_was_set_for_says_which_setting(tmp_path):
    fake = FakeModem(tmp_path, pin="4821")
    gateway = ModemGateway(fake.port, timeout=TIMEOUT)
    try:
        with pytest.raises(TransportError, match="LOWBAND_MODEM_PIN"):
            gateway.poll()
    finally:
        gateway.close()
        fake.close()


def test_a_wrong_pin_is_tried_once_only_so_the_sim_never_locks(tmp_path):
    fake = FakeModem(tmp_path, pin="4821")
    gateway = ModemGateway(fake.port, pin="1111", timeout=TIMEOUT)
    try:
        for _ in range(4):  # four dispatcher passes
            with pytest.raises(TransportError, match="refused LOWBAND_MODEM_PIN"):
                gateway.poll()
        assert fake.pin_tries == 2
    finally:
        gateway.close()
        fake.close()


def test_a_wrong_pin_is_not_tried_again_after_restarts_until_it_is_changed(tmp_path):
    """lowband serve restarted three times (a service manager, an admin) with the same
    wrong PIN: it is typed once, ever; a corrected PIN is tried and works."""
    fake = FakeModem(tmp_path, pin="4821")
    memory = tmp_path / "modem-pin-refused"
    try:
        for _ in range(3):
            gateway = ModemGateway(fake.port, pin="1111", timeout=TIMEOUT, pin_memory=memory)
            with pytest.raises(TransportError, match="refused LOWBAND_MODEM_PIN"):
                gateway.poll()
            gateway.close()
        assert fake.pin_tries == 2  # one wrong try in all: the SIM is far from locked
        gateway = ModemGateway(fake.port, pin="4821", timeout=TIMEOUT, pin_memory=memory)
        gateway.poll()  # the corrected PIN opens it
        gateway.close()
        assert not memory.exists()
    finally:
        fake.close()


def test_logs_show_no_number_text_pdu_or_pin(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    fake = FakeModem(tmp_path, pin="4821")
    gateway = ModemGateway(fake.port, pin="4821", timeout=TIMEOUT)
    try:
        gateway.send(AMINA, "Shinikizo la damu")
        fake.receive(AMINA, "Kizunguzungu")
        texts, _ = settle(gateway)
        gateway.stored(texts)
        fake.report(fake.sent[-1].reference)
        settle_reports(gateway)
    finally:
        gateway.close()
        fake.close()
    assert "AT+CMGS=" in caplog.text  # the commands are logged...
    for secret in ("712345678", "Shinikizo", "Kizunguzungu", "4821", fake.sent[-1].message.text):
        assert secret not in caplog.text  # ...but nothing personal
    assert "<PDU" in caplog.text


def test_a_port_another_program_holds_is_reported_as_in_use(modem, gateways):
    first = gateways()
    first.poll()
    up, said = gateways().status()
    assert not up and "in use by another program" in said
