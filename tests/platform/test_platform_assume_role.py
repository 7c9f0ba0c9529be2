"""A compute environment made with credentials whose role is not assumable yet (a new role,
or a trust policy that has just changed): Create retries Platform's "cannot assume role"
answers for a bounded time, then fails with Platform's message and what to check."""

import json
import logging
from collections.abc import Callable

import handler
import pytest
from client import PlatformError
from emulator import PlatformEmulator
from framework import (
    WORKSPACE,
    FakeContext,
    Provider,
    Result,
    Transcript,
    VirtualTime,
    compute_env,
    create_event,
    credentials_properties,
    delete_event,
    properties,
)

LAMBDA_TIMEOUT_MS = 300_000  # the handler functions' timeout (5 minutes)


def make_credentials(emulator: PlatformEmulator, provider: Provider) -> Result:
    """The credentials resource, as the stack makes it before the compute environment."""
    return provider.run(create_event(credentials_properties(emulator.url)))


def environment_props(emulator: PlatformEmulator, credentials: Result) -> dict[str, str]:
    environment = {**compute_env(), "credentialsId": credentials.data["CredentialsId"]}
    return properties(emulator.url, environment=environment)


def test_create_succeeds_once_the_role_can_be_assumed(
    make_emulator: Callable[..., PlatformEmulator],
    transcript: Transcript,
    virtual_time: VirtualTime,
    caplog: pytest.LogCaptureFixture,
) -> None:
    emulator = make_emulator(assume_role_failures=3)
    provider = Provider(transcript, FakeContext(remaining_ms=LAMBDA_TIMEOUT_MS))
    credentials = make_credentials(emulator, provider)

    result = provider.run(create_event(environment_props(emulator, credentials)))

    assert emulator.compute_envs[result.physical_id].status == "AVAILABLE"
    assert [r.status for r in emulator.calls("POST", "/compute-envs")] == [400, 400, 400, 200]
    assert virtual_time.sleeps == [5.0, 10.0, 20.0]  # doubling, up to 20 s
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("cannot assume the role" in w for w in warnings) == 3


def test_create_fails_after_the_bound_with_platform_s_message_and_what_to_check(
    make_emulator: Callable[..., PlatformEmulator],
    transcript: Transcript,
    virtual_time: VirtualTime,
) -> None:
    emulator = make_emulator()
    provider = Provider(transcript, FakeContext(remaining_ms=LAMBDA_TIMEOUT_MS))
    credentials = make_credentials(emulator, provider)
    emulator.credentials[credentials.physical_id].assume_failures = 1_000
    started = virtual_time.now

    with pytest.raises(PlatformError) as raised:
        provider.run(create_event(environment_props(emulator, credentials)))

    text = str(raised.value)
    assert raised.value.status == 400
    assert raised.value.platform_message is not None
    assert "is not authorized to perform: sts:AssumeRole" in raised.value.platform_message
    assert raised.value.platform_message in text
    assert "Tried 8 times over 115 s" in text
    assert "trust policy" in text and "sts:ExternalId" in text and "sts:TagSession" in text
    assert "arn:aws:iam::161471496260:role/SeqeraPlatformCloudAccessRole" in text
    assert virtual_time.now - started <= handler.ASSUME_ROLE_RETRY_SECONDS
    assert virtual_time.sleeps == [5.0, 10.0, 20.0, 20.0, 20.0, 20.0, 20.0]
    assert emulator.live(WORKSPACE) == []


def test_a_short_lambda_deadline_ends_the_retries_sooner_with_the_same_advice(
    make_emulator: Callable[..., PlatformEmulator],
    transcript: Transcript,
    virtual_time: VirtualTime,
) -> None:
    emulator = make_emulator()
    provider = Provider(transcript, FakeContext(remaining_ms=60_000))
    credentials = make_credentials(emulator, provider)
    emulator.credentials[credentials.physical_id].assume_failures = 1_000
    started = virtual_time.now

    with pytest.raises(PlatformError, match=r"Tried 4 times over 35 s.*trust policy"):
        provider.run(create_event(environment_props(emulator, credentials)))

    assert virtual_time.now - started < 60 - 10  # the Lambda's time less the margin


def test_other_refusals_of_the_create_are_not_retried(
    emulator: PlatformEmulator, provider: Provider, virtual_time: VirtualTime
) -> None:
    props = properties(emulator.url, environment=compute_env(name="not a valid name"))

    with pytest.raises(PlatformError, match="Invalid compute environment name"):
        provider.run(create_event(props))

    assert virtual_time.sleeps == []


def test_an_errored_ce_is_not_retried_even_when_platform_blames_the_role(
    emulator: PlatformEmulator, provider: Provider, virtual_time: VirtualTime
) -> None:
    message = "Unable to assume role arn:aws:iam::111111111111:role/seqera-forge"
    emulator.outcome("cross-account", "ERRORED", message)

    with pytest.raises(PlatformError, match=f"as ERRORED: {message}"):
        provider.run(create_event(properties(emulator.url)))

    assert virtual_time.sleeps == []
    assert len(emulator.calls("POST", "/compute-envs")) == 1


def test_credentials_then_compute_environment_then_both_deleted_in_stack_order(
    make_emulator: Callable[..., PlatformEmulator], transcript: Transcript
) -> None:
    emulator = make_emulator(assume_role_failures=1)
    provider = Provider(transcript, FakeContext(remaining_ms=LAMBDA_TIMEOUT_MS))
    creds_props = credentials_properties(emulator.url)
    credentials = make_credentials(emulator, provider)
    props = environment_props(emulator, credentials)
    ce = provider.run(create_event(props))

    with pytest.raises(PlatformError, match="still uses them"):  # the wrong order is refused
        provider.run(delete_event(credentials.physical_id, creds_props))
    provider.run(delete_event(ce.physical_id, props))
    provider.run(delete_event(credentials.physical_id, creds_props))

    assert emulator.live(WORKSPACE) == [] and emulator.live_credentials(WORKSPACE) == []
    [post] = [r for r in emulator.calls("POST", "/compute-envs") if r.status == 200]
    assert json.dumps(post.body).count(credentials.physical_id) == 1
