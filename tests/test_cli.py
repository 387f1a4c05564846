"""The `lowband` command as a clinic's admin meets it: help that reads well, JSON for
scripts, one clear line for every mistake, and the commands that set a clinic up."""

from __future__ import annotations

import json

import click
import pytest

from lowband.cli import cli
from storage import load_key_file, open_store


def every_command(command: click.Command = cli, path: tuple[str, ...] = ()):
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from every_command(sub, (*path, name))


COMMANDS = list(every_command())


def jsonl(text: str) -> list[dict]:
    rows = [json.loads(line) for line in text.splitlines()]
    assert all(isinstance(row, dict) for row in rows)
    return rows


@pytest.fixture
def clinic(run_cli):
    """A CHW, a clinician and two patients, one with a medicine; returns Amina's short ID."""
    for args in (
        ("users", "add", "--role", "chw", "--name", "Grace Achieng", "--phone", "0700 100 103"),
        ("users", "add", "--role", "clinician", "--name", "Wanjiru Kamau", "--phone", "0700100101",
         "--email", "wanjiru@clinic.example"),
    ):
        # A clinician with an email gets a console sign-in: the password is asked for twice.
        assert run_cli(*args, input="console-password\nconsole-password\n").exit_code == 0
    added = run_cli(
        "patients", "add", "--name", "Amina Zawadi", "--phone", "0712 345 678", "--birth-year", "1968",
        "--sex", "F", "--language", "sw", "--chw", "0700100103",
    )
    assert added.exit_code == 0, added.output
    short_id = added.stdout.split()[2]
    assert run_cli("patients", "add", "--name", "Joseph Mwangi", "--phone", "+254 722 300 301").exit_code == 0
    assert run_cli("meds", "add", short_id, "--name", "Metformin", "--dose", "500mg", "--quantity", "60").exit_code == 0
    return short_id


# -- help -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=lambda p: " ".join(p) or "lowband")
def test_every_command_has_help_with_a_description(path, run_cli):
    command = dict(COMMANDS)[path]
    result = run_cli(*path, "--help")

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Usage:")
    description = (command.help or "").strip()
    assert description, f"`lowband {' '.join(path)}` has no description"
    assert description.splitlines()[0] in result.stdout
    for param in command.params:
        if isinstance(param, click.Option) and param.name not in ("version", "help"):
            assert param.help, f"`lowband {' '.join(path)}` option {param.opts[0]} has no help"


def test_lowband_help_lists_every_command(run_cli):
    result = run_cli("--help")
    for name, command in cli.commands.items():
        assert name in result.stdout
        assert command.get_short_help_str(limit=45).split()[0] in result.stdout


def test_version(run_cli):
    result = run_cli("--version")
    assert result.exit_code == 0 and result.stdout.startswith("lowband ")


# -- JSON output ------------------------------------------------------------------------

ARGUMENTS = {("patients", "show"): lambda short_id: [short_id]}


def test_every_json_command_prints_one_object_a_line(clinic, run_cli):
    with_json = [p for p, c in COMMANDS if any(param.name == "as_json" for param in c.params)]
    assert {("patients", "list"), ("users", "list"), ("audit", "verify")} <= set(with_json)
    for path in with_json:
        command = dict(COMMANDS)[path]
        required = [p for p in command.params if p.required]
        assert not required or path in ARGUMENTS, f"add arguments for `lowband {' '.join(path)}` here"
        extra = ARGUMENTS[path](clinic) if path in ARGUMENTS else []
        result = run_cli(*path, *extra, "--json")
        assert result.exit_code == 0, (path, result.output)
        jsonl(result.stdout)  # every line a JSON object


def test_patients_list_json(clinic, run_cli):
    rows = jsonl(run_cli("patients", "list", "--json").stdout)
    assert len(rows) == 2
    amina = next(r for r in rows if r["id"] == clinic)
    assert amina | {"enrolled": None} == {
        "id": clinic, "name": "Amina Zawadi", "phone": "+254712345678", "birth_year": 1968, "sex": "F",
        "language": "sw", "time_zone": "Africa/Nairobi", "chw": "Grace Achieng", "enrolled": None,
    }


