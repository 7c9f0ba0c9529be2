"""The handler against answers shaped like the real service's: explicit nulls everywhere,
``allowBuckets: null``, and ``forgedResources`` as one-key maps with string values. The spec
rejects these answers; the emulator keeps those findings apart from its violations."""

from collections.abc import Callable

import pytest
from client import PlatformError
from emulator import PlatformEmulator
from framework import (
    WORKSPACE,
    Provider,
    compute_env,
    create_event,
    delete_event,
    properties,
    update_event,
)


def test_null_laden_answers_are_read_tolerantly(
    make_emulator: Callable[..., PlatformEmulator], provider: Provider
) -> None:
    emulator = make_emulator(realistic=True, forge_prefix="EnterpriseForge")
    links = [{"name": "data-bucket-b", "resourceRef": "s3://data-bucket-b"}]
    environment = compute_env(buckets=[], fargateHeadEnabled=True)
    props = properties(
        emulator.url, environment=environment, data_links=links, forge_prefix="EnterpriseForge"
    )
    renamed = properties(
        emulator.url,
        environment={**environment, "name": "renamed"},
        data_links=links,
        forge_prefix="EnterpriseForge",
    )

    created = provider.run(create_event(props))
    updated = provider.run(update_event(created.physical_id, renamed, props))
    provider.run(delete_event(updated.physical_id, renamed))

    ce_id = created.physical_id
    assert created.data["InstanceRoleName"] == f"EnterpriseForge-{ce_id}-InstanceRole"
    assert created.data["FargateRoleName"] == f"EnterpriseForge-{ce_id}-FargateRole"
    assert updated.physical_id == ce_id
    assert emulator.live(WORKSPACE) == []
    assert emulator.data_links == {}
    findings = "\n".join(emulator.realistic_findings)
    assert "None for not nullable" in findings
    assert "is not of type 'object'" in findings  # forgedResources values are strings


def test_forged_roles_outside_the_forge_prefix_fail_and_the_environment_is_discarded(
    make_emulator: Callable[..., PlatformEmulator], provider: Provider
) -> None:
    emulator = make_emulator(realistic=True, forge_prefix="EnterpriseForge")

    with pytest.raises(ValueError, match="does not start with the Forge role prefix 'TowerForge'"):
        provider.run(create_event(properties(emulator.url)))

    assert [ce.status for ce in emulator.live(WORKSPACE)] == ["DELETING"]


def test_role_names_fall_back_to_forge_naming_without_forged_resources(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    result = provider.run(create_event(properties(emulator.url)))

    ce_id = result.physical_id
    assert result.data["InstanceRoleName"] == f"TowerForge-{ce_id}-InstanceRole"
    assert emulator.realistic_findings == []


def test_errored_without_a_message_still_fails_clearly(
    make_emulator: Callable[..., PlatformEmulator], provider: Provider
) -> None:
    emulator = make_emulator(realistic=True)
    emulator.outcome("cross-account", "ERRORED", None)

    with pytest.raises(PlatformError, match="as ERRORED: Platform gave no message"):
        provider.run(create_event(properties(emulator.url)))
