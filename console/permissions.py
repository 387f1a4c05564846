"""Who may see and do what in the console: each role sees what its work needs."""

from __future__ import annotations

# What each part of the console is: alerts and consults are clinical; readings are a
# patient's health record; refills are the pharmacy's; operations are the admin's.
ROLE_MAY = {
    "clinician": {"alerts", "consults", "refills", "patients", "readings"},
    "pharmacist": {"refills", "patients"},
    "chw_supervisor": {"patients", "readings"},
    "admin": {"alerts", "consults", "refills", "patients", "readings", "operations"},
}
CONSOLE_ROLES = tuple(ROLE_MAY)  # CHWs work by SMS; they have no console sign-in


def may(role: str, part: str) -> bool:
    return part in ROLE_MAY.get(role, set())
