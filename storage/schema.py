"""What every column of the database holds, as a thief with the file would see it.

One description, read by key rotation and `lowband doctor` (SEALED columns), the text
sealer's users (TEXT_SEALED), and the privacy tests (every column classified, nothing
in CLEAR that tells a health fact). A new table adds its columns here, or the tests fail.

- sealed: AES-256-GCM per value, bound to table, column and row, padded; rotated.
- text: short TEXT sealed with a key derived from the never-rotated audit key
  (storage/text_seal.py), padded: the audit chain never has to be rewritten.
- index: a keyed one-way HMAC (a phone, a reading, a text's digest) to find or
  compare rows without opening them.
- clear: what the system needs to run without the key: ids, times, states, counts,
  settings that act before anything is opened. `why` says which.
"""

from __future__ import annotations

SEALED, TEXT, INDEX, CLEAR = "sealed", "text", "index", "clear"

# table -> (primary key, {column: class}); every column of every table, once.
COLUMNS: dict[str, tuple[str, dict[str, str]]] = {
    "staff": ("id", {"id": CLEAR, "role": CLEAR, "name": SEALED, "phone": SEALED, "phone_index": INDEX,
                     "email": SEALED, "active": CLEAR, "created_at": CLEAR, "deactivated_at": CLEAR,
                     "supervisor_id": CLEAR}),
    "patients": ("id", {"id": CLEAR, "short_id": CLEAR, "name": SEALED, "phone": SEALED, "phone_index": INDEX,
                        "birth_year": SEALED, "sex": SEALED, "language": CLEAR, "time_zone": CLEAR,
                        "chw_id": CLEAR, "active": CLEAR, "created_at": CLEAR, "pin_hash": INDEX,
                        "pin_failures": CLEAR, "locked_until": CLEAR, "consent_at": CLEAR,
                        "consent_version": CLEAR, "consent_declined_at": CLEAR, "discreet": CLEAR,
                        "closed_at": CLEAR, "merged_into": CLEAR, "prefers_voice": CLEAR}),
    "medications": ("id", {"id": CLEAR, "patient_id": CLEAR, "name": SEALED, "dose": SEALED, "quantity": SEALED,
                           "active": CLEAR, "created_at": CLEAR}),
    "audit_log": ("seq", {"seq": CLEAR, "at": CLEAR, "actor": TEXT, "action": CLEAR, "subject": TEXT,
                          "detail": TEXT, "mac": INDEX}),
    "contacts": ("phone_index", {"phone_index": INDEX, "opted_out": CLEAR, "opted_out_at": CLEAR,
                                 "window_start": CLEAR, "window_count": CLEAR, "last_digest": INDEX,
                                 "repeats": CLEAR, "muted_until": CLEAR, "repeat_since": CLEAR,
                                 "carrier_blocked": CLEAR, "reply_digests": INDEX, "last_urgent_at": CLEAR,
                                 "version": CLEAR}),
    "sessions": ("phone_index", {"phone_index": INDEX, "state": SEALED, "updated_at": CLEAR}),
    "inbound_messages": ("id", {"id": CLEAR, "message_sid": CLEAR, "channel": CLEAR, "phone_index": INDEX,
                                "body": SEALED, "replies": SEALED, "received_at": CLEAR}),
    "outbox": ("id", {"id": CLEAR, "phone_index": INDEX, "phone": SEALED, "body": SEALED, "purpose": TEXT,
                      "status": CLEAR, "attempts": CLEAR, "next_attempt_at": CLEAR, "lease_until": CLEAR,
                      "provider_sid": CLEAR, "error": CLEAR, "created_at": CLEAR, "updated_at": CLEAR,
                      "alert_id": CLEAR, "expires_at": CLEAR, "priority": CLEAR, "channel": CLEAR,
                      "transport": CLEAR}),
    "counters": ("name", {"name": CLEAR, "value": CLEAR}),
    "early_reports": ("provider_sid", {"provider_sid": CLEAR, "status": CLEAR, "error": CLEAR, "received_at": CLEAR}),
    "readings": ("id", {"id": CLEAR, "patient_id": CLEAR, "submission_id": CLEAR, "kind": SEALED,
                        "measured": SEALED, "level": SEALED, "dedupe_index": INDEX, "sender_index": INDEX,
                        "submitted_by": TEXT, "taken_at": CLEAR}),
    "refills": ("id", {"id": CLEAR, "ref": CLEAR, "patient_id": CLEAR, "medication_id": CLEAR, "status": CLEAR,
                       "answer": SEALED, "answered_by": CLEAR, "flagged_at": CLEAR, "created_at": CLEAR,
                       "updated_at": CLEAR}),
    "consults": ("id", {"id": CLEAR, "ref": CLEAR, "patient_id": CLEAR, "summary": SEALED, "status": CLEAR,
                        "created_at": CLEAR, "updated_at": CLEAR, "owner_id": CLEAR, "recording_index": INDEX,
                        "recording_state": CLEAR}),
    "held_messages": ("id", {"id": CLEAR, "patient_id": CLEAR, "body": SEALED, "created_at": CLEAR,
                             "read_at": CLEAR}),
    "leases": ("name", {"name": CLEAR, "holder": CLEAR, "expires_at": CLEAR}),
    "console_logins": ("staff_id", {"staff_id": CLEAR, "email_index": INDEX, "password_hash": INDEX,
                                    "failures": CLEAR, "locked_until": CLEAR, "changed_at": CLEAR,
                                    "session_stamp": CLEAR}),
    "reminders": ("id", {"id": CLEAR, "patient_id": CLEAR, "rule": SEALED, "next_due_at": CLEAR,
                          "next_send_at": CLEAR, "active": CLEAR, "paused_until": CLEAR, "created_at": CLEAR,
                          "updated_at": CLEAR, "followed_up_at": CLEAR}),
    "reminder_sends": ("id", {"id": CLEAR, "reminder_id": CLEAR, "due_at": CLEAR, "state": CLEAR,
                              "outbox_id": CLEAR, "answer": SEALED, "answered_at": CLEAR, "created_at": CLEAR}),
    "oncall": ("id", {"id": CLEAR, "staff_id": CLEAR, "starts_at": CLEAR, "ends_at": CLEAR, "created_at": CLEAR}),
    "alerts": ("id", {"id": CLEAR, "ref": CLEAR, "patient_id": CLEAR, "submission_id": CLEAR, "reason": SEALED,
                      "status": CLEAR, "handled_by": CLEAR, "created_at": CLEAR, "updated_at": CLEAR,
                      "delivery": CLEAR, "tier": CLEAR}),
    # The store's own bookkeeping: key check values, the audit head, schema names.
    "meta": ("key", {"key": CLEAR, "value": CLEAR}),
    "_sqlite_migrations": ("id", {"id": CLEAR, "migration_set": CLEAR, "name": CLEAR, "applied_at": CLEAR}),
}

