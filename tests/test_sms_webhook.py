"""POST /sms and /sms/status: signatures, TwiML, idempotency, senders we never answer."""

from __future__ import annotations

import pytest

from tests.helpers.database import table_counts
from tests.helpers.twilio_client import BASE_URL, new_sid

NEW_NUMBER = "+254733400401"


def test_signed_text_gets_twiml_with_one_reply(twilio):
    reply = twilio.sms(NEW_NUMBER, "hi")
    assert reply.status == 200
    assert reply.content_type == "text/xml"
    assert reply.xml.tag == "Response"
    [message] = reply.messages
    assert "Reply YES to join" in message


@pytest.mark.parametrize(
    "how",
    ["unsigned", "wrong token", "tampered body", "other url"],
)
def test_unsigned_or_forged_request_is_refused_and_nothing_stored(twilio, installation, how):
    before = table_counts(installation.db)
    params = {"MessageSid": new_sid(), "From": NEW_NUMBER, "To": "+15005550006", "Body": "hi"}
    if how == "unsigned":
        reply = twilio.post("/sms", params, sign=False)
    elif how == "wrong token":
        from twilio.request_validator import RequestValidator

        forged = RequestValidator("not-the-token").compute_signature(BASE_URL + "/sms", params)
        reply = twilio.post("/sms", params, signature=forged)
    elif how == "tampered body":
        good = twilio.validator.compute_signature(BASE_URL + "/sms", params)
        reply = twilio.post("/sms", {**params, "Body": "STOP"}, signature=good)
    else:
        signed_elsewhere = twilio.validator.compute_signature("https://evil.example.org/sms", params)
        reply = twilio.post("/sms", params, signature=signed_elsewhere)
    assert reply.status == 403
    assert table_counts(installation.db) == before


def test_status_callback_is_signed_too(twilio):
    reply = twilio.post("/sms/status", {"MessageSid": "SMx", "MessageStatus": "delivered"}, sign=False)
    assert reply.status == 403


def test_every_posted_parameter_is_covered_by_the_signature(twilio):
    params = {"MessageSid": new_sid(), "From": NEW_NUMBER, "To": "+15005550006", "Body": "hi"}
    signature = twilio.validator.compute_signature(BASE_URL + "/sms", params)
    # An extra parameter Twilio did not send (or a new one it did) changes the signature.
    reply = twilio.post("/sms", {**params, "ApiVersion": "2010-04-01"}, signature=signature)
    assert reply.status == 403


def test_the_same_message_sid_twice_gets_the_same_answer_and_one_state_change(twilio, installation):
    sid = new_sid()
    twilio.sms(NEW_NUMBER, "hi")
    first = twilio.sms(NEW_NUMBER, "YES", sid=sid)
    counts = table_counts(installation.db)
    second = twilio.sms(NEW_NUMBER, "YES", sid=sid)
    assert first.messages == second.messages
    assert "What is your name" in first.messages[0]
    assert table_counts(installation.db) == counts
    store = installation.store()
    try:
        assert store.one("SELECT count(*) FROM inbound_messages WHERE message_sid = ?", (sid,))[0] == 1
        # One state change: the flow advanced to the name step once, and the next
        # answer is taken as the name (not as a second YES).
    finally:
        store.db.close()
    third = twilio.sms(NEW_NUMBER, "Wanjiku Njeri")
    assert "What year were you born" in third.messages[0]


def test_a_retry_after_the_conversation_moved_on_still_gets_its_own_first_answer(twilio):
    sid = new_sid()
    first = twilio.sms(NEW_NUMBER, "hi", sid=sid)
    twilio.sms(NEW_NUMBER, "YES")
    assert twilio.sms(NEW_NUMBER, "hi", sid=sid).messages == first.messages


@pytest.mark.parametrize("sender", ["MyBank", "24273", "CLINIC-INFO", "+1234"])
def test_short_codes_and_alphanumeric_senders_get_no_reply(twilio, installation, sender):
    before = table_counts(installation.db)
    reply = twilio.sms(sender, "Your balance is low. Reply HELP")
    assert reply.status == 200 and reply.messages == []
    assert table_counts(installation.db) == before


def test_a_webhook_without_message_sid_gets_a_clear_400(twilio):
    reply = twilio.post("/sms", {"From": NEW_NUMBER, "Body": "hi"})
    assert reply.status == 400
    assert "MessageSid" in reply.raw


def test_inbound_bodies_are_stored_encrypted(twilio, installation):
    twilio.sms(NEW_NUMBER, "hi")
    twilio.sms(NEW_NUMBER, "YES")
    twilio.sms(NEW_NUMBER, "Zawadi Kipchumba")
    for path in installation.db.parent.glob("lowband.db*"):
        data = path.read_bytes()
        assert b"Zawadi" not in data and b"Kipchumba" not in data
        assert b"733400401" not in data


def test_a_crash_in_a_step_still_answers_politely_and_can_be_retried(twilio, sms_app, monkeypatch):
    import flows.service

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(flows.service, "respond", boom)
    sid = new_sid()
    reply = twilio.sms(NEW_NUMBER, "hi", sid=sid)
    assert reply.status == 200
    assert reply.messages == ["Sorry, something went wrong on our side. Please try again in a few minutes."]
    monkeypatch.undo()
    # Nothing was stored for the failed attempt, so Twilio's retry is handled for real.
    assert "Reply YES to join" in twilio.sms(NEW_NUMBER, "hi", sid=sid).messages[0]


def test_a_whole_sms_of_digits_gets_an_answer_not_an_error(twilio):
    """The longest text Twilio delivers (1,600 characters) must be answered, not crash
    on int() of 1,600 digits."""
    reply = twilio.sms("+254712345678", "9" * 1600)
    assert reply.status == 200 and reply.messages
    assert "went wrong" not in reply.messages[0]


def test_thousands_of_digits_are_refused_as_no_real_sms(twilio, installation):
    """Only a forged request can carry this (Twilio caps a text at 1,600 characters)."""
    before = table_counts(installation.db)
    reply = twilio.sms("+254712345678", "9" * 5000)
    assert reply.status == 413 and reply.messages == []
    assert table_counts(installation.db) == before
