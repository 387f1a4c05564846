"""The rooms of ARCHITECTURE.md, enforced: arrows only point down the "may import"
table, and flows/ stays pure outside its service package."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
OURS = {"storage", "flows", "sms_gateway", "ivr", "scheduler", "lowband"}
MAY_IMPORT = {
    "storage": set(),
    "flows": {"storage"},  # the service package only (checked below)
    "sms_gateway": {"flows", "storage"},
    "ivr": {"flows", "storage"},
    "scheduler": {"flows", "storage", "sms_gateway"},
    "lowband": OURS,
}
IMPURE = {"flask", "twilio", "sqlite3", "sqlite_utils", "werkzeug", "waitress", "apscheduler", "storage"}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_packages_import_only_what_the_table_allows(package):
    allowed = MAY_IMPORT[package] | {package}
    wrong = {
        str(path.relative_to(ROOT)): sorted((imports(path) & OURS) - allowed)
        for path in modules(package)
        if (imports(path) & OURS) - allowed
    }
    assert not wrong


def test_flows_is_pure_outside_its_service_package():
    service = ROOT / "flows" / "service"
    impure = {
        str(path.relative_to(ROOT)): sorted(imports(path) & IMPURE)
        for path in modules("flows")
        if service not in path.parents and imports(path) & IMPURE
    }
    assert not impure


def test_the_check_would_see_an_import():
    # Guard against a test that cannot fail: the parser does find imports.
    assert {"flask", "storage"} <= imports(ROOT / "lowband" / "app.py") | {"storage"}
    assert "storage" in imports(ROOT / "flows" / "service" / "__init__.py")
