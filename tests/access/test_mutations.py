"""The matrix catches weakened policies: copies of the example's templates, each weakened one
way, must fail it, through the same checking code (``deployment.verdicts``) the matrix uses."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.access.assembly import stack_artifacts
from tests.access.bridge import ALLOWED, IMPLICITLY_DENIED, Result
from tests.access.configs import EXAMPLE
from tests.access.deployment import Deployment, Verdict, verdicts
from tests.access.matrix import cells
from tests.conftest import THIRD_ACCOUNT

SETTINGS = EXAMPLE.settings
Template = dict[str, Any]


@pytest.fixture(scope="module")
def example_outdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    outdir = tmp_path_factory.mktemp("example")
    EXAMPLE.synthesize(outdir)
    return outdir


def copy_with_storage_template(
    outdir: Path, copy_to: Path, change: Callable[[Template], Template]
) -> Path:
    """A copy of the cloud assembly whose storage stack template went through ``change``."""
    copy = Path(shutil.copytree(outdir, copy_to))
    template_file = stack_artifacts(copy)[SETTINGS.storage_account].template_file
    template_file.write_text(json.dumps(change(json.loads(template_file.read_text()))))
    return copy


def failing(outdir: Path) -> list[Verdict]:
    """The verdicts of the matrix that do not hold for the templates in ``outdir``."""
    deployment = Deployment.from_assembly(outdir, SETTINGS)
    return [
        verdict for verdict in verdicts(deployment, cells(SETTINGS)).values() if not verdict.holds
    ]


def replaced(old: str, new: str) -> Callable[[Template], Template]:
    """A change that replaces text everywhere in the template."""

    def change(template: Template) -> Template:
        loaded: Template = json.loads(json.dumps(template).replace(old, new))
        return loaded

    return change


def without_arn_like(template: Template) -> Template:
    """Drop every ``ArnLike`` condition: the account principal alone would admit all of A."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: strip(item) for key, item in value.items() if key != "ArnLike"}
        if isinstance(value, list):
            return [strip(item) for item in value]
        return value

    stripped: Template = strip(template)
    return stripped


def with_wider_key_prefixes(template: Template) -> Template:
    """Grant every granted prefix's bucket as a whole: objects and listings anywhere."""
    text = json.dumps(template)
    for grant in SETTINGS.grants:
        for prefix in grant.prefixes:
            text = text.replace(f'{grant.name}/{prefix}/*"', f'{grant.name}/*"')
            text = text.replace(f'"{prefix}/"', '"*"').replace(f'"{prefix}/*"', '"*"')
    widened: Template = json.loads(text)
    return widened


ROLE_PATTERN = f"role/{SETTINGS.forge_role_prefix}*"
MUTATIONS = [
    pytest.param(without_arn_like, [("outside-role-with-broad-iam", ALLOWED)], id="no-arn-like"),
    pytest.param(
        replaced(f'{ROLE_PATTERN}"', 'role/*"'),
        [("outside-role-with-broad-iam", ALLOWED)],
        id="role-pattern-widened-to-every-role",
    ),
    pytest.param(
        with_wider_key_prefixes,
        [("forge-role-with-broad-iam", ALLOWED)],
        id="key-prefixes-widened-to-the-bucket",
    ),
    pytest.param(
        replaced(SETTINGS.compute_account, THIRD_ACCOUNT),
        [("third-account-forge-role", ALLOWED), ("forge-instance-role", IMPLICITLY_DENIED)],
        id="compute-account-swapped",
    ),
]


def test_an_unchanged_copy_has_the_same_policies(example_outdir: Path, tmp_path: Path) -> None:
    copy = copy_with_storage_template(example_outdir, tmp_path / "copy", lambda t: t)
    original = Deployment.from_assembly(example_outdir, SETTINGS)
    assert Deployment.from_assembly(copy, SETTINGS) == original


@pytest.mark.parametrize(("change", "revealed_by"), MUTATIONS)
def test_a_weakened_storage_template_fails_the_matrix(
    change: Callable[[Template], Template],
    revealed_by: list[tuple[str, Result]],
    example_outdir: Path,
    tmp_path: Path,
) -> None:
    weakened = copy_with_storage_template(example_outdir, tmp_path / "weakened", change)
    failures = failing(weakened)
    evaluated = {(v.cell.principal.label, v.decision.result) for v in failures}
    assert set(revealed_by) <= evaluated, "\n".join(str(verdict) for verdict in failures[:20])