def test_users_list_json(clinic, run_cli):
    rows = jsonl(run_cli("users", "list", "--json").stdout)
    assert sorted((r["role"], r["name"], r["phone"]) for r in rows) == [
        ("chw", "Grace Achieng", "+254700100103"),
        ("clinician", "Wanjiru Kamau", "+254700100101"),
    ]


def test_patients_show(clinic, run_cli):
    shown = json.loads(run_cli("patients", "show", clinic, "--json").stdout)
    assert shown["name"] == "Amina Zawadi"
    assert shown["medicines"] == ["Metformin 500mg x60"]
    text = run_cli("patients", "show", clinic).stdout
    assert "Amina Zawadi" in text and "Metformin 500mg x60" in text


def test_empty_lists_say_so(run_cli):
    assert "No patients yet" in run_cli("patients", "list").stdout
    assert run_cli("patients", "list", "--json").stdout == ""
    assert "No staff users yet" in run_cli("users", "list").stdout


# -- patients add: mistakes ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--phone", "12"], "phone number"),
        (["--phone", "0712 345"], "phone number"),
        (["--phone", "not a number at all"], "phone number"),
        (["--birth-year", "68"], "year of birth"),
        (["--birth-year", "2999"], "year of birth"),
        (["--birth-year", "nineteen"], "year of birth"),
        (["--language", "klingon"], "language"),
        (["--tz", "Mars/Olympus"], "time zone"),
        (["--chw", "0700 999 999"], "no CHW"),
    ],
)
def test_patients_add_with_a_mistake_is_one_clear_line(run_cli, cli_error, args, expected):
    result = run_cli("patients", "add", "--name", "Amina Zawadi", *args)
    cli_error(result, expected)
    assert run_cli("patients", "list", "--json").stdout == ""  # nobody was enrolled


def test_a_bad_phone_number_is_not_repeated_back(run_cli, cli_error):
    line = cli_error(run_cli("patients", "add", "--name", "Amina Zawadi", "--phone", "0712 3456"), "phone")
    assert "3456" not in line


@pytest.mark.parametrize("name", ["", "   ", "R2D2", "<script>", "Amina\x07Zawadi"])
def test_patients_add_with_a_bad_name_is_one_clear_line(run_cli, cli_error, name):
    cli_error(run_cli("patients", "add", "--name", name), "name")


def test_patients_add_overrides_the_time_zone(run_cli):
    added = run_cli("patients", "add", "--name", "Amina Zawadi", "--phone", "0712 345 678", "--tz", "Africa/Kampala")
    assert added.exit_code == 0 and "Africa/Kampala" in added.stdout


# -- patients import ---------------------------------------------------------------------


def test_patients_import_enrols_every_row(installation, run_cli, clinic):
    csv_file = installation.root / "patients.csv"
    csv_file.write_text(
        "name,phone,birth_year,sex,language,tz,chw\n"
        "Halima Zawadi,0712 345 678,1994,F,sw,,0700100103\n"
        "Baraka Otieno,+256 772 123456,1980,M,en,,\n"
        "Neema Wairimu,,,,,Africa/Nairobi,\n"
    )
    result = run_cli("patients", "import", str(csv_file))

    assert result.exit_code == 0, result.output
    assert "Imported 3 patients" in result.stdout
    rows = {r["name"]: r for r in jsonl(run_cli("patients", "list", "--json").stdout)}
    assert rows["Halima Zawadi"]["chw"] == "Grace Achieng"
    assert rows["Baraka Otieno"]["time_zone"] == "Africa/Kampala"
    assert rows["Neema Wairimu"]["phone"] is None


