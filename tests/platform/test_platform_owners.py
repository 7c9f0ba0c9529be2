"""Deterministic names carry their owner (stack and logical id): two stacks, or two resources,
that ask for the same compute environment in one workspace do not adopt, and later delete,
each other's."""

import pytest
from client import PlatformError
from emulator import PlatformEmulator
from framework import (
    OTHER_STACK_ID,
    WORKSPACE,
    Provider,
    compute_env,
    create_event,
    delete_event,
    expected_name,
    properties,
    update_event,
)


def test_two_stacks_with_the_same_compute_environment_get_their_own(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    props = properties(emulator.url)
    mine = provider.run(create_event(props))
    theirs = provider.run(create_event(props, stack_id=OTHER_STACK_ID))

    provider.run(delete_event(theirs.physical_id, props, stack_id=OTHER_STACK_ID))

    assert mine.physical_id != theirs.physical_id
    assert theirs.data["ComputeEnvName"] == expected_name(compute_env(), stack_id=OTHER_STACK_ID)
    assert [ce.id for ce in emulator.live(WORKSPACE)] == [mine.physical_id]
    assert len(emulator.calls("POST", "/compute-envs")) == 2


def test_two_resources_of_one_stack_with_the_same_compute_environment_get_their_own(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    props = properties(emulator.url)

    first = provider.run(create_event(props))
    second = provider.run(create_event(props, logical_id="SecondComputeEnv"))

    assert first.physical_id != second.physical_id
    assert len(emulator.live(WORKSPACE)) == 2


def test_an_invented_id_in_another_stack_does_not_delete_this_stack_s_ce(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    props = properties(emulator.url)
    mine = provider.run(create_event(props))

    provider.run(
        delete_event("copy-PlatformComputeEnv-1ABCD2EFGH3IJ", props, stack_id=OTHER_STACK_ID)
    )

    assert [ce.id for ce in emulator.live(WORKSPACE)] == [mine.physical_id]
    assert emulator.calls("DELETE") == []


def test_a_rollback_in_another_stack_does_not_adopt_this_stack_s_ce(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    before = properties(emulator.url)
    after = properties(emulator.url, environment=compute_env(buckets=["s3://other"]))
    mine = provider.run(create_event(before))
    theirs = provider.run(create_event(after, stack_id=OTHER_STACK_ID))

    back = provider.run(update_event(theirs.physical_id, before, after, stack_id=OTHER_STACK_ID))

    assert back.physical_id not in (mine.physical_id, theirs.physical_id)


def test_a_live_ce_with_this_name_but_other_credentials_is_refused_not_adopted(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    foreign = emulator.add_compute_env(expected_name(compute_env()), WORKSPACE)

    with pytest.raises(PlatformError) as raised:
        provider.run(create_event(properties(emulator.url)))

    text = str(raised.value)
    assert f"({foreign.id}) exists in workspace {WORKSPACE}" in text
    assert "credentialsId 'preexisting' instead of" in text
    assert "made or changed outside CloudFormation" in text
    assert emulator.calls("POST") == []


def test_an_invented_id_leaves_a_ce_with_this_name_that_it_did_not_make(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    foreign = emulator.add_compute_env(expected_name(compute_env()), WORKSPACE)
    props = properties(emulator.url)

    provider.run(delete_event("compute-PlatformComputeEnv-1ABCD2EFGH3IJ", props))

    assert [ce.id for ce in emulator.live(WORKSPACE)] == [foreign.id]


def test_the_owner_does_not_make_an_update_a_replacement(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    before = properties(emulator.url)
    after = properties(emulator.url, environment=compute_env(description="New words"))
    first = provider.run(create_event(before))

    second = provider.run(update_event(first.physical_id, after, before))

    assert second.physical_id == first.physical_id
    assert len(emulator.calls("POST", "/compute-envs")) == 1


def test_an_event_without_its_owner_is_refused_before_any_call(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    event = create_event(properties(emulator.url))
    del event["StackId"]

    with pytest.raises(ValueError, match="no StackId or LogicalResourceId"):
        provider.on_event(event)

    assert emulator.requests == []
