"""How long `lowband reminders due --at` and a dispatcher pass take with many rules.

    python -m bench.reminders [--rules 100000]

Builds a clinic with one patient per rule (medicine reminders at times spread over the
day, in the patients' zone), then measures, with a given clock:
- `due` at a quiet moment (a few rules due) and at 08:00 (the busiest minute);
- one dispatcher pass at 08:00 (outbox rows written, rules moved on).
What it measures is the query and the work per due rule; neither grows with the rules
not due (the query is on an index of when each rule is next sent).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.installation import Installation
from lowband.settings import load_settings
from lowband.wiring import conversation_service
from scheduler.reminders import due_now, schedule, send_due
from storage import create_key_file, open_store

TIMES = [f"{h:02d}:{m:02d}" for h in range(7, 21) for m in (0, 15, 30, 45)]  # 56 slots of the waking day
BUSY = ["08:00"]  # where most patients take their morning medicine


def build(root: Path, rules: int):
    inst = Installation(root=root, db=root / "data" / "lowband.db", key_file=root / "data" / "lowband.key")
    settings = load_settings(environ={}, overrides={"DB": inst.db, "KEY_FILE": inst.key_file, "REGION": "KE"})
    store = open_store(inst.db, create_key_file(inst.key_file), create=True, pin_work=settings.pin_work)
    start = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)  # 06:00 in Nairobi
    with store.write():
        for i in range(rules):
            # Consent given: a patient who never agreed gets no reminders (and the bench
            # would measure nothing).
            patient = store.patients.add(name=f"Patient {i}", phone=f"+2547{20000000 + i:08d}",
                                         time_zone="Africa/Nairobi", language="sw", consent_at=start.isoformat(),
                                         consent_version="consent-v1")
            medicine = store.medications.add(patient.id, name="Metformin", dose="500mg", quantity=60)
            # A third at the busy 08:00, the rest spread over the day.
            times = BUSY if i % 3 == 0 else [TIMES[i % len(TIMES)]]
            rule = {"kind": "medicine", "times": times, "weekdays": [], "medication_id": medicine.id,
                    "label": medicine.label}
            store.reminders.add(patient.id, rule, *schedule(rule, "Africa/Nairobi", start))
    return store, settings


def timed(work):
    began = time.perf_counter()
    result = work()
    return result, time.perf_counter() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reminders", description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=100_000, help="active reminder rules (default 100000)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        began = time.perf_counter()
        store, settings = build(Path(folder), args.rules)
        print(f"{args.rules} rules for {args.rules} patients, set up in {time.perf_counter() - began:.1f} s")
        service = conversation_service(settings)
        quiet = datetime(2026, 12, 1, 4, 10, tzinfo=UTC)  # 07:10 local: the 07:00 slot only
        busy = datetime(2026, 12, 1, 5, 0, tzinfo=UTC) + timedelta(seconds=30)  # 08:00:30 local
        found, seconds = timed(lambda: due_now(store, service, quiet))
        print(f"due at 07:10 local: {len(found)} reminders in {seconds:.2f} s")
        found, seconds = timed(lambda: due_now(store, service, busy))
        print(f"due at 08:00 local (the busiest minute): {len(found)} reminders in {seconds:.2f} s")
        report, seconds = timed(lambda: send_due(store, service, busy))
        print(f"one dispatcher pass at 08:00: {len(report.sent)} sent, {len(report.missed)} missed, "
              f"in {seconds:.2f} s ({seconds / max(len(report.sent), 1) * 1000:.2f} ms a reminder)")
        store.db.close()
    # A third of the rules are at 08:00 (and each rule at most once): a figure far from
    # that means the bench measured something else (as when its patients had not agreed).
    if not args.rules // 3 <= len(report.sent) <= args.rules:
        print(f"FAIL: expected about {args.rules // 3} reminders at 08:00, sent {len(report.sent)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
