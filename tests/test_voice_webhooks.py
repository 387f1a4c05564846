"""The voice webhooks as an attacker and as Twilio's retries would try them, and the
promise that a keypad reading is the same record as a texted one."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest

from tests.helpers.conversation_script import ScriptRunner
from tests.helpers.twilio_client import new_sid
from tests.helpers.voice_call import Call

AMINA, JOSEPH, CLINICIAN = "+254712345678", "+254722300301", "+254700100101"


@pytest.fixture
def clinic(sms_app):
    store = sms_app.extensions["lowband"].store()
    with store.write():
        store.staff.add(role="clinician", name="Wanjiru Kamau", phone=CLINICIAN)
        ScriptRunner.add_patient(store, ["4376", "Amina Zawadi", AMINA, "pin=1111", "consent", "born=1968"])
        ScriptRunner.add_patient(store, ["5021", "Joseph Mwangi", JOSEPH, "pin=2222", "consent", "born=1955"])
    return store


def counts(db) -> dict[str, int]:
    conn = sqlite3.connect(db)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}  # noqa: S608
    finally:
        conn.close()


def keypad_bp(call: Call, top: str, bottom: str) -> None:
    call.start()
    for keys in ("1", "1", f"{top}#", f"{bottom}#"):
        call.press(keys)


@pytest.mark.parametrize("path", ["/voice", "/voice/t/1", "/voice/t/1/silence", "/voice/t/1/recorded",
                                  "/voice/t/1/dialed", "/voice/whisper", "/voice/whisper/answer",
                                  "/voice/recording", "/voice/status"])
def test_an_unsigned_voice_request_is_refused_and_changes_nothing(twilio, installation, clinic, path):
    before = counts(installation.db)
    params = {"CallSid": new_sid("CA"), "From": AMINA, "To": "+15005550006", "Digits": "1"}
    assert twilio.post(path, params, sign=False).status == 403
    assert twilio.post(path, params, signature="forged").status == 403
    assert counts(installation.db) == before


def test_a_retried_turn_is_answered_the_same_and_saves_once(twilio, installation, clinic):
    call = Call(twilio, AMINA)
    keypad_bp(call, "150", "95")
    saved = call.press("1")
    again = call.again()
    assert again.raw == saved.raw
    assert counts(installation.db)["readings"] == 1
    # An earlier turn sent late gets the last answer, and changes nothing either.
    assert call.twilio.post("/voice/t/3", call._params(Digits="9")).raw == saved.raw
    assert counts(installation.db)["readings"] == 1


def test_a_call_sid_replayed_from_another_number_is_refused(twilio, installation, clinic):
    call = Call(twilio, AMINA)
    call.start()
    call.press("1")
    stolen = Call(twilio, JOSEPH, sid=call.sid)
    stolen.last = call.last
    reply = twilio.post("/voice/t/2", stolen._params(Digits="1", FinishedOnKey=""))
    assert reply.status == 400
    assert "Which reading" not in reply.raw


def test_a_request_without_twilios_call_id_is_refused(twilio, clinic):
    assert twilio.post("/voice", {"CallSid": "CA123", "From": AMINA}).status == 400


def test_a_call_from_a_withheld_number_is_told_goodbye_and_nothing_is_stored(twilio, installation, clinic):
    before = counts(installation.db)
    heard = Call(twilio, "anonymous").start()
    assert heard.hung_up and not heard.gather
    assert counts(installation.db) == before


def test_when_the_call_ends_its_conversation_is_forgotten_and_its_sid_answers_nothing_more(
        twilio, installation, clinic):
    call = Call(twilio, AMINA)
    keypad_bp(call, "150", "95")
    call.press("1")
    with_call = counts(installation.db)["sessions"]
    assert call.hang_up().status == 204
    assert counts(installation.db)["sessions"] == with_call - 1  # the line stays only as "ended"
    # The same CallSid again (a replayed signature): a goodbye, never the old call's answers.
    again = Call(twilio, AMINA, sid=call.sid)
    heard = again.start()
    assert heard.hung_up and heard.said == [] and heard.asked == []
    for turn in range(1, 7):
        reply = twilio.post(f"/voice/t/{turn}", again._params(Digits="7", FinishedOnKey=""))
        assert "saved" not in reply.raw and "Gather" not in reply.raw
    assert counts(installation.db)["readings"] == 1


def _stored(store, short_id: str):
    [reading] = store.readings.for_patient(store.patients.by_short_id(short_id).id)
    return reading.kind, reading.measured, reading.level


def test_a_keypad_reading_is_the_same_record_and_alert_as_a_texted_one(twilio, sms_app, clinic, clock):
    store = sms_app.extensions["lowband"].store()
    assert "DANGER" in twilio.sms(AMINA, "BP 190/125").messages[0]
    call = Call(twilio, JOSEPH)
    keypad_bp(call, "190", "125")
    assert "DANGER" in call.press("1").said[0]

    assert _stored(store, "4376") == _stored(store, "5021") == ("bp", {"systolic": 190, "diastolic": 125}, "urgent")
    alerts = store.execute("SELECT patient_id, status FROM alerts ORDER BY created_at").fetchall()
    assert len(alerts) == 2 and {a[1] for a in alerts} == {"open"}
    bodies = [m.body for m in store.outbox.list() if m.phone == CLINICIAN]
    assert [b.split(":", 1)[1].split(" at ")[0] for b in bodies] == [" Amina Z. (4376) BP 190/125",
                                                                    " Joseph M. (5021) BP 190/125"]


def test_a_keypad_reading_within_minutes_of_the_same_text_is_one_reading(twilio, sms_app, clinic, clock):
    """The repeat rule is the SMS line's: the same value again within minutes is one."""
    store = sms_app.extensions["lowband"].store()
    twilio.sms(AMINA, "BP 150/95")
    clock.now += timedelta(minutes=2)
    call = Call(twilio, AMINA)
    keypad_bp(call, "150", "95")
    call.press("1")
    assert len(store.readings.for_patient(store.patients.by_short_id("4376").id)) == 1


