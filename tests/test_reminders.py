"""Reminders at the patient's own local time: never in quiet hours, once across the
autumn clock change and not skipped in the spring one, written once however often the
dispatcher runs, and recorded missed rather than sent hours late after an outage.
Driven through the CLI with given clocks (`reminders due --at`, `dispatch --once --at`)."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

AMINA, JOE = "+254712345678", "+12125550123"


@pytest.fixture
def clinic(run_cli, installation):
    for args in (("patients", "add", "--name", "Amina Zawadi", "--phone", AMINA),
                 ("patients", "add", "--name", "Joe Miller", "--phone", JOE, "--tz", "America/New_York")):
        assert run_cli(*args).exit_code == 0, run_cli(*args).output
    listing = [json.loads(line) for line in run_cli("patients", "list", "--json").output.splitlines()]
    ids = {row["name"].split()[0]: row["id"] for row in listing}
    consent(installation, ids.values())
    assert run_cli("meds", "add", ids["Amina"], "--name", "Metformin", "--dose", "500mg", "--quantity", "60"
                   ).exit_code == 0
    assert run_cli("meds", "add", ids["Joe"], "--name", "Insulin", "--dose", "10u").exit_code == 0
    return ids


def consent(installation, short_ids) -> None:
    """They said YES by SMS (reminders never go to someone who has not agreed)."""
    from storage import load_key_file
    from storage.store import open_store

    store = open_store(installation.db, load_key_file(installation.key_file), pin_work=4)
    try:
        with store.write():
            for short_id in short_ids:
                store.patients.update(store.patients.by_short_id(short_id).id, consent_at="2026-01-01T00:00:00+00:00",
                                      consent_version="consent-v1")
    finally:
        store.db.close()


def due(run_cli, at: str) -> list[dict]:
    result = run_cli("reminders", "due", "--at", at, "--json")
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines()]


def reminder_texts(installation, run_cli) -> list[str]:
    rows = [json.loads(line) for line in run_cli("outbox", "--json").output.splitlines()]
    return [r["body"] for r in rows if r["purpose"] == "reminder"]


def occurrences(installation) -> list[tuple[str, str]]:
    conn = sqlite3.connect(installation.db)
    try:
        return conn.execute("SELECT due_at, state FROM reminder_sends ORDER BY due_at").fetchall()
    finally:
        conn.close()


def test_eight_in_nairobi_is_five_utc_and_goes_out_once(installation, run_cli, clinic):
    assert run_cli("reminders", "add", clinic["Amina"], "--medicine", "metformin", "--times", "08:00",
                   "--start", "2026-12-01T00:00+03:00").exit_code == 0
    assert due(run_cli, "2026-12-01T04:59+00:00") == []
    [one] = due(run_cli, "2026-12-01T05:00+00:00")
    assert one["text"] == "Amina: time for your 08:00 medicine: Metformin 500mg x60. Reply 1 taken, 2 skipped."
    for _ in range(3):  # the dispatcher runs again and again: written once
        assert run_cli("dispatch", "--once", "--at", "2026-12-01T05:00:30+00:00").exit_code == 0
    assert reminder_texts(installation, run_cli) == [one["text"]]
    assert occurrences(installation) == [("2026-12-01T05:00:00+00:00", "sent")]
    assert due(run_cli, "2026-12-01T05:01+00:00") == []  # next: tomorrow
    assert [r["send_at"] for r in due(run_cli, "2026-12-02T05:00+00:00")] == ["2026-12-02T05:00:00+00:00"]


def test_half_past_one_in_new_york_is_sent_once_in_autumn_and_in_spring(installation, run_cli, clinic):
    """01:30 happens twice on the night clocks go back (1 November 2026): one reminder.
    Quiet hours are lifted here by asking for the reading reminder at 01:30 through a
    rule, then checking what falls due; quiet hours hold it to 07:00, but once only."""
    assert run_cli("reminders", "add", clinic["Joe"], "--medicine", "insulin", "--times", "01:30",
                   "--start", "2026-10-31T12:00-04:00").exit_code == 0
    # 01:30 is inside the quiet hours (21:00-07:00): held to 07:00 local.
    assert due(run_cli, "2026-11-01T05:30+00:00") == []
    sends = []
    for at in ("2026-11-01T12:00+00:00", "2026-11-01T12:30+00:00", "2026-11-02T12:00+00:00"):
        assert run_cli("dispatch", "--once", "--at", at).exit_code == 0
        sends = occurrences(installation)
    # One on 1 November (the first 01:30, EDT), none for the repeated 01:30, one on the 2nd.
    assert sends == [("2026-11-01T05:30:00+00:00", "sent"), ("2026-11-02T06:30:00+00:00", "sent")]


def test_spring_forward_night_still_gets_its_reminder(installation, run_cli, clinic):
    """02:30 does not exist on 8 March 2026 in New York: the reminder is not skipped (it
    is in the quiet hours, so it goes out at 07:00)."""
    assert run_cli("reminders", "add", clinic["Joe"], "--medicine", "insulin", "--times", "02:30",
                   "--start", "2026-03-07T12:00-05:00").exit_code == 0
    for at in ("2026-03-08T11:05+00:00", "2026-03-09T11:05+00:00"):
        assert run_cli("dispatch", "--once", "--at", at).exit_code == 0
    dates = [due_at[:10] for due_at, state in occurrences(installation) if state == "sent"]
    assert dates == ["2026-03-08", "2026-03-09"]  # the night the clocks jump too


def test_a_night_dose_held_to_morning_is_not_sent_with_the_morning_dose(installation, run_cli, clinic):
    """22:00 and 06:00: the 22:00 reminder, held by the quiet hours to 07:00, would arrive
    with the 06:00 one (two doses at once). It is recorded, not sent."""
    assert run_cli("reminders", "add", clinic["Amina"], "--medicine", "Metformin", "--times", "06:00,22:00",
                   "--start", "2026-12-01T12:00+03:00").exit_code == 0
    for at in ("2026-12-02T04:00:10+00:00", "2026-12-02T04:00:40+00:00"):
        assert run_cli("dispatch", "--once", "--at", at).exit_code == 0
    assert occurrences(installation) == [("2026-12-01T19:00:00+00:00", "superseded"),
                                         ("2026-12-02T03:00:00+00:00", "sent")]


def test_nothing_is_sent_to_a_patient_who_has_not_agreed_or_said_no(installation, run_cli, clinic):
    assert run_cli("reminders", "add", clinic["Amina"], "--medicine", "Metformin", "--times", "08:00",
                   "--start", "2026-12-01T00:00+03:00").exit_code == 0
    assert len(due(run_cli, "2026-12-01T05:00+00:00")) == 1
    from storage import load_key_file
    from storage.store import open_store

    store = open_store(installation.db, load_key_file(installation.key_file), pin_work=4)
    with store.write():
        store.patients.update(store.patients.by_short_id(clinic["Amina"]).id,
                              consent_declined_at="2026-11-30T00:00:00+00:00")
    store.db.close()
    assert due(run_cli, "2026-12-01T05:00+00:00") == []
    assert run_cli("dispatch", "--once", "--at", "2026-12-01T05:00:30+00:00").exit_code == 0
    assert occurrences(installation) == [("2026-12-01T05:00:00+00:00", "no consent")]


def test_a_reminder_in_quiet_hours_waits_and_one_too_late_is_missed(installation, run_cli, clinic):
    assert run_cli("reminders", "add", clinic["Amina"], "--medicine", "metformin", "--times", "22:00",
                   "--start", "2026-12-01T00:00+03:00").exit_code == 0
    assert due(run_cli, "2026-12-01T19:00+00:00") == []  # 22:00 in Nairobi: quiet
    [held] = due(run_cli, "2026-12-02T04:00+00:00")  # 07:00 in Nairobi: the quiet hours are over
    assert held["send_at"] == "2026-12-02T04:00:00+00:00"
    # The laptop was off until 10:30: two and a half hours past 07:00 is too late.
    assert run_cli("dispatch", "--once", "--at", "2026-12-02T07:30+00:00").exit_code == 0
    assert reminder_texts(installation, run_cli) == []
    assert occurrences(installation) == [("2026-12-01T19:00:00+00:00", "missed")]


def test_a_discreet_patient_is_reminded_without_the_medicine_named(installation, run_cli, clinic):
    assert run_cli("patients", "set", clinic["Amina"], "--discreet").exit_code == 0
    assert run_cli("reminders", "add", clinic["Amina"], "--medicine", "Metformin", "--times", "08:00",
                   "--start", "2026-12-01T00:00+03:00").exit_code == 0
    [one] = due(run_cli, "2026-12-01T05:00+00:00")
    assert one["text"] == "Amina: time for your 08:00 medicine. Reply 1 taken, 2 skipped."


def test_reminder_mistakes_are_one_line(run_cli, cli_error, clinic):
    cli_error(run_cli("reminders", "add", clinic["Amina"], "--times", "08:00"), "--medicine", "--reading")
    cli_error(run_cli("reminders", "add", clinic["Amina"], "--medicine", "Aspirin", "--times", "08:00"),
              "no medicine 'Aspirin'")
    cli_error(run_cli("reminders", "add", clinic["Amina"], "--reading", "bp", "--times", "8h"), "like 08:00")
    cli_error(run_cli("reminders", "add", clinic["Amina"], "--reading", "bp", "--times", "08:00", "--days", "xyz"),
              "--days")
    cli_error(run_cli("reminders", "remove", "42"), "no reminder 42")


def test_a_medicine_added_with_times_is_reminded_and_the_demo_has_reminders(installation, run_cli, clinic):
    result = run_cli("meds", "add", clinic["Joe"], "--name", "Amlodipine", "--dose", "5mg", "--times", "09:00,21:30")
    assert result.exit_code == 0, result.output
    assert "reminded at 09:00, 21:30 (America/New_York)" in result.output
    rows = [json.loads(line) for line in run_cli("reminders", "list", clinic["Joe"], "--json").output.splitlines()]
    assert [(r["what"], r["times"]) for r in rows] == [("Amlodipine 5mg", "09:00,21:30")]


def test_the_demo_clinic_has_reminders_of_each_kind(tmp_path, run_cli):
    env = {"LOWBAND_DB": str(tmp_path / "demo" / "lowband.db"), "LOWBAND_KEY_FILE": str(tmp_path / "demo" / "k.key")}
    assert run_cli("init", "--demo", env=env).exit_code == 0
    rows = [json.loads(line) for line in run_cli("reminders", "list", "--json", env=env).output.splitlines()]
    assert {r["what"] for r in rows} >= {"Metformin 500mg x60", "bp reading"}


def test_a_reminder_paused_from_the_cli_is_held_then_starts_again(installation, run_cli, clinic, cli_error):
    assert run_cli("reminders", "add", clinic["Amina"], "--medicine", "Metformin", "--times", "08:00").exit_code == 0
    [row] = [json.loads(line) for line in run_cli("reminders", "list", "--json").output.splitlines()]
    result = run_cli("reminders", "pause", str(row["id"]), "--days", "3")
    assert result.exit_code == 0 and "paused until" in result.output
    assert run_cli("reminders", "pause", str(row["id"]), "--days", "0").output.strip().endswith("is on again.")
    cli_error(run_cli("reminders", "pause", "7", "--days", "2"), "no reminder 7")


def test_an_appointment_is_reminded_the_day_before_and_two_hours_before_then_ends(installation, run_cli, clinic):
    result = run_cli("reminders", "add", clinic["Amina"], "--appointment", "2027-01-12T10:30+03:00")
    assert result.exit_code == 0, result.output
    [first] = due(run_cli, "2027-01-11T06:00+00:00")  # 09:00 Nairobi the day before
    assert first["text"] == ("Amina: your visit to Lowband Clinic is on 12/01 10:30. "
                             "Reply 1 to confirm, 2 if you need another day.")
    assert run_cli("dispatch", "--once", "--at", "2027-01-11T06:00:30+00:00").exit_code == 0
    assert due(run_cli, "2027-01-12T05:29+00:00") == []
    assert len(due(run_cli, "2027-01-12T05:30+00:00")) == 1  # 08:30: two hours before
    assert run_cli("dispatch", "--once", "--at", "2027-01-12T05:30:30+00:00").exit_code == 0
    assert [s for _, s in occurrences(installation)] == ["sent", "sent"]
    assert "No reminders." in run_cli("reminders", "list").output  # it has no more times: ended


def test_a_medicine_with_quantity_and_daily_dose_is_reminded_before_it_runs_out(installation, run_cli, clinic):
    result = run_cli("meds", "add", clinic["Joe"], "--name", "Losartan", "--dose", "50mg", "--quantity", "30",
                     "--per-day", "1")
    assert result.exit_code == 0 and "A refill reminder goes out" in result.output
    [row] = [json.loads(line) for line in run_cli("reminders", "list", clinic["Joe"], "--json").output.splitlines()]
    assert row["what"] == "refill of Losartan 50mg x30"


def test_a_reminder_with_an_end_date_stops_after_it(installation, run_cli, clinic):
    assert run_cli("reminders", "add", clinic["Amina"], "--medicine", "Metformin", "--times", "08:00",
                   "--start", "2026-12-01T00:00+03:00", "--until", "2026-12-02").exit_code == 0
    for at in ("2026-12-01T05:00:30+00:00", "2026-12-02T05:00:30+00:00", "2026-12-03T05:00:30+00:00"):
        assert run_cli("dispatch", "--once", "--at", at).exit_code == 0
    assert [d[:10] for d, s in occurrences(installation)] == ["2026-12-01", "2026-12-02"]


def test_admin_slips_are_refused_not_guessed(installation, run_cli, clinic, cli_error):
    cli_error(run_cli("reminders", "add", clinic["Amina"], "--medicine", "Metformin", "--times", "08:00",
                      "--days", "mond"), "--days")
    times = ",".join(f"{h:02d}:00" for h in range(13))
    cli_error(run_cli("reminders", "add", clinic["Amina"], "--medicine", "Metformin", "--times", times),
              "at most 12")
    assert run_cli("reminders", "add", clinic["Amina"], "--medicine", "Metformin", "--times", "08:00",
                   "--days", "monday,Mon").exit_code == 0
    cli_error(run_cli("reminders", "add", clinic["Amina"], "--medicine", "metformin", "--times", "8:00",
                      "--days", "mon"), "already has this reminder")
    assert run_cli("meds", "add", clinic["Amina"], "--name", "Metformin", "--dose", "850mg").exit_code == 0
    cli_error(run_cli("reminders", "add", clinic["Amina"], "--medicine", "Metformin", "--times", "20:00"),
              "say which", "Metformin 500mg")
    assert run_cli("reminders", "add", clinic["Amina"], "--medicine", "Metformin 850mg", "--times", "20:00"
                   ).exit_code == 0


def test_until_a_date_means_the_end_of_that_day_where_the_patient_lives(installation, run_cli, clinic):
    assert run_cli("reminders", "add", clinic["Joe"], "--medicine", "Insulin", "--times", "08:00,20:00",
                   "--start", "2026-11-30T00:00-05:00", "--until", "2026-12-01").exit_code == 0
    for at in ("2026-11-30T13:00:30", "2026-12-01T01:00:30", "2026-12-01T13:00:30", "2026-12-02T01:00:30",
               "2026-12-02T13:00:30", "2026-12-03T01:00:30"):  # just after 08:00 and 20:00 in New York
        assert run_cli("dispatch", "--once", "--at", f"{at}+00:00").exit_code == 0
    sent = [d for d, s in occurrences(installation) if s == "sent"]
    assert len(sent) == 4 and sent[-1] == "2026-12-02T01:00:00+00:00"  # 1 December, 20:00 in New York


def test_a_rule_seals_to_one_size_however_many_times_and_days_it_holds(installation, run_cli, clinic):
    """Twelve doses a day with dates and weekdays, or one: the ciphertext says neither."""
    assert run_cli("reminders", "add", clinic["Amina"], "--reading", "bp", "--times", "08:00").exit_code == 0
    assert run_cli("meds", "add", clinic["Amina"], "--name", "Amlodipine", "--dose", "12.5mg",
                   "--quantity", "9999").exit_code == 0
    many = ",".join(f"{h:02d}:30" for h in range(7, 19))
    result = run_cli("reminders", "add", clinic["Amina"], "--medicine", "Amlodipine", "--times", many,
                     "--days", "mon,tue,wed,thu,fri,sat", "--start", "2026-12-01T00:00+03:00",
                     "--until", "2027-12-31")
    assert result.exit_code == 0, result.output
    conn = sqlite3.connect(installation.db)
    try:
        sizes = {length for (length,) in conn.execute("SELECT length(rule) FROM reminders")}
    finally:
        conn.close()
    assert len(sizes) == 1


def test_a_visit_reminded_twice_or_only_after_it_is_refused(installation, run_cli, clinic, cli_error):
    visit = "2027-01-12T10:30+03:00"
    assert run_cli("reminders", "add", clinic["Amina"], "--appointment", visit).exit_code == 0
    cli_error(run_cli("reminders", "add", clinic["Amina"], "--appointment", visit), "already reminded of that visit")
    # A patient where it is midday now, with a visit at 06:00 tomorrow: the day-before
    # reminder (09:00 today) has passed and the other (04:00) waits for the quiet hours
    # to end at 07:00, after the visit.
    offset = (12 - datetime.now(UTC).hour) % 24
    offset = offset - 24 if offset > 12 else offset
    zone = f"Etc/GMT{-offset:+d}" if offset else "UTC"  # POSIX signs: Etc/GMT-3 is UTC+3
    added = run_cli("patients", "add", "--name", "Noon Patient", "--phone", "+254733999001", "--tz", zone)
    assert added.exit_code == 0, added.output
    short_id = added.output.split()[2]
    local_now = datetime.now(ZoneInfo(zone))
    tomorrow_six = datetime.combine(local_now.date() + timedelta(days=1), datetime.min.time(),
                                    tzinfo=ZoneInfo(zone)).replace(hour=6)
    cli_error(run_cli("reminders", "add", short_id, "--appointment", tomorrow_six.isoformat()), "quiet hours")


def test_a_pretended_time_never_texts_real_phones(installation, run_cli, clinic, cli_error):
    env = {"LOWBAND_TRANSPORT": "twilio", "TWILIO_ACCOUNT_SID": "AC" + "1" * 32, "TWILIO_AUTH_TOKEN": "t" * 32,
           "TWILIO_FROM": "+15005550006"}
    cli_error(run_cli("dispatch", "--once", "--at", "2026-12-01T05:00+00:00", env=env),
              "preview with `lowband reminders due --at`")


def test_every_time_held_by_the_quiet_hours_is_recorded_and_one_reminder_goes(installation, run_cli, clinic):
    """01:00, 01:15, 01:30, 01:45 and 07:30 on the night clocks go back: the four night
    times are each recorded (superseded by the next, never four texts at 07:00), and the
    07:30 one goes out."""
    assert run_cli("reminders", "add", clinic["Joe"], "--medicine", "insulin", "--times",
                   "01:00,01:15,01:30,01:45,07:30", "--start", "2026-10-31T12:00-04:00").exit_code == 0
    assert run_cli("dispatch", "--once", "--at", "2026-11-01T12:00:30+00:00").exit_code == 0  # 07:00 EST
    assert [state for _, state in occurrences(installation)] == ["superseded"] * 4
    assert run_cli("dispatch", "--once", "--at", "2026-11-01T12:30:30+00:00").exit_code == 0  # 07:30 EST
    assert occurrences(installation)[-1] == ("2026-11-01T12:30:00+00:00", "sent")
    assert len(reminder_texts(installation, run_cli)) == 1
