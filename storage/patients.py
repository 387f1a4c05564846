"""Patients: who they are, how to reach them, and their short ID."""

from __future__ import annotations

import sqlite3
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from storage import short_ids
from storage.errors import NotFound, StorageError
from storage.records import DamagedRecord, insert_sealed, open_row, open_value, skip_damaged, update_sealed

if TYPE_CHECKING:
    from storage.store import Store

TABLE = "patients"
COLUMNS = [
    "id", "short_id", "name", "phone", "birth_year", "sex", "language", "time_zone",
    "chw_id", "active", "created_at", "pin_hash", "pin_failures", "locked_until",
    "consent_at", "consent_version", "consent_declined_at", "discreet", "closed_at", "merged_into",
    "prefers_voice",
]
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM {TABLE}"  # noqa: S608


@dataclass(frozen=True)
class Patient:
    id: int
    short_id: str
    name: str
    phone: str | None
    birth_year: int | None
    sex: str | None
    language: str
    time_zone: str
    chw_id: int | None
    active: bool
    created_at: str
    pin_hash: str | None
    pin_failures: int
    locked_until: str | None
    consent_at: str | None
    consent_version: str | None
    consent_declined_at: str | None
    discreet: bool
    closed_at: str | None  # a closed record is kept but reaches no phone, panel or list
    merged_into: int | None  # closed by a merge: the record that holds its history now
    prefers_voice: bool = False  # reminders come as calls


@dataclass(frozen=True)
class PatientBrief:
    """What a conversation needs about each patient on a phone, on every text: only
    the name is opened (each sealed value opened costs a decryption)."""

    id: int
    short_id: str
    name: str
    language: str
    time_zone: str
    chw_id: int | None
    has_pin: bool
    consented: bool
    locked_until: str | None
    pin_failures: int
    discreet: bool


def name_key(name: str) -> str:
    """A name as duplicates are compared: accents stripped, case folded, punctuation
    dropped, parts in any order ("  AMÍNA  zawadi.", "Zawadi Amina" and "Amina Zawadi"
    give the same key: clinics write surnames first or last)."""
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    words = "".join(ch if ch.isalpha() or ch.isspace() else " " for ch in plain.casefold()).split()
    return " ".join(sorted(words))


_BRIEF = (
    "SELECT id, short_id, name, language, time_zone, chw_id, pin_hash IS NOT NULL, consent_at IS NOT NULL, "
    "locked_until, pin_failures, discreet FROM patients WHERE phone_index = ? AND active = 1 ORDER BY created_at, id"
)


# Random tries at one length of short ID before a longer one.
TRIES_PER_LENGTH = 10


