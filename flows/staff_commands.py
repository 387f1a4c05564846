"""Commands staff send by SMS. Only numbers registered as staff reach `respond`; the
same words from anyone else are refused and audited.

  CHW:          BP 1042 150/95 | 1042 BP 150/95 GLU 6.1    relay readings
                REG <name> <F|M> <birth year> [phone]      register a patient
                TASKS                                      who needs a visit
                UNDO                                       remove the last relay
  Clinician:    A12 OK          an alert is handled
                C7 <advice>     answer a consultation;  C7 CLOSE  ends it
  Pharmacist:   RF12 OK [where] the refill is ready;     RF12 NO <why>  it is not
  Any staff:    PIN <patient ID> reset a patient's PIN
"""

from __future__ import annotations

import re

from flows import care
from flows import effects as fx
from flows.compact import looks_like_compact, parse_compact
from flows.context import Context, PatientView
from flows.engine import Message, Outcome, Session, msg
from flows.enrolment import EnrolmentError, clean_birth_year, clean_name, clean_phone, clean_sex
from flows.patient_flows import MAX_PROFILES, short_name

MAY_RESET_ANY = {"chw_supervisor", "clinician", "admin"}
MAY_ANSWER = {
    "alert": {"clinician", "admin"},
    "consult": {"clinician", "admin"},
    "refill": {"pharmacist", "clinician", "admin"},
}
REF = re.compile(r"^(A|RF|C)(\d{1,6})\b\s*(.*)$", re.IGNORECASE | re.DOTALL)
KINDS_BY_PREFIX = {"A": "alert", "RF": "refill", "C": "consult"}
# A relayed advice must fit the patient's one SMS with its "Nurse (C7):" prefix.
ADVICE_MAX = 130
NOTE_MAX = 40


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
        replies, effects = care.undo(ctx)
        return Outcome(session, replies, effects)
    if command == "reg":
        return register(session, words[1:], ctx)
    if command == "tasks":
        return tasks(session, ctx)
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
    return Outcome(session, [msg("chw.registered", patient_id=short_id, name=short_name(name))], [effect])


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


def tasks(session: Session, ctx: Context) -> Outcome:
    due = ctx.directory.chw_tasks(ctx.staff.id, ctx.now)
    if not due:
        return Outcome(session, [msg("chw.no_tasks")])
    shown, text = 0, ""
    for short_id, what in due:
        item = f"{short_id} {what}"
        # One SMS: list as many as fit, then say how many more.
        if len(text) + len(item) + 2 > TASKS_ROOM:
            break
        text = f"{text}; {item}" if text else item
        shown += 1
    more = len(due) - shown
    return Outcome(session, [msg("chw.tasks", tasks=text, more=msg("chw.tasks_more", count=more) if more else "")])


TASKS_ROOM = 110


def answer_request(session: Session, match: re.Match, ctx: Context) -> Outcome:
    prefix, number, rest = match.group(1).upper(), match.group(2), match.group(3).strip()
    kind, ref = KINDS_BY_PREFIX[prefix], f"{prefix}{number}"
    staff = ctx.staff
    if staff.role not in MAY_ANSWER[kind]:
        return Outcome(session, [msg("staff.not_allowed", ref=ref)],
                       [fx.Audit("staff.refused", f"{kind}:{ref}", f"staff={staff.id} role={staff.role}")])
    request = ctx.directory.request(kind, ref)
    if request is None:
        return Outcome(session, [msg("staff.unknown_ref", ref=ref)])
    patient = ctx.directory.patient(request.patient_id)
    if kind == "alert":
        return _alert(session, ref, request, rest, ctx)
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
    if len(note) > NOTE_MAX:
        return Outcome(session, [msg("staff.too_long", ref=ref, limit=NOTE_MAX, over=len(note) - NOTE_MAX)])
    if request.status != "requested":
        return Outcome(session, [msg("staff.already", ref=ref)])
    ready = verb == "OK"
    if ready:
        where = note or ctx.config.clinic_name
        plain = msg("refill.ready", ref=ref, medicine=request.label, where=where)
        discreet = msg("refill.ready_discreet", ref=ref, where=where)
    else:
        plain = msg("refill.refused", ref=ref, medicine=request.label, why=note)
        discreet = msg("refill.refused_discreet", ref=ref)
    notify = _to_patient(patient, plain, discreet, purpose="refill")
    return Outcome(
        session, [msg("staff.refill_sent", ref=ref, patient_id=patient.short_id)],
        [fx.AnswerRefill(ref, ready, note, ctx.staff.id), notify],
    )


def _consult(session, ref, request, patient, rest, ctx) -> Outcome:
    if not rest:
        return Outcome(session, [msg("staff.consult_help", ref=ref)])
    if request.status != "open":
        return Outcome(session, [msg("staff.already", ref=ref)])
    if rest.upper() == "CLOSE":
        return Outcome(session, [msg("staff.consult_closed", ref=ref)], [fx.CloseConsult(ref, ctx.staff.id)])
    if len(rest) > ADVICE_MAX:
        return Outcome(session, [msg("staff.too_long", ref=ref, limit=ADVICE_MAX, over=len(rest) - ADVICE_MAX)])
    advice = msg("consult.advice", ref=ref, advice=rest)
    notify = _to_patient(patient, advice, msg("consult.advice_discreet", ref=ref), purpose="consult")
    return Outcome(
        session, [msg("staff.advice_sent", ref=ref, patient_id=patient.short_id)],
        [notify, fx.Audit("consult.advice", f"consult:{ref}", f"staff={ctx.staff.id}")],
    )


def _to_patient(patient: PatientView, plain: Message, discreet: Message, *, purpose: str) -> fx.NotifyPatient:
    """A discreet patient is told only that something waits behind their PIN."""
    if patient.discreet:
        return fx.NotifyPatient(patient.id, discreet, purpose=purpose, held=plain)
    return fx.NotifyPatient(patient.id, plain, purpose=purpose)
