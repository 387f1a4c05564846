"""The audit log: append-only and tamper-evident.

Each entry's MAC is an HMAC (under the key file's audit key) of the previous entry's
MAC and this entry's fields, so changing any entry breaks its MAC, removing one from
the middle leaves a gap in the sequence, and removing the newest is caught by the
authenticated head kept in `meta`. Entries hold ids and action names, never names,
numbers or health data; even so, who did what to whom is a health fact, so actor,
subject and detail are sealed (storage/text_seal.py) and the chain covers them as
stored. Only the sequence, the time and the action stay in clear.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag

if TYPE_CHECKING:
    from storage.store import Store

GENESIS = "lowband-audit-genesis"


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: str
    actor: str
    action: str
    subject: str
    detail: str
    mac: str


@dataclass(frozen=True)
class AuditReport:
    entries: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


class AuditLog:
    def __init__(self, store: Store):
        self.store = store
        self._key = store.keys.audit_key
        self._sealer = store.text_sealer

    def _mac(self, prev: str, seq: int, at: str, actor: str, action: str, subject: str, detail: str) -> str:
        message = "\x1f".join((prev, str(seq), at, actor, action, subject, detail)).encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def _head_tag(self, seq: int, mac: str) -> str:
        return hmac.new(self._key, f"head\x1f{seq}\x1f{mac}".encode(), hashlib.sha256).hexdigest()

    @staticmethod
    def _fields(entry: AuditEntry) -> tuple:
        return (entry.seq, entry.at, entry.actor, entry.action, entry.subject, entry.detail)

    def record(self, actor: str, action: str, subject: str = "", detail: str = "") -> int:
        """Append one entry, inside the caller's transaction (the chain needs the write lock)."""
        store = self.store
        store.writing()
        last = store.one("SELECT seq, mac FROM audit_log ORDER BY seq DESC LIMIT 1")
        seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
        at = store.now_iso()
        actor, subject, detail = (self._sealer.seal(value, f"audit_log.{name}") for name, value in (
            ("actor", actor), ("subject", subject), ("detail", detail)))
        mac = self._mac(prev, seq, at, actor, action, subject, detail)
        store.execute(
            "INSERT INTO audit_log (seq, at, actor, action, subject, detail, mac) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (seq, at, actor, action, subject, detail, mac),
        )
        store.meta_set("audit_head", f"{seq}:{mac}:{self._head_tag(seq, mac)}")
        return seq

    def _stored(self, limit: int | None = None) -> list[AuditEntry]:
        sql = "SELECT seq, at, actor, action, subject, detail, mac FROM audit_log ORDER BY seq"
        if limit:
            sql = f"SELECT * FROM ({sql} DESC LIMIT {int(limit)}) ORDER BY seq"  # noqa: S608
        return [AuditEntry(*row) for row in self.store.execute(sql).fetchall()]

    def entries(self, limit: int | None = None) -> list[AuditEntry]:
        """The entries as written (actor, subject and detail opened)."""
        opened = []
        for entry in self._stored(limit):
            try:
                actor, subject, detail = (self._sealer.open(getattr(entry, name), f"audit_log.{name}")
                                          for name in ("actor", "subject", "detail"))
            except (ValueError, UnicodeDecodeError, InvalidTag):
                actor = subject = detail = "(damaged)"  # `audit verify` names the entry
            opened.append(AuditEntry(entry.seq, entry.at, actor, entry.action, subject, detail, entry.mac))
        return opened

    def verify(self) -> AuditReport:
        problems: list[str] = []
        prev, expected, count = GENESIS, 1, 0
        for entry in self._stored():
            count += 1
            if entry.seq != expected:
                missing = f"{expected}" if entry.seq == expected + 1 else f"{expected} to {entry.seq - 1}"
                problems.append(f"entry {missing} deleted (gap in the sequence)")
            elif self._mac(prev, *self._fields(entry)) != entry.mac:
                problems.append(f"entry {entry.seq} changed (its MAC does not match)")
            prev, expected = entry.mac, entry.seq + 1
        head = self.store.meta_get("audit_head")
        last_seq = expected - 1
        if head is None:
            if count:
                problems.append("the log's head record is missing")
            elif self.store.meta_get("key_fingerprint"):
                # Every database writes a first entry when it is created.
                problems.append("the log is empty: all entries deleted")
        else:
            try:
                seq_text, mac, tag = head.split(":")
                head_seq = int(seq_text)
            except ValueError:
                problems.append("the log's head record is damaged")
            else:
                if not hmac.compare_digest(tag, self._head_tag(head_seq, mac)):
                    problems.append("the log's head record was changed")
                elif head_seq > last_seq:
                    problems.append(f"entries after {last_seq} deleted (the log ended at {head_seq})")
                elif head_seq < last_seq or mac != prev:
                    problems.append(f"entry {head_seq} or later changed (head does not match)")
        return AuditReport(entries=count, problems=problems)