def test_a_clinics_recording_is_played_instead_of_the_synthetic_voice(installation, tmp_path):
    from lowband import create_app
    from tests.helpers.twilio_client import AUTH_TOKEN, TwilioClient

    prompts = tmp_path / "prompts"
    (prompts / "en").mkdir(parents=True)
    (prompts / "en" / "voice.keys.mp3").write_bytes(b"ID3 fake mp3")
    app = create_app({**installation.config, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "PROMPTS_DIR": str(prompts)})
    try:
        store = app.extensions["lowband"].store()
        with store.write():
            ScriptRunner.add_patient(store, ["4376", "Amina Zawadi", AMINA, "pin=1111", "consent", "born=1968"])
        client = TwilioClient(app.test_client())
        heard = Call(client, AMINA).start()
        assert "[recording /voice/prompts/en/voice.keys.mp3]" in heard.said
        assert "Welcome to Lowband Clinic." in heard.said  # a message with no recording is still said
        served = app.test_client().get("/voice/prompts/en/voice.keys.mp3")
        assert served.status_code == 200 and served.data == b"ID3 fake mp3"
        assert app.test_client().get("/voice/prompts/en/..%2Fsecret.mp3").status_code == 404
    finally:
        app.extensions["lowband"].close()


def test_a_turn_racing_the_hang_up_does_not_bring_the_call_back(twilio, installation, clinic, monkeypatch):
    from ivr import line as lines
    from ivr.call import CallTurn

    call = Call(twilio, AMINA)
    call.start()
    pressed = CallTurn.keys

    def keys_while_the_call_ends(self, line, digits, finished):
        answer = pressed(self, line, digits, finished)
        with self.store.write():
            lines.end(self.store, self.call_sid)  # Twilio's "completed" lands meanwhile
        return answer

    monkeypatch.setattr(CallTurn, "keys", keys_while_the_call_ends)
    call.press("1")
    monkeypatch.undo()
    after = twilio.post("/voice/t/2", call._params(Digits="0", FinishedOnKey=""))
    assert "<Hangup" in after.raw and "<Gather" not in after.raw
    conversation = lines.keys_of(clinic, call.sid)[1]
    assert clinic.sessions.load(conversation) is None  # nothing of the call left behind
