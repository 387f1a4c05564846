"""The `lowband` command: what a clinic's admin runs on the laptop.

Every error is one line on stderr and a non-zero exit, never a traceback; every list
command takes --json and then prints one JSON object a line.
"""

from __future__ import annotations

import sys

import click

from lowband.cli.base import LowbandGroup
from lowband.cli.care import alerts, consults, oncall, refills
from lowband.cli.doctor import doctor
from lowband.cli.export import export
from lowband.cli.gateway import gateway
from lowband.cli.messaging import dispatch, outbox, simulate
from lowband.cli.patient_admin import patients_close, patients_merge, patients_reopen, patients_set
from lowband.cli.patient_import import patients_import
from lowband.cli.people import meds, patients, users
from lowband.cli.readings import readings
from lowband.cli.reminders import reminders
from lowband.cli.security import audit, keys
from lowband.cli.setup import backup, init, restore, serve
from lowband.cli.staff_admin import users_activate, users_deactivate, users_set


@click.group(cls=LowbandGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lowband", message="lowband %(version)s")
def cli() -> None:
    """Lowband: telehealth over SMS and voice for people without internet.

    Settings come from the environment: LOWBAND_DB (default lowband-data/lowband.db),
    LOWBAND_KEY_FILE (default beside the database), LOWBAND_REGION (e.g. KE, for
    numbers written without a country code), LOWBAND_PUBLIC_URL, LOWBAND_TRANSPORT
    (console or twilio) and TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM.
    """


for command in (init, serve, simulate, patients, meds, readings, reminders, users, alerts, refills, consults, outbox,
                dispatch, keys, backup, restore, audit, doctor, export, gateway):
    cli.add_command(command)
for command in (patients_import, patients_set, patients_close, patients_reopen, patients_merge):
    patients.add_command(command)
for command in (oncall, users_deactivate, users_activate, users_set):
    users.add_command(command)


def main() -> None:
    cli(prog_name="lowband")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
