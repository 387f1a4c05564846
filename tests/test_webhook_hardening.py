"""Webhook hardening: the URL a signature is checked against cannot be steered by the
client, oversized requests are refused before they are read, a stored answer goes back
only to the phone it was given to, and a sender is one phone however its digits are
written (or no phone at all when the number cannot exist)."""

from __future__ import annotations

import io

import pytest
from twilio.request_validator import RequestValidator
from werkzeug.test import EnvironBuilder, run_wsgi_app

from lowband import create_app
from lowband.settings import SettingsError, load_settings
from lowband.webhook_auth import MAX_WEBHOOK_BYTES
from storage.inbound import SidFromAnotherSender
from tests.helpers.database import table_counts
from tests.helpers.twilio_client import AUTH_TOKEN, BASE_URL, CLINIC_NUMBER, new_sid

PATIENT = "+254733400401"
OTHER = "+254712345678"
OTHER_URL = "https://other.example.org/sms"


def params(sender: str = PATIENT, body: str = "hi", sid: str | None = None) -> dict[str, str]:
    return {"MessageSid": sid or new_sid(), "AccountSid": "AC" + "1" * 32, "From": sender, "To": CLINIC_NUMBER,
            "Body": body, "NumMedia": "0"}


def sign(url: str, data: dict[str, str]) -> str:
    return RequestValidator(AUTH_TOKEN).compute_signature(url, data)


@pytest.fixture
def make_app(installation):
    apps = []

    def make(**overrides):
        app = create_app({**installation.config, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, **overrides})
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["lowband"].close()


# 1. The URL a signature is checked against ------------------------------------------


def test_a_request_signed_for_another_url_is_refused_even_when_its_host_header_names_it(make_app, installation):
    app = make_app()
    before = table_counts(installation.db)
    data = params()
    response = app.test_client().post(
        "/sms", data=data, base_url="https://other.example.org",  # Host: other.example.org
        headers={"X-Twilio-Signature": sign(OTHER_URL, data)}, environ_base={"REMOTE_ADDR": "203.0.113.5"},
    )
    assert response.status_code == 403
    assert table_counts(installation.db) == before


def test_forwarded_headers_from_an_unlisted_address_are_ignored(make_app, installation):
    app = make_app()
    before = table_counts(installation.db)
    data = params()
    response = app.test_client().post(
        "/sms", data=data, base_url="http://127.0.0.1:5000",
        headers={"X-Twilio-Signature": sign(OTHER_URL, data), "X-Forwarded-Proto": "https",
                 "X-Forwarded-Host": "other.example.org", "X-Forwarded-Port": "443"},
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
    )
    assert response.status_code == 403
    assert table_counts(installation.db) == before


@pytest.mark.parametrize(("listed", "peer", "expected"), [
    ("10.0.0.2", "10.0.0.2", 200),
    ("10.0.0.0/24, ::1", "10.0.0.7", 200),
    ("10.0.0.2", "10.0.0.3", 403),
    ("", "10.0.0.2", 403),
])
def test_a_listed_proxy_may_report_the_url_twilio_called(make_app, listed, peer, expected):
    app = make_app(TRUSTED_PROXIES=listed)
    data = params()
    response = app.test_client().post(
        "/sms", data=data, base_url="http://10.0.0.9:5000",
        headers={"X-Twilio-Signature": sign(OTHER_URL, data), "X-Forwarded-Proto": "https",
                 "X-Forwarded-Host": "other.example.org", "X-Forwarded-For": "198.51.100.1"},
        environ_base={"REMOTE_ADDR": peer},
    )
    assert response.status_code == expected


def test_a_listed_proxy_without_x_forwarded_host_cannot_steer_by_host_header(make_app):
    app = make_app(TRUSTED_PROXIES="10.0.0.2")
    data = params()
    response = app.test_client().post(
        "/sms", data=data, base_url="https://other.example.org",
        headers={"X-Twilio-Signature": sign(OTHER_URL, data)}, environ_base={"REMOTE_ADDR": "10.0.0.2"},
    )
    assert response.status_code == 403


