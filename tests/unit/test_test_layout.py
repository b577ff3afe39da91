"""No test module imports another: what tests share lives in tests/support (or a conftest.py),
so that a test module can be read, moved or deleted on its own."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).parents[1]
PACKAGE = TESTS.name  # "tests"


def package_of(path: Path) -> list[str]:
    """The dotted package a module under tests/ belongs to, as its parts."""
    return list(path.relative_to(TESTS.parent).parts[:-1])


def is_module_of_tests(name: str) -> bool:
    """`name` (dotted) is a module file or package under tests/."""
    if name.split(".", maxsplit=1)[0] != PACKAGE:
        return False
    path = TESTS.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imported_modules(source: str, package: list[str]) -> set[str]:
    """Every module under tests/ that `source` (a module of `package`) imports, at the top or
    inside a function: `from tests.a import b` is `tests.a.b` when b is a module, else `tests.a`."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            for alias in node.names:
                submodule = f"{module}.{alias.name}"
                found.add(submodule if is_module_of_tests(submodule) else module)
    return {name for name in found if is_module_of_tests(name)}


def shared(name: str) -> bool:
    """Modules any module of tests/ may import: conftest.py files and tests/support."""
    parts = name.split(".")
    return parts[-1] == "conftest" or parts[:2] == [PACKAGE, "support"]


def test_no_test_module_imports_another_test_module() -> None:
    """Every module under tests/ imports, of tests/, only conftest.py files and tests/support."""
    offences = [
        f"{path.relative_to(TESTS.parent)} imports {name}"
        for path in sorted(TESTS.rglob("*.py"))
        for name in sorted(imported_modules(path.read_text(), package_of(path)))
        if not shared(name)
    ]
    assert offences == []


def test_shared_helpers_live_in_tests_support() -> None:
    """Outside tests/support every module under tests/ is a test module, a conftest.py or a
    package's __init__.py: a helper module anywhere else would be one tests import."""
    strays = [
        str(path.relative_to(TESTS.parent))
        for path in sorted(TESTS.rglob("*.py"))
        if path.relative_to(TESTS).parts[0] != "support"
        and not path.name.startswith("test_")
        and path.name not in ("conftest.py", "__init__.py")
    ]
    assert strays == []


def test_the_check_sees_every_way_of_importing_a_test_module() -> None:
    """The import reader finds test modules imported every way Python allows, relative and
    inside functions too, so that the layout check cannot pass by missing one."""
    source = (
        "import tests.integration.test_executor\n"
        "from tests.unit import test_cron\n"
        "from tests.unit.test_config import ROOT\n"
        "from . import test_logging\n"
        "from ..e2e.test_doctor import RULE\n"
        "def later():\n"
        "    from tests.support.polling import until\n"
        "    from tests.e2e.conftest import MakeRun\n"
    )
    found = imported_modules(source, [PACKAGE, "unit"])
    assert found == {
        "tests.integration.test_executor",
        "tests.unit.test_cron",
        "tests.unit.test_config",
        "tests.unit.test_logging",
        "tests.e2e.test_doctor",
        "tests.support.polling",
        "tests.e2e.conftest",
    }
    assert {name for name in found if shared(name)} == {
        "tests.support.polling",
        "tests.e2e.conftest",
    }
