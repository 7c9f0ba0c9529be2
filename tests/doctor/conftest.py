"""Fixtures for the doctor: the AWS emulator (``moto_server`` on 127.0.0.1, once per session,
as the deploy rehearsal runs it), a throwaway AWS configuration with one assumed-role profile
per account, the Platform emulator (whose spec violations fail the test), and a setup
deployed from the plan for each test.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

from tests.conftest import COMPUTE_ACCOUNT, PROJECT_ROOT, REGION, STORAGE_ACCOUNT

# The Platform emulator and the Lambda asset's Platform client are imported as tests/platform
# imports them.
sys.path.insert(0, str(PROJECT_ROOT / "tests" / "platform"))
sys.path.insert(0, str(PROJECT_ROOT / "constructs_lib" / "seqera" / "asset"))

from emulator import PlatformEmulator, SpecChecker

from tests.deploy.harness import running_emulator, write_aws_files
from tests.doctor.deployment import TOKEN, Deployed, deploy

SPEC = PROJECT_ROOT / "tests" / "platform" / "spec" / "seqera-api.trimmed.yml"


@pytest.fixture(scope="session")
def aws_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The AWS emulator's endpoint URL."""
    with running_emulator(tmp_path_factory.mktemp("moto") / "moto_server.log") as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def aws_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Profiles ``account-<id>`` for both accounts; ~/.aws is never read."""
    return write_aws_files(
        tmp_path_factory.mktemp("aws"), [COMPUTE_ACCOUNT, STORAGE_ACCOUNT], REGION
    )


@pytest.fixture
def aws_env(
    monkeypatch: pytest.MonkeyPatch, aws_endpoint: str, aws_files: dict[str, str]
) -> dict[str, str]:
    """The environment a user would run the doctor with: the throwaway AWS configuration
    and AWS_ENDPOINT_URL at the emulator (set for this process too)."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    env = {
        **aws_files,
        "AWS_ENDPOINT_URL": aws_endpoint,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture(scope="session")
def checker() -> SpecChecker:
    """Seqera's OpenAPI spec (the vendored trimmed copy), loaded once."""
    return SpecChecker(SPEC)


@pytest.fixture
def platform(checker: SpecChecker) -> Iterator[PlatformEmulator]:
    """A Platform emulator whose compute environments are AVAILABLE at the first describe;
    afterwards, no request or answer may have broken the spec."""
    emulator = PlatformEmulator(checker, token=TOKEN, creating_polls=0).start()
    yield emulator
    emulator.stop()
    assert emulator.violations == [], "requests or responses broke the Seqera OpenAPI spec"


@pytest.fixture
def deployed(aws_env: dict[str, str], aws_endpoint: str, platform: PlatformEmulator) -> Deployed:
    """Both accounts and Platform set up from the plan, healthy."""
    return deploy(aws_endpoint, platform)
