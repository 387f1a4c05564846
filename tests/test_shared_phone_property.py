"""Random family days on one shared phone: two or three patients pass the phone around,
send readings, look at their reminders, walk away half-way, try each other's profile,
and let time pass. Whatever the order, every stored reading belongs to the person who
typed it (and who chose themselves with their own PIN), and no reply shows anyone
another person's medicines or readings."""

from __future__ import annotations

import re
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lowband import create_app
from storage import create_key_file, open_store
from tests.conftest import TEST_PIN_WORK, Installation
from tests.helpers.conversation_script import Clock, ScriptRunner
from tests.helpers.twilio_client import AUTH_TOKEN, TwilioClient

PHONE = "+254712345678"
FAMILY = [("4376", "Amina Zawadi", "4826", "Metformin"), ("5970", "Halima Zawadi", "7391", "Amlodipine"),
          ("1479", "Neema Zawadi", "5038", "Losartan")]
READING = re.compile(r"BP (\d{3})/")

action = st.one_of(
    st.tuples(st.just("reading"), st.integers(0, 2)),
    st.tuples(st.just("reminders"), st.integers(0, 2)),
    st.tuples(st.just("abandon"), st.integers(0, 2)),
    st.tuples(st.just("peek"), st.integers(0, 2)),
    st.tuples(st.just("wait"), st.integers(0, 40)),
)


class Family:
    def __init__(self, root: Path, size: int):
        inst = Installation(root=root, db=root / "lowband.db", key_file=root / "lowband.key")
        open_store(inst.db, create_key_file(inst.key_file), create=True, pin_work=TEST_PIN_WORK).db.close()
        self.clock = Clock(datetime(2026, 11, 22, 8, 0, tzinfo=UTC))
        self.app = create_app({**inst.config, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "CLOCK": self.clock})
        self.store = self.app.extensions["lowband"].store()
        self.twilio = TwilioClient(self.app.test_client())
        self.people = FAMILY[:size]
        for short_id, name, pin, medicine in self.people:
            ScriptRunner.add_patient(self.store, [short_id, name, PHONE, f"pin={pin}", "consent"])
            self.store.medications.add(self.store.patients.by_short_id(short_id).id, name=medicine, dose="5mg",
                                       quantity=30)
        self.typed_by: dict[int, int] = {}  # systolic value -> who typed it
        self.next_systolic = 100

    def close(self):
        self.app.extensions["lowband"].close()

    def text(self, holder: int, body: str) -> list[str]:
        replies = self.twilio.sms(PHONE, body).messages
        self.clock.now += timedelta(seconds=10)
        for reply in replies:
            self.check_private(holder, reply)
        return replies

    def check_private(self, holder: int, reply: str) -> None:
        for other, (_, _, _, medicine) in enumerate(self.people):
            if other != holder:
                assert medicine not in reply, f"person {holder} was shown {medicine}: {reply}"
        for value in READING.findall(reply.replace("like BP 140/90", "")):  # the example, not a reading
            assert self.typed_by.get(int(value)) == holder, f"person {holder} was shown reading {value}: {reply}"

    def finish(self, holder: int, replies: list[str], resend: str | None) -> None:
        """Answer what the phone asks, as `holder` would: pick themselves, their PIN."""
        for _ in range(4):
            last = replies[-1] if replies else ""
            if "Who is texting" in last:
                replies = self.text(holder, str(holder + 1))
            elif "PIN to continue" in last:
                replies = self.text(holder, self.people[holder][2])
            elif "send your reading again" in last and resend:
                replies = self.text(holder, resend)
            else:
                return

    def act(self, kind: str, value: int) -> None:
        if kind == "wait":
            self.clock.now += timedelta(minutes=value)
            return
        holder = value % len(self.people)
        if kind in ("reading", "abandon"):
            systolic, self.next_systolic = self.next_systolic, self.next_systolic + 1
            self.typed_by[systolic] = holder
            body = f"BP {systolic}/80"
            replies = self.text(holder, body)
            if kind == "reading":
                self.finish(holder, replies, body)
        elif kind == "reminders":
            self.finish(holder, self.text(holder, "4"), None)
        elif kind == "peek":
            other = (holder + 1) % len(self.people)
            replies = self.text(holder, "MENU")
            if "Who is texting" in replies[-1]:
                self.text(holder, str(other + 1))
                self.text(holder, self.people[holder][2])  # their own PIN: wrong for this profile

    def check_records(self) -> None:
        for index, (short_id, *_rest) in enumerate(self.people):
            patient = self.store.patients.by_short_id(short_id)
            for reading in self.store.readings.for_patient(patient.id):
                typed = self.typed_by[reading.measured["systolic"]]
                assert typed == index, f"BP {reading.measured['systolic']} typed by {typed} stored for {index}"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(size=st.integers(2, 3), actions=st.lists(action, min_size=1, max_size=14))
def test_every_reading_belongs_to_the_person_who_sent_it(size, actions):
    with tempfile.TemporaryDirectory() as folder:
        family = Family(Path(folder), size)
        try:
            for kind, value in actions:
                family.act(kind, value)
            family.check_records()
        finally:
            family.close()


def test_the_old_bug_is_caught():
    """The walk that stored Amina's reading on Halima's record before this check."""
    with tempfile.TemporaryDirectory() as folder:
        family = Family(Path(folder), 2)
        try:
            family.act("reminders", 1)
            family.act("reading", 0)
            family.check_records()
            assert family.store.readings.for_patient(family.store.patients.by_short_id("4376").id)
        finally:
            family.close()
