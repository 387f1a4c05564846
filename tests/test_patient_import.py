"""`lowband patients import` of a real clinic's spreadsheet: thousands of rows, a few of
them wrong. The good rows go in once (however often the file is imported, and after an
interruption), each bad row is named with its line and reason and set aside in a file to
fix and import again, and a 10,000-row file takes seconds."""

from __future__ import annotations

import contextlib
import csv
import json
import stat
import time

from interop.patient_import import chw_finder, enrol_rows, read_sheet

HEADER = "name,phone,birth_year,sex,language,tz,chw\n"
LETTERS = "abcdefghijklmnopqrstuvwxyz"
# line in the file -> (the row, what the admin is told)
BAD = {
    101: ("Baraka Otieno,12,1980,M,en,,", "line 101: rejected, "),
    2002: (",0722000111,1980,F,en,,", "line 2002: rejected, a name needs 1 to 60 characters"),
    5003: ("Neema Wairimu,0722000222,1880,F,en,,", "line 5003: rejected, a year of birth is between 1900"),
    7004: ("Juma Said,0722000333,1970,M,de,,", "line 7004: rejected, language is one of en, sw, fr, es"),
    9005: ("Zuri Achieng,0722000444,1990,X,en,,", "line 9005: rejected, sex is F or M"),
    9906: ("Tumaini Kipchoge,0722000555,1990,F,en,Mars/Olympus,", "line 9906: rejected, time zone is an IANA"),
}


def unique_name(n: int) -> str:
    first = "".join(LETTERS[(n // 26 ** i) % 26] for i in range(3))
    return f"Amina {first.capitalize()}"


def big_csv(path, rows: int = 10_000):
    lines = []
    for line in range(2, rows + 2):
        if line in BAD:
            lines.append(BAD[line][0])
        else:
            lines.append(f"{unique_name(line)},07{line:08d},{1940 + line % 70},F,sw,,")
    path.write_text(HEADER + "\n".join(lines) + "\n")
    return rows - len(BAD)


def count(installation) -> int:
    st = installation.store()
    try:
        return st.patients.count()
    finally:
        st.db.close()


def test_ten_thousand_rows_with_bad_ones_import_each_good_row_once(installation, run_cli):
    sheet = installation.root / "patients.csv"
    good = big_csv(sheet)

    started = time.perf_counter()
    first = run_cli("patients", "import", str(sheet))
    took = time.perf_counter() - started
    again = run_cli("patients", "import", str(sheet))

    assert first.exit_code == 1, first.output  # rows were rejected: a script can tell
    for _, said in BAD.values():
        assert said in first.stdout
    assert f"Imported {good} patients, skipped 0 already enrolled, rejected {len(BAD)}." in first.stdout
    assert "rows were rejected and written to" in first.stderr
    assert took < 20, f"10,000 rows took {took:.1f} s"
    assert f"Imported 0 patients, skipped {good} already enrolled, rejected {len(BAD)}." in again.stdout
    assert count(installation) == good

    rejected = installation.root / "patients.rejected.csv"
    assert stat.S_IMODE(rejected.stat().st_mode) == 0o600
    rows = list(csv.DictReader(rejected.open(encoding="utf-8")))
    assert list(rows[0]) == [*HEADER.strip().split(","), "problem"]
    assert [r["name"] for r in rows] == ["Baraka Otieno", "", "Neema Wairimu", "Juma Said", "Zuri Achieng",
                                         "Tumaini Kipchoge"]
    assert rows[2]["problem"].startswith("line 5003: a year of birth is between 1900")


def test_the_rejected_rows_once_fixed_import_from_their_own_file(installation, run_cli):
    sheet = installation.root / "patients.csv"
    sheet.write_text(HEADER + "Halima Zawadi,0712345678,1994,F,sw,,\nBaraka Otieno,12,1980,M,en,,\n"
                     "Neema Wairimu,,1880,F,en,,\n")
    assert run_cli("patients", "import", str(sheet)).exit_code == 1
    rejected = installation.root / "patients.rejected.csv"
    fixed = rejected.read_text().replace(",12,", ",0722300301,")
    rejected.write_text(fixed)

    result = run_cli("patients", "import", str(rejected))

    assert "Imported 1 patient, skipped 0 already enrolled, rejected 1." in result.stdout
    assert "line 3: rejected, a year of birth is between 1900" in result.stdout
    # The same file now holds only what is still wrong.
    left = list(csv.DictReader(rejected.open(encoding="utf-8")))
    assert [r["name"] for r in left] == ["Neema Wairimu"]
    names = sorted(json.loads(line)["name"] for line in run_cli("patients", "list", "--json").stdout.splitlines())
    assert names == ["Baraka Otieno", "Halima Zawadi"]


def test_a_dry_run_names_the_bad_rows_and_changes_nothing(installation, run_cli):
    sheet = installation.root / "patients.csv"
    sheet.write_text(HEADER + "Halima Zawadi,0712345678,1994,F,sw,,\nBaraka Otieno,12,1980,M,en,,\n"
                     "Halima Zawadi,0712345678,1994,F,sw,,\n")

    dry = run_cli("patients", "import", "--dry-run", str(sheet))

    assert "Dry run: would import 1 patient, skipped 0 already enrolled, 1 repeated in the file, rejected 1." \
        in dry.stdout
    assert "line 3: rejected, " in dry.stdout and "line 4: skipped, the same person as line 2" in dry.stdout
    assert "a real import writes them to" in dry.stderr
    assert not (installation.root / "patients.rejected.csv").exists()
    assert count(installation) == 0


def test_an_import_stopped_between_batches_finishes_once_when_run_again(installation):
    sheet = installation.root / "patients.csv"
    sheet.write_text(HEADER + "".join(f"{unique_name(n)},07{n:08d},1980,F,en,,\n" for n in range(7)))
    st = installation.store()
    rows = read_sheet(sheet, region="KE", this_year=2026, fallback_time_zone="UTC",
                      chw_for=chw_finder(st, "KE")).rows

    def stop(done: int):
        raise KeyboardInterrupt  # the admin presses Ctrl-C once the first batch is in

    with contextlib.suppress(KeyboardInterrupt):
        enrol_rows(st, rows, batch=3, progress=stop)
    assert st.patients.count() == 3  # the first batch committed, nothing of the second
    report = enrol_rows(st, rows, batch=3)
    assert len(report.enrolled) == 4 and len(report.already) == 3
    assert st.patients.count() == 7
    st.db.close()


def test_a_rejected_file_with_a_phone_written_as_text_imports_once_fixed(run_cli, tmp_path):
    """The rejected-rows file writes +254... as '+254... (a spreadsheet must not read a
    cell as a formula); imported again, the phone is the phone."""
    source = tmp_path / "patients.csv"
    source.write_text("name,phone,birth_year\nHalima Zawadi,+254712345678,18\n")
    run_cli("patients", "import", str(source))
    rejected = tmp_path / "patients.rejected.csv"
    text = rejected.read_text()
    assert "'+254712345678" in text
    rejected.write_text(text.replace(",18,", ",1994,"))
    result = run_cli("patients", "import", str(rejected))
    assert result.exit_code == 0, result.output
    assert "+254712345678" in run_cli("patients", "list", "--json").output
