"""A patient's medicines, as the clinic recorded them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from storage.errors import NotFound
from storage.records import insert_sealed, open_row

if TYPE_CHECKING:
    from storage.store import Store

TABLE = "medications"
COLUMNS = ["id", "patient_id", "name", "dose", "quantity", "active", "created_at"]
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM {TABLE}"  # noqa: S608


@dataclass(frozen=True)
class Medication:
    id: int
    patient_id: int
    name: str
    dose: str
    quantity: int | None
    active: bool
    created_at: str

    @property
    def label(self) -> str:
        """As a pharmacist writes it: "Metformin 500mg x60"."""
        text = f"{self.name} {self.dose}"
        return f"{text} x{self.quantity}" if self.quantity else text


class MedicationRepository:
    def __init__(self, store: Store):
        self.store = store

    def _medication(self, row) -> Medication:
        data = open_row(self.store, TABLE, row, COLUMNS)
        data["active"] = bool(data["active"])
        return Medication(**data)

    def add(self, patient_id: int, *, name: str, dose: str, quantity: int | None = None) -> Medication:
        store = self.store
        row = {
            "id": store.new_id(),
            "patient_id": patient_id,
            "name": name,
            "dose": dose,
            "quantity": quantity,
            "created_at": store.now_iso(),
        }
        store.writing()
        insert_sealed(store, TABLE, row)
        return self.get(row["id"])

    def get(self, medication_id: int) -> Medication:
        row = self.store.one(f"{_SELECT} WHERE id = ?", (medication_id,))
        if row is None:
            raise NotFound(f"no medication with id {medication_id}")
        return self._medication(row)

    def for_patient(self, patient_id: int, *, active_only: bool = True) -> list[Medication]:
        sql = f"{_SELECT} WHERE patient_id = ?" + (" AND active = 1" if active_only else "")
        rows = self.store.execute(sql + " ORDER BY created_at, id", (patient_id,)).fetchall()
        return [self._medication(r) for r in rows]
