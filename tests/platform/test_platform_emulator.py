"""The emulator's own checks can fail: requests the spec rejects are caught, and so is a
missing token. These tests send raw requests, then clear what they provoked on purpose."""

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from emulator import PlatformEmulator
from framework import (
    TOKEN,
    WORKSPACE,
    Provider,
    compute_env,
    create_event,
    delete_event,
    properties,
)


def send(emulator: PlatformEmulator, method: str, path: str, body: Any, token: str | None) -> int:
    """One raw request; the HTTP status of the answer."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        f"{emulator.url}{path}", json.dumps(body).encode(), headers, method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            status: int = answer.status
    except urllib.error.HTTPError as err:
        status = err.code
    return status


def test_a_request_without_the_config_discriminator_is_a_violation(
    emulator: PlatformEmulator,
) -> None:
    environment = compute_env()
    del environment["config"]["discriminator"]

    send(emulator, "POST", "/compute-envs", {"computeEnv": environment}, TOKEN)

    assert "does not contain discriminating property" in " ".join(emulator.violations)
    emulator.violations.clear()


def test_a_field_the_spec_does_not_declare_is_a_violation(emulator: PlatformEmulator) -> None:
    environment = compute_env(allowedBuckets=["s3://typo"])

    send(emulator, "POST", "/compute-envs", {"computeEnv": environment}, TOKEN)

    assert "undeclared field" in " ".join(emulator.violations)
    assert "'allowedBuckets' was unexpected" in " ".join(emulator.violations)
    emulator.violations.clear()


def test_a_request_without_a_token_is_refused_and_a_violation(
    emulator: PlatformEmulator,
) -> None:
    status = send(emulator, "GET", f"/compute-envs?workspaceId={WORKSPACE}", None, None)

    assert status == 401
    assert "SecurityValidationError" in " ".join(emulator.violations)
    assert emulator.off_spec == ["GET /compute-envs -> 401 (bad or missing bearer token)"]
    emulator.violations.clear()


@pytest.mark.parametrize("with_links", [False, True])
def test_a_whole_lifecycle_passes_the_spec(
    emulator: PlatformEmulator, provider: Provider, with_links: bool
) -> None:
    links = [{"name": "bucket-b", "resourceRef": "s3://bucket-b"}] if with_links else []
    props = properties(emulator.url, data_links=links)

    created = provider.run(create_event(props))
    provider.run(delete_event(created.physical_id, props))

    operations = {(r.method, r.path.split("/")[1]) for r in emulator.requests}
    assert ("POST", "compute-envs") in operations and ("DELETE", "compute-envs") in operations
    assert (("POST", "data-links") in operations) is with_links
    assert emulator.violations == [] and emulator.off_spec == []
