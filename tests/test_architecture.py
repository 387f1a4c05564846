"""The rooms of the architecture, enforced: arrows only point down the "may import"
table, and flows/ stays pure outside its service package.

Imports are read as full dotted names, relative ones resolved against the module that
makes them, so `from .service import x` in a pure module is seen as flows.service."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
OURS = {"storage", "flows", "sms_gateway", "ivr", "scheduler", "console", "interop", "lowband"}
MAY_IMPORT = {
    "storage": set(),
    "flows": {"storage"},  # the service package only (checked below)
    "sms_gateway": {"flows", "storage"},
    "ivr": {"flows", "storage"},
    "scheduler": {"flows", "storage", "sms_gateway"},
    "console": {"flows", "storage", "interop"},
    "interop": {"flows", "storage"},  # flows' pure parts only (checked below)
    "lowband": OURS,
}
IMPURE = {"flask", "twilio", "sqlite3", "sqlite_utils", "werkzeug", "waitress", "apscheduler", "storage"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def dotted_imports(path: Path) -> set[str]:
    """Every module `path` imports, as a full dotted name."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            # `from flows import service` imports flows.service itself.
            found |= {f"{module}.{alias.name}" for alias in node.names}
    return found


def imports(path: Path) -> set[str]:
    """The top-level packages `path` imports."""
    return {name.split(".")[0] for name in dotted_imports(path) if name}


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_packages_import_only_what_the_table_allows(package):
    assert modules(package), f"{package}/ has no modules: the rule below would check nothing"
    allowed = MAY_IMPORT[package] | {package}
    wrong = {
        str(path.relative_to(ROOT)): sorted((imports(path) & OURS) - allowed)
        for path in modules(package)
        if (imports(path) & OURS) - allowed
    }
    assert not wrong


def _is_service(path: Path) -> bool:
    return (ROOT / "flows" / "service") in path.parents


def test_flows_is_pure_outside_its_service_package():
    impure = {}
    for path in modules("flows"):
        if _is_service(path):
            continue
        names = dotted_imports(path)
        bad = (imports(path) & IMPURE) | {n for n in names if n == "flows.service" or n.startswith("flows.service.")}
        if bad:
            impure[str(path.relative_to(ROOT))] = sorted(bad)
    assert not impure


def test_interop_uses_only_the_pure_parts_of_flows():
    # An export or import must not run conversations: it reads and writes records.
    reaching = {str(path.relative_to(ROOT)): sorted(n for n in dotted_imports(path)
                                                    if n == "flows.service" or n.startswith("flows.service."))
                for path in modules("interop")}
    assert not {path: names for path, names in reaching.items() if names}


def test_the_check_would_see_an_import(tmp_path):
    # Guard against a test that cannot fail: the parser does find imports, absolute and
    # relative, and names a relative import by the module it reaches.
    assert {"flask", "lowband", "sms_gateway"} <= imports(ROOT / "lowband" / "app.py")
    assert "storage" in imports(ROOT / "flows" / "service" / "__init__.py")
    fake = ROOT / "flows" / "_architecture_probe.py"
    fake.write_text("from .service import apply\nfrom . import service\nfrom ..storage import store\n")
    try:
        names = dotted_imports(fake)
    finally:
        fake.unlink()
    assert {"flows.service", "flows.service.apply", "storage.store"} <= names
