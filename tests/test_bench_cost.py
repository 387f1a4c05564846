"""The SMS cost benchmark (`python -m bench.cost`): every task in every language is
measured on the real app, each outbound message is one segment (a project rule: every
segment is billed), and the cheapest tasks stay one SMS in and one out."""

from __future__ import annotations

import pytest

from bench import cost

SMS_TASKS = [task for task in cost.TASKS if task != "voice_reading"]


@pytest.fixture(scope="module")
def measured() -> dict:
    return cost.measure()


def test_every_task_is_measured_in_every_language(measured):
    assert list(measured) == list(cost.TASKS)
    for task, by_language in measured.items():
        assert list(by_language) == ["en", "sw", "fr", "es"], task


def test_every_message_out_is_one_segment(measured):
    for task, by_language in measured.items():
        for language, counts in by_language.items():
            if counts["texts_out"]:
                assert counts["longest_out"] == 1, (task, language, counts)
                assert counts["segments_out"] == counts["texts_out"], (task, language, counts)


@pytest.mark.parametrize("task", ["reading_compact", "chw_relay"])
def test_a_compact_reading_and_a_chw_relay_cost_one_sms_in_and_one_out(measured, task):
    for language, counts in measured[task].items():
        assert (counts["segments_in"], counts["segments_out"]) == (1, 1), (task, language, counts)


def test_joining_costs_the_same_in_every_language(measured):
    # A new number greeting us in its language ("habari") gets the welcome in it: no
    # extra round trip to choose the language, which once cost sw, fr and es one each way.
    costs = {lang: (c["segments_in"], c["segments_out"]) for lang, c in measured["registration"].items()}
    assert set(costs.values()) == {costs["en"]}, costs


def test_each_sms_task_is_texted_and_answered(measured):
    for task in SMS_TASKS:
        for language, counts in measured[task].items():
            assert counts["texts_in"] > 0 and counts["texts_out"] > 0, (task, language, counts)
            assert counts["segments_in"] >= counts["texts_in"], (task, language, counts)


def test_the_voice_reading_is_one_call(measured):
    for language, counts in measured["voice_reading"].items():
        assert counts["calls"] == 1, (language, counts)


def test_the_table_has_a_row_per_task(measured):
    lines = cost.as_markdown(measured).splitlines()
    assert lines[0].split("|")[2:-1] == [" en ", " sw ", " fr ", " es "]
    rows = lines[2:]
    assert [row.split("|")[1].strip() for row in rows] == list(cost.TASKS.values())
    assert all(row.count("|") == 6 for row in rows)
    assert "| Compact reading | 1 in / 1 out |" in lines[4]


def test_a_task_that_stops_half_way_is_an_error_not_a_low_cost(tmp_path, monkeypatch):
    # A patient with no medicines cannot place a refill: the bench must say so rather
    # than report the few texts it took as the refill's cost.
    monkeypatch.setattr(cost, "MEDICINES", ())
    clinic = cost.Clinic(tmp_path)
    try:
        with pytest.raises(cost.CostError, match="no request placed"):
            clinic.run(cost.refill, "sw")
    finally:
        clinic.close()


def test_main_prints_the_table_or_json(capsys, monkeypatch, measured):
    import json

    monkeypatch.setattr(cost, "measure", lambda trace=None: measured)
    assert cost.main([]) == 0
    assert "| Refill |" in capsys.readouterr().out
    assert cost.main(["--json"]) == 0
    assert json.loads(capsys.readouterr().out) == measured
