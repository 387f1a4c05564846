"""How long `lowband reminders due --at` and a dispatcher pass take with many rules.

    python -m bench.reminders [--rules 100000] [--json]

Builds a clinic with one patient per rule: `--rules` medicine reminders at 08:00 (when
most patients take their morning medicine) and half as many again at other times of
the day, in the patients' zone. Then, with a given clock:
- `due` at a quiet moment (a few rules due) and at 08:00 (every busy rule due);
- one dispatcher pass at 08:00: every due reminder claimed and written to the outbox,
  rules moved on; its seconds and the process's peak memory.
The rules not due cost nothing (the query is on an index of when each rule is next sent).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.installation import Installation
from lowband.settings import load_settings
from lowband.wiring import conversation_service
from scheduler.reminders import due_now, schedule, send_due
from storage import create_key_file, open_store
from storage.checkpointer import FALLBACK_PAGES, Checkpointer

TIMES = [f"{h:02d}:{m:02d}" for h in range(7, 21) for m in (0, 15, 30, 45)]  # 56 slots of the waking day
BUSY = ["08:00"]  # where most patients take their morning medicine
# From 09:00: not within the hour a late 07:xx reminder may still go out at 08:00.
OTHER_TIMES = [t for t in TIMES if t >= "09:00"]
TARGET_SECONDS, TARGET_BYTES = 20.0, 300 * 2**20  # 100,000 into the outbox: at most 20 s and 300 MB


def build(root: Path, rules: int, others: int):
    inst = Installation(root=root, db=root / "data" / "lowband.db", key_file=root / "data" / "lowband.key")
    settings = load_settings(environ={}, overrides={"DB": inst.db, "KEY_FILE": inst.key_file, "REGION": "KE"})
    store = open_store(inst.db, create_key_file(inst.key_file), create=True, pin_work=settings.pin_work)
    start = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)  # 06:00 in Nairobi
    with store.write():
        for i in range(rules + others):
            # Consent given: a patient who never agreed gets no reminders (and the bench
            # would measure nothing).
            patient = store.patients.add(name=f"Patient {i}", phone=f"+2547{20000000 + i:08d}",
                                         time_zone="Africa/Nairobi", language="sw", consent_at=start.isoformat(),
                                         consent_version="consent-v1")
            medicine = store.medications.add(patient.id, name="Metformin", dose="500mg", quantity=60)
            # `rules` at the busy 08:00, the others spread over the rest of the day.
            times = BUSY if i < rules else [OTHER_TIMES[i % len(OTHER_TIMES)]]
            rule = {"kind": "medicine", "times": times, "weekdays": [], "medication_id": medicine.id,
                    "label": medicine.label}
            store.reminders.add(patient.id, rule, *schedule(rule, "Africa/Nairobi", start))
    return store, settings


def peak_rss_bytes() -> int:
    """This process's peak resident memory so far (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def timed(work):
    began = time.perf_counter()
    result = work()
    return result, time.perf_counter() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reminders", description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=100_000, help="reminders due at 08:00 (default 100000)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the report")
    args = parser.parse_args(argv)
    others = args.rules // 2
    say = (lambda line: None) if args.json else print
    with tempfile.TemporaryDirectory() as folder:
        began = time.perf_counter()
        store, settings = build(Path(folder), args.rules, others)
        built = time.perf_counter() - began
        say(f"{args.rules + others} rules for as many patients ({args.rules} at 08:00), set up in {built:.1f} s")
        service = conversation_service(settings)
        quiet = datetime(2026, 12, 1, 3, 50, tzinfo=UTC)  # 06:50 local: nothing due
        busy = datetime(2026, 12, 1, 5, 0, tzinfo=UTC) + timedelta(seconds=30)  # 08:00:30 local
        found, quiet_seconds = timed(lambda: due_now(store, service, quiet))
        say(f"due at 06:50 local: {len(found)} reminders in {quiet_seconds:.2f} s")
        found, busy_seconds = timed(lambda: due_now(store, service, busy))
        say(f"due at 08:00 local (the busiest minute): {len(found)} reminders in {busy_seconds:.2f} s")
        memory_before = peak_rss_bytes()
        # As under `lowband serve`: WAL checkpoints on their own thread, not in the commits.
        store.execute(f"PRAGMA wal_autocheckpoint = {FALLBACK_PAGES}")
        checkpointer = Checkpointer(Path(folder) / "data" / "lowband.db").start()
        try:
            report, seconds = timed(lambda: send_due(store, service, busy))
        finally:
            checkpointer.stop()
        peak = peak_rss_bytes()
        outbox = store.one("SELECT count(*) FROM outbox")[0]
        say(f"one dispatcher pass at 08:00: {len(report.sent)} sent, {len(report.missed)} missed, "
            f"in {seconds:.2f} s ({seconds / max(len(report.sent), 1) * 1000:.2f} ms a reminder), "
            f"peak memory {peak / 2**20:.0f} MB (was {memory_before / 2**20:.0f} MB before the pass)")
        store.db.close()
    result = {
        "rules": args.rules + others, "due": args.rules, "setup_seconds": round(built, 1),
        "due_quiet_seconds": round(quiet_seconds, 3), "due_busy": len(found),
        "due_busy_seconds": round(busy_seconds, 3),
        "sent": len(report.sent), "missed": len(report.missed), "outbox_rows": outbox,
        "pass_seconds": round(seconds, 2), "peak_rss_bytes": peak, "rss_before_pass_bytes": memory_before,
        "target_seconds": TARGET_SECONDS, "target_bytes": TARGET_BYTES,
        "met": seconds <= TARGET_SECONDS and peak <= TARGET_BYTES,
    }
    if args.json:
        print(json.dumps(result))
    # Every 08:00 rule is due once: a figure far from that means the bench measured
    # something else (as when its patients had not agreed to reminders).
    if len(report.sent) != args.rules or outbox < args.rules:
        print(f"FAIL: expected {args.rules} reminders into the outbox at 08:00, sent {len(report.sent)}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