class PatientRepository:
    def __init__(self, store: Store):
        self.store = store

    def _patient(self, row) -> Patient:
        data = open_row(self.store, TABLE, row, COLUMNS)
        data["active"] = bool(data["active"])
        data["discreet"] = bool(data["discreet"])
        data["prefers_voice"] = bool(data["prefers_voice"])
        return Patient(**data)

    def add(
        self,
        *,
        name: str,
        phone: str | None,
        time_zone: str,
        birth_year: int | None = None,
        sex: str | None = None,
        language: str = "en",
        chw_id: int | None = None,
        ids: tuple[int, str] | None = None,
        **extra,
    ) -> Patient:
        """Enrol a patient. `phone` must already be E.164 (see flows.phones). `ids` is
        a (row id, short ID) pair from `new_ids()` when the caller needed them first."""
        store = self.store
        store.writing()
        row_id, short_id = ids or self.new_ids()
        row = {
            **extra,
            "id": row_id,
            "short_id": short_id,
            "name": name,
            "phone": phone,
            "phone_index": store.phone_index(phone) if phone else None,
            "birth_year": birth_year,
            "sex": sex,
            "language": language,
            "time_zone": time_zone,
            "chw_id": chw_id,
            "created_at": store.now_iso(),
        }
        try:
            insert_sealed(store, TABLE, row)
        except sqlite3.IntegrityError:
            raise StorageError("that patient ID is already taken") from None
        return self.get(row["id"])

    def new_ids(self) -> tuple[int, str]:
        """A row id and a short ID that no patient has (checked, not yet reserved:
        call inside the write transaction that inserts)."""
        # Grow the ID only when the short space is crowded: 3 digits + check while the
        # clinic is small, more as it grows, up to the longest a check digit protects
        # (a national programme passes 909,000 patients, all six-digit IDs).
        for attempt in range(TRIES_PER_LENGTH * (short_ids.MAX_DIGITS - short_ids.MIN_BASE_DIGITS)):
            base_digits = short_ids.MIN_BASE_DIGITS + attempt // TRIES_PER_LENGTH
            short_id = short_ids.random_short_id(base_digits)
            if self.store.one("SELECT 1 FROM patients WHERE short_id = ?", (short_id,)) is None:
                return self.store.new_id(), short_id
        raise StorageError("could not find a free patient ID")  # pragma: no cover

    def get(self, patient_id: int) -> Patient:
        row = self.store.one(f"{_SELECT} WHERE id = ?", (patient_id,))
        if row is None:
            raise NotFound(f"no patient with id {patient_id}")
        return self._patient(row)

    def by_short_id(self, short_id: str, *, include_closed: bool = False) -> Patient | None:
        """The patient with this short ID. A closed record is found only with
        include_closed (the clinic's own tools): a CHW typing its ID meets no one."""
        active = "" if include_closed else " AND active = 1"
        row = self.store.one(f"{_SELECT} WHERE short_id = ?{active}", (short_id,))
        return self._patient(row) if row else None

    def names(self) -> Iterator[tuple[int, str]]:
        """(id, name) of every open record, opening the name column alone (a search by
        part of a name: names are sealed, so there is no index to ask)."""
        for row_id, blob in self.store.execute("SELECT id, name FROM patients WHERE active = 1 ORDER BY id"):
            try:
                yield row_id, open_value(self.store, TABLE, "name", row_id, blob)
            except DamagedRecord:
                continue

    def with_phone(self, e164: str) -> list[Patient]:
        """Everyone enrolled on this number (a family phone may serve several)."""
        rows = self.store.execute(
            f"{_SELECT} WHERE phone_index = ? AND active = 1 ORDER BY created_at, id",
            (self.store.phone_index(e164),),
        ).fetchall()
        return list(skip_damaged(rows, self._patient))

    def briefs_on_phone(self, phone_index: bytes) -> list[PatientBrief]:
        """with_phone for the hot path: by blind index, opening only the names."""
        def brief(row) -> PatientBrief:
            name = open_value(self.store, TABLE, "name", row[0], row[2])
            return PatientBrief(row[0], row[1], name, row[3], row[4], row[5], bool(row[6]), bool(row[7]),
                                row[8], row[9], bool(row[10]))

        return list(skip_damaged(self.store.execute(_BRIEF, (phone_index,)).fetchall(), brief))

    def all(self) -> Iterator[Patient]:
        """Every patient; a damaged record is left out (and logged), as in every list here."""
        yield from skip_damaged(self.store.execute(f"{_SELECT} ORDER BY created_at, id"), self._patient)

    def for_chw(self, chw_id: int) -> list[Patient]:
        rows = self.store.execute(f"{_SELECT} WHERE chw_id = ? AND active = 1 ORDER BY id", (chw_id,))
        return list(skip_damaged(rows.fetchall(), self._patient))

    def count(self) -> int:
        return self.store.one("SELECT count(*) FROM patients")[0]

    def listed(self, *, include_closed: bool = False, limit: int | None = None) -> list[Patient]:
        """Patients in enrolment order, open records only unless include_closed; at most
        `limit` (all when None). Through a lenient store a damaged one comes back marked."""
        where = "" if include_closed else " WHERE active = 1"
        rows = self.store.execute(f"{_SELECT}{where} ORDER BY created_at, id LIMIT ?",
                                  (-1 if limit is None else limit,)).fetchall()
        return list(skip_damaged(rows, self._patient))

    def count_listed(self, *, include_closed: bool = False) -> int:
        where = "" if include_closed else " WHERE active = 1"
        return self.store.one(f"SELECT count(*) FROM patients{where}")[0]  # noqa: S608

    def close(self, patient_id: int, *, merged_into: int | None = None) -> None:
        """Close a record: it leaves its phone's picker, its CHW's TASKS and the patient
        list, and its ID reaches no one by SMS; everything it holds is kept."""
        self.store.writing()
        self.store.execute("UPDATE patients SET active = 0, closed_at = ?, merged_into = ? WHERE id = ?",
                           (self.store.now_iso(), merged_into, patient_id))

    def reopen(self, patient_id: int) -> None:
        self.store.writing()
        self.store.execute("UPDATE patients SET active = 1, closed_at = NULL, merged_into = NULL WHERE id = ?",
                           (patient_id,))

    def move_panel(self, from_chw: int, to_chw: int | None) -> int:
        """Give every patient (open or closed) of one CHW to another, or to none."""
        self.store.writing()
        return self.store.execute("UPDATE patients SET chw_id = ? WHERE chw_id = ?", (to_chw, from_chw)).rowcount

    def merge(self, keep_id: int, duplicate_id: int) -> dict[str, int]:
        """Move everything recorded for `duplicate_id` to `keep_id` and close the duplicate,
        in one transaction. Returns how many rows moved, by table.

        Every table with a patient_id column moves (readings, alerts, refills, consults,
        held messages, medicines, and any added later). A reading's dedupe index names its
        patient, so it is recomputed (a damaged reading gets one nothing matches: it could
        not be compared anyway). Its submission stays: it is the same person's text."""
        store = self.store
        moved: dict[str, int] = {}
        store.writing()
        rows = store.execute("SELECT id, kind, measured FROM readings WHERE patient_id = ?",
                             (duplicate_id,)).fetchall()
        for reading_id, kind_blob, measured_blob in rows:
            try:
                kind = open_value(store, "readings", "kind", reading_id, kind_blob)
                measured = open_value(store, "readings", "measured", reading_id, measured_blob)
                index = store.readings.dedupe_index(keep_id, kind, measured)
            except DamagedRecord:
                index = store.cipher.blind_index("reading-merged", str(reading_id))
            store.execute("UPDATE readings SET patient_id = ?, dedupe_index = ? WHERE id = ?",
                          (keep_id, index, reading_id))
        moved["readings"] = len(rows)
        for table in _tables_with_patient_id(store):
            if table != "readings":
                moved[table] = store.execute(
                    f"UPDATE {table} SET patient_id = ? WHERE patient_id = ?",  # noqa: S608
                    (keep_id, duplicate_id),
                ).rowcount
        # Records merged into the duplicate earlier now point at the one that stays.
        store.execute("UPDATE patients SET merged_into = ? WHERE merged_into = ?", (keep_id, duplicate_id))
        self.close(duplicate_id, merged_into=keep_id)
        return moved

    def count_on_phone(self, phone_index: bytes) -> int:
        """Active patients on this number (the shared-phone picker shows each of them)."""
        return self.store.one("SELECT count(*) FROM patients WHERE phone_index = ? AND active = 1", (phone_index,))[0]

    def likely_duplicates(
        self, name: str, *, phone_index: bytes | None = None, birth_year: int | None = None,
        chw_id: int | None = None,
    ) -> list[Patient]:
        """Active patients who are probably the person about to be enrolled as `name`:
        the same name on the same phone; or the same name and birth year among the CHW's
        panel (chw_id given) or among all patients; or, when neither phone nor birth year
        is known, the same name among those who have neither (nothing tells them apart).
        Names compare by `name_key`. Sealed names are opened one by one (a birth year
        only when the name matched); damaged records are left out."""
        key = name_key(name)
        scope, params = ("chw_id = ?", [chw_id]) if chw_id is not None else ("1 = 1", [])
        found: set[int] = set()
        if phone_index is not None:
            found |= self._same_name("phone_index = ?", [phone_index], key)
        if birth_year is not None:
            found |= self._same_name(f"birth_year IS NOT NULL AND {scope}", params, key, birth_year)
        elif phone_index is None:
            found |= self._same_name(f"phone_index IS NULL AND birth_year IS NULL AND {scope}", params, key)
        if not found:
            return []
        marks = ", ".join("?" for _ in found)
        rows = self.store.execute(f"{_SELECT} WHERE id IN ({marks}) ORDER BY created_at, id", sorted(found))
        return list(skip_damaged(rows.fetchall(), self._patient))

    def _same_name(self, where: str, params: list, key: str, birth_year: int | None = None) -> set[int]:
        rows = self.store.execute(
            f"SELECT id, name, birth_year FROM {TABLE} WHERE active = 1 AND {where}", params  # noqa: S608
        ).fetchall()

        def match(row) -> int | None:
            name = open_value(self.store, TABLE, "name", row[0], row[1])
            if not isinstance(name, str) or name_key(name) != key:
                return None
            if birth_year is not None and open_value(self.store, TABLE, "birth_year", row[0], row[2]) != birth_year:
                return None
            return row[0]

        return {row_id for row_id in skip_damaged(rows, match) if row_id is not None}

    def update(self, patient_id: int, **changes) -> Patient:
        if "phone" in changes:
            phone = changes["phone"]
            changes["phone_index"] = self.store.phone_index(phone) if phone else None
        self.store.writing()
        try:
            update_sealed(self.store, TABLE, patient_id, changes)
        except sqlite3.IntegrityError as error:
            raise StorageError(f"patient {patient_id} could not be updated: {error}") from None
        return self.get(patient_id)


def _tables_with_patient_id(store: Store) -> list[str]:
    tables = [r[0] for r in store.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
    ).fetchall()]
    return [t for t in tables if any(c[1] == "patient_id" for c in store.execute(f'PRAGMA table_info("{t}")'))]
