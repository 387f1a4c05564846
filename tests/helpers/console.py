"""A staff member at the console through Flask's test client: pages read as text, forms
posted with the CSRF token the page carries (as a browser would)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import unescape

from lowband.demo import DEMO_PASSWORD, load_demo

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def load_demo_clinic(installation) -> None:
    from lowband.settings import load_settings

    store = installation.store()
    try:
        load_demo(store, load_settings(overrides=installation.config), 2026)
    finally:
        store.db.close()


def text_of(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


@dataclass
class Console:
    client: object
    token: str = ""

    def get(self, path: str):
        response = self.client.get(path)
        found = TOKEN.search(response.get_data(as_text=True))
        if found:
            self.token = found.group(1)
        return response

    def post(self, path: str, **form):
        if not self.token:
            self.get("/console/sign-in")
        return self.client.post(path, data={"csrf_token": self.token, **form}, follow_redirects=True)

    def sign_in(self, email: str, password: str = DEMO_PASSWORD):
        self.get("/console/sign-in")
        response = self.post("/console/sign-in", email=email, password=password)
        self.get("/console/")
        return response
