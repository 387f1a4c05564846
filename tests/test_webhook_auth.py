"""Who may post to the Twilio routes: only requests Twilio signed; LOWBAND_DEV=1 lets
unsigned requests in from this machine only; behind a proxy listed in
LOWBAND_TRUSTED_PROXIES the URL Twilio called is rebuilt from X-Forwarded-* and still
checks out (more in test_webhook_hardening.py)."""

from __future__ import annotations

import pytest
from twilio.request_validator import RequestValidator

from lowband import create_app
from tests.helpers.twilio_client import AUTH_TOKEN, new_sid

PARAMS = {"From": "+254733400401", "To": "+15005550006", "Body": "hi"}


def make_app(installation, **overrides):
    return create_app({**installation.config, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, **overrides})


def post(app, *, remote="127.0.0.1", headers=None, base_url="https://clinic.example.org", params=None):
    data = {"MessageSid": new_sid(), **(params or PARAMS)}
    response = app.test_client().post(
        "/sms", data=data, headers=headers or {}, base_url=base_url, environ_base={"REMOTE_ADDR": remote}
    )
    return response, data


@pytest.fixture
def dev_app(installation):
    app = make_app(installation, DEV=True)
    yield app
    app.extensions["lowband"].close()


@pytest.fixture
def prod_app(installation):
    app = make_app(installation)
    yield app
    app.extensions["lowband"].close()


def test_dev_mode_accepts_an_unsigned_text_from_this_machine(dev_app):
    response, _ = post(dev_app, remote="127.0.0.1")
    assert response.status_code == 200 and b"Reply YES to join" in response.data
    response, _ = post(dev_app, remote="::1")
    assert response.status_code == 200


def test_dev_mode_still_refuses_unsigned_texts_from_elsewhere(dev_app):
    response, _ = post(dev_app, remote="192.0.2.10")
    assert response.status_code == 403


def test_dev_mode_cannot_be_fooled_by_a_forged_forwarded_for(dev_app):
    response, _ = post(dev_app, remote="192.0.2.10", headers={"X-Forwarded-For": "127.0.0.1"})
    assert response.status_code == 403


def test_without_dev_mode_unsigned_is_refused_even_from_this_machine(prod_app):
    response, _ = post(prod_app, remote="127.0.0.1")
    assert response.status_code == 403


def test_a_forged_signature_is_refused_even_in_dev_mode(dev_app):
    response, _ = post(dev_app, remote="127.0.0.1", headers={"X-Twilio-Signature": "forged="})
    assert response.status_code == 403


@pytest.mark.parametrize(("trusted", "expected"), [("127.0.0.1", 200), ("", 403)])
def test_behind_a_listed_proxy_the_url_twilio_called_is_rebuilt_and_checks_out(installation, trusted, expected):
    # Twilio called the tunnel's address; the proxy forwards to us over plain HTTP.
    app = make_app(installation, TRUSTED_PROXIES=trusted)
    called = "https://tunnel.example.net/sms"
    data = {"MessageSid": new_sid(), **PARAMS}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(called, data)
    try:
        response = app.test_client().post(
            "/sms", data=data, base_url="http://127.0.0.1:5000",
            headers={"X-Twilio-Signature": signature, "X-Forwarded-Proto": "https",
                     "X-Forwarded-Host": "tunnel.example.net", "X-Forwarded-Port": "443"},
            environ_base={"REMOTE_ADDR": "127.0.0.1"},
        )
    finally:
        app.extensions["lowband"].close()
    assert response.status_code == expected


def test_dev_mode_behind_a_listed_proxy_still_judges_the_real_peer(installation):
    app = make_app(installation, DEV=True, TRUSTED_PROXIES="192.0.2.1")
    try:
        response, _ = post(app, remote="192.0.2.1", headers={"X-Forwarded-For": "127.0.0.1"})
    finally:
        app.extensions["lowband"].close()
    assert response.status_code == 403


def test_a_sha256_signature_with_its_settings_header_is_accepted(prod_app):
    data = {"MessageSid": new_sid(), **PARAMS}
    signature = RequestValidator(AUTH_TOKEN).compute_signature("https://clinic.example.org/sms", data, "HMAC_SHA256")
    response = prod_app.test_client().post(
        "/sms", data=data, base_url="https://clinic.example.org",
        headers={"X-Twilio-Signature": signature,
                 "X-Twilio-Webhooks-Signature-Settings": "key=webhooks_sharedkey_x,algorithm=HMAC_SHA256"},
    )
    assert response.status_code == 200


def test_without_a_twilio_token_the_simulator_signs_with_a_key_file_secret(installation):
    app = create_app(installation.config)
    try:
        token = app.extensions["lowband"].webhook_token()
        assert token and token != AUTH_TOKEN
        data = {"MessageSid": new_sid(), **PARAMS}
        signature = RequestValidator(token).compute_signature("https://clinic.example.org/sms", data)
        response = app.test_client().post("/sms", data=data, base_url="https://clinic.example.org",
                                          headers={"X-Twilio-Signature": signature})
        assert response.status_code == 200
    finally:
        app.extensions["lowband"].close()
