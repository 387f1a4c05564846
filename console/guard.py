"""The check on every console route: signed in, and the role may see this part."""

from __future__ import annotations

from functools import wraps

from flask import abort
from flask_login import current_user, login_required


def needs(part: str):
    def wrap(view):
        @wraps(view)
        @login_required
        def checked(*args, **kwargs):
            if not current_user.may(part):
                abort(403)
            return view(*args, **kwargs)
        return checked
    return wrap