@pytest.mark.parametrize(
    ("body", "expected", "imported"),
    [
        ("name,phone,birth_year\nHalima Zawadi,0712345678,1994\nBaraka Otieno,12,1980\n", "line 3", 1),
        ("name,phone,birth_year\nHalima Zawadi,0712345678,1994\nBaraka Otieno,,1880\n", "line 3", 1),
        ("name,phone\nHalima Zawadi,0712345678\nBaraka Otieno,0722300301\n,0733000000\n", "line 4", 2),
        ("name,phone\nHalima Zawadi,0712345678,extra\n", "line 2", 0),
        # Blank lines count: the admin looks the line up in an editor.
        ("name,phone\n\nHalima Zawadi,0712345678\n\nBaraka Otieno,12\n", "line 5", 1),
        ('name,phone\n"Halima\nZawadi",0712345678\nBaraka Otieno,12\n', "line 4", 1),
        ("name,phone\nHalima\x00Zawadi,0712345678\n", "line 2", 0),
    ],
)
def test_patients_import_sets_a_bad_row_aside_and_imports_the_rest(installation, run_cli, body, expected, imported):
    csv_file = installation.root / "patients.csv"
    csv_file.write_text(body)
    result = run_cli("patients", "import", str(csv_file))
    assert result.exit_code == 1, result.output
    assert f"{expected}: rejected, " in result.stdout
    assert f"Imported {imported} patient" in result.stdout
    assert "patients.rejected.csv" in result.stderr and (installation.root / "patients.rejected.csv").exists()
    assert len(run_cli("patients", "list", "--json").stdout.splitlines()) == imported


@pytest.mark.parametrize(("body", "expected"), [("phone\n0712345678\n", "name"), ("", "name")])
def test_patients_import_of_a_file_without_names_imports_nothing(installation, run_cli, cli_error, body, expected):
    csv_file = installation.root / "patients.csv"
    csv_file.write_text(body)
    cli_error(run_cli("patients", "import", str(csv_file)), str(csv_file), expected, "nothing imported")
    assert run_cli("patients", "list", "--json").stdout == ""


def test_patients_import_of_a_file_that_is_not_utf8_is_one_clear_line(installation, run_cli, cli_error):
    csv_file = installation.root / "patients.csv"
    csv_file.write_bytes("name,phone\nJosé Mwangi,0722300301\n".encode("latin-1"))
    cli_error(run_cli("patients", "import", str(csv_file)), str(csv_file), "UTF-8")
    assert run_cli("patients", "list", "--json").stdout == ""


# -- meds and users ----------------------------------------------------------------------


def test_meds_add(clinic, run_cli):
    result = run_cli("meds", "add", clinic, "--name", "Amlodipine", "--dose", "5mg")
    assert result.exit_code == 0, result.output
    assert f"Added Amlodipine 5mg for patient {clinic}" in result.stdout
    shown = json.loads(run_cli("patients", "show", clinic, "--json").stdout)
    assert sorted(shown["medicines"]) == ["Amlodipine 5mg", "Metformin 500mg x60"]


def test_meds_add_mistakes(clinic, run_cli, cli_error):
    cli_error(run_cli("meds", "add", "99999", "--name", "Amlodipine", "--dose", "5mg"), "no patient")
    cli_error(run_cli("meds", "add", clinic, "--name", " ", "--dose", "5mg"), "medicine name")
    assert run_cli("meds", "add", clinic, "--name", "Amlodipine", "--dose", "5mg", "--quantity", "0").exit_code == 2


def test_users_add(run_cli):
    result = run_cli("users", "add", "--role", "pharmacist", "--name", "Otieno Ouma", "--phone", "0700 100 102")
    assert result.exit_code == 0, result.output
    assert "Added pharmacist Otieno Ouma" in result.stdout
    assert jsonl(run_cli("users", "list", "--json").stdout)[0]["phone"] == "+254700100102"


