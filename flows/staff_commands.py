"""Commands staff send by SMS. Only numbers registered as staff reach `respond`; the
same words from anyone else are refused and audited.

  CHW:          BP 1042 150/95 | 1042 BP 150/95 GLU 6.1    relay readings
                REG <name> <F|M> <birth year> [phone]      register a patient
                TASKS [page]                               who needs a visit, most urgent first
                UNDO                                       remove the last relay
  Clinician:    A12 OK          an alert is handled
                C7 <advice>     answer a consultation;  C7 CLOSE  ends it
                C7 CALL         ask the patient to call the clinic
  Pharmacist:   RF12 OK [where] the refill is ready;     RF12 NO <why>  it is not
  Any staff:    PIN <patient ID> reset a patient's PIN

References are a prefix and a decimal number (A12, RF100000, C2000000): issued with up
to 7 digits (storage.care.next_ref), typed back in any case, with or without leading zeros.
Words staff write for a patient reach them whole or are refused with the length allowed;
they are never cut (see `deliverable`).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from flows import care
from flows import effects as fx
from flows.catalog import Catalog, default_catalog
from flows.compact import looks_like_compact, parse_compact
from flows.context import Context, PatientView
from flows.engine import Message, Outcome, Session, msg
from flows.enrolment import EnrolmentError, clean_birth_year, clean_name, clean_phone, clean_sex
from flows.patient_flows import MAX_PROFILES, short_name
from flows.segments import fits_one_segment
from flows.staff_text import deliverable

MAY_RESET_ANY = {"chw_supervisor", "clinician", "admin"}
MAY_ANSWER = {
    "alert": {"clinician", "admin"},
    "consult": {"clinician", "admin"},
    "refill": {"pharmacist", "clinician", "admin"},
}
# Up to 9 digits typed: every reference issued (7 digits for ten years, more after that)
# is accepted, whatever its case and with leading zeros ("rf0012 ok" answers RF12).
REF = re.compile(r"^(A|RF|C)(\d{1,9})\b\s*(.*)$", re.IGNORECASE | re.DOTALL)
KINDS_BY_PREFIX = {"A": "alert", "RF": "refill", "C": "consult"}
# Staff words in the Latin alphabet (folded to GSM-7 like every SMS) must fit the patient's
# one SMS, and are at most this long: an advice with its "Nurse (C7):" prefix, a note.
ADVICE_MAX = 130
NOTE_MAX = 40


def ref_of(match: re.Match) -> str:
    """The reference a REF match names, as issued: "rf0012" is RF12."""
    return f"{match.group(1).upper()}{int(match.group(2))}"


def looks_like_staff_command(text: str) -> bool:
    first = text.split(maxsplit=1)[0].upper() if text.split() else ""
    return bool(REF.match(text)) or first in ("REG", "TASKS")


def refuse(session: Session, text: str, ctx: Context) -> Outcome:
    """A staff command from a number that is not staff: refused, and audited."""
    command = text.split(maxsplit=1)[0].upper()[:12]
    return Outcome(
        session,
        [msg("staff.only")],
        [fx.Audit("staff_command.refused", "sender", f"command={command} from=non-staff")],
    )


def respond(session: Session, text: str, ctx: Context) -> Outcome:
    words = text.split()
    command = words[0].casefold() if words else ""
    if command == "pin" and len(words) == 2:
        return reset_pin(session, words[1], ctx)
    if command == "undo":
        return undo(session, words[1:], ctx)
    if command == "reg":
        return register(session, words[1:], ctx)
    if command == "tasks":
        return tasks(session, ctx, words[1] if len(words) == 2 else "1")
    match = REF.match(text)
    if match:
        return answer_request(session, match, ctx)
    if ctx.staff.role in ("chw", "chw_supervisor", "clinician", "admin") and looks_like_compact(
        text, expect_patient_id=True
    ):
        return relay(session, text, ctx)
    return Outcome(session, [msg("staff.help")])


def _patient_for(session: Session, short_id: str, ctx: Context) -> PatientView | Outcome:
    directory, staff = ctx.directory, ctx.staff
    if not directory.short_id_valid(short_id):
        return Outcome(session, [msg("staff.bad_id", patient_id=short_id)])
    patient = directory.patient_by_short_id(short_id)
    if patient is None:
        return Outcome(session, [msg("staff.unknown_patient", patient_id=short_id)])
    own = staff.role != "chw" or patient.chw_id == staff.id or ctx.config.chw_any_patient
    if staff.role in ("chw", "pharmacist") and not own or staff.role == "pharmacist":
        return Outcome(
            session,
            [msg("staff.not_yours", patient_id=short_id)],
            [fx.Audit("staff.refused", f"patient:{short_id}", f"staff={staff.id}")],
        )
    return patient


def reset_pin(session: Session, short_id: str, ctx: Context) -> Outcome:
    found = _patient_for(session, short_id, ctx)
    if isinstance(found, Outcome):
        return found
    return Outcome(
        session, [msg("staff.pin_reset", patient_id=short_id)], [fx.ResetPin(found.id, by_staff_id=ctx.staff.id)]
    )


def relay(session: Session, text: str, ctx: Context) -> Outcome:
    result = parse_compact(text, expect_patient_id=True)
    if result.patient_id is None:
        return Outcome(session, [msg("chw.no_id")])
    found = _patient_for(session, result.patient_id, ctx)
    if isinstance(found, Outcome):
        return found
    replies, effects = care.submit(result.readings, found, ctx, problems=result.problems, staff=ctx.staff)
    return Outcome(session, replies, effects)


def register(session: Session, words: list[str], ctx: Context) -> Outcome:
    """REG <name...> <sex> <birth year> [phone] [YES]: read from the end, since names
    have spaces. A trailing YES enrols someone who looks like a patient we already have."""
    if ctx.staff.role not in ("chw", "chw_supervisor", "clinician", "admin"):
        return Outcome(session, [msg("staff.help")])
    rest = list(words)
    confirmed = bool(rest) and rest[-1].upper() == "YES"
    if confirmed:
        rest.pop()
    phone = None
    try:
        # The phone is last when a year stands before it, or when it looks like one.
        year_before = len(rest) >= 2 and re.fullmatch(r"\d{4}", rest[-2])
        if rest and (year_before or _looks_like_phone(rest[-1])):
            phone = clean_phone(rest.pop(), ctx.config.region)
        if len(rest) < 3:
            raise EnrolmentError("format", "")
        year = clean_birth_year(rest.pop(), ctx.now.year)
        sex = sex_from(rest.pop(), ctx)
        name = clean_name(" ".join(rest))
    except EnrolmentError as error:
        return Outcome(session, [msg(f"chw.reg_bad_{error.field}" if error.field in REG_FIELDS else "chw.reg_help")])
    chw_id = ctx.staff.id if ctx.staff.role == "chw" else None
    if phone and ctx.directory.is_staff_phone(phone):
        return Outcome(session, [msg("chw.reg_staff_phone")])
    if phone and ctx.directory.people_on_phone(phone) >= MAX_PROFILES:
        return Outcome(session, [msg("chw.reg_phone_full", count=MAX_PROFILES)])
    duplicate = None if confirmed else ctx.directory.likely_duplicate(name, year, phone, chw_id)
    if duplicate:
        return Outcome(session, [msg("chw.reg_duplicate", patient_id=duplicate, name=short_name(name))])
    patient_id, short_id = ctx.directory.new_patient_ids()
    effect = fx.EnrolPatient(patient_id, short_id, name, sex, year, phone, chw_id or 0)
    # Remembered for UNDO: a registration typed by mistake can be taken back like a relay.
    session.data["last_reg"] = {"patient_id": patient_id, "short_id": short_id, "at": ctx.now.isoformat()}
    return Outcome(session, [msg("chw.registered", patient_id=short_id, name=short_name(name))], [effect])


def undo(session: Session, words: list[str], ctx: Context) -> Outcome:
    """UNDO: the staff member's last relay, named with its patient ("Removed BP 150/95
    for 1042"), or their last REG if that came later; `UNDO 1042`: only for that patient."""
    since = ctx.now - timedelta(minutes=ctx.config.undo_minutes)
    reg = session.data.get("last_reg")
    reg_at = datetime.fromisoformat(reg["at"]) if reg else None
    last = ctx.directory.last_submission(ctx.sender, since)
    wanted = words[0] if words else None
    # Readings are timed to the second: on a tie the relay is taken as the later one.
    if reg and reg_at >= since and (wanted in (None, reg["short_id"])) and (
            last is None or last.at is None or reg_at.replace(microsecond=0) > last.at):
        session.data.pop("last_reg", None)
        return Outcome(session, [msg("chw.reg_undone", patient_id=reg["short_id"])],
                       [fx.UndoEnrolment(reg["patient_id"])])
    if wanted and last is not None and ctx.directory.patient(last.patient_id).short_id != wanted:
        # Never someone else's reading: UNDO 1042 touches 1042's last relay or nothing.
        return Outcome(session, [msg("undo.not_last", patient_id=wanted)])
    replies, effects = care.undo(ctx)
    return Outcome(session, replies, effects)


