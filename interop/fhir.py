"""The clinic's records as FHIR R4 resources (plain dicts, ready for json.dumps).

Readings are vital-signs Observations coded in LOINC with UCUM units (glucose, a lab
value, is category laboratory, in the unit it was entered in); refill requests are
MedicationRequests, a nurse consultation's messages Communications, alerts Flags. Ids
are UUIDs derived from the installation and the row id, so exporting again gives the
same ids and a receiving server updates rather than duplicates. See docs/export.md.
"""

from __future__ import annotations

import uuid
from typing import Any

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
PROFILE = "http://hl7.org/fhir/StructureDefinition/"
SHORT_ID_SYSTEM = "urn:lowband:patient-short-id"
REF_SYSTEM = "urn:lowband:ref"  # the references staff type: RF12, C7, A12
_NAMESPACE = uuid.UUID("6f1c1f4e-51a8-4d8e-9a43-6c0b1e0c7a11")

# reading kind -> (LOINC code, display, profile, category); glucose has a code per unit.
CODES: dict[str, tuple[str, str]] = {
    "bp": ("85354-9", "Blood pressure panel with all children optional"),
    "systolic": ("8480-6", "Systolic blood pressure"),
    "diastolic": ("8462-4", "Diastolic blood pressure"),
    "pulse": ("8867-4", "Heart rate"),
    "weight": ("29463-7", "Body weight"),
    "temperature": ("8310-5", "Body temperature"),
    "spo2": ("2708-6", "Oxygen saturation in Arterial blood"),
    "spo2_oximetry": ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"),
    "glucose_mg_dl": ("2339-0", "Glucose [Mass/volume] in Blood"),
    "glucose_mmol_l": ("15074-8", "Glucose [Moles/volume] in Blood"),
}
PROFILES = {"bp": "bp", "pulse": "heartrate", "weight": "bodyweight", "temperature": "bodytemp",
            "spo2": "oxygensat"}
UNITS = {"mm[Hg]": "mmHg", "/min": "beats/minute", "kg": "kg", "Cel": "C", "%": "%", "mg/dL": "mg/dL",
         "mmol/L": "mmol/L"}  # UCUM code -> unit as shown
# The clinic's own word for a reading (care rules) -> HL7's interpretation.
LEVELS = {"normal": ("N", "Normal"), "high": ("H", "High"), "low": ("L", "Low"), "urgent": ("AA", "Critical abnormal")}
GENDERS = {"F": "female", "M": "male"}
# refill state -> MedicationRequest.status
REFILL_STATUS = {"requested": "active", "ready": "completed", "refused": "cancelled"}
# alert state -> Flag.status
ALERT_STATUS = {"open": "active", "acknowledged": "inactive", "withdrawn": "entered-in-error"}


class Ids:
    """Stable ids: one namespace per installation (from its key fingerprint, which key
    rotation keeps), one UUID per row (and part of a row, like a reading's pulse)."""

    def __init__(self, installation: str):
        self.namespace = uuid.uuid5(_NAMESPACE, installation)

    def of(self, table: str, row_id: object, part: str = "") -> str:
        return str(uuid.uuid5(self.namespace, f"{table}:{row_id}{':' + part if part else ''}"))


def url(resource_id: str) -> str:
    return f"urn:uuid:{resource_id}"


def coding(code: str) -> dict[str, Any]:
    number, display = CODES[code]
    return {"system": LOINC, "code": number, "display": display}


def quantity(value: float | int, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": UNITS[unit], "system": UCUM, "code": unit}


def patient(resource_id: str, p: dict[str, Any], *, clinic: str, merged_into: str | None) -> dict[str, Any]:
    """p: the fields of storage.patients.Patient."""
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": resource_id,
        "identifier": [{"use": "usual", "system": SHORT_ID_SYSTEM, "value": p["short_id"],
                        "assigner": {"display": clinic}}],
        "active": bool(p["active"]),
        # One text: clinics write the family name first or last, so no guess at which.
        "name": [{"use": "usual", "text": p["name"]}],
    }
    if p.get("phone"):
        resource["telecom"] = [{"system": "phone", "value": p["phone"], "use": "mobile"}]
    if p.get("sex") in GENDERS:
        resource["gender"] = GENDERS[p["sex"]]
    if p.get("birth_year"):
        resource["birthDate"] = f"{int(p['birth_year']):04d}"
    if p.get("language"):
        resource["communication"] = [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": p["language"]}]},
                                      "preferred": True}]
    if merged_into:
        resource["link"] = [{"other": {"reference": url(merged_into)}, "type": "replaced-by"}]
    return resource


