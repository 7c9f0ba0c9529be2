"""Create, Update and Delete of the compute environment, against the emulator."""

import logging
from collections.abc import Callable

import pytest
from client import AuthError, PlatformError
from emulator import Fault, PlatformEmulator
from framework import (
    WORKSPACE,
    Provider,
    compute_env,
    create_event,
    delete_event,
    expected_name,
    properties,
    update_event,
)


def test_create_waits_until_available_and_returns_ids_and_role_names(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    result = provider.run(create_event(properties(emulator.url)))

    [ce] = emulator.live(WORKSPACE)
    assert ce.status == "AVAILABLE"
    assert result.polls == 3  # CREATING twice, then AVAILABLE
    assert result.physical_id == ce.id
    assert result.data == {
        "ComputeEnvId": ce.id,
        "ComputeEnvName": expected_name(compute_env()),
        "InstanceRoleName": f"TowerForge-{ce.id}-InstanceRole",
        "FargateRoleName": f"TowerForge-{ce.id}-FargateRole",
        "DataLinkIds": "",
    }


def test_create_sends_the_construct_compute_env_under_the_hashed_name(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    provider.run(create_event(properties(emulator.url)))

    [post] = emulator.calls("POST", "/compute-envs")
    assert post.body == {"computeEnv": {**compute_env(), "name": expected_name(compute_env())}}


@pytest.mark.parametrize("status", ["ERRORED", "INVALID"])
def test_create_that_platform_fails_raises_its_message_and_deletes_the_ce(
    emulator: PlatformEmulator, provider: Provider, status: str
) -> None:
    message = "Unable to assume role arn:aws:iam::111111111111:role/seqera-forge"
    emulator.outcome("cross-account", status, message)

    with pytest.raises(PlatformError, match=f"as {status}: {message}"):
        provider.run(create_event(properties(emulator.url)))

    [ce] = emulator.compute_envs.values()
    assert ce.status == "DELETING"  # so that a retry can use the name again


def test_update_of_the_configuration_makes_a_new_ce_and_then_deletes_the_old_one(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    before = properties(emulator.url)
    after = properties(emulator.url, environment=compute_env(buckets=["s3://a", "s3://b"]))
    first = provider.run(create_event(before))

    second = provider.run(update_event(first.physical_id, after, before))

    assert second.physical_id != first.physical_id
    assert {ce.id for ce in emulator.live(WORKSPACE)} == {first.physical_id, second.physical_id}
    assert emulator.compute_envs[second.physical_id].config["forge"]["allowBuckets"] == [
        "s3://a",
        "s3://b",
    ]
    provider.run(delete_event(first.physical_id, before))
    assert [ce.id for ce in emulator.live(WORKSPACE)] == [second.physical_id]


def test_update_of_name_and_description_only_renames_in_place(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    before = properties(emulator.url)
    renamed = compute_env(name="renamed", description="Reads bucket B")
    first = provider.run(create_event(before))

    second = provider.run(
        update_event(first.physical_id, properties(emulator.url, environment=renamed), before)
    )

    assert second.physical_id == first.physical_id
    assert [put.body for put in emulator.calls("PUT")] == [
        {"name": expected_name(renamed), "description": "Reads bucket B"}
    ]
    assert len(emulator.calls("POST", "/compute-envs")) == 1
    assert second.data["ComputeEnvName"] == expected_name(renamed)


def test_update_without_changes_writes_nothing(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    props = properties(emulator.url)
    first = provider.run(create_event(props))
    writes = len(emulator.writes())

    second = provider.run(update_event(first.physical_id, props, props))

    assert second.physical_id == first.physical_id
    assert len(emulator.writes()) == writes


def test_update_recreates_a_ce_that_was_deleted_outside_cloudformation(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    props = properties(emulator.url)
    first = provider.run(create_event(props))
    del emulator.compute_envs[first.physical_id]

    second = provider.run(update_event(first.physical_id, props, props))

    assert second.physical_id != first.physical_id
    assert emulator.compute_envs[second.physical_id].status == "AVAILABLE"


def test_retried_create_adopts_the_ce_an_earlier_attempt_made(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    props = properties(emulator.url)
    provider.on_event(create_event(props))  # the first attempt, cut off while CREATING

    result = provider.run(create_event(props))

    assert len(emulator.calls("POST", "/compute-envs")) == 1
    assert [ce.id for ce in emulator.live(WORKSPACE)] == [result.physical_id]


def test_create_whose_answer_was_lost_adopts_the_ce_it_made(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    emulator.inject(Fault("lost", on="POST /compute-envs"))

    result = provider.run(create_event(properties(emulator.url)))

    assert len(emulator.calls("POST", "/compute-envs")) == 2  # the retry hit the taken name
    assert [ce.id for ce in emulator.live(WORKSPACE)] == [result.physical_id]


def test_rollback_of_a_replacing_update_returns_the_old_ce(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    before = properties(emulator.url)
    after = properties(emulator.url, environment=compute_env(buckets=["s3://other"]))
    first = provider.run(create_event(before))
    second = provider.run(update_event(first.physical_id, after, before))

    rollback = provider.run(update_event(second.physical_id, before, after))
    provider.run(delete_event(second.physical_id, after))

    assert rollback.physical_id == first.physical_id
    assert [ce.id for ce in emulator.live(WORKSPACE)] == [first.physical_id]
    assert len(emulator.calls("POST", "/compute-envs")) == 2


def test_delete_removes_the_ce_and_waits_until_it_is_gone(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    props = properties(emulator.url)
    created = provider.run(create_event(props))

    deleted = provider.run(delete_event(created.physical_id, props))

    assert emulator.live(WORKSPACE) == []
    assert deleted.polls == 2  # DELETING, then DELETED
    assert len(emulator.calls("DELETE", "/compute-envs/")) == 1


@pytest.mark.parametrize("unknown_id_status", [403, 404])
def test_delete_of_a_ce_that_is_already_gone_succeeds(
    make_emulator: Callable[..., PlatformEmulator], provider: Provider, unknown_id_status: int
) -> None:
    emulator = make_emulator(unknown_id_status=unknown_id_status)
    props = properties(emulator.url)
    created = provider.run(create_event(props))
    del emulator.compute_envs[created.physical_id]

    provider.run(delete_event(created.physical_id, props))

    assert emulator.calls("DELETE") == []


def test_delete_of_a_ce_in_status_deleted_succeeds(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    props = properties(emulator.url)
    created = provider.run(create_event(props))
    emulator.compute_envs[created.physical_id].status = "DELETED"

    provider.run(delete_event(created.physical_id, props))

    assert emulator.calls("DELETE") == []


def test_delete_while_jobs_run_fails_and_says_how_to_retain(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    props = properties(emulator.url)
    created = provider.run(create_event(props))
    emulator.compute_envs[created.physical_id].jobs_running = True

    with pytest.raises(PlatformError) as raised:
        provider.run(delete_event(created.physical_id, props))

    assert raised.value.status == 409
    assert "jobs are still running" in str(raised.value)
    assert "Compute environment has running jobs" in str(raised.value)  # Platform's words
    assert "set RetainOnDelete to true" in str(raised.value)
    assert emulator.compute_envs[created.physical_id].status == "AVAILABLE"


def test_delete_while_jobs_run_with_retain_on_delete_keeps_the_ce(
    emulator: PlatformEmulator, provider: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    props = properties(emulator.url, retain=True)
    created = provider.run(create_event(props))
    emulator.compute_envs[created.physical_id].jobs_running = True

    provider.run(delete_event(created.physical_id, props))

    assert emulator.compute_envs[created.physical_id].status == "AVAILABLE"
    assert any(
        record.levelno == logging.WARNING and "Retained compute environment" in record.getMessage()
        for record in caplog.records
    )


def test_delete_with_an_id_cloudformation_invented_deletes_the_ce_by_its_name(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    props = properties(emulator.url)
    provider.on_event(create_event(props))  # Create started but never reported back

    provider.run(delete_event("compute-PlatformComputeEnv-1ABCD2EFGH3IJ", props))

    assert emulator.live(WORKSPACE) == []


def test_delete_with_an_id_cloudformation_invented_and_no_ce_does_nothing(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    link = emulator.add_data_link("bucket-b", "s3://bucket-b", WORKSPACE)
    links = [{"name": "bucket-b", "resourceRef": "s3://bucket-b"}]
    props = properties(emulator.url, data_links=links)

    provider.run(delete_event("compute-PlatformComputeEnv-1ABCD2EFGH3IJ", props))

    assert emulator.calls("DELETE") == []
    assert list(emulator.data_links) == [link.id]


def test_403_for_a_ce_the_workspace_still_lists_is_a_permission_error(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    props = properties(emulator.url)
    created = provider.run(create_event(props))
    emulator.inject(Fault(403, on=f"GET /compute-envs/{created.physical_id}"))

    with pytest.raises(AuthError, match="lacks permission"):
        provider.run(delete_event(created.physical_id, props))

    assert emulator.compute_envs[created.physical_id].status == "AVAILABLE"


def test_enterprise_api_url_with_a_path_works_for_create_and_delete(
    make_emulator: Callable[..., PlatformEmulator], provider: Provider
) -> None:
    emulator = make_emulator(base_path="/api")
    props = properties(emulator.url)

    created = provider.run(create_event(props))
    provider.run(delete_event(created.physical_id, props))

    assert {request.path.split("/")[1] for request in emulator.requests} == {"api"}
    assert emulator.live(WORKSPACE) == []


def test_every_call_names_the_workspace(emulator: PlatformEmulator, provider: Provider) -> None:
    props = properties(emulator.url)
    created = provider.run(create_event(props))
    provider.run(delete_event(created.physical_id, props))

    assert {request.query.get("workspaceId") for request in emulator.requests} == {WORKSPACE}


def test_personal_workspace_calls_carry_no_workspace_id(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    props = properties(emulator.url, workspace_id="")
    created = provider.run(create_event(props))
    provider.run(delete_event(created.physical_id, props))

    assert emulator.live(None) == []
    assert all("workspaceId" not in request.query for request in emulator.requests)
