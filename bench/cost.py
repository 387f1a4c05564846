"""What each task costs in SMS, in each language: `python -m bench.cost [--json] [--trace]`.

Every segment is billed, in and out, so the clinic's running cost is the number of
segments a task takes. This builds a throwaway clinic (the demo's staff, one fresh person
per task and language), drives the real app with signed Twilio webhooks through Flask's
test client, as `lowband simulate` does, and counts:

- in: each text a person sends (the patient, and the pharmacist's or clinician's answer
  when the task needs one), in segments as the sender's phone sends it;
- out: each <Message> of the TwiML replies, plus each message the task queued in the
  outbox for anyone (alerts, the consult forwarded to a clinician, the answer relayed).

Each task is checked to have finished (the reading stored, the refill answered...):
one that stopped half-way would look cheap, so it raises CostError instead.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit
from xml.etree import ElementTree

from bench.installation import NEW_BASE, PATIENT_BASE, phone
from flows.catalog import LANGUAGES  # the catalogs the app ships: en, sw, fr, es
from storage.store import ManualClock

# Task key -> the row's label in the table, in the order the table lists them.
TASKS = {
    "registration": "Registration",
    "reading_menu": "Reading by menu",
    "reading_compact": "Compact reading",
    "chw_relay": "CHW relay",
    "refill": "Refill",
    "consultation": "Consultation",
    "voice_reading": "Voice reading",
}

# A Monday, 10:00 in Nairobi: clinic hours, far from quiet hours, so nothing is held
# back or sent differently because of the hour the bench happens to run at.
START = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
# People take a while to read and type; a frozen clock would look like a flood to the
# loop guard (10 texts a minute from one number).
TYPING = timedelta(seconds=20)
PIN = "5831"
# scrypt's cost only changes CPU time, never a message: kept low, as the tests do, so
# measure() takes seconds.
PIN_WORK = 4
TOKEN = "bench-cost-webhook-token"  # noqa: S105 (a throwaway installation's signing secret)
BASE_URL = "https://clinic.example.org"
CLINIC_NUMBER = "+15005550006"
ACCOUNT = "AC" + "0" * 32
# What people write that no catalog holds: their names and their own words.
NAMES = {"en": "Joseph Mwangi", "sw": "Wanjiku Njeri", "fr": "Aline Uwase", "es": "Lucia Ochieng"}
BORN = "1984"
MEDICINES = (("Metformin", "500mg", 60), ("Amlodipine", "5mg", 30))
PROBLEM = {  # a fever, in the patient's own words for the nurse (up to 130 letters)
    "en": "Hot body and headache since Sunday, no appetite",
    "sw": "Mwili una joto na kichwa kinauma tangu Jumapili, sina hamu ya kula",
    "fr": "Corps chaud et mal de tête depuis dimanche, pas d'appétit",
    "es": "Cuerpo caliente y dolor de cabeza desde el domingo, no tengo apetito",
}
# The clinician's answer, in the patient's language (up to 130 letters), typed as people
# type: accents and all. One letter outside GSM-7 (the Spanish í) makes the clinician's
# SMS UCS-2, 70 letters a segment, and that is billed too; the relay to the patient is
# folded back to GSM-7 by the app.
ADVICE = {
    "en": "Drink plenty of water, take paracetamol 1g up to 4 times a day. Come to the clinic if not better in 2 days.",
    "sw": "Kunywa maji mengi, meza paracetamol 1g hadi mara 4 kwa siku. Njoo kliniki kama hujapona baada ya siku 2.",
    "fr": "Buvez beaucoup d'eau, prenez du paracétamol 1g jusqu'à 4 fois par jour. "
          "Venez au centre si pas mieux dans 2 jours.",
    "es": "Beba mucha agua, tome paracetamol 1g hasta 4 veces al día. Venga a la clínica si no mejora en 2 días.",
}
PICKUP = "window 2"  # where the pharmacist says to collect the medicine


class CostError(RuntimeError):
    """A task did not finish, or the app answered with an error: its cost would be wrong."""


@dataclass
class Tally:
    """What one task cost: the segments of each text in and of each message out."""

    inbound: list[int] = field(default_factory=list)
    outbound: list[int] = field(default_factory=list)
    calls: int = 0

    def as_dict(self) -> dict:
        counts = {
            "texts_in": len(self.inbound),
            "segments_in": sum(self.inbound),
            "texts_out": len(self.outbound),
            "segments_out": sum(self.outbound),
            "longest_out": max(self.outbound, default=0),
        }
        if self.calls:
            counts["calls"] = self.calls
        return counts


class Clinic:
    """A throwaway installation in `root`: the demo clinic (one clinician, pharmacist,
    CHW and admin), the real app on a moving clock, and the tally of the running task."""

    def __init__(self, root: Path, trace: Callable[[str], None] | None = None):
        from twilio.request_validator import RequestValidator

        from flows.catalog import default_catalog
        from lowband import create_app
        from lowband.demo import STAFF, load_demo
        from lowband.settings import Settings, load_settings
        from storage import create_key_file, open_store

        self.clock = ManualClock(START)  # create_app's CLOCK, moved as people type
        self.catalog = default_catalog()
        self.trace = trace or (lambda line: None)
        # Every setting at its default, whatever LOWBAND_* or TWILIO_* this shell has (a
        # clinic's name or language would change the texts measured), then this installation's:
        # the console transport, so nothing could leave the machine.
        defaults = {f.name.upper(): getattr(Settings(), f.name) for f in fields(Settings)}
        config = {**defaults, "DB": root / "lowband.db", "KEY_FILE": root / "lowband.key", "REGION": "KE",
                  "PIN_WORK": PIN_WORK, "PUBLIC_URL": BASE_URL, "TWILIO_AUTH_TOKEN": TOKEN, "TRANSPORT": "console"}
        settings = load_settings(environ={}, overrides=config)
        store = open_store(settings.db, create_key_file(settings.key_path), create=True, clock=self.clock,
                           pin_work=PIN_WORK)
        try:
            load_demo(store, settings, START.year)
        finally:
            store.db.close()
        self.staff = {role: number for role, _, number, _ in STAFF}
        self.app = create_app({**config, "CLOCK": self.clock})
        self.client = self.app.test_client()
        self.validator = RequestValidator(TOKEN)
        self.tally = Tally()
        self.people = 0
        self.queued: set[int] = set()  # outbox messages already counted
        # The app's apology, in every language: a reply that is one means the text failed.
        self.apologies = {self.catalog.text(lang, key) for lang in LANGUAGES for key in ("error.retry", "voice.error")}

    @property
    def store(self):
        return self.app.extensions["lowband"].store()

    def close(self) -> None:
        self.app.extensions["lowband"].close()

    def run(self, task: Callable[[Clinic, str], None], language: str) -> dict:
        """Run one task for a person speaking `language`; what it cost."""
        self.tally = Tally()
        task(self, language)
        return self.tally.as_dict()

    # -- people ------------------------------------------------------------------------------

    def word(self, language: str, key: str) -> str:
        """The first word of a catalog's word list ("keywords.menu", "words.yes"): what a
        person who speaks `language` types."""
        return self.catalog.text(language, key).split(",")[0].strip()

    def new_number(self) -> str:
        """A number the clinic has never seen: each task starts with a fresh person."""
        self.people += 1
        return phone(NEW_BASE, self.people)

    def enrol(self, language: str, medicines: Iterable[tuple[str, str, int]] = ()):
        """An enrolled patient on a phone of their own, with consent and a PIN, on the
        demo CHW's panel, as `lowband patients add` and the first text leave them."""
        from storage.pins import hash_pin

        self.people += 1
        store = self.store
        chw = store.staff.by_phone(self.staff["chw"])
        with store.write():
            patient = store.patients.add(
                name=NAMES[language], phone=phone(PATIENT_BASE, self.people), time_zone="Africa/Nairobi",
                birth_year=1968, sex="F", language=language, chw_id=chw.id,
                pin_hash=hash_pin(store.keys.pin_key, PIN, PIN_WORK), consent_at=store.now_iso(),
                consent_version="consent-v1",
            )
            for name, dose, quantity in medicines:
                store.medications.add(patient.id, name=name, dose=dose, quantity=quantity)
        return patient

    # -- the webhooks ------------------------------------------------------------------------

    def _post(self, path: str, params: dict[str, str]):
        """A signed webhook, as Twilio posts it; its TwiML (None for a status callback)."""
        signature = self.validator.compute_signature(BASE_URL + path, params)
        response = self.client.post(path, data=params, base_url=BASE_URL, headers={"X-Twilio-Signature": signature})
        if response.status_code == 204:  # a status callback, taken
            return None
        if response.status_code != 200 or response.mimetype != "text/xml":
            raise CostError(f"POST {path}: HTTP {response.status_code} {response.get_data(as_text=True)[:200]}")
        return ElementTree.fromstring(response.data)  # noqa: S314 (our own app's TwiML)

    def _count_queued(self, since: str) -> None:
        """Count what the last webhook queued in the outbox for anyone. Counted webhook by
        webhook, so setting up people never is, and the trace reads in order."""
        for queued in self.store.outbox.created_since(since):
            if queued.id not in self.queued:
                self.queued.add(queued.id)
                self.trace(f"  (queued for {queued.phone}: {queued.body})")
                self.tally.outbound.append(_segments(queued.body))

    def text(self, sender: str, body: str) -> list[str]:
        """One SMS to the clinic, signed as Twilio signs it; the replies, counted."""
        params = {"MessageSid": "SM" + secrets.token_hex(16), "AccountSid": ACCOUNT, "From": sender,
                  "To": CLINIC_NUMBER, "Body": body, "NumMedia": "0"}
        self.trace(f"{sender} > {body}")
        since = self.store.now_iso()
        replies = [m.text or "" for m in self._post("/sms", params).iter("Message")]
        for reply in replies:
            self.trace(f"  < {reply}")
        self._check(replies)
        self.tally.inbound.append(_segments(body))
        self.tally.outbound.extend(_segments(reply) for reply in replies)
        self._count_queued(since)
        self.clock.now += TYPING
        return replies

    def call(self, caller: str, presses: Iterable[str]) -> list[str]:
        """A call to the voice line: each press answers the <Gather> that asked for it
        ("140#" ends with #), then the caller hangs up. Everything said, in order."""
        sid = "CA" + secrets.token_hex(16)
        heard: list[str] = []

        def post(path: str, **extra: str):
            params = {"CallSid": sid, "AccountSid": ACCOUNT, "From": caller, "To": CLINIC_NUMBER,
                      "CallStatus": "in-progress", "Direction": "inbound", **extra}
            since = self.store.now_iso()
            twiml = self._post(path, params)
            if twiml is not None:
                heard.extend(self._heard(twiml))
            self._count_queued(since)
            self.clock.now += TYPING
            return twiml

        self.trace(f"{caller} calls")
        twiml = post("/voice")
        for keys in presses:
            gather = twiml.find("Gather")
            if gather is None:
                raise CostError(f"the call stopped waiting for keys before {keys!r}: {heard[-2:]}")
            self.trace(f"  >> {keys}")
            twiml = post(urlsplit(gather.get("action")).path, Digits=keys.rstrip("#"),
                         FinishedOnKey="#" if keys.endswith("#") else "")
        self.trace("  (hangs up)")
        post("/voice/status", CallStatus="completed")  # Twilio's callback when the call ends
        self.tally.calls += 1
        return heard

    def _heard(self, twiml) -> list[str]:
        said = [verb.text or "" for verb in twiml.iter("Say")]
        for words in said:
            self.trace(f"  ~ {words}")
        self._check(said)
        return said

    def _check(self, answers: list[str]) -> None:
        for answer in answers:
            if answer in self.apologies:
                raise CostError(f"the app apologised: {answer}")


