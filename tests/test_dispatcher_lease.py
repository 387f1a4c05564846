"""Exactly one dispatcher acts at a time, and whatever runs twice, or is killed
mid-pass and restarted, each reminder goes out once. Real processes, one database."""

from __future__ import annotations

import io
import multiprocessing
import os
import signal
from datetime import UTC, datetime, timedelta

import pytest

from lowband.wiring import conversation_service
from scheduler import dispatcher
from scheduler.reminders import schedule
from storage import load_key_file
from storage.store import open_store
from tests.conftest import TEST_PIN_WORK
from tests.helpers.conversation_script import ScriptRunner

PATIENTS = 12
START = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)  # 07:00 in Nairobi: quiet hours just over


def _store(installation):
    return open_store(installation.db, load_key_file(installation.key_file), pin_work=TEST_PIN_WORK)


@pytest.fixture
def due_reminders(installation):
    store = _store(installation)
    with store.write():
        for n in range(PATIENTS):
            ScriptRunner.add_patient(store, [f"{1000 + n}", f"Patient {n}", f"+2547123456{n:02d}", "consent"])
            patient = store.patients.by_short_id(f"{1000 + n}")
            medicine = store.medications.add(patient.id, name="Metformin", dose="500mg", quantity=60)
            rule = {"kind": "medicine", "times": ["07:00", "07:05", "07:10"], "weekdays": [],
                    "medication_id": medicine.id, "label": medicine.label}
            store.reminders.add(patient.id, rule, *schedule(rule, patient.time_zone, START - timedelta(hours=1)))
    store.db.close()
    return installation


def _passes(installation, settings, at: float, rounds: int, out) -> None:
    from sms_gateway.transports import ConsoleTransport

    store = _store(installation)
    service = conversation_service(settings)
    done = 0
    for n in range(rounds):
        try:
            dispatcher.dispatch_once(store, ConsoleTransport(io.StringIO()), now=START + timedelta(minutes=at + n),
                                     service=service)
            done += 1
        except dispatcher.AnotherDispatcher:
            pass
    out.put(done)


def _sent(installation) -> list[tuple[int, str]]:
    store = _store(installation)
    try:
        rows = store.execute("SELECT reminder_id, due_at FROM reminder_sends WHERE state = 'sent'").fetchall()
        outbox = store.one("SELECT count(*) FROM outbox WHERE purpose IS NOT NULL")[0]
        return sorted(map(tuple, rows)), outbox
    finally:
        store.db.close()


def test_two_dispatcher_processes_send_each_reminder_once(due_reminders, installation):
    from lowband.settings import load_settings

    settings = load_settings(overrides=installation.config)
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    workers = [context.Process(target=_passes, args=(installation, settings, 1, 12, out)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    passes = [out.get(timeout=5) for _ in workers]
    sends, outbox = _sent(installation)
    assert len(sends) == len(set(sends)) == PATIENTS * 3  # every occurrence, each once
    assert outbox == PATIENTS * 3
    assert sorted(passes)[0] == 0 and sorted(passes)[1] == 12  # one held the lease, the other waited


def _killed_mid_pass(installation, settings) -> None:
    import storage.outbox

    real = storage.outbox.Outbox.enqueue
    calls = {"n": 0}

    def slow_enqueue(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == PATIENTS:  # half-way through the pass, inside its transaction
            os.kill(os.getpid(), signal.SIGKILL)
        return real(self, *args, **kwargs)

    storage.outbox.Outbox.enqueue = slow_enqueue
    _passes(installation, settings, 1, 1, multiprocessing.get_context("fork").Queue())


def test_a_dispatcher_killed_mid_pass_loses_none_and_doubles_none(due_reminders, installation):
    from lowband.settings import load_settings

    settings = load_settings(overrides=installation.config)
    context = multiprocessing.get_context("fork")
    victim = context.Process(target=_killed_mid_pass, args=(installation, settings))
    victim.start()
    victim.join(60)
    assert victim.exitcode == -signal.SIGKILL
    assert _sent(installation) == ([], 0)  # the half-done pass left nothing behind
    store = _store(installation)
    with store.write():
        store.execute("UPDATE leases SET expires_at = '2000-01-01T00:00:00+00:00'")  # a minute later
    store.db.close()
    _passes(installation, settings, 1, 12, context.Queue())  # restarted: the same minutes again
    sends, outbox = _sent(installation)
    assert len(sends) == len(set(sends)) == PATIENTS * 3 and outbox == PATIENTS * 3


def test_one_pass_sends_every_due_reminder_in_short_batches(due_reminders, installation, monkeypatch):
    """At 08:00 thousands fall due at once: one pass writes them all, a batch per
    transaction, so the write lock is never held for the whole of it."""
    import scheduler.reminders
    from lowband.settings import load_settings

    monkeypatch.setattr(scheduler.reminders, "BATCH", 5)
    store = _store(installation)
    transactions = []
    write = store.write

    def counted():
        transactions.append(1)
        return write()

    monkeypatch.setattr(store, "write", counted)
    report = scheduler.reminders.send_due(store, conversation_service(load_settings(overrides=installation.config)),
                                          START + timedelta(minutes=1))
    store.db.close()
    assert len(report.sent) == PATIENTS and len(transactions) >= PATIENTS // 5