def observation_values(kind: str, measured: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """[(part, value)] of one reading: part "" is the reading itself; a BP with a pulse
    gives a second, "pulse", a heart rate of its own. value holds "code" (a CODES key),
    and "quantity" or "components"."""
    if kind == "bp":
        main = {"code": "bp", "components": [
            (code, quantity(measured[code], "mm[Hg]")) for code in ("systolic", "diastolic")]}
        parts = [("", main)]
        if measured.get("pulse") is not None:
            parts.append(("pulse", {"code": "pulse", "quantity": quantity(measured["pulse"], "/min")}))
        return parts
    if kind == "glucose":
        # As entered: a meter in mg/dL is exported in mg/dL (LOINC 2339-0), not converted.
        if measured.get("unit") == "mg/dL" and measured.get("entered") is not None:
            return [("", {"code": "glucose_mg_dl", "quantity": quantity(measured["entered"], "mg/dL")})]
        value = measured.get("entered") if measured.get("unit") == "mmol/L" else None
        return [("", {"code": "glucose_mmol_l",
                      "quantity": quantity(value if value is not None else measured["mmol_l"], "mmol/L")})]
    if kind == "pulse":
        return [("", {"code": "pulse", "quantity": quantity(measured["bpm"], "/min")})]
    if kind == "weight":
        return [("", {"code": "weight", "quantity": quantity(measured["kg"], "kg")})]
    if kind == "temperature":
        return [("", {"code": "temperature", "quantity": quantity(measured["celsius"], "Cel")})]
    if kind == "spo2":
        return [("", {"code": "spo2", "quantity": quantity(measured["percent"], "%")})]
    raise ValueError(f"no FHIR mapping for reading kind {kind!r}")


def observation(resource_id: str, subject: str, part: dict[str, Any], *, kind: str, level: str | None,
                taken_at: str) -> dict[str, Any]:
    code = part["code"]
    vital = code in PROFILES
    category = "vital-signs" if vital else "laboratory"
    codings = [coding(code)] + ([coding("spo2_oximetry")] if code == "spo2" else [])
    resource: dict[str, Any] = {"resourceType": "Observation", "id": resource_id}
    if vital:
        resource["meta"] = {"profile": [PROFILE + "vitalsigns", PROFILE + PROFILES[code]]}
    resource.update({
        "status": "final",
        "category": [{"coding": [{"system": CATEGORY, "code": category,
                                  "display": "Vital Signs" if vital else "Laboratory"}]}],
        "code": {"coding": codings, "text": CODES[code][1]},
        "subject": {"reference": url(subject)},
        "effectiveDateTime": taken_at,
    })
    if "components" in part:
        resource["component"] = [{"code": {"coding": [coding(c)]}, "valueQuantity": q} for c, q in part["components"]]
    else:
        resource["valueQuantity"] = part["quantity"]
    # The clinic's care rules judged the reading as a whole; a pulse split off a BP was
    # not judged on its own, so it carries none.
    if level in LEVELS and (code != "pulse" or kind == "pulse"):
        number, display = LEVELS[level]
        resource["interpretation"] = [{"coding": [{"system": INTERPRETATION, "code": number, "display": display}],
                                       "text": level}]
    return resource


def medication_request(resource_id: str, subject: str, refill: dict[str, Any]) -> dict[str, Any]:
    """refill: ref, status, answer, created_at and the medicine's name, dose, quantity."""
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": resource_id,
        "identifier": [{"system": REF_SYSTEM, "value": refill["ref"]}],
        "status": REFILL_STATUS.get(refill["status"], "unknown"),
        "intent": "order",
        "medicationCodeableConcept": {"text": refill["medicine"]},
        "subject": {"reference": url(subject)},
        "authoredOn": refill["created_at"],
    }
    if refill.get("dose"):
        resource["dosageInstruction"] = [{"text": refill["dose"]}]
    if refill.get("quantity"):
        resource["dispenseRequest"] = {"quantity": {"value": refill["quantity"]}}
    if refill.get("answer"):
        resource["note"] = [{"text": refill["answer"]}]
    return resource


def communication(resource_id: str, subject: str, message: dict[str, Any], *,
                  in_response_to: str | None = None) -> dict[str, Any]:
    """One message from the patient to the nurse: the consultation's first (its problem,
    days and words, or a voice message) or a reply. message: ref, sent, text, problem,
    days, recording_url."""
    payload: list[dict[str, Any]] = []
    if message.get("text"):
        payload.append({"contentString": message["text"]})
    if message.get("recording_url"):
        payload.append({"contentAttachment": {"url": message["recording_url"], "title": "voice message"}})
    resource: dict[str, Any] = {
        "resourceType": "Communication",
        "id": resource_id,
        "identifier": [{"system": REF_SYSTEM, "value": message["ref"]}],
        "status": "completed",
        "subject": {"reference": url(subject)},
        "sender": {"reference": url(subject)},
        "sent": message["sent"],
    }
    if in_response_to:
        resource["inResponseTo"] = [{"reference": url(in_response_to)}]
    if message.get("problem"):
        days = f", {message['days']} days" if message.get("days") is not None else ""
        resource["topic"] = {"text": f"{message['problem']}{days}"}
    if payload:
        resource["payload"] = payload
    return resource


def flag(resource_id: str, subject: str, alert: dict[str, Any]) -> dict[str, Any]:
    """An alert the care rules or the nurse's triage raised: ref, reason, status, created_at."""
    return {
        "resourceType": "Flag",
        "id": resource_id,
        "identifier": [{"system": REF_SYSTEM, "value": alert["ref"]}],
        "status": ALERT_STATUS.get(alert["status"], "inactive"),
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/flag-category",
                                  "code": "clinical", "display": "Clinical"}]}],
        "code": {"text": alert["reason"]},
        "subject": {"reference": url(subject)},
        "period": {"start": alert["created_at"]},
    }


def bundle(resource_id: str, timestamp: str, resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "id": resource_id,
        "type": "collection",
        "timestamp": timestamp,
        "entry": [{"fullUrl": url(r["id"]), "resource": r} for r in resources],
    }
