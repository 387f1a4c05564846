"""Nothing clinical is cut on the way to or from the clinic.

- Staff words for a patient (`C7 <advice>`, `RF12 OK <where>`, `RF12 NO <why>`) arrive whole
  or are refused with the exact length allowed: Latin text in one SMS, other scripts and
  emoji as UCS-2 in at most 3 SMS (never question marks), whatever route they take (the
  patient's phone, the PIN-held copy of a discreet patient, the CHW of a patient with none).
- A clinician's alert names every urgent value, however many there are in one text.
- A refill list too long for one SMS pages ("1-4 of 6, 98 for more") with stable numbers.
- TASKS ranks a CHW's whole panel by urgency and pages it, no ID or count clipped.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta

import pytest

from flows.catalog import LANGUAGES, PLACEHOLDERS, default_catalog
from flows.context import Context, FlowConfig, PatientView
from flows.conversation import runner
from flows.engine import Message, Session
from flows.readings import format_reading
from flows.segments import GSM_7, UCS_2, encoding, fits_one_segment, fold_to_gsm, segments, units
from flows.staff_commands import ADVICE_MAX, NOTE_MAX
from flows.staff_text import WIDE_PARTS_MAX
from storage import short_ids
from storage.store import iso
from tests.helpers.conversation_script import ScriptRunner
from tests.helpers.phone_line import Line
from tests.test_catalog_segments import nested

CATALOG = default_catalog()
CLINICIAN, PHARMACIST, CHW = "+254700100101", "+254700100102", "+254700100103"
AMINA, AMINA_ID = "+254712345678", "4376"
HALIMA, HALIMA_ID = "+254712345679", "5970"  # discreet
PHONELESS_ID = "6001"  # no phone: her CHW carries every message
NON_LATIN = {
    "amharic": "ውሃ በብዛት ይጠጡ፣ ፓራሲታሞል 1 ግራም በቀን እስከ 4 ጊዜ ይውሰዱ። ትኩሳቱ ከ2 ቀን በላይ ከቆየ ወደ ክሊኒክ ይምጡ።",
    "arabic": "اشرب الكثير من الماء وخذ باراسيتامول 1 غرام حتى 4 مرات في اليوم. تعال إلى العيادة إذا استمرت الحمى.",
    "chinese": "多喝水，每天最多服用四次对乙酰氨基酚，每次一克，饭后服用。"
               "如果发烧超过两天、呕吐或者呼吸困难，请马上到诊所就诊，不要等待，也不要自己再加药。",
    "emoji": "Take 1 tablet \U0001f48a in the morning and 1 at night \U0001f319 with food \U0001f372, "
             "drink water \U0001f4a7",
}
ACCENTED = {
    "spanish": "Tómelo después de comer, con agua; si hay fiebre alta o vómitos, venga a la clínica hoy.",
    "french": "Prenez 1 comprimé à midi, évitez l'alcool; si ça ne va pas mieux, revenez à la clinique.",
}


@pytest.fixture
def clinic(store):
    with store.write():
        for role, name, phone in (("clinician", "Wanjiru Kamau", CLINICIAN), ("pharmacist", "Otieno Ouma", PHARMACIST),
                                  ("chw", "Grace Achieng", CHW)):
            store.staff.add(role=role, name=name, phone=phone)
        for args in ([AMINA_ID, "Amina Zawadi", AMINA], [HALIMA_ID, "Halima Zawadi", HALIMA],
                     [PHONELESS_ID, "Mama Neema", "-"]):
            ScriptRunner.add_patient(store, [*args, "pin=1111", "consent", f"chw={CHW}", "born=1968", "sex=F"])
            store.medications.add(store.patients.by_short_id(args[0]).id, name="Metformin", dose="500mg", quantity=60)
        store.patients.update(store.patients.by_short_id(HALIMA_ID).id, discreet=1)
    return store


@pytest.fixture
def line(clinic, twilio, clock):
    return Line(twilio, clock, clinic)


def consult(store, short_id: str = AMINA_ID) -> str:
    with store.write():
        ref = store.next_ref("consult", "C")
        store.consults.open_consult(ref=ref, patient_id=store.patients.by_short_id(short_id).id,
                                    summary={"problem": "fever", "days": 2})
    return ref


def refill(store, short_id: str = AMINA_ID) -> str:
    patient = store.patients.by_short_id(short_id)
    (medicine,) = store.medications.for_patient(patient.id)
    with store.write():
        ref = store.next_ref("refill", "RF")
        store.refills.request(ref=ref, patient_id=patient.id, medication_id=medicine.id)
    return ref


def letters(text: str) -> set[str]:
    """The letters (and emoji) of a script GSM-7 lacks: what must arrive, not "?"."""
    return {ch for ch in text if ord(ch) > 0x24F and unicodedata.category(ch)[0] in "LSo"}


# -- staff words reach the patient whole, or are refused with the length allowed -------------


def test_latin_advice_at_its_limit_arrives_whole_in_one_sms(line, clinic):
    ref = consult(clinic)
    advice = ("Drink plenty of water and take paracetamol 1g up to 4 times a day; come to the clinic if the "
              "fever lasts past Friday, or sooner if worse.")[:ADVICE_MAX]
    assert len(advice) == ADVICE_MAX
    assert line.text(CLINICIAN, f"{ref} {advice}") == [f"{ref}: your advice is on its way to patient {AMINA_ID}."]
    (sent,) = line.to(AMINA)
    assert sent == f"Nurse ({ref}): {advice}"
    assert segments(sent) == 1


def test_latin_advice_one_over_is_refused_with_the_exact_length(line, clinic):
    ref = consult(clinic)
    advice = "x" * (ADVICE_MAX + 1)
    assert line.text(CLINICIAN, f"{ref} {advice}") == [
        f"Too long for one SMS to the patient: 1 characters over the {ADVICE_MAX} allowed. "
        f"Shorten it and send {ref} again."]
    assert line.to(AMINA) == []


@pytest.mark.parametrize("advice", ACCENTED.values(), ids=ACCENTED.keys())
def test_accented_advice_arrives_whole_in_one_sms(line, clinic, advice):
    ref = consult(clinic)
    assert line.text(CLINICIAN, f"{ref} {advice}") == [f"{ref}: your advice is on its way to patient {AMINA_ID}."]
    (sent,) = line.to(AMINA)
    # Accents GSM-7 has stay (é à); the others lose only their accent (ó -> o, ç -> c).
    assert sent == f"Nurse ({ref}): {fold_to_gsm(advice)}"
    assert "?" not in sent and "é" in sent and encoding(sent) == GSM_7 and segments(sent) == 1


@pytest.mark.parametrize("advice", NON_LATIN.values(), ids=NON_LATIN.keys())
def test_non_latin_advice_arrives_whole_as_ucs2_and_its_cost_is_said(line, clinic, advice):
    ref = consult(clinic)
    (ack,) = line.text(CLINICIAN, f"{ref} {advice}")
    (sent,) = line.to(AMINA)
    assert sent == f"Nurse ({ref}): {fold_to_gsm(advice)}"
    assert letters(advice) <= set(sent) and "?" not in sent.replace(advice, "")
    assert encoding(sent) == UCS_2 and 2 <= segments(sent) <= WIDE_PARTS_MAX
    parts = max(segments(sent), segments(f"{AMINA_ID}: {sent}"))  # as it would go through the CHW
    assert ack == (f"{ref}: sent whole to patient {AMINA_ID} in up to {parts} SMS "
                   "(non-Latin letters take more room).")


def test_non_latin_advice_over_three_sms_is_refused_with_the_exact_length(line, clinic):
    ref = consult(clinic)
    # 3 UCS-2 parts hold 201 units; the relay through a CHW ("4376: Nurse (C1): ") is the longest form.
    allowed = 3 * 67 - len(f"{AMINA_ID}: Nurse ({ref}): ")
    amharic = (NON_LATIN["amharic"] * 4)[:allowed + 1]
    assert line.text(CLINICIAN, f"{ref} {amharic}") == [
        f"Too long: 1 over the {allowed} characters allowed in 3 SMS (non-Latin letters take more room, an emoji 2). "
        f"Shorten it and send {ref} again."]
    assert line.to(AMINA) == []
    (ack,) = line.text(CLINICIAN, f"{ref} {amharic[:allowed]}")
    assert ack.startswith(f"{ref}: sent whole to patient {AMINA_ID} in up to 3 SMS")
    (sent,) = line.to(AMINA)
    assert sent == f"Nurse ({ref}): {amharic[:allowed]}" and segments(sent) == 3


def test_an_emoji_counts_two_and_the_limit_given_is_exact(line, clinic):
    ref = consult(clinic)
    pills = "\U0001f48a" * 120  # 240 units: far too long
    (refusal,) = line.text(CLINICIAN, f"{ref} {pills}")
    found = re.fullmatch(r"Too long: (\d+) over the (\d+) characters allowed in 3 SMS .*", refusal)
    over, limit = int(found.group(1)), int(found.group(2))
    assert over + limit == units(pills) and limit % 2 == 0
    # Exactly the limit given goes; one emoji more would not.
    assert line.text(CLINICIAN, f"{ref} {pills[:limit // 2]}")[0].startswith(f"{ref}: sent whole")
    (sent,) = line.to(AMINA)
    assert sent.endswith(pills[:limit // 2]) and segments(f"{AMINA_ID}: {sent}") == 3


def test_a_pharmacists_note_at_its_limit_arrives_whole(line, clinic):
    where = "Pharmacy window 12, Kisumu East clinic 1"
    why = "out of stock till Friday, come on Monday"
    assert len(where) == len(why) == NOTE_MAX
    ready, refused = refill(clinic), refill(clinic)
    assert line.text(PHARMACIST, f"{ready} OK {where}") == [
        f"{ready}: your answer is on its way to patient {AMINA_ID}."
    ]
    assert line.text(PHARMACIST, f"{refused} NO {why}") == [
        f"{refused}: your answer is on its way to patient {AMINA_ID}."
    ]
    assert line.to(AMINA) == [
        f"Your refill {ready} (Metformin 500mg x60) is ready. Collect it at: {where}",
        f"Sorry, refill {refused} (Metformin 500mg x60) cannot be given: {why}. Reply NURSE for help.",
    ]


def test_a_pharmacists_note_one_over_is_refused(line, clinic):
    ref = refill(clinic)
    assert line.text(PHARMACIST, f"{ref} NO {'x' * (NOTE_MAX + 1)}") == [
        f"Too long for one SMS to the patient: 1 characters over the {NOTE_MAX} allowed. "
        f"Shorten it and send {ref} again."]
    assert line.to(AMINA) == []
    assert clinic.refills.by_ref(ref).status == "requested"


def test_a_pharmacists_note_in_arabic_arrives_whole(line, clinic):
    ref = refill(clinic)
    why = "نفد المخزون حتى يوم الجمعة، تعال يوم الاثنين"
    (ack,) = line.text(PHARMACIST, f"{ref} NO {why}")
    assert ack.startswith(f"{ref}: sent whole to patient {AMINA_ID}")
    (sent,) = line.to(AMINA)
    assert why in sent and "?" not in sent


@pytest.mark.parametrize("advice", [NON_LATIN["amharic"], NON_LATIN["emoji"]], ids=["amharic", "emoji"])
def test_a_discreet_patient_reads_the_advice_whole_behind_the_pin(line, clinic, advice):
    ref = consult(clinic, HALIMA_ID)
    line.text(CLINICIAN, f"{ref} {advice}")
    assert line.to(HALIMA) == [f"The nurse answered your question {ref}. Reply INBOX, then your PIN, to read it."]
    assert line.text(HALIMA, "INBOX") == ["Halima Z., please send your 4-digit PIN to continue."]
    assert line.text(HALIMA, "1111") == [f"Nurse ({ref}): {fold_to_gsm(advice)}"]


@pytest.mark.parametrize("advice", [NON_LATIN["chinese"], "x" * ADVICE_MAX], ids=["chinese", "latin-longest"])
def test_advice_for_a_patient_without_a_phone_reaches_the_chw_whole(line, clinic, advice):
    ref = consult(clinic, PHONELESS_ID)
    line.text(CLINICIAN, f"{ref} {advice}")
    (relayed,) = line.to(CHW)
    assert relayed == f"{PHONELESS_ID}: Nurse ({ref}): {fold_to_gsm(advice)}"
    assert segments(relayed) <= (1 if encoding(relayed) == GSM_7 else WIDE_PARTS_MAX)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_limit_is_measured_in_the_patients_language(line, clinic, language):
    with clinic.write():
        clinic.patients.update(clinic.patients.by_short_id(AMINA_ID).id, language=language)
        # The longest reference, so the room measured is the tightest.
        clinic.execute("INSERT INTO counters (name, value) VALUES ('consult', 9999998)")
    ref = consult(clinic)
    assert ref == "C9999999"
    prefix = CATALOG.render(language, Message("consult.advice", {"ref": ref, "advice": ""}))
    allowed = min(ADVICE_MAX, 160 - len(f"{AMINA_ID}: {prefix}"))
    over = line.text(CLINICIAN, f"{ref} {'y' * (allowed + 1)}")[0]
    assert " 1 " in over and f" {allowed} " in over, over
    line.text(CLINICIAN, f"{ref} {'y' * allowed}")
    (sent,) = line.to(AMINA)
    assert sent == prefix + "y" * allowed and segments(sent) == 1


# -- an alert names every urgent value ---------------------------------------------------------

FIVE_URGENT = "BP 200/125 GLU 30mmol SPO2 82 T 41.5 P 150"
FIVE_READINGS = ["BP 200/125", "GLU 30", "SPO2 82", "T 41.5", "P 150"]


def test_an_alert_names_five_urgent_values_in_full(line):
    (alert,) = [m.body for m in line.queued(AMINA, FIVE_URGENT) if m.phone == CLINICIAN]
    assert re.fullmatch(r"URGENT A1: Amina Z\. \(4376\) (.+) at \d\d:\d\d\. Safety advice given\. "
                        r"Reply A1 OK when handled\.", alert)
    assert " ".join(FIVE_READINGS) in alert
    assert segments(alert) <= 2


def test_a_relayed_and_an_unknown_senders_alert_name_every_value(line):
    (relayed,) = [m.body for m in line.queued(CHW, f"{AMINA_ID} {FIVE_URGENT}") if m.phone == CLINICIAN]
    (unknown,) = [m.body for m in line.queued("+254733999001", FIVE_URGENT) if m.phone == CLINICIAN]
    for alert in (relayed, unknown):
        assert all(reading in alert for reading in FIVE_READINGS), alert
        assert ".." not in alert and segments(alert) <= 2


def longest_summary() -> str:
    """Every kind that can be urgent, at its longest echo, as care.submit joins them."""
    from flows.compact import parse_compact

    readings = parse_compact("BP 250/150 P180 GLU 600mg SPO2 70 T 108.5F P 180").readings
    return " ".join(format_reading(r) for r in readings)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("key", ["alert.clinician", "alert.clinician_no_sms", "alert.clinician_unknown",
                                 "alert.trend_clinician"])
def test_every_alert_template_carries_the_longest_readings_whole_in_two_sms_at_most(language, key):
    summary = longest_summary()
    assert len(summary) > len(PLACEHOLDERS["summary"]) + 20, summary  # well past one SMS's budget
    realistic = nested(language)
    template = CATALOG.text(language, key)
    names = {n for n in re.findall(r"{(\w+)}", template)}
    params = {n: realistic.get(n, PLACEHOLDERS.get(n)) for n in names} | {"summary": summary}
    text = CATALOG.render(language, Message(key, params))
    assert summary in text and segments(text) <= 2, text


# -- a refill list too long for one SMS pages, numbers stable ----------------------------------


class Medicines:
    """Just enough of the read port for the refill list."""

    def __init__(self, labels: list[str]):
        self.labels = labels

    def medications(self, patient_id):
        return [(100 + i, label) for i, label in enumerate(self.labels)]


def longest_labels(count: int) -> list[str]:
    # `lowband meds add` takes a name up to 40 characters and a dose up to 20.
    return [f"{chr(65 + i)}{'x' * 39} {'5' * 18}mg x{10000 - i}" for i in range(count)]


def pages_of(labels: list[str], language: str) -> list[str]:
    ctx = Context(now=datetime(2026, 11, 22, 8, tzinfo=UTC), sender=AMINA, directory=Medicines(labels),
                  people=(PatientView(1, AMINA_ID, "Amina Z.", language, has_pin=True, consented=True),),
                  catalog=CATALOG, config=FlowConfig())
    session = Session(language=language, patient_id=1, updated_at=ctx.now.isoformat())
    out = runner.enter("refill_pick", session, ctx)
    shown = [CATALOG.render(language, out.replies[-1])]
    for _ in range(len(labels)):
        out = runner.answer(out.session, "98", ctx)
        text = CATALOG.render(language, out.replies[-1])
        if text == shown[0]:
            return shown
        shown.append(text)
    raise AssertionError(f"98 never came back to the first page: {shown}")


def numbered(text: str, labels: list[str]) -> dict[int, str]:
    return {int(n): label for n, label in re.findall(r"(?<!\S)(\d+) (" + "|".join(map(re.escape, labels)) + ")", text)}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("count", [6, 12])
@pytest.mark.parametrize("kind", ["typical", "longest"])
def test_a_long_refill_list_pages_in_one_sms_each_with_stable_numbers(language, count, kind):
    labels = longest_labels(count) if kind == "longest" else [
        f"{name} x30" for name in ("Metformin 500mg", "Amlodipine 5mg", "Losartan 50mg", "Atenolol 50mg",
                                   "Hydrochlorothiazide 25mg", "Simvastatin 20mg", "Aspirin 75mg", "Insulin 10u",
                                   "Nifedipine 20mg", "Enalapril 10mg", "Gliclazide 80mg", "Furosemide 40mg")][:count]
    pages = pages_of(labels, language)
    assert len(pages) >= 2
    seen: dict[int, str] = {}
    for page in pages:
        assert fits_one_segment(page), f"{units(page)}: {page}"
        on_page = numbered(page, labels)
        first, last = min(on_page), max(on_page)
        assert list(on_page) == list(range(first, last + 1)), page
        assert f"{first}-{last} " in page and f" {count}" in page and "98" in page, page
        seen |= on_page
    # Every medicine shown once, whole, under its own number.
    assert seen == {n: label for n, label in enumerate(labels, 1)}


def test_six_medicines_page_as_one_to_four_then_five_to_six(line, clinic):
    patient = clinic.patients.by_short_id(AMINA_ID)
    with clinic.write():
        for name, dose in (("Amlodipine", "5mg"), ("Losartan", "50mg"), ("Atenolol", "50mg"), ("Simvastatin", "20mg"),
                           ("Aspirin", "75mg")):
            clinic.medications.add(patient.id, name=name, dose=dose, quantity=30)

    line.text(AMINA, "REFILL")
    assert line.text(AMINA, "1111") == [
        "Which medicine? 1 Metformin 500mg x60 2 Amlodipine 5mg x30 3 Losartan 50mg x30 4 Atenolol 50mg x30 "
        "(1-4 of 6, 98 for more). Reply with a number."]
    assert line.text(AMINA, "98") == [
        "Which medicine? 5 Simvastatin 20mg x30 6 Aspirin 75mg x30 (5-6 of 6, 98 back to 1). Reply with a number."]
    # A number means the same medicine on every page: 2 from the second page is still Amlodipine.
    assert line.text(AMINA, "2") == ["Ask for a refill of Amlodipine 5mg x30? Reply YES or NO."]
    assert line.text(AMINA, "BACK")[0].startswith("Which medicine? 5 Simvastatin")
    assert line.text(AMINA, "6") == ["Ask for a refill of Aspirin 75mg x30? Reply YES or NO."]


# -- TASKS: the whole panel, ranked and paged ------------------------------------------------------

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def panel_ids(count: int) -> list[str]:
    ids, base = [], 10_000_000
    while len(ids) < count:
        digit = short_ids.check_digit(str(base))
        if digit is not None:
            ids.append(f"{base}{digit}")  # 9 digits: IDs as long as they get in a big district
        base += 1
    return ids


@pytest.fixture
def forty(clinic, clock):
    """A CHW's panel of 40: 5 with open alerts (one with 3), 10 never measured, 20 overdue by
    8-27 days, 5 seen yesterday (not due)."""
    ids = panel_ids(40)
    chw = clinic.staff.by_phone(CHW)
    with clinic.write():
        for short_id in (AMINA_ID, HALIMA_ID, PHONELESS_ID):  # the panel is just these forty
            clinic.patients.update(clinic.patients.by_short_id(short_id).id, chw_id=None)
        patients = {}
        for short_id in ids:
            ScriptRunner.add_patient(clinic, [short_id, f"Patient {short_id}", "-", f"chw={CHW}"])
            patients[short_id] = clinic.patients.by_short_id(short_id)
        for n, short_id in enumerate(ids):
            patient = patients[short_id]
            if n < 5:
                for k in range(3 if n == 2 else 1):
                    alert = clinic.alerts.raise_alert(ref=clinic.next_ref("alert", "A"), patient_id=patient.id,
                                                      reason="bp.urgent_high BP 190/125", submission_id=None)
                    # n = 4 has waited longest, then 3, ...: the oldest open alert first.
                    clinic.execute("UPDATE alerts SET created_at = ? WHERE id = ?",
                                   (iso(NOW - timedelta(hours=10 * n + k)), alert.id))
            elif n < 15:
                continue  # never measured
            else:
                days = 8 + (n - 15) if n < 35 else 1
                clinic.readings.add(patient_id=patient.id, submission_id=clinic.new_id(), kind="bp",
                                    measured={"systolic": 130, "diastolic": 85}, level="normal",
                                    sender_index=b"chw", submitted_by=f"staff:{chw.id}",
                                    taken_at=iso(NOW - timedelta(days=days)))
    clock.now = NOW
    return ids


def test_tasks_for_forty_patients_are_ranked_paged_and_complete(line, clinic, forty):
    ids = forty
    pages = [line.text(CHW, "TASKS")]
    while (follow := re.search(r"Send TASKS (\d+) for more\.$", pages[-1][0])):
        assert follow.group(1) == str(len(pages) + 1)
        pages.append(line.text(CHW, f"TASKS {follow.group(1)}"))
    texts = [page for (page,) in pages]
    assert len(texts) >= 3
    items: list[str] = []
    for text in texts:
        assert fits_one_segment(text), f"{units(text)}: {text}"
        assert ".." not in text
        found = re.fullmatch(r"Tasks (\d+)-(\d+) of 35: (.+?)\.(?: Send TASKS \d+ for more\.)?", text)
        assert found, text
        page_items = found.group(3).split("; ")
        assert int(found.group(1)) == len(items) + 1 and int(found.group(2)) == len(items) + len(page_items)
        items += page_items
    # All 35 due (5 seen yesterday are not), each ID whole and once, most urgent first.
    assert [item.split()[0] for item in items] == [ids[4], ids[3], ids[2], ids[1], ids[0], *ids[5:15],
                                                   *reversed(ids[15:35])]
    # ids[2] has three open alerts (A3-A5): its oldest is named, the others counted.
    assert items[:5] == [f"{ids[4]} alert A7", f"{ids[3]} alert A6", f"{ids[2]} alert A5 +2 more",
                         f"{ids[1]} alert A2", f"{ids[0]} alert A1"]
    assert all(item.endswith("no reading yet") for item in items[5:15])
    assert [int(item.split()[3].rstrip("d")) for item in items[15:]] == list(range(27, 7, -1))
    # Past the last page: said plainly, with how many there are.
    assert line.text(CHW, f"TASKS {len(texts) + 1}") == [
        f"No such page: your tasks fill {len(texts)} SMS. Send TASKS for the first, TASKS 2 for the next."]
    assert line.text(CHW, "tasks 1") == pages[0]


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_tasks_page_fits_one_sms_in_every_language(line, clinic, forty, language):
    """A clinic whose own language is Kiswahili, French or Spanish pages its CHWs' tasks in it."""
    from flows.service.directory import StoreDirectory
    from flows.staff_commands import _task_pages

    due = StoreDirectory(clinic).chw_tasks(clinic.staff.by_phone(CHW).id, NOW)
    items = [f"{short_id} {what}" for short_id, what in due]
    pages = _task_pages(items, CATALOG, language)
    assert [i for first, last in pages for i in range(first, last + 1)] == list(range(len(items)))
    for number, (first, last) in enumerate(pages, 1):
        key = "chw.tasks_last" if number == len(pages) else "chw.tasks_page"
        text = CATALOG.render(language, Message(key, {"first": first + 1, "last": last + 1, "total": len(items),
                                                      "tasks": "; ".join(items[first:last + 1]),
                                                      "next": number + 1}))
        assert fits_one_segment(text), f"{language}: {units(text)}: {text}"
