"""A test client that speaks Twilio's webhook protocol: signed form posts in, TwiML
parsed as XML out."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from xml.etree import ElementTree

from twilio.request_validator import RequestValidator

BASE_URL = "https://clinic.example.org"
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
CLINIC_NUMBER = "+15005550006"
_sids = itertools.count(1)


def new_sid(prefix: str = "SM") -> str:
    return f"{prefix}{next(_sids):032x}"


@dataclass
class Reply:
    status: int
    content_type: str
    xml: ElementTree.Element | None
    raw: str

    @property
    def messages(self) -> list[str]:
        if self.xml is None:
            return []
        return [m.text or "" for m in self.xml.iter("Message")]


class TwilioClient:
    def __init__(self, client, token: str = AUTH_TOKEN, base_url: str = BASE_URL):
        self.client = client
        self.validator = RequestValidator(token)
        self.base_url = base_url

    def post(self, path: str, params: dict[str, str], *, sign: bool = True, signature: str | None = None) -> Reply:
        headers = {}
        if sign:
            headers["X-Twilio-Signature"] = signature or self.validator.compute_signature(self.base_url + path, params)
        response = self.client.post(path, data=params, headers=headers, base_url=self.base_url)
        raw = response.get_data(as_text=True)
        xml = ElementTree.fromstring(raw) if response.mimetype == "text/xml" else None  # noqa: S314 (our own TwiML)
        return Reply(response.status_code, response.mimetype, xml, raw)

    def sms(self, sender: str, body: str, *, sid: str | None = None, **kwargs) -> Reply:
        params = {
            "MessageSid": sid or new_sid(),
            "AccountSid": "AC" + "1" * 32,
            "From": sender,
            "To": CLINIC_NUMBER,
            "Body": body,
            "NumMedia": "0",
        }
        return self.post("/sms", params, **kwargs)

    def status(self, message_sid: str, status: str, **extra: str) -> Reply:
        return self.post("/sms/status", {"MessageSid": message_sid, "MessageStatus": status, **extra})
