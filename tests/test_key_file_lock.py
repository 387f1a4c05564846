"""Commands that change the key file at the same moment (two backups, a backup and a
rotation) queue on its lock: none loses the other's backup or key, and the file is
never left half-written or with another writer's bytes after its own."""

from __future__ import annotations

import multiprocessing

from storage import load_key_file
from storage.keyfile import known_backups, record_backup

WRITERS, EACH = 8, 5


def _record(path: str, writer: int) -> None:
    for n in range(EACH):
        record_backup(path, f"/backups/{writer}-{n}-{'y' * (writer * 7)}.db", {1}, "2026-11-29T10:00:00+00:00")


def test_backups_recorded_at_once_are_all_kept(installation):
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_record, args=(str(installation.key_file), w)) for w in range(WRITERS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    load_key_file(installation.key_file)  # whole, and still a key file
    assert len(known_backups(installation.key_file)) == WRITERS * EACH
    assert not list(installation.key_file.parent.glob("*.tmp"))