def _segments(text: str) -> int:
    from flows.segments import segments

    return segments(text)


# -- the tasks: each drives one person through the real exchange, then checks it finished ---


def registration(clinic: Clinic, language: str) -> None:
    """A new number greets the clinic in its own language ("habari"), gets the welcome in
    it, and joins."""
    number = clinic.new_number()
    # English lists no greeting ("hi" is everyone's first text): "hi" it is.
    clinic.text(number, clinic.word(language, "words.greeting") or "hi")
    for body in (clinic.word(language, "words.yes"), NAMES[language], BORN, PIN, PIN):
        clinic.text(number, body)
    joined = clinic.store.patients.with_phone(number)
    if len(joined) != 1 or joined[0].language != language or not joined[0].consent_at or not joined[0].pin_hash:
        raise CostError(f"registration in {language}: not registered as expected: {joined}")


def reading_menu(clinic: Clinic, language: str) -> None:
    """MENU, send a reading, blood pressure, the value."""
    patient = clinic.enrol(language)
    for body in (clinic.word(language, "keywords.menu"), "1", "1", "120/80"):
        clinic.text(patient.phone, body)
    _expect_bp(clinic, patient, "reading by menu")


def reading_compact(clinic: Clinic, language: str) -> None:
    patient = clinic.enrol(language)
    clinic.text(patient.phone, "BP 120/80")
    _expect_bp(clinic, patient, "compact reading")


