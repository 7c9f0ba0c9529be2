"""Who can reach the buckets: the access matrix, evaluated on the synthesized templates.

Every principal (Forge roles and their sessions, a named role, roles and users that only look
like them, other accounts, the storage account's own roles, anonymous) asks for every action
the walkthrough lists, the ones the construct adds and ones that must stay denied, on granted
buckets, prefixes, keys and on buckets that are not granted, over TLS and over plain HTTP. Each
cell is one test: the evaluator's decision, with S3 Block Public Access off and on, must be the
one ``matrix.expected`` specifies.

The app with three compute accounts and 128 buckets is asked about a sample of its buckets
(``configs.sample_buckets``: one of each kind, spanning both storage stacks and several managed
policies of each account): every cell for each account's admitted Forge or named role, a few
cells (list, read, write, key) for sessions and for the callers refused at the grants.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pytest

from constructs_lib.config import AccessSettings
from tests.access.bridge import ALLOWED, EXPLICITLY_DENIED, IMPLICITLY_DENIED
from tests.access.configs import CONFIGS, Config
from tests.access.conftest import Synthesized
from tests.access.deployment import Verdict, verdicts
from tests.access.matrix import (
    EXTRA_ACTIONS,
    FORBIDDEN_BUCKET_ACTIONS,
    FORBIDDEN_OBJECT_ACTIONS,
    KMS_READ,
    KMS_WRITE,
    WALKTHROUGH_ACTIONS,
    Cell,
    expected,
)

CASES = [
    pytest.param(config, cell, id=f"{config.name}:{cell.id}")
    for config in CONFIGS
    for cell in config.cells()
]


@dataclass(frozen=True)
class Evaluated:
    """A synthesized app: the settings its construct used, and the matrix's verdicts."""

    settings: AccessSettings
    verdicts: Mapping[str, Verdict]


@pytest.fixture(scope="module")
def evaluated(synthesized: Callable[[Config], Synthesized]) -> Callable[[Config], Evaluated]:
    """Evaluate each app's matrix once for the whole module, when first asked."""
    done: dict[str, Evaluated] = {}

    def of(config: Config) -> Evaluated:
        if config.name not in done:
            app = synthesized(config)
            done[config.name] = Evaluated(app.settings, verdicts(app.deployment, config.cells()))
        return done[config.name]

    return of


@pytest.mark.parametrize("config", CONFIGS, ids=[config.name for config in CONFIGS])
def test_the_matrix_is_built_for_the_settings_the_construct_used(
    config: Config, evaluated: Callable[[Config], Evaluated]
) -> None:
    assert evaluated(config).settings == config.settings


@pytest.mark.parametrize("config", CONFIGS, ids=[config.name for config in CONFIGS])
def test_the_matrix_asks_for_every_listed_action(config: Config) -> None:
    asked = {cell.action for cell in config.cells()}
    listed = {*WALKTHROUGH_ACTIONS, *EXTRA_ACTIONS, KMS_READ, KMS_WRITE}
    assert listed | {*FORBIDDEN_BUCKET_ACTIONS, *FORBIDDEN_OBJECT_ACTIONS} <= asked


@pytest.mark.parametrize("config", CONFIGS, ids=[config.name for config in CONFIGS])
def test_the_matrix_expects_allows_and_both_kinds_of_deny(config: Config) -> None:
    settings = config.settings
    outcomes = {expected(settings, cell) for cell in config.cells()}
    assert outcomes == {ALLOWED, IMPLICITLY_DENIED, EXPLICITLY_DENIED}


@pytest.mark.parametrize(("config", "cell"), CASES)
def test_the_evaluated_decision_is_the_intended_one(
    config: Config, cell: Cell, evaluated: Callable[[Config], Evaluated]
) -> None:
    verdict = evaluated(config).verdicts[cell.id]
    assert verdict.holds, str(verdict)