def test_the_public_url_with_its_query_is_what_is_checked(make_app):
    app = make_app()
    data = params()
    response = app.test_client().post(
        "/sms?clinic=a", data=data, base_url="http://127.0.0.1:5000",
        headers={"X-Twilio-Signature": sign("https://clinic.example.org/sms?clinic=a", data)},
    )
    assert response.status_code == 200


def test_trusted_proxies_setting_is_checked():
    assert load_settings({"LOWBAND_TRUSTED_PROXIES": "10.0.0.2, ::1"}).trusted_proxies == ("10.0.0.2/32", "::1/128")
    assert load_settings({}).trusted_proxies == ()
    with pytest.raises(SettingsError, match="LOWBAND_TRUSTED_PROXIES"):
        load_settings({"LOWBAND_TRUSTED_PROXIES": "proxy.example.org"})


@pytest.mark.parametrize(("listed", "cleared"), [("", True), ("10.0.0.2", False)])
def test_serve_lets_forwarded_headers_reach_the_app_only_with_listed_proxies(run_cli, monkeypatch, listed, cleared):
    import waitress

    calls = []

    class Server:  # bound, then run until Ctrl-C; here it returns at once
        def run(self):
            pass

        def close(self):
            pass

    monkeypatch.setattr(waitress, "create_server", lambda app, **kwargs: calls.append(kwargs) or Server())
    result = run_cli("serve", "--processes", "1", env={"LOWBAND_TRUSTED_PROXIES": listed})
    assert result.exit_code == 0, result.output
    [kwargs] = calls
    assert kwargs["clear_untrusted_proxy_headers"] is cleared
    assert kwargs["max_request_body_size"] == MAX_WEBHOOK_BYTES


# 2. Size ------------------------------------------------------------------------------


def test_a_signed_ten_megabyte_request_is_refused_and_nothing_stored(make_app, installation):
    app = make_app()
    before = table_counts(installation.db)
    data = params(body="x" * (10 * 1024 * 1024))
    response = app.test_client().post("/sms", data=data, base_url="https://clinic.example.org",
                                      headers={"X-Twilio-Signature": sign("https://clinic.example.org/sms", data)})
    assert response.status_code == 413
    assert table_counts(installation.db) == before


class Tripwire(io.RawIOBase):
    """A request body that records whether anyone read it."""

    def __init__(self):
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        self.read_bytes += len(buffer)
        buffer[: len(buffer)] = b"a" * len(buffer)
        return len(buffer)


def test_an_unsigned_fifty_megabyte_request_is_refused_before_it_is_read(make_app):
    app = make_app()
    body = Tripwire()
    environ = EnvironBuilder(path="/sms", method="POST", base_url="https://clinic.example.org",
                             content_type="application/x-www-form-urlencoded", data=b"").get_environ()
    environ.update({"wsgi.input": body, "CONTENT_LENGTH": str(50 * 1024 * 1024)})
    _, status, _ = run_wsgi_app(app, environ, buffered=True)
    assert status.startswith("413")
    assert body.read_bytes == 0


def test_a_body_longer_than_an_sms_is_refused_with_a_reason(make_app, installation):
    app = make_app()
    before = table_counts(installation.db)
    data = params(body="a" * 1601)
    response = app.test_client().post("/sms", data=data, base_url="https://clinic.example.org",
                                      headers={"X-Twilio-Signature": sign("https://clinic.example.org/sms", data)})
    assert response.status_code == 413
    assert b"1600" in response.data
    assert table_counts(installation.db) == before


def test_the_longest_real_sms_is_answered(twilio):
    reply = twilio.sms(PATIENT, "🙂" * 1600)  # the worst case for the size limit: 4-byte characters
    assert reply.status == 200 and reply.messages


# 3. Replays and senders -----------------------------------------------------------------