def sex_from(word: str, ctx: Context) -> str:
    """F or M from the word a CHW typed, in the clinic's language only: "M" is male in
    English but mwanamke (woman) in Kiswahili and mujer in Spanish, so each language
    lists its own unambiguous words (KE/ME, MUJER/HOMBRE...)."""
    if ctx.catalog is None:
        return clean_sex(word)
    language, said = ctx.config.default_language, word.strip().casefold()
    for sex, key in (("F", "words.sex.female"), ("M", "words.sex.male")):
        if said in ctx.catalog.words(language, key):
            return sex
    raise EnrolmentError("sex", "")


REG_FIELDS = {"phone", "birth_year", "sex", "name"}


def _looks_like_phone(token: str) -> bool:
    digits = sum(c.isdigit() for c in token)
    return token.startswith(("+", "0")) or digits >= 7


def tasks(session: Session, ctx: Context, page_asked: str = "1") -> Outcome:
    """The CHW's patients who need a visit, most urgent first (open alerts, then longest
    without a reading), each ID and reference whole. When they do not fit one SMS they are
    paged ("Tasks 1-6 of 40: ... Send TASKS 2 for more."), each page measured as sent."""
    due = ctx.directory.chw_tasks(ctx.staff.id, ctx.now)
    if not due:
        return Outcome(session, [msg("chw.no_tasks")])
    items = [f"{short_id} {what}" for short_id, what in due]
    catalog, language = ctx.catalog or default_catalog(), session.language
    whole = msg("chw.tasks", tasks="; ".join(items), more="")
    pages = [(0, len(items) - 1)] if fits_one_segment(catalog.render(language, whole)) else _task_pages(
        items, catalog, language)
    page = _page_number(page_asked)
    if not 1 <= page <= len(pages):
        return Outcome(session, [msg("chw.tasks_no_page", count=len(pages))])
    if len(pages) == 1:
        return Outcome(session, [whole])
    return Outcome(session, [_task_page(items, pages[page - 1], page, final=page == len(pages))])


