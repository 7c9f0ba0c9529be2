"""The matrix catches weakened policies: copies of an app's templates, each weakened one way,
must fail it, through the same checking code (``deployment.verdicts``) the matrix uses.

The example's matrix is asked in full. The app with several compute accounts is asked only the
cells of the callers a change is about, to keep the run short.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from constructs_lib.plan import storage_layout
from tests.access.assembly import stack_artifacts
from tests.access.bridge import ALLOWED, IMPLICITLY_DENIED, Result
from tests.access.configs import EXAMPLE, SECOND_COMPUTE_ACCOUNT, SEVERAL_ACCOUNTS, Config
from tests.access.conftest import Synthesized
from tests.access.deployment import Deployment, Verdict, verdicts
from tests.access.matrix import Cell
from tests.conftest import THIRD_ACCOUNT

SETTINGS = EXAMPLE.settings
Template = dict[str, Any]


def copy_with_storage_templates(
    outdir: Path, copy_to: Path, storage_account: str, change: Callable[[Template], Template]
) -> Path:
    """A copy of the cloud assembly whose storage stack templates (all of them, when the
    grants are spread over several) went through ``change``."""
    copy = Path(shutil.copytree(outdir, copy_to))
    changed = [a for a in stack_artifacts(copy) if a.account == storage_account]
    assert changed, f"no stack deploys to {storage_account}"
    for artifact in changed:
        template = json.loads(artifact.template_file.read_text())
        artifact.template_file.write_text(json.dumps(change(template)))
    return copy


def failing(config: Config, outdir: Path, asked: Callable[[Cell], bool]) -> list[Verdict]:
    """The verdicts of the app's matrix cells ``asked`` that do not hold for ``outdir``."""
    deployment = Deployment.from_assembly(outdir, config.settings)
    cells = [cell for cell in config.cells() if asked(cell)]
    return [verdict for verdict in verdicts(deployment, cells).values() if not verdict.holds]


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


def every_cell(cell: Cell) -> bool:
    return True


def asked_of(*labels: str) -> Callable[[Cell], bool]:
    """The cells of the callers labelled ``labels``."""
    return lambda cell: cell.principal.label in labels


ROLE_PATTERN = f"role/{SETTINGS.primary.forge_role_prefix}*"
SECOND_ROOT = f"arn:aws:iam::{SECOND_COMPUTE_ACCOUNT}:root"
SECOND_PATTERN = f"arn:aws:iam::{SECOND_COMPUTE_ACCOUNT}:role/SeqeraForge*"
SECOND = f"{SECOND_COMPUTE_ACCOUNT}-"
MUTATIONS = [
    pytest.param(
        EXAMPLE,
        without_arn_like,
        every_cell,
        [("outside-role-with-broad-iam", ALLOWED)],
        id="example:no-arn-like",
    ),
    pytest.param(
        EXAMPLE,
        replaced(f'{ROLE_PATTERN}"', 'role/*"'),
        every_cell,
        [("outside-role-with-broad-iam", ALLOWED)],
        id="example:role-pattern-widened-to-every-role",
    ),
    pytest.param(
        EXAMPLE,
        with_wider_key_prefixes,
        every_cell,
        [("forge-role-with-broad-iam", ALLOWED)],
        id="example:key-prefixes-widened-to-the-bucket",
    ),
    pytest.param(
        EXAMPLE,
        replaced(SETTINGS.primary.account, THIRD_ACCOUNT),
        every_cell,
        [("third-account-forge-role", ALLOWED), ("forge-instance-role", IMPLICITLY_DENIED)],
        id="example:compute-account-swapped",
    ),
    pytest.param(
        SEVERAL_ACCOUNTS,
        replaced(SECOND_ROOT, f"arn:aws:iam::{THIRD_ACCOUNT}:root"),
        asked_of(f"{SECOND}forge-instance-role", f"{SECOND}forge-instance-role-session"),
        [
            (f"{SECOND}forge-instance-role", IMPLICITLY_DENIED),
            (f"{SECOND}forge-instance-role-session", IMPLICITLY_DENIED),
        ],
        id="several-accounts:second-account-root-swapped-for-a-third",
    ),
    pytest.param(
        SEVERAL_ACCOUNTS,
        replaced(SECOND_PATTERN, f"arn:aws:iam::{SECOND_COMPUTE_ACCOUNT}:role/*"),
        asked_of(f"{SECOND}role-named-with-the-prefix-of-111111111111"),
        [(f"{SECOND}role-named-with-the-prefix-of-111111111111", ALLOWED)],
        id="several-accounts:second-account-pattern-widened-to-every-role",
    ),
]


def test_an_unchanged_copy_has_the_same_policies(
    synthesized: Callable[[Config], Synthesized], tmp_path: Path
) -> None:
    app = synthesized(EXAMPLE)
    copy = copy_with_storage_templates(
        app.outdir, tmp_path / "copy", SETTINGS.storage_account, lambda t: t
    )
    assert Deployment.from_assembly(copy, SETTINGS) == app.deployment


@pytest.mark.parametrize(("config", "change", "asked", "revealed_by"), MUTATIONS)
def test_a_weakened_storage_template_fails_the_matrix(
    config: Config,
    change: Callable[[Template], Template],
    asked: Callable[[Cell], bool],
    revealed_by: list[tuple[str, Result]],
    synthesized: Callable[[Config], Synthesized],
    tmp_path: Path,
) -> None:
    outdir = synthesized(config).outdir
    storage_account = config.settings.storage_account
    weakened = copy_with_storage_templates(outdir, tmp_path / "weakened", storage_account, change)
    failures = failing(config, weakened, asked)
    evaluated = {(v.cell.principal.label, v.decision.result) for v in failures}
    assert set(revealed_by) <= evaluated, "\n".join(str(verdict) for verdict in failures[:20])
    failed_buckets = {v.cell.target.bucket for v in failures}
    asked_buckets = {cell.target.bucket for cell in config.cells() if asked(cell)}
    for part in storage_layout(config.settings):
        names = {grant.name for grant in part}
        assert not names & asked_buckets or names & failed_buckets, f"unrevealed in {names}"