def chw_relay(clinic: Clinic, language: str) -> None:
    """The demo CHW relays a normal reading for a patient on her panel."""
    patient = clinic.enrol(language)
    clinic.text(clinic.staff["chw"], f"BP {patient.short_id} 120/80")
    _expect_bp(clinic, patient, "CHW relay")


def refill(clinic: Clinic, language: str) -> None:
    """MENU, medicine refill, PIN, the first medicine, yes; the pharmacist approves and
    the patient is told where to collect it."""
    patient = clinic.enrol(language, MEDICINES)
    for body in (clinic.word(language, "keywords.menu"), "2", PIN, "1", clinic.word(language, "words.yes")):
        clinic.text(patient.phone, body)
    asked = [r for r in clinic.store.refills.list() if r.patient_id == patient.id]
    if len(asked) != 1 or asked[0].status != "requested":
        raise CostError(f"refill in {language}: no request placed: {asked}")
    ref = asked[0].ref
    since = clinic.store.now_iso()
    clinic.text(clinic.staff["pharmacist"], f"{ref} OK {PICKUP}")
    if clinic.store.refills.by_ref(ref).status != "ready":
        raise CostError(f"refill in {language}: {ref} was not approved")
    _expect_told(clinic, patient, ref, since, "refill")


def consultation(clinic: Clinic, language: str) -> None:
    """NURSE, a fever for 3 days, no danger sign, the patient's words; the clinician
    answers by SMS and the answer is relayed to the patient."""
    patient = clinic.enrol(language)
    for body in (clinic.word(language, "keywords.nurse"), "1", "3", clinic.word(language, "words.no"),
                 PROBLEM[language]):
        clinic.text(patient.phone, body)
    opened = [c for c in clinic.store.consults.list("open") if c.patient_id == patient.id]
    if len(opened) != 1:
        raise CostError(f"consultation in {language}: no question reached the nurse: {opened}")
    ref = opened[0].ref
    since = clinic.store.now_iso()
    clinician = clinic.store.staff.by_phone(clinic.staff["clinician"])
    clinic.text(clinician.phone, f"{ref} {ADVICE[language]}")
    if clinic.store.consults.by_ref(ref).owner_id != clinician.id:
        raise CostError(f"consultation in {language}: {ref} was not answered")
    _expect_told(clinic, patient, ref, since, "consultation")