def _page_number(typed: str) -> int:
    """TASKS 2 is page 2; TASKS alone (or with a word) the first; an absurd number none."""
    if not typed.isascii() or not typed.isdigit():
        return 1
    return int(typed) if len(typed) <= 4 else 0


def _task_page(items: list[str], span: tuple[int, int], page: int, *, final: bool) -> Message:
    first, last = span
    shown = {"first": first + 1, "last": last + 1, "total": len(items), "tasks": "; ".join(items[first:last + 1])}
    return msg("chw.tasks_last", **shown) if final else msg("chw.tasks_page", next=page + 1, **shown)


def _task_pages(items: list[str], catalog: Catalog, language: str) -> list[tuple[int, int]]:
    """(first, last) item of each page: as many whole items as one SMS holds, measured
    with "Send TASKS n for more" whether or not the page turns out to be the last."""
    pages: list[tuple[int, int]] = []
    while not pages or pages[-1][1] + 1 < len(items):
        first = pages[-1][1] + 1 if pages else 0
        last, page = first, len(pages) + 1
        while last + 1 < len(items) and all(
            fits_one_segment(catalog.render(language, _task_page(items, (first, last + 1), page, final=final)))
            for final in (False, True)
        ):
            last += 1
        pages.append((first, last))
    return pages


def answer_request(session: Session, match: re.Match, ctx: Context) -> Outcome:
    prefix, rest = match.group(1).upper(), match.group(3).strip()
    kind, ref = KINDS_BY_PREFIX[prefix], ref_of(match)
    staff = ctx.staff
    if staff.role not in MAY_ANSWER[kind]:
        return Outcome(session, [msg("staff.not_allowed", ref=ref)],
                       [fx.Audit("staff.refused", f"{kind}:{ref}", f"staff={staff.id} role={staff.role}")])
    request = ctx.directory.request(kind, ref)
    if request is None:
        return Outcome(session, [msg("staff.unknown_ref", ref=ref)])
    if kind == "alert":
        # An alert may have no patient yet (a new number, a refused relay): it is still
        # handled by its reference.
        return _alert(session, ref, request, rest, ctx)
    patient = ctx.directory.patient(request.patient_id)
    if kind == "refill":
        return _refill(session, ref, request, patient, rest, ctx)
    return _consult(session, ref, request, patient, rest, ctx)


