"""Issue 3, acceptance 6: `printf 'hi\\nYES\\n...' | lowband simulate --from +254712345678`
prints the whole conversation.

The main test runs the installed console script as a user's shell would, on a fresh
installation, with the script piped into stdin; then `lowband patients list --json`
shows who joined.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from flows.catalog import default_catalog
from flows.engine import Message
from flows.patient_flows import menu_message
from flows.segments import encoding, segments

CATALOG = default_catalog()
PHONE = "+254712345678"
SCRIPT = ["hi", "SW", "NDIO", "Amina Zawadi", "1984", "5831", "5831", "MENU"]
REPLY_LINE = re.compile(r"< (?P<text>.*)  \[(?P<count>\d+) SMS, (?P<encoding>GSM-7|UCS-2)\]")


def catalog_text(language: str, key: str, **params: str) -> str:
    return CATALOG.render(language, Message(key, {"clinic": "Lowband Clinic", "emergency": "112", **params}))


def lowband_executable() -> str:
    beside_python = Path(sys.executable).parent / "lowband"
    found = str(beside_python) if beside_python.exists() else shutil.which("lowband")
    assert found, "the `lowband` console script is not installed (pip install -e .)"
    return found


def run_lowband(installation, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOWBAND_", "TWILIO_"))}
    env.update(installation.env)
    env["PYTHONIOENCODING"] = "utf-8"
    return subprocess.run(
        [lowband_executable(), *args],
        input=stdin, capture_output=True, text=True, encoding="utf-8", env=env, cwd=installation.root, timeout=60,
    )


def only_warnings(stderr: str) -> bool:
    return all("warning" in line.casefold() for line in stderr.splitlines() if line.strip())


def conversation(stdout: str) -> list[tuple[str, list[tuple[str, int, str]]]]:
    """stdout as [(text sent, [(reply, segment count, encoding), ...]), ...]."""
    exchanges: list[tuple[str, list[tuple[str, int, str]]]] = []
    for line in stdout.splitlines():
        if line.startswith("> ") or line == ">":
            exchanges.append((line[2:], []))
        elif line.startswith("< "):
            assert exchanges, f"a reply before any text: {line!r}"
            if line == "< (no reply)":
                continue
            match = REPLY_LINE.fullmatch(line)
            assert match, f"a reply line without its segment count: {line!r}"
            exchanges[-1][1].append((match["text"], int(match["count"]), match["encoding"]))
        else:
            assert line.startswith("  (queued for "), f"unexpected output line: {line!r}"
    return exchanges


def test_piped_registration_prints_the_whole_conversation(installation):
    result = run_lowband(installation, "simulate", "--from", PHONE, stdin="".join(f"{line}\n" for line in SCRIPT))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and only_warnings(result.stderr), result.stderr

    exchanges = conversation(result.stdout)
    # Every line typed is echoed, in order, and each got exactly one reply.
    assert [sent for sent, _ in exchanges] == SCRIPT, result.stdout
    assert all(len(replies) == 1 for _, replies in exchanges), result.stdout
    # Each reply carries its own, correct segment count: one SMS each.
    for _, replies in exchanges:
        for text, count, enc in replies:
            assert (count, enc) == (segments(text), encoding(text)) == (1, "GSM-7"), text

    replies = [replies[0][0] for _, replies in exchanges]
    assert replies[:6] == [
        catalog_text("en", "join.welcome"),
        catalog_text("sw", "join.welcome"),
        catalog_text("sw", "join.name"),
        catalog_text("sw", "join.birth_year", name="Amina Z."),
        catalog_text("sw", "pin.choose"),
        catalog_text("sw", "pin.confirm"),
    ]
    # SW at the welcome chose Kiswahili: the welcome with the new ID comes in it, and so does the menu.
    done = re.escape(catalog_text("sw", "join.done", name="Amina Z.", patient_id="XIDX")).replace("XIDX", r"(\d{4,10})")
    match = re.fullmatch(done, replies[6])
    assert match, f"not the Kiswahili join.done: {replies[6]!r}"
    assert "Namba yako ya ID ni" in replies[6]
    assert replies[7] == CATALOG.render("sw", menu_message())

    listed = run_lowband(installation, "patients", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    patients = [json.loads(line) for line in listed.stdout.splitlines()]
    assert len(patients) == 1, listed.stdout
    [patient] = patients
    assert patient["id"] == match.group(1)
    assert (patient["name"], patient["phone"], patient["birth_year"]) == ("Amina Zawadi", PHONE, 1984)
    assert (patient["language"], patient["time_zone"]) == ("sw", "Africa/Nairobi")


def test_windows_line_endings_blank_lines_and_stop(run_cli):
    """CRLF from a Windows editor is stripped; a blank line is a (blank) text; STOP shows
    that nothing is sent back."""
    result = run_cli("simulate", "--from", "0712 345 678", input="hi\r\n\r\nSTOP\r\n")
    assert result.exit_code == 0, result.output
    exchanges = conversation(result.stdout)
    assert [sent for sent, _ in exchanges] == ["hi", "", "STOP"]
    assert [len(replies) for _, replies in exchanges] == [1, 1, 0]
    assert exchanges[1][1][0][0] == catalog_text("en", "join.yes_no")
    assert result.stdout.splitlines()[-1] == "< (no reply)"


@pytest.mark.parametrize(
    ("sender", "says"),
    [
        ("not-a-number", "not a phone number"),
        ("MyBank", "not a phone number"),
        ("", "not a phone number"),
        ("+1234", "not a valid phone number"),
        ("0712 345", "not a valid phone number"),
    ],
)
def test_an_invalid_sender_is_one_clear_line_and_a_failure(run_cli, cli_error, installation, sender, says):
    result = run_cli("simulate", "--from", sender, input="hi\n")
    cli_error(result, says)
    store = installation.store()
    try:
        assert store.inbound.count() == 0
    finally:
        store.db.close()
