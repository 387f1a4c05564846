"""A phone call as Twilio makes it: signed posts to /voice, then to whatever URL the
last TwiML's <Gather> (keys) or <Redirect> (silence) names, with the TwiML parsed as
XML and checked against the nesting rules of the verbs on the way."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit
from xml.etree import ElementTree

from tests.helpers.twilio_client import CLINIC_NUMBER, Reply, TwilioClient, new_sid

# What each verb may hold (TwiML's rules): only Say, Play and Pause inside Gather.
INSIDE = {"Gather": {"Say", "Play", "Pause"}, "Say": set(), "Play": set(), "Pause": set(), "Redirect": set(),
          "Hangup": set(), "Record": set(), "Dial": {"Number", "Client"}, "Number": set()}


def check_twiml(root: ElementTree.Element) -> None:
    """Raise AssertionError unless `root` is a <Response> whose verbs nest as TwiML allows."""
    assert root.tag == "Response", root.tag
    for verb in root:
        assert verb.tag in INSIDE, f"unknown verb {verb.tag}"
        for child in verb:
            assert child.tag in INSIDE[verb.tag], f"<{child.tag}> inside <{verb.tag}>"
            for grandchild in child:
                assert grandchild.tag in INSIDE[child.tag], f"<{grandchild.tag}> inside <{child.tag}>"


@dataclass
class Heard:
    """One answer of the line: what was said, what it waits for, where keys go."""

    said: list[str]
    asked: list[str]
    gather: dict[str, str] | None
    redirect: str | None
    hung_up: bool
    record: dict[str, str] | None
    raw: str
    dial: dict[str, str] | None = None  # <Dial>'s attributes, and its numbers under "numbers"
    rung: list[dict[str, str]] = field(default_factory=list)  # each <Number>: its text and url

    @property
    def text(self) -> str:
        return " ".join(self.said + self.asked)


def hear(reply: Reply) -> Heard:
    assert reply.status == 200 and reply.xml is not None, (reply.status, reply.raw[:300])
    check_twiml(reply.xml)
    said, asked, gather, redirect, record, dial, rung = [], [], None, None, None, None, []
    for verb in reply.xml:
        if verb.tag == "Say":
            said.append(verb.text or "")
        elif verb.tag == "Play":
            said.append(f"[recording {verb.text}]")
        elif verb.tag == "Gather":
            gather = dict(verb.attrib)
            asked += [(c.text or "") if c.tag == "Say" else f"[recording {c.text}]" for c in verb]
        elif verb.tag == "Redirect":
            redirect = verb.text
        elif verb.tag == "Record":
            record = dict(verb.attrib)
        elif verb.tag == "Dial":
            dial = dict(verb.attrib)
            rung = [{"number": n.text or "", **n.attrib} for n in verb]
    hung_up = any(v.tag == "Hangup" for v in reply.xml)
    return Heard(said, asked, gather, redirect, hung_up, record, reply.raw, dial, rung)


@dataclass
class Call:
    twilio: TwilioClient
    caller: str
    sid: str = field(default_factory=lambda: new_sid("CA"))
    last: Heard | None = None
    last_post: tuple[str, dict[str, str]] | None = None

    def _params(self, **extra: str) -> dict[str, str]:
        return {"CallSid": self.sid, "AccountSid": "AC" + "1" * 32, "From": self.caller, "To": CLINIC_NUMBER,
                "CallStatus": "in-progress", "Direction": "inbound", **extra}

    def _post(self, path: str, params: dict[str, str]) -> Heard:
        self.last_post = (path, params)
        self.last = hear(self.twilio.post(path, params))
        return self.last

    def start(self) -> Heard:
        return self._post("/voice", self._params())

    def press(self, keys: str) -> Heard:
        """Keys as a caller presses them: "140#" ends with #, "1" is one key."""
        assert self.last is not None and self.last.gather is not None, "nothing is waiting for keys"
        finished = "#" if keys.endswith("#") else ""
        return self._post(_path(self.last.gather["action"]), self._params(Digits=keys.rstrip("#"),
                                                                           FinishedOnKey=finished))

    def silence(self) -> Heard:
        assert self.last is not None and self.last.redirect, "no redirect for silence"
        return self._post(_path(self.last.redirect), self._params())

    def recorded(self, recording_sid: str | None = None) -> Heard:
        assert self.last is not None and self.last.record is not None, "nothing is recording"
        sid = recording_sid or new_sid("RE")
        return self._post(_path(self.last.record["action"]), self._params(
            RecordingSid=sid, RecordingUrl=f"https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/{sid}",
            RecordingDuration="7"))

    def dialed(self, status: str) -> Heard:
        """The nurse's leg of a <Dial> ended: `completed` (they talked) or not."""
        assert self.last is not None and self.last.dial is not None, "nobody is being called"
        return self._post(_path(self.last.dial["action"]), self._params(DialCallStatus=status))

    def nurse_picks_up(self) -> Heard:
        """What the first nurse rung hears when they answer (the whisper), as its own leg."""
        assert self.last is not None and self.last.rung, "nobody is being called"
        return hear(self.twilio.post(_path(self.last.rung[0]["url"]), self._params(
            CallSid=new_sid("CA"), ParentCallSid=self.sid, To=self.last.rung[0]["number"])))

    def nurse_presses(self, whisper: Heard, key: str) -> Heard:
        assert whisper.gather is not None
        return hear(self.twilio.post(_path(whisper.gather["action"]), self._params(CallSid=new_sid("CA"),
                                                                                   Digits=key)))

    def recording_status(self, recording_sid: str, status: str) -> Reply:
        return self.twilio.post("/voice/recording", self._params(RecordingSid=recording_sid, RecordingStatus=status,
                                                                 RecordingUrl="https://api.twilio.com/x"))

    def again(self) -> Heard:
        """Twilio sends the last request once more (a timeout on its side)."""
        assert self.last_post is not None
        path, params = self.last_post
        return hear(self.twilio.post(path, params))

    def hang_up(self) -> Reply:
        return self.twilio.post("/voice/status", self._params(CallStatus="completed"))


def _path(url: str) -> str:
    return urlsplit(url).path
