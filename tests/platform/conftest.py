"""Fixtures for the Platform custom-resource tests.

The Lambda asset is constructs_lib/seqera/asset on its own, so its modules are imported the way
Lambda imports them: that directory goes on sys.path and ``handler`` and ``client`` are
top-level modules. Each test gets a started emulator (whose spec violations fail the test),
a Secrets Manager secret in moto, a virtual clock, and a check that the token appears in no
return value, exception or log line.
"""

import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

# Lambda runs the asset directory's modules as top-level modules; so do the tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "constructs_lib" / "seqera" / "asset"))

import handler
from emulator import PlatformEmulator, SpecChecker
from framework import SECRET_NAME, TOKEN, Provider, Transcript, VirtualTime

# The Seqera OpenAPI spec, trimmed to the operations these tests use (see spec/NOTICE).
# SEQERA_OPENAPI_SPEC may name another copy, such as the full spec as Seqera publishes it.
DEFAULT_SPEC = Path(__file__).resolve().parent / "spec" / "seqera-api.trimmed.yml"
SPEC_PATH = Path(os.environ.get("SEQERA_OPENAPI_SPEC", str(DEFAULT_SPEC)))


@pytest.fixture(scope="session")
def checker() -> SpecChecker:
    """The Seqera OpenAPI spec, loaded once per session (the full spec takes about 3 s,
    the vendored trimmed one well under 1 s)."""
    if not SPEC_PATH.is_file():
        pytest.fail(f"Seqera OpenAPI spec not found at {SPEC_PATH}; set SEQERA_OPENAPI_SPEC")
    return SpecChecker(SPEC_PATH)


@pytest.fixture
def make_emulator(checker: SpecChecker) -> Iterator[Callable[..., PlatformEmulator]]:
    """Start emulators with options; afterwards require that none saw a spec violation."""
    started: list[PlatformEmulator] = []

    def make(**options: Any) -> PlatformEmulator:
        options.setdefault("token", TOKEN)
        emulator = PlatformEmulator(checker, **options).start()
        started.append(emulator)
        return emulator

    yield make
    for emulator in started:
        emulator.stop()
    violations = [violation for emulator in started for violation in emulator.violations]
    assert violations == [], "requests or responses broke the Seqera OpenAPI spec"


@pytest.fixture
def emulator(make_emulator: Callable[..., PlatformEmulator]) -> PlatformEmulator:
    """A default emulator: spec-shaped answers, 403 for unknown ids (as Platform does)."""
    return make_emulator()


@pytest.fixture(autouse=True)
def virtual_time(monkeypatch: pytest.MonkeyPatch) -> VirtualTime:
    """The handler's clock and sleep, made virtual."""
    clock = VirtualTime()
    monkeypatch.setattr(handler, "PACING", clock.pacing())
    return clock


@pytest.fixture(scope="module", autouse=True)
def token_secret() -> Iterator[str]:
    """Secrets Manager (moto) holding the access token as the secret's SecretString; one per
    test module, as moto takes a while to set up."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        patch.delenv("AWS_PROFILE", raising=False)
        with mock_aws():
            boto3.client("secretsmanager").create_secret(Name=SECRET_NAME, SecretString=TOKEN)
            yield SECRET_NAME


@pytest.fixture
def transcript() -> Transcript:
    return Transcript()


@pytest.fixture(autouse=True)
def token_never_leaks(transcript: Transcript, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """After each test: the token is in no return value, exception text or log record."""
    caplog.set_level(logging.DEBUG)
    yield
    formatter = logging.Formatter()
    # The call phase only: in setup the test itself stores the token in the secret.
    logged = [formatter.format(record) for record in caplog.get_records("call")]
    leaks = [text for text in [*transcript.texts, *logged] if TOKEN in text]
    assert leaks == [], "the access token leaked"


@pytest.fixture
def provider(transcript: Transcript) -> Provider:
    return Provider(transcript)
