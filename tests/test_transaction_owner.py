"""One owner of each transaction: the service, a CLI command or a job opens it once, and
the repositories it calls write inside it. A repository that committed on its own would
let half of a command land (a patient saved, their audit entry lost) behind its caller."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from storage.errors import OutsideTransaction

ROOT = Path(__file__).resolve().parent.parent
# The store defines write(); rotation is a job of its own (it re-seals in batches, each
# its own transaction, so the server keeps answering while it runs).
OWNERS = {"store.py", "rotation.py"}


def _opens_a_transaction(path: Path) -> list[int]:
    lines = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.With):
            for item in node.items:
                call = item.context_expr
                if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "write":
                    lines.append(node.lineno)
    return lines


def test_no_repository_opens_its_own_transaction():
    found = {f"storage/{p.name}:{line}" for p in (ROOT / "storage").glob("*.py") if p.name not in OWNERS
             for line in _opens_a_transaction(p)}
    assert found == set()


def _counts(store) -> tuple[int, int]:
    return store.one("SELECT count(*) FROM patients")[0], store.one("SELECT count(*) FROM audit_log")[0]


def test_a_repository_write_outside_a_transaction_is_refused_and_writes_nothing(store):
    before = _counts(store)
    with pytest.raises(OutsideTransaction):
        store.patients.add(name="Amina Zawadi", phone="+254712345678", time_zone="Africa/Nairobi")
    with pytest.raises(OutsideTransaction):
        store.audit.record("cli", "test")
    assert _counts(store) == before


def test_what_a_caller_writes_in_one_transaction_lands_together_or_not_at_all(store):
    before = _counts(store)
    with pytest.raises(RuntimeError, match="disk went away"), store.write():
        store.patients.add(name="Amina Zawadi", phone="+254712345678", time_zone="Africa/Nairobi")
        store.audit.record("cli", "patient.add")
        raise RuntimeError("disk went away")
    assert _counts(store) == before
