"""One direction of imports: pure policy code at the bottom, CDK above it, the Lambda alone.

Read from the source (not by importing, which would run the package's ``__init__``), so a
CDK import anywhere in a pure module, even one used only for types, fails here.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "constructs_lib"
# No CDK: bad input is refused, and every document computed, before a construct exists.
PURE = {
    "constructs_lib.config",
    "constructs_lib.context",
    "constructs_lib.defaults",
    "constructs_lib.errors",
    "constructs_lib.plan",
    "constructs_lib.policies",
    "constructs_lib.report",
    "constructs_lib.seqera.settings",
}
# The doctor is pure too, and also reads live accounts: with boto3 (and botocore), and Platform
# with the Lambda asset's client and shared constants (standard library only), which it names
# as Lambda does.
DOCTOR = {
    "constructs_lib.doctor" + ("" if path.stem == "__init__" else f".{path.stem}")
    for path in (PACKAGE / "doctor").glob("*.py")
}
DOCTOR_MAY_ALSO_IMPORT = {"boto3", "botocore", "client", "shared"}
PURE |= DOCTOR
STANDARD_LIBRARY = set(sys.stdlib_module_names)
ASSET = PACKAGE / "seqera" / "asset"


def imported_modules(path: Path) -> set[str]:
    """Every module a source file imports (``from x import y`` may name a module ``x.y``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            found.add(node.module)
            if node.module == "constructs_lib":
                found |= {f"constructs_lib.{alias.name}" for alias in node.names}
    return found


def module_path(module: str) -> Path:
    path = PROJECT_ROOT.joinpath(*module.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


@pytest.mark.parametrize("module", sorted(PURE))
def test_pure_modules_import_only_the_standard_library_and_each_other(module: str) -> None:
    also = DOCTOR_MAY_ALSO_IMPORT if module in DOCTOR else set()
    outside = {
        name
        for name in imported_modules(module_path(module))
        if name.split(".")[0] not in STANDARD_LIBRARY | also and name not in PURE
    }
    assert outside <= {"constructs_lib"}, outside


@pytest.mark.parametrize("path", sorted(ASSET.glob("*.py")), ids=lambda path: path.name)
def test_the_lambda_asset_needs_only_the_standard_library_boto3_and_itself(path: Path) -> None:
    siblings = {sibling.stem for sibling in ASSET.glob("*.py")}
    outside = {
        name
        for name in imported_modules(path)
        if name.split(".")[0] not in STANDARD_LIBRARY | siblings | {"boto3", "botocore"}
    }
    assert outside == set()


def test_every_pure_module_exists() -> None:
    assert all(module_path(module).is_file() for module in PURE)
