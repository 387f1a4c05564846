"""The clinic console under /console: server-rendered pages for clinicians,
pharmacists, CHW supervisors and admins, readable on a small phone over a slow link.

No JavaScript: every page is a plain form and a table, under 50 KB with its style
sheet. Every action a page offers is the staff member's own SMS command run through
the same conversation engine (see console/actions.py), so it has the same effect and
the same audit entry as the text would."""

from __future__ import annotations

from console.app import init_console

__all__ = ["init_console"]
