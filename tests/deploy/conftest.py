"""What both deployment rehearsals start from, once per module: a working directory, a running
``moto_server`` (its log in that directory) and the accounts it emulates."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REGION
from tests.deploy.harness import Accounts, running_emulator


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("deploy")


@pytest.fixture(scope="module")
def endpoint(workdir: Path) -> Iterator[str]:
    with running_emulator(workdir / "moto_server.log") as url:
        yield url


@pytest.fixture(scope="module")
def accounts(endpoint: str) -> Accounts:
    return Accounts(endpoint, REGION)
