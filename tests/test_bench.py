"""The benchmark (`make bench`) in a tiny smoke mode: every pass runs for a fraction of
a second against real servers on 127.0.0.1, and the report must come out whole with
sane numbers. Nothing here depends on how fast this machine is."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

from bench.__main__ import parse
from bench.report import as_json, as_text
from bench.runner import PASSES, Options, run_bench

SMOKE = Options(seconds=0.4, warmup=0.2, clients=2, threads=2, patients=60, procs=1)


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bench-tmp")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tempfile, "tempdir", str(tmp))
        run = run_bench(SMOKE)
    return run, tmp


def test_every_pass_reports_sane_numbers(smoke):
    run, _ = smoke
    data = run.to_json()
    assert list(data["passes"]) == list(PASSES)
    for name, p in data["passes"].items():
        lat = p["latency_ms"]
        assert p["requests"] > 0, name
        assert p["rps"] > 0, name
        assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["max"], (name, lat)
        assert p["errors"] == 0, (name, p["samples"], p["server_log_excerpt"])
        assert p["server_log_errors"] == 0, (name, p["server_log_excerpt"])
        if Path("/proc/self/status").exists():
            assert p["peak_rss_bytes"] > 2**20, name
            assert p["server_cpu_s"] is not None, name


def test_lowband_answers_and_the_database_records_them(smoke):
    run, _ = smoke
    passes = run.to_json()["passes"]
    assert passes["bare"]["app"] == "bare"
    for name in ("mix", "new", "pin"):
        p = passes[name]
        assert p["app"] == "lowband"
        assert p["verdicts"].get("ok", 0) > 0, (name, p["verdicts"], p["samples"])
        grew = p["db_growth"]
        # Every text handled leaves exactly one inbound row (retries are answered from it).
        assert 0 < grew["rows"]["inbound_messages"] <= p["sent_total"], (name, grew)
    assert set(passes["mix"]["by_kind"]) <= {"bp", "menu", "help", "relay"}
    assert "bp" in passes["mix"]["by_kind"]
    assert set(passes["new"]["by_kind"]) == {"hi"}


def test_ratio_and_verdict(smoke):
    run, _ = smoke
    data = run.to_json()
    assert data["ratio"] > 0
    assert data["target"] == 0.45
    assert data["verdict"] == ("PASS" if data["ratio"] >= 0.45 else "FAIL")


def test_text_and_json_reports(smoke):
    run, _ = smoke
    text = as_text(run)
    assert "Throughput ratio Lowband/bare" in text
    assert ("PASS" in text) != ("FAIL" in text)
    for title in ("bare Flask", "patients + CHWs", "new numbers", "PIN conversations"):
        assert title in text
    data = json.loads(as_json(run))
    assert data["options"]["patients"] == SMOKE.patients
    assert data["setup"]["patients"] == SMOKE.patients
    assert data["setup"]["pin_check_cpu_ms"] > 0


def test_it_leaves_nothing_behind(smoke):
    _, tmp = smoke
    assert list(tmp.iterdir()) == []
    if Path("/proc").exists():
        assert _children_of(os.getpid()) == []


def test_options():
    options, as_one_json = parse(["--seconds", "3", "--clients", "4", "--threads", "2", "--patients", "50", "--json"])
    assert (options.seconds, options.clients, options.threads, options.patients, as_one_json) == (3, 4, 2, 50, True)
    assert options.passes == PASSES
    with pytest.raises(SystemExit):
        parse(["--passes", "bare,nonsense"])
    with pytest.raises(SystemExit):
        parse(["--clients", "0"])


def test_the_reminders_bench_sends_what_is_due_and_fails_when_it_measures_nothing(capsys):
    from bench import reminders

    assert reminders.main(["--rules", "300"]) == 0
    out = capsys.readouterr().out
    assert "one dispatcher pass at 08:00: 120 sent, 0 missed" in out  # a third at 08:00, some more