# Clear columns whose words are names of things, never about a person: an action's name
# ("alert.raised", whose subject is sealed), a counter's name, schema bookkeeping.
NAMED_THINGS = {("audit_log", "action"), ("counters", "name"), ("meta", "key"), ("meta", "value"),
                ("leases", "name"), ("leases", "holder"),
                ("_sqlite_migrations", "name"), ("_sqlite_migrations", "migration_set")}

# Sealed columns padded to a bucket larger than the usual 64 bytes: whole texts. A reply
# to a normal reading is one short SMS, to an urgent one a longer SMS of advice; in 64-byte
# steps the size alone would say which. 512 bytes hold two SMS of accented text (the
# longest reply a reading gets), so every reading's reply seals to one size.
BUCKETS: dict[tuple[str, str], int] = {
    ("inbound_messages", "replies"): 512,
    ("outbox", "body"): 512,
    # What people type: a reading is short, words to the nurse or a clinician's advice
    # long; in 64-byte steps the size alone told a consult from a reading.
    ("inbound_messages", "body"): 512,
    ("held_messages", "body"): 512,
    ("consults", "summary"): 512,
    ("refills", "answer"): 512,
    # A conversation's state grows with where it is (a CHW's last registration, readings
    # kept until consent): one size for the usual ones.
    ("sessions", "state"): 512,
    # A rule names a medicine or a reading kind: one size for all of them.
    # 512: the largest (12 times a day, every weekday named, start and end dates, the
    # longest medicine label) is about 350 bytes; in 256 it alone would be bigger.
    ("reminders", "rule"): 512,
}
# Sealed lists of messages given room by how many they hold, not by what they say: a text
# that replays five readings kept before a PIN gets five replies, and five urgent ones
# are longer than five "saved". 384 bytes hold any one SMS (160 accented characters, or
# 70 of any script), so the size says how many replies there were and nothing more.
ROOM_PER_ITEM: dict[tuple[str, str], int] = {
    ("inbound_messages", "replies"): 384,
}

# table -> (primary key column, sealed columns). Key rotation walks exactly these.
ENCRYPTED: dict[str, tuple[str, tuple[str, ...]]] = {
    table: (key, tuple(c for c, kind in columns.items() if kind == SEALED))
    for table, (key, columns) in COLUMNS.items()
    if any(kind == SEALED for kind in columns.values())
}


# Every sealed (table, column): Store.seal refuses any other, so a repository cannot seal
# a column rotation would never re-seal, nor write one in clear that this file calls sealed.
SEALED_COLUMNS = frozenset((table, column) for table, (_, columns) in ENCRYPTED.items() for column in columns)


def sealed(table: str) -> tuple[str, ...]:
    """The sealed columns of `table`, in the order COLUMNS lists them."""
    return ENCRYPTED[table][1]


def columns_of(kind: str) -> set[tuple[str, str]]:
    return {(table, column) for table, (_, columns) in COLUMNS.items() for column, k in columns.items() if k == kind}
