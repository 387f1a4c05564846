"""Issue 4, acceptance 4, end to end: care thresholds come from the settings file, and a
clinic that changes one sees the alert follow, through the real webhook on a real
database. Also: a bad override file is one clear line, and the trend rule (three high
readings of one kind in seven days) raises a non-urgent alert and a clinician SMS."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from lowband import create_app
from lowband.settings import SettingsError
from tests.helpers.conversation_script import ScriptRunner
from tests.helpers.twilio_client import AUTH_TOKEN, TwilioClient

CLINICIAN = "+254700100101"
PHARMACIST = "+254700100102"
CHW = "+254700100103"
AMINA = "+254712345678"
AMINA_ID = "4376"

URGENT_REPLY = (
    "Amina Z.: BP 170/100 is DANGER. Go to Lowband Clinic or the nearest health facility now. "
    "Emergency: 112."
)
HIGH_REPLY = "Amina Z.: saved BP 170/100: HIGH (aim <140/90). Reply UNDO if wrong."
STRICTER_BP = "[bp]\nurgent_at_or_above = { systolic = 170 }  # our clinical lead, 2026\n"


@pytest.fixture
def clinic(store):
    """A clinician, a pharmacist, a CHW, and Amina (PIN, consent, on the CHW's panel)."""
    with store.write():
        store.staff.add(role="clinician", name="Wanjiru Kamau", phone=CLINICIAN)
        store.staff.add(role="pharmacist", name="Otieno Ouma", phone=PHARMACIST)
        store.staff.add(role="chw", name="Grace Achieng", phone=CHW)
        ScriptRunner.add_patient(store, [AMINA_ID, "Amina Zawadi", AMINA, "pin=1111", "consent", f"chw={CHW}"])
    return store



@pytest.fixture
def make_line(installation, clock, monkeypatch):
    """`make_line(**config)`: the SMS line of an app built with these settings; the
    environment's LOWBAND_CARE_RULES is cleared first so only the test decides."""
    monkeypatch.delenv("LOWBAND_CARE_RULES", raising=False)
    apps = []

    def make(**config):
        app = create_app({**installation.config, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "CLOCK": clock, **config})
        apps.append(app)
        return TwilioClient(app.test_client())

    yield make
    for app in apps:
        app.extensions["lowband"].close()


def text(line: TwilioClient, clock, sender: str, body: str) -> list[str]:
    reply = line.sms(sender, body)
    assert reply.status == 200, reply.raw
    clock.now += timedelta(seconds=10)  # people take a few seconds between texts
    return reply.messages


def rules_file(tmp_path, body: str):
    path = tmp_path / "clinic-rules.toml"
    path.write_text(body, encoding="utf-8")
    return path


# -- one threshold changed, the alert follows -------------------------------------------------


def test_with_the_default_rules_170_systolic_is_high_and_alerts_nobody(clinic, make_line, clock):
    line = make_line()
    assert text(line, clock, AMINA, "BP 170/100") == [HIGH_REPLY]
    assert clinic.alerts.list() == []
    assert clinic.outbox.list() == []


@pytest.mark.parametrize("how", ["config", "environment"])
def test_an_override_file_makes_170_urgent(clinic, make_line, clock, tmp_path, monkeypatch, how):
    path = rules_file(tmp_path, STRICTER_BP)
    if how == "config":
        line = make_line(CARE_RULES=path)
    else:
        monkeypatch.setenv("LOWBAND_CARE_RULES", str(path))  # as `lowband serve` would find it
        line = make_line()
    assert text(line, clock, AMINA, "BP 170/100") == [URGENT_REPLY]

    (alert,) = clinic.alerts.list()
    assert alert.status == "open"
    assert alert.patient_id == clinic.patients.by_short_id(AMINA_ID).id
    assert alert.reason == "bp.urgent_high BP 170/100"
    (sms,) = clinic.outbox.list()
    assert sms.phone == CLINICIAN
    assert sms.purpose == "alert"
    assert sms.body == (
        f"URGENT {alert.ref}: Amina Z. ({AMINA_ID}) BP 170/100 at 11:00. Safety advice given. "
        f"Reply {alert.ref} OK when handled."
    )
    assert "alert.raised" in [e.action for e in clinic.audit.entries()]


def test_the_override_changes_only_what_it_names(clinic, make_line, clock, tmp_path):
    line = make_line(CARE_RULES=rules_file(tmp_path, STRICTER_BP))
    # The diastolic bound (120) and the high bound (140/90) keep their defaults.
    assert text(line, clock, AMINA, "BP 165/115") == [
        "Amina Z.: saved BP 165/115: HIGH (aim <140/90). Reply UNDO if wrong."]
    assert text(line, clock, AMINA, "BP 130/85") == ["Amina Z.: saved BP 130/85: OK. Reply UNDO if wrong."]
    assert text(line, clock, AMINA, "BP 150/120")[0].startswith("Amina Z.: BP 150/120 is DANGER.")
    assert len(clinic.alerts.list()) == 1


def test_a_chw_relay_follows_the_override_too(clinic, make_line, clock, tmp_path):
    line = make_line(CARE_RULES=rules_file(tmp_path, STRICTER_BP))
    assert text(line, clock, CHW, f"BP {AMINA_ID} 170/100") == [
        f"URGENT {AMINA_ID} Amina Z.: BP 170/100 is DANGER. Send them to the health facility now."
    ]
    (alert,) = clinic.alerts.list()
    assert [m.phone for m in clinic.outbox.list()] == [CLINICIAN]


def test_an_override_that_relaxes_a_threshold_removes_the_alert(clinic, make_line, clock, tmp_path):
    # A clinic at altitude: SpO2 90 is low there, not urgent.
    line = make_line(CARE_RULES=rules_file(tmp_path, "[spo2]\nurgent_below = 88\nlow_below = 92\n"))
    assert text(line, clock, AMINA, "SPO2 90") == ["Amina Z.: saved SPO2 90: LOW (aim 95+). Reply UNDO if wrong."]
    assert clinic.alerts.list() == []
    assert clinic.outbox.list() == []


# -- a bad override file: one clear line, before any text is answered --------------------------

BAD_FILES = [
    pytest.param('[bp]\nurgent_at_or_above = { systolic = "high" }\n', "[bp] urgent_at_or_above.systolic",
                 id="not-a-number"),
    pytest.param("[bp]\nurgent_at_or_above = { systolic = 130 }\n", "[bp] urgent_at_or_above.systolic",
                 id="urgent-below-high"),
    pytest.param("[bp]\nurgent_over = { systolic = 170 }\n", "[bp] urgent_over", id="unknown-key"),
    pytest.param("[bloodpressure]\nhigh_at_or_above = { systolic = 150 }\n", "[bloodpressure]", id="unknown-kind"),
    pytest.param("[trend]\ncount = 0\n", "[trend] count", id="trend-count-zero"),
    pytest.param("[bp\nhigh = 1\n", "not valid TOML", id="not-toml"),
]


@pytest.mark.parametrize(("body", "key"), BAD_FILES)
def test_create_app_refuses_a_bad_override_in_one_line_naming_the_setting_and_key(installation, tmp_path, body, key):
    path = rules_file(tmp_path, body)
    with pytest.raises(SettingsError) as caught:
        create_app({**installation.config, "CARE_RULES": path})
    message = str(caught.value)
    assert len(message.splitlines()) == 1, message
    assert "LOWBAND_CARE_RULES" in message
    assert str(path) in message
    assert key in message


def test_create_app_refuses_a_missing_override_file(installation, tmp_path):
    missing = tmp_path / "no-such-rules.toml"
    with pytest.raises(SettingsError, match="LOWBAND_CARE_RULES") as caught:
        create_app({**installation.config, "CARE_RULES": missing})
    assert str(missing) in str(caught.value)
    assert "cannot read" in str(caught.value)


@pytest.mark.parametrize(("body", "key"), BAD_FILES[:3])
@pytest.mark.parametrize(
    "command", [("dispatch", "--once"), ("simulate", "--from", "+254712345678")], ids=["dispatch", "simulate"]
)
def test_lowband_commands_that_answer_texts_refuse_a_bad_override_in_one_line(
    run_cli, cli_error, tmp_path, body, key, command
):
    path = rules_file(tmp_path, body)
    result = run_cli(*command, input="BP 170/100\n", env={"LOWBAND_CARE_RULES": str(path)})
    cli_error(result, "LOWBAND_CARE_RULES", key)


def test_lowband_serve_refuses_a_bad_override_before_serving(run_cli, cli_error, tmp_path, monkeypatch):
    import waitress

    def never(*args, **kwargs):
        raise AssertionError("served with a bad care rules file")

    monkeypatch.setattr(waitress, "create_server", never)
    path = rules_file(tmp_path, "[spo2]\nurgent_below = 96\n")
    cli_error(run_cli("serve", env={"LOWBAND_CARE_RULES": str(path)}), "LOWBAND_CARE_RULES", "[spo2] urgent_below")


def test_lowband_simulate_uses_the_override(clinic, run_cli, tmp_path):
    path = rules_file(tmp_path, STRICTER_BP)
    result = run_cli("simulate", "--from", AMINA, input="BP 170/100\n", env={"LOWBAND_CARE_RULES": str(path)})
    assert result.exit_code == 0, result.output
    assert "Amina Z.: BP 170/100 is DANGER." in result.stdout
    assert len(clinic.alerts.list()) == 1


# -- the trend rule: three high readings of one kind in seven days ------------------------------

TREND_SMS = (
    r"A\d+: Amina Z\. \(4376\) has had 3 high readings in 7 days, last BP \d+/\d+ at \d\d:\d\d\. "
    r"Reply A\d+ OK when seen\."
)


def _high_bp_on_days(line, clock, days, start, sender=AMINA):
    """One high BP (a different one each time) on each of these days after `start`."""
    replies = []
    for n, day in enumerate(days):
        clock.now = start + timedelta(days=day)
        body = f"BP {AMINA_ID} 15{n}/95" if sender == CHW else f"BP 15{n}/95"
        replies.append(text(line, clock, sender, body))
    return replies


def test_three_high_readings_on_three_days_raise_one_trend_alert(clinic, make_line, clock):
    line, start = make_line(), clock.now
    replies = _high_bp_on_days(line, clock, [0, 1], start)
    assert clinic.alerts.list() == [] and clinic.outbox.list() == []  # two are not a trend

    replies += _high_bp_on_days(line, clock, [2], start)
    # The patient is not alarmed: a trend is for the clinician to look at.
    assert replies[-1] == ["Amina Z.: saved BP 150/95: HIGH (aim <140/90). Reply UNDO if wrong."]
    (alert,) = clinic.alerts.list()
    assert alert.status == "open"
    assert alert.reason.startswith("bp.high,trend ")
    (sms,) = clinic.outbox.list()
    assert sms.phone == CLINICIAN
    assert not sms.body.startswith("URGENT")
    assert re.fullmatch(TREND_SMS, sms.body), sms.body
    assert "3 high readings in 7 days" in sms.body
    audit = [e for e in clinic.audit.entries() if e.action == "alert.raised"]
    assert audit and "urgent=False" in audit[-1].detail


def test_readings_older_than_seven_days_do_not_count(clinic, make_line, clock):
    line = make_line()
    _high_bp_on_days(line, clock, [0, 8, 9], clock.now)  # day 0 has left the window by day 9
    assert clinic.alerts.list() == []
    assert clinic.outbox.list() == []


def test_a_reading_just_inside_seven_days_counts(clinic, make_line, clock):
    line = make_line()
    start = clock.now
    _high_bp_on_days(line, clock, [0, 3], start)
    clock.now = start + timedelta(days=7) - timedelta(minutes=5)
    text(line, clock, AMINA, "BP 160/95")
    assert len(clinic.alerts.list()) == 1


def test_normal_readings_in_between_do_not_count(clinic, make_line, clock):
    line = make_line()
    start = clock.now
    _high_bp_on_days(line, clock, [0, 1], start)
    for day in (2, 3):
        clock.now = start + timedelta(days=day)
        text(line, clock, AMINA, f"BP 12{day}/80")
    assert clinic.alerts.list() == []


def test_the_trend_is_per_kind(clinic, make_line, clock):
    line = make_line()
    start = clock.now
    _high_bp_on_days(line, clock, [0, 1], start)
    clock.now = start + timedelta(days=2)
    assert text(line, clock, AMINA, "GLU 12.5") == [
        "Amina Z.: saved GLU 12.5: HIGH (aim 4.0-10.0). Reply UNDO if wrong."]
    assert clinic.alerts.list() == []


def test_readings_relayed_by_the_chw_count_towards_the_patients_trend(clinic, make_line, clock):
    line = make_line()
    start = clock.now
    _high_bp_on_days(line, clock, [0, 1], start, sender=CHW)
    _high_bp_on_days(line, clock, [2], start)
    assert len(clinic.alerts.list()) == 1
    assert [m.phone for m in clinic.outbox.list()] == [CLINICIAN]


def test_a_repeat_within_ten_minutes_is_not_a_second_high_reading(clinic, make_line, clock):
    line = make_line()
    for _ in range(3):
        text(line, clock, AMINA, "BP 150/95")
    assert len(clinic.readings.for_patient(clinic.patients.by_short_id(AMINA_ID).id)) == 1
    assert clinic.alerts.list() == []


def test_an_undone_reading_does_not_count(clinic, make_line, clock):
    line = make_line()
    start = clock.now
    _high_bp_on_days(line, clock, [0], start)
    clock.now = start + timedelta(days=1)
    text(line, clock, AMINA, "BP 155/95")
    assert text(line, clock, AMINA, "UNDO") == ["Amina Z.: removed BP 155/95. Send the right values when you can."]
    clock.now = start + timedelta(days=2)
    text(line, clock, AMINA, "BP 156/95")
    assert clinic.alerts.list() == []


def test_the_trend_count_and_window_come_from_the_override(clinic, make_line, clock, tmp_path):
    line = make_line(CARE_RULES=rules_file(tmp_path, "[trend]\ncount = 2\ndays = 3\n"))
    start = clock.now
    _high_bp_on_days(line, clock, [0, 4], start)
    assert clinic.alerts.list() == []  # 4 days apart: outside a 3-day window
    _high_bp_on_days(line, clock, [5], start)
    assert len(clinic.alerts.list()) == 1


def test_the_trend_sms_states_the_clinics_own_rule(clinic, make_line, clock, tmp_path):
    line = make_line(CARE_RULES=rules_file(tmp_path, "[trend]\ncount = 2\ndays = 3\n"))
    _high_bp_on_days(line, clock, [0, 1], clock.now)
    (sms,) = clinic.outbox.list()
    assert "2 high readings in 3 days" in sms.body, sms.body


def test_undoing_the_reading_that_made_the_trend_withdraws_its_alert(clinic, make_line, clock):
    line = make_line()
    _high_bp_on_days(line, clock, [0, 1, 2], clock.now)
    (alert,) = clinic.alerts.list()
    assert text(line, clock, AMINA, "UNDO") == ["Amina Z.: removed BP 152/95. Send the right values when you can."]
    assert clinic.alerts.by_ref(alert.ref).status == "withdrawn"
    assert clinic.outbox.list()[-1].body.startswith(f"{alert.ref} withdrawn")


def test_a_fourth_high_reading_does_not_raise_a_second_trend_alert_while_one_is_open(clinic, make_line, clock):
    line = make_line()
    _high_bp_on_days(line, clock, [0, 1, 2, 3], clock.now)
    assert len(clinic.alerts.list("open")) == 1
    assert len(clinic.outbox.list()) == 1
