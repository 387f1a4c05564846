"""A throwaway installation for the benchmark: `lowband init --demo`, then a crowd.

The crowd is what "nothing grows with the number of patients" needs: many enrolled
patients, each with a phone of their own, consent given and a PIN set, spread over
many CHW panels, so every inbound text looks up one sender among thousands.
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

# One PIN for everyone: the bench types it in the PIN pass.
PIN = "1234"
LANGUAGES = ("en", "sw", "fr", "es")
FIRST = ("Amina", "Joseph", "Halima", "Wanjiku", "Otieno", "Achieng", "Baraka", "Neema", "Kamau", "Zawadi")
LAST = ("Njeri", "Mwangi", "Ouma", "Kariuki", "Wekesa", "Mutua", "Chebet", "Omondi", "Kiprono", "Atieno")
# Number blocks (Kenyan mobile ranges that phonenumbers accepts as valid):
PATIENT_BASE = 710_000_000  # +254 710 000 000 onwards: enrolled patients
CHW_BASE = 702_000_000  # +254 702 000 000 onwards: the CHWs
NEW_BASE = 730_000_000  # +254 730 000 000 onwards: numbers the clinic has never seen
# Small panels: relays are 1 text in 7 (one per CHW per 6 patients), yet no CHW texts
# near the loop guard's 10 a minute at the rates measured.
PATIENTS_PER_CHW = 6


def phone(base: int, index: int) -> str:
    return f"+254{base + index}"


@dataclass
class Crowd:
    """Who may text the clinic in the bench: plain data, sent to the load workers as JSON."""

    patients: list[dict] = field(default_factory=list)  # {"phone", "short_id", "language", "index"}
    chws: list[dict] = field(default_factory=list)  # {"phone", "panel": [short_id, ...], "index"}

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Installation:
    root: Path
    db: Path
    key_file: Path
    region: str = "KE"

    def config(self, public_url: str, token: str) -> dict:
        """create_app's test_config: production settings except the paths, the URL
        Twilio calls and the auth token it signs with. PIN_WORK stays at its default."""
        return {
            "DB": str(self.db),
            "KEY_FILE": str(self.key_file),
            "REGION": self.region,
            "PUBLIC_URL": public_url,
            "TWILIO_AUTH_TOKEN": token,
        }


def create(root: Path, patients: int) -> tuple[Installation, Crowd]:
    """`lowband init --demo`, then `patients` patients in CHW panels of PATIENTS_PER_CHW."""
    from flows.phones import default_time_zone
    from lowband.demo import load_demo
    from lowband.settings import load_settings
    from storage import create_key_file, open_store
    from storage.pins import hash_pin

    inst = Installation(root=root, db=root / "data" / "lowband.db", key_file=root / "data" / "lowband.key")
    settings = load_settings(environ={}, overrides={"DB": inst.db, "KEY_FILE": inst.key_file, "REGION": inst.region})
    ring = create_key_file(inst.key_file)
    store = open_store(inst.db, ring, create=True, pin_work=settings.pin_work)
    crowd = Crowd()
    try:
        with store.write():
            store.audit.record("cli", "init")
        load_demo(store, settings, datetime.now(UTC).year)
        # One real hash at the production cost; every patient shares it (same PIN),
        # which keeps set-up at one scrypt instead of thousands.
        pin_hash = hash_pin(ring.pin_key, PIN, settings.pin_work)
        consent_at = datetime.now(UTC).isoformat(timespec="seconds")
        zone = default_time_zone(phone(PATIENT_BASE, 0), settings.time_zone)
        chw_count = max(1, -(-patients // PATIENTS_PER_CHW))
        with store.write():
            chw_ids = []
            for j in range(chw_count):
                user = store.staff.add(role="chw", name=f"{FIRST[j % 10]} {LAST[(j // 10) % 10]}",
                                       phone=phone(CHW_BASE, j))
                chw_ids.append(user.id)
                crowd.chws.append({"phone": phone(CHW_BASE, j), "panel": [], "index": j})
            for i in range(patients):
                language = LANGUAGES[i % len(LANGUAGES)]
                chw = i % chw_count
                patient = store.patients.add(
                    name=f"{FIRST[i % 10]} {LAST[(i // 10) % 10]}", phone=phone(PATIENT_BASE, i), time_zone=zone,
                    birth_year=1940 + i % 60, sex="FM"[i % 2], language=language, chw_id=chw_ids[chw],
                    pin_hash=pin_hash, consent_at=consent_at, consent_version="consent-v1",
                )
                crowd.patients.append(
                    {"phone": phone(PATIENT_BASE, i), "short_id": patient.short_id, "language": language, "index": i}
                )
                crowd.chws[chw]["panel"].append(patient.short_id)
    finally:
        store.db.close()
    return inst, crowd


def snapshot(db: Path) -> dict:
    """Row counts per table and the file's size, with the WAL folded in first so the
    size is what the data takes (call when no server has the file open)."""
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        rows = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}  # noqa: S608
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
    finally:
        conn.close()
    wal = db.with_name(db.name + "-wal")
    return {
        "rows": rows,
        "bytes": page_size * pages,
        "file_bytes": db.stat().st_size + (wal.stat().st_size if wal.exists() else 0),
    }


def growth(before: dict, after: dict) -> dict:
    rows = {t: after["rows"].get(t, 0) - before["rows"].get(t, 0) for t in after["rows"]}
    return {
        "rows": {t: n for t, n in rows.items() if n},
        "rows_total": sum(rows.values()),
        "bytes": after["bytes"] - before["bytes"],
    }