def test_users_add_mistakes(clinic, run_cli, cli_error):
    cli_error(run_cli("users", "add", "--role", "chw", "--name", "Grace Two", "--phone", "0700100103"), "already")
    cli_error(run_cli("users", "add", "--role", "chw", "--name", "Grace Two", "--phone", "555"), "phone number")
    wrong_role = run_cli("users", "add", "--role", "wizard", "--name", "Grace Two", "--phone", "0700100109")
    assert wrong_role.exit_code == 2 and "wizard" in wrong_role.output


# -- backup ------------------------------------------------------------------------------


def test_backup_makes_a_copy_that_opens_with_the_key(installation, clinic, run_cli, cli_error):
    target = installation.root / "backups" / "monday.db"

    result = run_cli("backup", str(target))

    assert result.exit_code == 0, result.output
    assert str(installation.key_file) in result.stdout
    assert b"Amina" not in target.read_bytes()
    copy = open_store(target, load_key_file(installation.key_file), pin_work=4)
    try:
        assert sorted(p.name for p in copy.patients.all()) == ["Amina Zawadi", "Joseph Mwangi"]
        assert copy.staff.by_phone("+254700100101").name == "Wanjiru Kamau"
    finally:
        copy.db.close()

    before = target.read_bytes()
    cli_error(run_cli("backup", str(target)), str(target), "already exists")
    assert target.read_bytes() == before


# -- init --demo --------------------------------------------------------------------------


def test_init_demo_makes_a_small_clinic(tmp_path, run_cli):
    env = {"LOWBAND_DB": str(tmp_path / "demo" / "lowband.db"), "LOWBAND_KEY_FILE": str(tmp_path / "demo" / "key")}

    result = run_cli("init", "--demo", env=env)

    assert result.exit_code == 0, result.output
    staff = jsonl(run_cli("users", "list", "--json", env=env).stdout)
    assert sorted(u["role"] for u in staff) == ["admin", "chw", "clinician", "pharmacist"]
    patients = jsonl(run_cli("patients", "list", "--json", env=env).stdout)
    assert len(patients) == 3
    for patient in patients:
        assert patient["id"] in result.stdout  # the admin is shown the IDs to try
        assert patient["chw"] == "Grace Achieng"
        shown = json.loads(run_cli("patients", "show", patient["id"], "--json", env=env).stdout.splitlines()[0])
        assert shown["medicines"], patient["name"]
    assert run_cli("audit", "verify", env=env).exit_code == 0


# -- settings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"LOWBAND_REGION": "XX"}, "LOWBAND_REGION"),
        ({"LOWBAND_TRANSPORT": "pigeon"}, "LOWBAND_TRANSPORT"),
        ({"LOWBAND_TRANSPORT": "twilio"}, "TWILIO_AUTH_TOKEN"),
        ({"LOWBAND_TRANSPORT": "twilio", "TWILIO_ACCOUNT_SID": "AC123", "TWILIO_AUTH_TOKEN": "x"}, "TWILIO_FROM"),
        ({"LOWBAND_PUBLIC_URL": "clinic.example.org"}, "LOWBAND_PUBLIC_URL"),
        ({"LOWBAND_TIME_ZONE": "Nairobi"}, "LOWBAND_TIME_ZONE"),
        ({"LOWBAND_PIN_WORK": "lots"}, "LOWBAND_PIN_WORK"),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable(run_cli, cli_error, env, variable):
    cli_error(run_cli("patients", "list", env=env), variable)


def test_a_missing_database_is_one_line_saying_what_to_do(installation, run_cli, cli_error):
    missing = installation.root / "nowhere" / "lowband.db"
    cli_error(run_cli("patients", "list", env={"LOWBAND_DB": str(missing)}), str(missing), "lowband init")


def test_a_file_that_is_not_a_database_is_one_clear_line(installation, run_cli, cli_error):
    not_a_db = installation.root / "notes.db"
    not_a_db.write_bytes(b"shopping list: eggs, milk\n" * 200)
    cli_error(run_cli("patients", "list", env={"LOWBAND_DB": str(not_a_db)}), str(not_a_db))
