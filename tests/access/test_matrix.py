"""Who can reach the buckets: the access matrix, evaluated on the synthesized templates.

Every principal (Forge roles and their sessions, a named role, roles and users that only look
like them, other accounts, the storage account's own roles, anonymous) asks for every action
the walkthrough lists, the ones the construct adds and ones that must stay denied, on granted
buckets, prefixes, keys and on buckets that are not granted, over TLS and over plain HTTP. Each
cell is one test: the evaluator's decision, with S3 Block Public Access off and on, must be the
one ``matrix.expected`` specifies.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pytest

from constructs_lib.config import AccessSettings
from tests.access.bridge import ALLOWED, EXPLICITLY_DENIED, IMPLICITLY_DENIED
from tests.access.configs import CONFIGS, Config
from tests.access.deployment import Deployment, Verdict, verdicts
from tests.access.matrix import (
    EXTRA_ACTIONS,
    FORBIDDEN_BUCKET_ACTIONS,
    FORBIDDEN_OBJECT_ACTIONS,
    KMS_READ,
    KMS_WRITE,
    WALKTHROUGH_ACTIONS,
    Cell,
    cells,
    expected,
)

CASES = [
    pytest.param(config, cell, id=f"{config.name}:{cell.id}")
    for config in CONFIGS
    for cell in cells(config.settings)
]


@dataclass(frozen=True)
class Evaluated:
    """A synthesized app: the settings its construct used, and the matrix's verdicts."""

    settings: AccessSettings
    verdicts: Mapping[str, Verdict]


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Config], Evaluated]:
    """Synthesize and evaluate each app once for the whole module, when first asked."""
    done: dict[str, Evaluated] = {}

    def of(config: Config) -> Evaluated:
        if config.name not in done:
            outdir = tmp_path_factory.mktemp(config.name)
            settings = config.synthesize(outdir)
            deployment = Deployment.from_assembly(outdir, settings)
            done[config.name] = Evaluated(settings, verdicts(deployment, cells(config.settings)))
        return done[config.name]

    return of


@pytest.mark.parametrize("config", CONFIGS, ids=[config.name for config in CONFIGS])
def test_the_matrix_is_built_for_the_settings_the_construct_used(
    config: Config, evaluated: Callable[[Config], Evaluated]
) -> None:
    assert evaluated(config).settings == config.settings


@pytest.mark.parametrize("config", CONFIGS, ids=[config.name for config in CONFIGS])
def test_the_matrix_asks_for_every_listed_action(config: Config) -> None:
    asked = {cell.action for cell in cells(config.settings)}
    listed = {*WALKTHROUGH_ACTIONS, *EXTRA_ACTIONS, KMS_READ, KMS_WRITE}
    assert listed | {*FORBIDDEN_BUCKET_ACTIONS, *FORBIDDEN_OBJECT_ACTIONS} <= asked


@pytest.mark.parametrize("config", CONFIGS, ids=[config.name for config in CONFIGS])
def test_the_matrix_expects_allows_and_both_kinds_of_deny(config: Config) -> None:
    settings = config.settings
    outcomes = {expected(settings, cell) for cell in cells(settings)}
    assert outcomes == {ALLOWED, IMPLICITLY_DENIED, EXPLICITLY_DENIED}


@pytest.mark.parametrize(("config", "cell"), CASES)
def test_the_evaluated_decision_is_the_intended_one(
    config: Config, cell: Cell, evaluated: Callable[[Config], Evaluated]
) -> None:
    verdict = evaluated(config).verdicts[cell.id]
    assert verdict.holds, str(verdict)
