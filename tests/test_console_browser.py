"""The console in a real browser: Debian's Chromium, driven by Playwright, against the
app served on localhost. A clinician signs in, acknowledges the urgent alert, answers
the consultation, approves the refill, and opens a patient's page whose chart shows
their blood pressure. A screenshot of that page at 360 px wide (a small phone) is left
in test-artifacts/ for people to look at."""

from __future__ import annotations

import shutil
import threading
import warnings
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from lowband.app import create_app
from lowband.demo import DEMO_PASSWORD
from tests.helpers.console import load_demo_clinic

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
# Without the networking flags Chromium keeps calling Google's hosts, which a clinic
# laptop (and CI) may not reach.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.fixture
def browser():
    executable = chromium_path()
    if executable is None:
        message = ("NO BROWSER: the console's browser tests did not run. Install Debian's chromium "
                   "(`apt-get install chromium`; .ci/run does) to run them.")
        warnings.warn(message, stacklevel=1)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def served(installation):
    load_demo_clinic(installation)
    app = create_app(installation.config)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    app.extensions["lowband"].close()


def outbox_purposes(installation) -> list[str]:
    store = installation.store()
    try:
        return [m.purpose for m in store.outbox.list()]
    finally:
        store.db.close()


def test_a_clinician_works_through_what_needs_them(browser, served, installation):
    page = browser.new_page(viewport={"width": 360, "height": 740})
    page.goto(f"{served}/console/")
    assert page.url.startswith(f"{served}/console/sign-in")
    page.fill("input[name=email]", "wanjiru@clinic.example")
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("text=Sign in")
    assert page.locator("h1").inner_text() == "Needs me now"

    page.locator("#alerts").get_by_role("button", name="Acknowledge").click()
    assert "A1 marked as handled" in page.locator(".notes").inner_text()
    assert "No urgent alert open." in page.locator("#alerts").inner_text()

    page.locator("#consults a", has_text="C1").click()
    page.fill("input[name=words]", "Drink plenty of water and come in tomorrow.")
    page.click("text=Send advice by SMS")
    assert "your advice is on its way" in page.locator(".notes").inner_text()
    assert "consult" in outbox_purposes(installation)

    page.click("text=Needs me now")
    refills = page.locator("#refills")
    refills.locator("input[name=words]").first.fill("Main pharmacy")
    refills.get_by_role("button", name="Ready").click()
    assert "RF1" in page.locator(".notes").inner_text()
    assert "refill" in outbox_purposes(installation)

    page.click("text=Patients")
    page.fill("input[name=q]", "Joseph")
    page.click("text=Find")
    page.locator("table a").first.click()
    chart = page.locator("#chart-bp svg")
    assert chart.locator("circle").count() == 16  # eight readings, systolic and diastolic
    assert chart.locator("circle.urgent").count() == 2  # today's 186/122
    assert chart.bounding_box()["width"] <= 360
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "console-patient-360.png"), full_page=True)
    assert (ARTIFACTS / "console-patient-360.png").stat().st_size > 5_000


def test_a_pharmacist_declines_a_refill_with_javascript_off(browser, served, installation):
    page = browser.new_page(java_script_enabled=False)
    page.goto(f"{served}/console/sign-in")
    page.fill("input[name=email]", "otieno@clinic.example")
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("text=Sign in")
    assert "Refill requests (1)" in page.locator("#refills").inner_text()
    assert page.locator("#alerts").count() == 0  # a pharmacist's console has no alerts
    page.locator("#refills input[name=words]").nth(1).fill("Out of stock until Friday")
    page.get_by_role("button", name="Decline").click()
    assert "No refill waiting." in page.locator("#refills").inner_text()
    assert "refill" in outbox_purposes(installation)