def _alert(session, ref, request, rest, ctx) -> Outcome:
    if rest.upper() != "OK":
        return Outcome(session, [msg("staff.alert_help", ref=ref)])
    if request.status != "open":
        return Outcome(session, [msg("staff.already", ref=ref)])
    return Outcome(session, [msg("staff.alert_done", ref=ref)], [fx.AcknowledgeAlert(ref, ctx.staff.id)])


def _refill(session, ref, request, patient, rest, ctx) -> Outcome:
    verb, _, note = rest.partition(" ")
    verb, note = verb.upper(), note.strip()
    if verb not in ("OK", "NO") or (verb == "NO" and not note):
        return Outcome(session, [msg("staff.refill_help", ref=ref)])
    ready = verb == "OK"
    if ready:
        where = note or ctx.config.clinic_name
        plain = msg("refill.ready", ref=ref, medicine=request.label, where=where)
        discreet = msg("refill.ready_discreet", ref=ref, where=where)
    else:
        plain = msg("refill.refused", ref=ref, medicine=request.label, why=note)
        discreet = msg("refill.refused_discreet", ref=ref)
    fit = deliverable(note, [plain, discreet], patient, NOTE_MAX, ctx)
    if not fit.whole:
        return Outcome(session, [fit.refusal(ref)])
    if request.status != "requested":
        return Outcome(session, [msg("staff.already", ref=ref)])
    notify = _to_patient(patient, plain, discreet, purpose="refill")
    return Outcome(
        session, [_told(fit, ref, patient, "staff.refill_sent", ctx)],
        [fx.AnswerRefill(ref, ready, note, ctx.staff.id), notify],
    )


def _consult(session, ref, request, patient, rest, ctx) -> Outcome:
    if not rest:
        return Outcome(session, [msg("staff.consult_help", ref=ref)])
    if request.status != "open":
        return Outcome(session, [msg("staff.already", ref=ref)])
    if request.owner_id and request.owner_id != ctx.staff.id and ctx.staff.role != "admin":
        # Two clinicians answering one patient at once would give two sets of advice.
        return Outcome(session, [msg("staff.consult_owned", ref=ref, name=request.owner_name)])
    take = fx.TakeConsult(ref, ctx.staff.id)
    if rest.upper() == "CLOSE":
        closing = msg("consult.closed_patient", ref=ref)
        told = _to_patient(patient, closing, closing, purpose="consult")
        closed = fx.CloseConsult(ref, ctx.staff.id)
        return Outcome(session, [msg("staff.consult_closed", ref=ref)], [take, closed, told])
    if rest.upper() == "CALL":
        # Some questions need a voice: the patient is asked to call (the number they
        # texted is the clinic's voice line too). Nothing of their health is in it.
        asked = msg("consult.call_back", ref=ref)
        told = _to_patient(patient, asked, asked, purpose="consult")
        audit = fx.Audit("consult.call_back", f"consult:{ref}", f"staff={ctx.staff.id}")
        if not ctx.directory.can_text(patient.id):
            return Outcome(session, [msg("staff.cannot_text", ref=ref, patient_id=patient.short_id)], [take])
        return Outcome(session, [msg("staff.call_back_sent", ref=ref, patient_id=patient.short_id)],
                       [take, told, audit])
    advice = msg("consult.advice", ref=ref, advice=rest)
    discreet = msg("consult.advice_discreet", ref=ref)
    fit = deliverable(rest, [advice], patient, ADVICE_MAX, ctx)
    if not fit.whole:
        return Outcome(session, [fit.refusal(ref)])
    notify = _to_patient(patient, advice, discreet, purpose="consult")
    return Outcome(
        session, [_told(fit, ref, patient, "staff.advice_sent", ctx)],
        [take, notify, fx.Audit("consult.advice", f"consult:{ref}", f"staff={ctx.staff.id} sms={fit.parts}")],
    )


def _told(fit, ref: str, patient: PatientView, key: str, ctx: Context) -> Message:
    """What staff are told: never 'on its way' when no SMS can reach the patient."""
    if not ctx.directory.can_text(patient.id):
        return msg("staff.cannot_text", ref=ref, patient_id=patient.short_id)
    return fit.sent(ref, patient, key)


def _to_patient(patient: PatientView, plain: Message, discreet: Message, *, purpose: str) -> fx.NotifyPatient:
    """A discreet patient is told only that something waits behind their PIN."""
    if patient.discreet:
        return fx.NotifyPatient(patient.id, discreet, purpose=purpose, held=plain)
    return fx.NotifyPatient(patient.id, plain, purpose=purpose)