def voice_reading(clinic: Clinic, language: str) -> None:
    """A call: give a reading, blood pressure, 120#, 80#, save; then hang up."""
    patient = clinic.enrol(language)
    clinic.call(patient.phone, ("1", "1", "120#", "80#", "1"))
    _expect_bp(clinic, patient, "voice reading")


def _expect_bp(clinic: Clinic, patient, task: str) -> None:
    stored = [r.measured for r in clinic.store.readings.for_patient(patient.id) if r.kind == "bp"]
    if stored != [{"systolic": 120, "diastolic": 80}]:
        raise CostError(f"{task} in {patient.language}: BP 120/80 was not stored once: {stored}")


def _expect_told(clinic: Clinic, patient, ref: str, since: str, task: str) -> None:
    """The staff's answer is queued for the patient's own phone."""
    told = [m for m in clinic.store.outbox.created_since(since) if m.phone == patient.phone and ref in m.body]
    if not told:
        raise CostError(f"{task} in {patient.language}: the answer to {ref} was not sent to the patient")


RUNS: dict[str, Callable[[Clinic, str], None]] = {
    "registration": registration,
    "reading_menu": reading_menu,
    "reading_compact": reading_compact,
    "chw_relay": chw_relay,
    "refill": refill,
    "consultation": consultation,
    "voice_reading": voice_reading,
}


def measure(trace: Callable[[str], None] | None = None) -> dict:
    """{task: {language: {"texts_in", "segments_in", "texts_out", "segments_out",
    "longest_out"} (and "calls" for the voice reading)}}, tasks in TASKS' order.
    `trace` gets every text in and out, as the simulator prints them."""
    with tempfile.TemporaryDirectory(prefix="lowband-cost-") as tmp:
        clinic = Clinic(Path(tmp), trace)
        try:
            return {task: {language: clinic.run(RUNS[task], language) for language in LANGUAGES} for task in TASKS}
        finally:
            clinic.close()


# -- the report --------------------------------------------------------------------------------


def cell(counts: dict) -> str:
    """"3 in / 4 out" in segments; a call first; any message over one segment named."""
    text = f"{counts['segments_in']} in / {counts['segments_out']} out"
    if counts.get("calls"):
        text = f"{counts['calls']} call{'s' if counts['calls'] > 1 else ''}, {text}"
    if counts["longest_out"] > 1:
        text += f" (one of {counts['longest_out']} segments)"
    return text


def as_markdown(result: dict) -> str:
    """A markdown table: a row per task, a column per language, SMS segments in / out."""
    languages = list(next(iter(result.values()))) if result else list(LANGUAGES)
    lines = ["| task (SMS segments) | " + " | ".join(languages) + " |",
             "| --- | " + " | ".join("---" for _ in languages) + " |"]
    for task, by_language in result.items():
        label = TASKS.get(task, task)
        lines.append(f"| {label} | " + " | ".join(cell(by_language[lang]) for lang in languages) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.cost",
        description="SMS segments in and out per task and language, on a throwaway clinic (no network).",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--trace", action="store_true", help="print every text in and out on stderr")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    result = measure(trace=(lambda line: print(line, file=sys.stderr)) if args.trace else None)
    seconds = time.perf_counter() - started
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(as_markdown(result))
        print(f"\nMeasured in {seconds:.1f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
