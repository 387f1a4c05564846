"""Console sign-in: email and password (a slow scrypt hash), five wrong passwords lock
the account for a while, and a session ends when the password changes or the user is
deactivated."""

from __future__ import annotations

from dataclasses import dataclass

from flask_login import UserMixin
from werkzeug.security import check_password_hash, generate_password_hash

from console.permissions import CONSOLE_ROLES, may
from storage import Store
from storage.errors import NotFound

MIN_PASSWORD = 10
REFUSED = "Wrong email or password. After 5 wrong tries an account waits 15 minutes."
# Checked when the email is unknown, so a wrong email takes as long as a wrong password.
_DECOY = generate_password_hash("not anyone's password")


@dataclass
class ConsoleUser(UserMixin):
    staff_id: int
    role: str
    name: str
    phone: str
    session_stamp: str

    def get_id(self) -> str:
        # The password's stamp is part of the session: a new password signs everyone out.
        return f"{self.staff_id}:{self.session_stamp}"

    def may(self, part: str) -> bool:
        return may(self.role, part)


def hash_password(password: str) -> str:
    return generate_password_hash(password, method="scrypt")


def password_problem(password: str) -> str | None:
    if len(password) < MIN_PASSWORD:
        return f"a console password needs at least {MIN_PASSWORD} characters"
    return None


def load_user(store: Store, user_id: str) -> ConsoleUser | None:
    staff_id, _, stamp = user_id.partition(":")
    try:
        user = store.staff.get(int(staff_id))
    except (NotFound, ValueError):
        return None
    login = store.console_logins.get(user.id)
    if not user.active or user.role not in CONSOLE_ROLES or login is None or login.session_stamp != stamp:
        return None
    return ConsoleUser(user.id, user.role, user.name, user.phone, login.session_stamp)


def sign_in(store: Store, email: str, password: str) -> tuple[ConsoleUser | None, str | None]:
    """(the user, None) or (None, what to tell them). Inside a write transaction."""
    now = store.now()
    login = store.console_logins.by_email(email)
    if login is None or login.locked(now):
        # The same answer, after the same slow hash, whether the email is unknown or its
        # account locked: neither the words nor the time say which emails have accounts.
        check_password_hash(_DECOY, password)
        return None, REFUSED
    if not check_password_hash(login.password_hash, password):
        locked = store.console_logins.failed(login.staff_id, now)
        store.audit.record(f"staff:{login.staff_id}", "console.sign_in_failed", f"staff:{login.staff_id}",
                           "locked" if locked else "")
        return None, REFUSED
    user = load_user(store, f"{login.staff_id}:{login.session_stamp}")
    if user is None:
        return None, "This account cannot use the console."
    store.console_logins.succeeded(login.staff_id)
    store.audit.record(f"staff:{user.staff_id}", "console.sign_in", f"staff:{user.staff_id}")
    return user, None

