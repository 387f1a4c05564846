"""Is a staff member's text delivered whole? Every SMS that will carry it is rendered
before it is accepted (the patient's language, the copy held behind the PIN, the relay
through their CHW): Latin letters fit one SMS, other scripts and emoji go as UCS-2 in a
few, otherwise it is refused with the exact length allowed. Never accepted, then cut."""

from __future__ import annotations

from dataclasses import dataclass

from flows.catalog import default_catalog
from flows.context import Context, PatientView
from flows.engine import Message, msg
from flows.segments import GSM_7, SINGLE_LIMIT, UCS_2, encoding, fold_to_gsm, segments, units

# Words in a script GSM-7 lacks (Amharic, Arabic, Chinese) or with emoji go as UCS-2, whole,
# in at most this many SMS (70 UCS-2 characters in one, 67 a part once split; an emoji
# takes 2). Anything longer is refused with the length allowed, never cut or turned to "?".
WIDE_PARTS_MAX = 3


@dataclass(frozen=True)
class Fit:
    """Whether staff words reach the patient whole, in how many SMS, and if not, how
    many characters (GSM-7 units, or UTF-16 units for UCS-2: an emoji is 2) are allowed."""

    whole: bool
    parts: int
    wide: bool
    limit: int
    over: int

    def refusal(self, ref: str) -> Message:
        if self.wide:
            return msg("staff.too_long_wide", ref=ref, limit=self.limit, over=self.over, parts=WIDE_PARTS_MAX)
        return msg("staff.too_long", ref=ref, limit=self.limit, over=self.over)

    def sent(self, ref: str, patient: PatientView, key: str) -> Message:
        if self.parts > 1:
            return msg("staff.sent_parts", ref=ref, patient_id=patient.short_id, parts=self.parts)
        return msg(key, ref=ref, patient_id=patient.short_id)


def deliverable(typed: str, carriers: list[Message], patient: PatientView, cap: int, ctx: Context) -> Fit:
    """Do `typed` words reach the patient whole in every SMS that carries them? Each carrier
    is rendered as it will be sent: in the patient's language, and relayed through their
    CHW ("4376: Nurse (C7): ...") in case they have no phone. Latin text (folded to GSM-7)
    must fit one SMS and `cap` characters; other scripts and emoji go as UCS-2 in at most
    WIDE_PARTS_MAX SMS. Nothing is ever clipped after this says yes (flows.catalog.WHOLE)."""
    catalog = ctx.catalog or default_catalog()
    shared = {"clinic": ctx.config.clinic_name, "emergency": ctx.config.emergency_number}
    folded = fold_to_gsm(typed)
    wide = encoding(folded) != GSM_7
    carrying = [carrier for carrier in carriers if typed in carrier.params.values()]
    if not folded or not carrying:
        return Fit(True, 1, wide, cap, 0)

    def sent(words: str) -> list[str]:
        texts = []
        for carrier in carrying:
            params = {name: words if value == typed else value for name, value in carrier.params.items()}
            own = catalog.render(patient.language, Message(carrier.key, {**shared, **params}))
            texts += [own, catalog.render(ctx.config.default_language,
                                          msg("relay.for_patient", patient_id=patient.short_id, text=own))]
        return texts

    most, used = (WIDE_PARTS_MAX if wide else 1), units(folded)
    texts = sent(typed)
    parts = max(segments(text) for text in texts)
    if parts <= most and (wide or used <= cap):
        return Fit(True, parts, wide, 0, 0)
    if not wide:
        limit = min([SINGLE_LIMIT[GSM_7] - (units(text) - used) for text in texts] + [cap])
    else:
        # The longest start of these words that goes whole: exact even where an emoji
        # (2 units) cannot straddle two parts and leaves one unit of a part unused.
        low, high = 0, len(typed)
        while low < high:
            middle = (low + high + 1) // 2
            if all(segments(text, UCS_2) <= most for text in sent(typed[:middle])):
                low = middle
            else:
                high = middle - 1
        limit = units(fold_to_gsm(typed[:low]), UCS_2)
    return Fit(False, parts, wide, max(limit, 0), max(used - limit, 1))
