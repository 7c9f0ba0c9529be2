"""Retries, backoff and the deadline, against injected faults."""

import time

import pytest
from client import DeadlineError, PlatformClient
from emulator import Fault, PlatformEmulator
from framework import (
    TOKEN,
    WORKSPACE,
    FakeContext,
    Provider,
    Transcript,
    VirtualTime,
    create_event,
    properties,
)


def test_429_is_retried_after_the_seconds_retry_after_gives(
    emulator: PlatformEmulator, provider: Provider, virtual_time: VirtualTime
) -> None:
    emulator.inject(Fault(429, retry_after="7"), Fault(429, retry_after="3"))

    result = provider.run(create_event(properties(emulator.url)))

    assert virtual_time.sleeps == [7.0, 3.0]
    assert virtual_time.ceilings == []  # Retry-After replaced the backoff
    assert emulator.compute_envs[result.physical_id].status == "AVAILABLE"


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_errors_are_retried_with_doubling_jittered_backoff(
    emulator: PlatformEmulator, provider: Provider, virtual_time: VirtualTime, status: int
) -> None:
    emulator.inject(*[Fault(status)] * 4)

    result = provider.run(create_event(properties(emulator.url)))

    assert virtual_time.ceilings == [1.0, 2.0, 4.0, 8.0]  # full jitter: uniform(0, ceiling)
    assert virtual_time.sleeps == [0.5, 1.0, 2.0, 4.0]
    assert emulator.compute_envs[result.physical_id].status == "AVAILABLE"


def test_backoff_ceiling_stops_growing_at_the_maximum(
    emulator: PlatformEmulator, virtual_time: VirtualTime
) -> None:
    emulator.inject(*[Fault(503)] * 7)
    platform = PlatformClient(
        emulator.url, TOKEN, WORKSPACE, virtual_time.now + 600, pacing=virtual_time.pacing()
    )

    platform.list_compute_envs()

    assert virtual_time.ceilings == [1.0, 2.0, 4.0, 8.0, 16.0, 20.0, 20.0]


def test_connection_resets_are_retried(
    emulator: PlatformEmulator, provider: Provider, virtual_time: VirtualTime
) -> None:
    emulator.inject(Fault("reset"), Fault("reset", on="POST /compute-envs"))

    result = provider.run(create_event(properties(emulator.url)))

    assert len(virtual_time.sleeps) == 2
    assert len(emulator.calls("POST", "/compute-envs")) == 2
    assert emulator.compute_envs[result.physical_id].status == "AVAILABLE"


def test_a_request_that_times_out_is_retried(
    emulator: PlatformEmulator, transcript: Transcript
) -> None:
    emulator.inject(Fault("hang", seconds=5))
    platform = PlatformClient(
        emulator.url, TOKEN, WORKSPACE, time.monotonic() + 5, request_timeout=0.2, base_delay=0.01
    )
    started = time.monotonic()

    with transcript.watch():
        listed = platform.list_compute_envs()

    assert listed == []
    assert 0.2 <= time.monotonic() - started < 2
    assert len(emulator.calls("GET", "/compute-envs")) == 2


def test_gives_up_before_the_deadline_with_a_clear_error(
    emulator: PlatformEmulator, transcript: Transcript, virtual_time: VirtualTime
) -> None:
    emulator.inject(*[Fault(503)] * 50)
    provider = Provider(transcript, FakeContext(remaining_ms=60_000))
    started = virtual_time.now

    with pytest.raises(DeadlineError) as raised:
        provider.on_event(create_event(properties(emulator.url)))

    deadline = started + 60 - 10  # the remaining time less the 10 s margin
    assert virtual_time.now < deadline
    assert virtual_time.now + virtual_time.ceilings[-1] / 2 >= deadline
    assert "Gave up on GET /compute-envs" in str(raised.value)
    assert "HTTP 503" in str(raised.value)
    assert "deadline" in str(raised.value)


def test_short_remaining_time_keeps_a_quarter_as_margin(
    emulator: PlatformEmulator, transcript: Transcript, virtual_time: VirtualTime
) -> None:
    emulator.inject(*[Fault(503)] * 50)
    provider = Provider(transcript, FakeContext(remaining_ms=8_000))
    started = virtual_time.now

    with pytest.raises(DeadlineError):
        provider.on_event(create_event(properties(emulator.url)))

    assert virtual_time.now - started < 6  # 8 s less a quarter


def test_retry_after_beyond_the_deadline_gives_up_without_waiting(
    emulator: PlatformEmulator, provider: Provider, virtual_time: VirtualTime
) -> None:
    emulator.inject(Fault(429, retry_after="120"))

    with pytest.raises(DeadlineError, match="HTTP 429"):
        provider.on_event(create_event(properties(emulator.url)))

    assert virtual_time.sleeps == []


def test_is_complete_polls_again_when_platform_is_unavailable(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    event = create_event(properties(emulator.url))
    started = provider.on_event(event)
    emulator.inject(*[Fault(502)] * 50)

    answer = provider.is_complete({**event, **started})

    assert answer == {"IsComplete": False}
