"""Schema migrations: named steps, each in its own transaction, each applied once.

Never edit a step that has shipped; add a new one. Columns holding personal data are
BLOBs of sealed values (see crypto.py); storage/schema.py says what every column holds.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from storage import schema as _schema

migrations = Migrations("lowband")


@migrations(name="0001_core")
def core(db: Database) -> None:
    db.execute(
        """CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        ) STRICT"""
    )
    db.execute(
        """CREATE TABLE staff (
            id INTEGER PRIMARY KEY,
            role TEXT NOT NULL
                CHECK (role IN ('clinician', 'pharmacist', 'chw', 'chw_supervisor', 'admin')),
            name BLOB NOT NULL,
            phone BLOB NOT NULL,
            phone_index BLOB NOT NULL UNIQUE,
            email BLOB,
            active INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL
        ) STRICT"""
    )
    db.execute(
        """CREATE TABLE patients (
            id INTEGER PRIMARY KEY,
            short_id TEXT NOT NULL UNIQUE,
            name BLOB NOT NULL,
            phone BLOB,
            phone_index BLOB,
            birth_year BLOB,
            sex BLOB,
            language TEXT NOT NULL DEFAULT 'en',
            time_zone TEXT NOT NULL,
            chw_id INTEGER REFERENCES staff(id),
            active INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL
        ) STRICT"""
    )
    db.execute("CREATE INDEX patients_phone ON patients(phone_index)")
    db.execute("CREATE INDEX patients_chw ON patients(chw_id)")
    db.execute(
        """CREATE TABLE medications (
            id INTEGER PRIMARY KEY,
            patient_id INTEGER NOT NULL REFERENCES patients(id),
            name BLOB NOT NULL,
            dose BLOB NOT NULL,
            quantity BLOB,
            active INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL
        ) STRICT"""
    )
    db.execute("CREATE INDEX medications_patient ON medications(patient_id)")


@migrations(name="0002_audit_log")
def audit_log(db: Database) -> None:
    # Details hold ids and action names only, never personal data, so they stay
    # plain and key rotation never has to touch (and re-chain) the log.
    db.execute(
        """CREATE TABLE audit_log (
            seq INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            subject TEXT NOT NULL,
            detail TEXT NOT NULL,
            mac TEXT NOT NULL
        ) STRICT"""
    )
    # Append-only inside SQLite too; the HMAC chain catches edits made around this.
    db.execute(
        """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
           BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"""
    )
    db.execute(
        """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
           BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"""
    )


@migrations(name="0003_patient_pins")
def patient_pins(db: Database) -> None:
    db.execute("ALTER TABLE patients ADD COLUMN pin_hash TEXT")
    db.execute("ALTER TABLE patients ADD COLUMN pin_failures INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE patients ADD COLUMN locked_until TEXT")


@migrations(name="0004_messaging")
def messaging(db: Database) -> None:
    db.execute("ALTER TABLE patients ADD COLUMN consent_at TEXT")
    db.execute("ALTER TABLE patients ADD COLUMN consent_version TEXT")
    db.execute("ALTER TABLE patients ADD COLUMN consent_declined_at TEXT")
    # One row per phone number we have heard from: opt-out and the loop guard's
    # counters. Keyed by the blind index, so the number itself is never stored here.
    db.execute(
        """CREATE TABLE contacts (
            phone_index BLOB PRIMARY KEY,
            opted_out INTEGER NOT NULL DEFAULT 0,
            opted_out_at TEXT,
            window_start TEXT,
            window_count INTEGER NOT NULL DEFAULT 0,
            last_digest TEXT,
            repeats INTEGER NOT NULL DEFAULT 0,
            muted_until TEXT
        ) STRICT, WITHOUT ROWID"""
    )
    db.execute(
        """CREATE TABLE sessions (
            phone_index BLOB PRIMARY KEY,
            state BLOB NOT NULL,
            updated_at TEXT NOT NULL
        ) STRICT, WITHOUT ROWID"""
    )
    # Every webhook we answered, by Twilio's id: a retried webhook gets the stored
    # answer instead of running the step twice.
    db.execute(
        """CREATE TABLE inbound_messages (
            id INTEGER PRIMARY KEY,
            message_sid TEXT NOT NULL UNIQUE,
            channel TEXT NOT NULL,
            phone_index BLOB NOT NULL,
            body BLOB,
            replies BLOB,
            received_at TEXT NOT NULL
        ) STRICT"""
    )
    db.execute("CREATE INDEX inbound_phone ON inbound_messages(phone_index, received_at)")
    db.execute(
        """CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            phone_index BLOB NOT NULL,
            phone BLOB NOT NULL,
            body BLOB NOT NULL,
            purpose TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN
                ('queued', 'sending', 'sent', 'delivered', 'undelivered', 'failed', 'refused')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            lease_until TEXT,
            provider_sid TEXT UNIQUE,
            error TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        ) STRICT"""
    )
    db.execute("CREATE INDEX outbox_due ON outbox(status, next_attempt_at)")


@migrations(name="0005_care")
def care(db: Database) -> None:
    # Discreet patients get no SMS that names a condition or a medicine before their PIN.
    db.execute("ALTER TABLE patients ADD COLUMN discreet INTEGER NOT NULL DEFAULT 0")
    # Short references people read out and type back ("A12", "RF12", "C7").
    db.execute(
        """CREATE TABLE counters (
            name TEXT PRIMARY KEY,
            value INTEGER NOT NULL
        ) STRICT"""
    )
    db.execute(
        """CREATE TABLE readings (
            id INTEGER PRIMARY KEY,
            patient_id INTEGER NOT NULL REFERENCES patients(id),
            submission_id INTEGER NOT NULL,
            kind BLOB NOT NULL,
            measured BLOB NOT NULL,
            level BLOB NOT NULL,
            dedupe_index BLOB NOT NULL,
            sender_index BLOB NOT NULL,
            submitted_by TEXT NOT NULL,
            taken_at TEXT NOT NULL
        ) STRICT"""
    )
    db.execute("CREATE INDEX readings_patient ON readings(patient_id, taken_at)")
    db.execute("CREATE INDEX readings_submission ON readings(submission_id)")
    db.execute("CREATE INDEX readings_dedupe ON readings(dedupe_index, taken_at)")
    db.execute("CREATE INDEX readings_sender ON readings(sender_index, taken_at)")
    db.execute(
        """CREATE TABLE alerts (
            id INTEGER PRIMARY KEY,
            ref TEXT NOT NULL UNIQUE,
            patient_id INTEGER NOT NULL REFERENCES patients(id),
            submission_id INTEGER,
            reason BLOB NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('open', 'acknowledged', 'withdrawn')),
            handled_by INTEGER REFERENCES staff(id),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        ) STRICT"""
    )
    db.execute("CREATE INDEX alerts_patient ON alerts(patient_id, status)")
    db.execute("CREATE INDEX alerts_status ON alerts(status, created_at)")
    db.execute(
        """CREATE TABLE refills (
            id INTEGER PRIMARY KEY,
            ref TEXT NOT NULL UNIQUE,
            patient_id INTEGER NOT NULL REFERENCES patients(id),
            medication_id INTEGER NOT NULL REFERENCES medications(id),
            status TEXT NOT NULL CHECK (status IN ('requested', 'ready', 'refused')),
            answer BLOB,
            answered_by INTEGER REFERENCES staff(id),
            flagged_at TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        ) STRICT"""
    )
    db.execute("CREATE INDEX refills_status ON refills(status, created_at)")
    db.execute(
        """CREATE TABLE consults (
            id INTEGER PRIMARY KEY,
            ref TEXT NOT NULL UNIQUE,
            patient_id INTEGER NOT NULL REFERENCES patients(id),
            summary BLOB NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('open', 'closed')),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        ) STRICT"""
    )
    db.execute("CREATE INDEX consults_patient ON consults(patient_id, status)")
    # Advice for a discreet patient waits here until they enter their PIN.
    db.execute(
        """CREATE TABLE held_messages (
            id INTEGER PRIMARY KEY,
            patient_id INTEGER NOT NULL REFERENCES patients(id),
            body BLOB NOT NULL,
            created_at TEXT NOT NULL,
            read_at TEXT
        ) STRICT"""
    )
    db.execute("CREATE INDEX held_messages_patient ON held_messages(patient_id, read_at)")
    db.execute(
        """CREATE TABLE oncall (
            id INTEGER PRIMARY KEY,
            staff_id INTEGER NOT NULL REFERENCES staff(id),
            starts_at TEXT NOT NULL,
            ends_at TEXT NOT NULL,
            created_at TEXT NOT NULL,
            CHECK (ends_at > starts_at)
        ) STRICT"""
    )
    db.execute("CREATE INDEX oncall_time ON oncall(starts_at, ends_at)")


@migrations(name="0006_safety_net")
def safety_net(db: Database) -> None:
    # An urgent reading from a number we cannot yet tie to one patient (a new number,
    # a shared phone before the sender says who they are) still raises an alert, so an
    # alert may have no patient; its sealed reason says who may have sent it.
    db["alerts"].transform(not_null={"patient_id": False})
    # When the current run of identical texts began: repeats count only inside a short
    # window, so a patient who sends the same reading every morning is never muted.
    db.execute("ALTER TABLE contacts ADD COLUMN repeat_since TEXT")
    # Opted out with a word the carrier acts on (it then blocks our texts), or with one it
    # does not (we may still send safety advice to someone who texts a dangerous value).
    db.execute("ALTER TABLE contacts ADD COLUMN carrier_blocked INTEGER NOT NULL DEFAULT 0")
    # Digests of our last replies to this number (a robot echoing them back is not a
    # person), and when an urgent value last alerted for it (a stuck phone resending one
    # dangerous reading alerts once, not thirty times).
    db.execute("ALTER TABLE contacts ADD COLUMN reply_digests TEXT")
    db.execute("ALTER TABLE contacts ADD COLUMN last_urgent_at TEXT")
    # Every urgent alert reaches a person: which outbox messages carry which alert, how
    # far it has been passed on (0 on call, 1 the other clinicians, 2 the admins), and
    # whether a carrier took one of them ('reached') or everyone failed ('undelivered').
    db.execute("ALTER TABLE outbox ADD COLUMN alert_id INTEGER")
    db.execute("CREATE INDEX outbox_alert ON outbox(alert_id) WHERE alert_id IS NOT NULL")
    db.execute("ALTER TABLE alerts ADD COLUMN delivery TEXT NOT NULL DEFAULT 'pending' "
               "CHECK (delivery IN ('pending', 'reached', 'undelivered'))")
    db.execute("ALTER TABLE alerts ADD COLUMN tier INTEGER NOT NULL DEFAULT 0")
    db.execute("CREATE INDEX alerts_open ON alerts(status, delivery) WHERE status = 'open'")


@migrations(name="0007_clinic_admin")
def clinic_admin(db: Database) -> None:
    # A record the clinic closed (moved away, died, enrolled twice) keeps its history but
    # leaves its phone's picker, the CHW's TASKS and the patient list: `active` is the
    # switch, these say when, and for a merged duplicate which record holds it all now.
    db.execute("ALTER TABLE patients ADD COLUMN closed_at TEXT")
    db.execute("ALTER TABLE patients ADD COLUMN merged_into INTEGER REFERENCES patients(id)")
    # When a staff user was deactivated (their texts are then no longer staff commands).
    db.execute("ALTER TABLE staff ADD COLUMN deactivated_at TEXT")
    # `lowband readings --since`: the clinic's readings, newest first.
    db.execute("CREATE INDEX readings_taken ON readings(taken_at)")


@migrations(name="0008_consult_owner")
def consult_owner(db: Database) -> None:
    # The clinician who answered a consult first owns it: a second answer is refused,
    # and the patient's replies go to them.
    db.execute("ALTER TABLE consults ADD COLUMN owner_id INTEGER REFERENCES staff(id)")


@migrations(name="0009_voice_messages")
def voice_messages(db: Database) -> None:
    # A caller's voice message opens a consult; Twilio's recording callback finds it by a
    # keyed index of the RecordingSid (the SID and URL themselves are in the sealed summary),
    # and says whether the recording worked.
    db.execute("ALTER TABLE consults ADD COLUMN recording_index BLOB")
    db.execute("ALTER TABLE consults ADD COLUMN recording_state TEXT")
    db.execute("CREATE INDEX consults_recording ON consults(recording_index)")


@migrations(name="0010_early_reports")
def early_reports(db: Database) -> None:
    # A delivery report can overtake the send call that it is about (Twilio answers the
    # callback before our send returns): kept here until the send records its SID.
    db.execute("CREATE TABLE early_reports (provider_sid TEXT PRIMARY KEY, status TEXT NOT NULL, error TEXT, "
               "received_at TEXT NOT NULL)")


@migrations(name="0011_contact_version")
def contact_version(db: Database) -> None:
    # A text is decided before the write lock is taken; the row's version, bumped by every
    # write, tells whether another text from the same phone was handled meanwhile.
    db.execute("ALTER TABLE contacts ADD COLUMN version INTEGER NOT NULL DEFAULT 0")


@migrations(name="0012_reminders")
def reminders(db: Database) -> None:
    # A rule (what, at which local times, on which days) is sealed: it names a medicine or
    # a condition. Only when it is next due is in clear, for the dispatcher's query;
    # `next_send_at` is that moment moved past the patient's quiet hours.
    db.execute(
        "CREATE TABLE reminders (id INTEGER PRIMARY KEY, patient_id INTEGER NOT NULL REFERENCES patients(id), "
        "rule BLOB NOT NULL, next_due_at TEXT, next_send_at TEXT, active INTEGER NOT NULL DEFAULT 1, "
        "paused_until TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)"
    )
    db.execute("CREATE INDEX reminders_due ON reminders(active, next_send_at)")
    db.execute("CREATE INDEX reminders_patient ON reminders(patient_id)")
    # One row per occurrence: the unique key is what makes a reminder go out once,
    # whatever runs twice; the answer (taken or skipped) is adherence, sealed.
    db.execute(
        "CREATE TABLE reminder_sends (id INTEGER PRIMARY KEY, reminder_id INTEGER NOT NULL REFERENCES reminders(id), "
        "due_at TEXT NOT NULL, state TEXT NOT NULL, outbox_id INTEGER, answer BLOB, answered_at TEXT, "
        "created_at TEXT NOT NULL, UNIQUE (reminder_id, due_at))"
    )


@migrations(name="0013_leases")
def leases(db: Database) -> None:
    # Exactly one dispatcher acts at a time: it holds a lease it renews on every pass; a
    # second one waits and takes over when the lease lapses (a row, so it ports to a
    # server database later).
    db.execute("CREATE TABLE leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at TEXT NOT NULL)")


@migrations(name="0014_outbox_expiry")
def outbox_expiry(db: Database) -> None:
    # A message is retried until it is no use any more (a reminder hours late, a reply
    # to a question long gone), not for a fixed number of tries: an outage of half an
    # hour must not lose what is still worth sending.
    db.execute("ALTER TABLE outbox ADD COLUMN expires_at TEXT")


@migrations(name="0015_outbox_priority")
def outbox_priority(db: Database) -> None:
    # Alerts before care news before reminders: 08:00 brings every medicine reminder of
    # the clinic at once, and an urgent alert must not queue behind them. (The purpose
    # itself is sealed; this says only how soon.)
    db.execute("ALTER TABLE outbox ADD COLUMN priority INTEGER NOT NULL DEFAULT 1")
    db.execute("DROP INDEX outbox_due")
    db.execute("CREATE INDEX outbox_due ON outbox(status, priority, next_attempt_at)")


@migrations(name="0016_voice_reminders")
def voice_reminders(db: Database) -> None:
    # A patient who prefers calls gets reminders as calls: the outbox row says how it goes
    # out (an SMS or a call), the patient row which they prefer.
    db.execute("ALTER TABLE outbox ADD COLUMN channel TEXT NOT NULL DEFAULT 'sms'")
    db.execute("ALTER TABLE patients ADD COLUMN prefers_voice INTEGER NOT NULL DEFAULT 0")


@migrations(name="0017_adherence_follow_up")
def adherence_follow_up(db: Database) -> None:
    # When the CHW was last told about a patient's skipped medicine, and when the patient
    # was last nudged for missed readings: once a week at most, never a stream.
    db.execute("ALTER TABLE reminders ADD COLUMN followed_up_at TEXT")


@migrations(name="0018_console_logins")
def console_logins(db: Database) -> None:
    # A staff user's console sign-in: found by a keyed hash of the email (the email itself
    # is sealed in staff), a slow password hash, and failures counted for the lockout. The
    # session stamp is new with each password: sessions signed with an old one end.
    db.execute("CREATE TABLE console_logins (staff_id INTEGER PRIMARY KEY REFERENCES staff(id), "
               "email_index BLOB NOT NULL UNIQUE, password_hash TEXT NOT NULL, failures INTEGER NOT NULL DEFAULT 0, "
               "locked_until TEXT, changed_at TEXT NOT NULL, session_stamp TEXT NOT NULL)")


@migrations(name="0019_chw_supervisors")
def chw_supervisors(db: Database) -> None:
    # A CHW's supervisor: in the console, a supervisor sees their CHWs' patients only.
    db.execute("ALTER TABLE staff ADD COLUMN supervisor_id INTEGER REFERENCES staff(id)")


@migrations(name="0020_outbox_transport")
def outbox_transport(db: Database) -> None:
    # Which of the clinic's transports (Twilio, its Android phone, its modem) took each
    # message: with failover, the admin needs to know which line to look at.
    db.execute("ALTER TABLE outbox ADD COLUMN transport TEXT")


# Which columns are sealed lives in storage/schema.py; kept here under its old name.
ENCRYPTED = _schema.ENCRYPTED


def apply(db: Database) -> None:
    migrations.apply(db)


def schema_version(db: Database) -> str | None:
    applied = migrations.applied(db)
    return applied[-1].name if applied else None


def pending(db: Database) -> list[str]:
    return [m.name for m in migrations.pending(db)]