def test_a_message_sid_replayed_from_another_sender_is_refused(twilio, installation):
    sid = new_sid()
    first = twilio.sms(PATIENT, "hi", sid=sid)
    assert first.status == 200 and first.messages
    before = table_counts(installation.db)
    replayed = twilio.sms(OTHER, "hi", sid=sid)
    assert replayed.status == 400
    assert replayed.messages == []
    assert table_counts(installation.db) == before
    # Twilio's own retry, from the same number, still gets the stored answer.
    assert twilio.sms(PATIENT, "hi", sid=sid).messages == first.messages


def test_replies_for_refuses_another_phone(store):
    with store.write():
        store.inbound.add(message_sid="SM1", channel="sms", phone_index=store.phone_index(PATIENT), body="hi",
                          replies=["hello"])
    assert store.inbound.replies_for("SM1", store.phone_index(PATIENT)) == ["hello"]
    with pytest.raises(SidFromAnotherSender):
        store.inbound.replies_for("SM1", store.phone_index(OTHER))


@pytest.mark.parametrize(
    "written", ["+２５４７３３４００４０１", "+2５4733400401", "+٢٥٤٧٣٣٤٠٠٤٠١", "＋２５４７３３４００４０１"]
)
def test_digits_in_other_scripts_are_the_same_phone(twilio, installation, written):
    reply = twilio.sms(written, "hi")
    assert reply.status == 200
    store = installation.store()
    try:
        [(phone_index,)] = store.db.execute("SELECT phone_index FROM inbound_messages").fetchall()
        assert phone_index == store.phone_index(PATIENT)
    finally:
        store.db.close()


@pytest.mark.parametrize("impossible", ["+2547334", "+25473340040", "+1555"])
def test_a_number_that_cannot_exist_gets_no_reply_and_nothing_stored(twilio, installation, impossible):
    before = table_counts(installation.db)
    reply = twilio.sms(impossible, "hi")
    assert reply.status == 200 and reply.messages == []
    assert table_counts(installation.db) == before


# -- a signed request regrouped into another ---------------------------------------------


def _regrouped(twilio, clinician: str, attacker: str, sid: str):
    """Twilio's signature glues names and values: the bytes of a text the attacker sent
    ("A2 OKFrom<clinician>") can be regrouped into a clinician's "A2 OK" with the same
    signature (a second From, fields folded into their neighbours)."""
    original = [("FromZip", ""), ("SmsSid", sid), ("SmsStatus", "received"), ("Body", "A2 OKFrom" + clinician),
                ("To", "+15005550006"), ("MessageSid", sid), ("AccountSid", "AC" + "0" * 32), ("From", attacker)]
    signature = twilio.validator.compute_signature(BASE_URL + "/sms", dict(original))
    forged = [("From", clinician), ("From", attacker), ("Body", "A2 OK"), ("AccountSid", "AC" + "0" * 32),
              ("FromZip", "MessageSid" + sid), ("SmsSid", sid + "SmsStatusreceived"), ("To", "+15005550006")]
    return signature, forged


def test_a_signed_text_regrouped_into_a_staff_command_is_refused(twilio, store, sms_app):
    from werkzeug.datastructures import MultiDict

    clinician, attacker, sid = "+254700100101", "+254733400401", "SM" + "ab" * 16
    with store.write():
        store.staff.add(role="clinician", name="Wanjiru Kamau", phone=clinician)
    signature, forged = _regrouped(twilio, clinician, attacker, sid)
    assert twilio.validator.compute_signature(BASE_URL + "/sms", MultiDict(forged)) == signature  # the attack
    response = twilio.client.post("/sms", data=MultiDict(forged), headers={"X-Twilio-Signature": signature},
                                  base_url=BASE_URL)
    assert response.status_code == 403
    assert store.one("SELECT count(*) FROM inbound_messages")[0] == 0


def test_an_inbound_text_without_twilios_own_message_id_is_refused(twilio):
    params = {"SmsSid": "SM" + "cd" * 16, "AccountSid": "AC" + "1" * 32, "From": "+254712345678",
              "To": "+15005550006", "Body": "hi"}
    assert twilio.post("/sms", params).status == 400
