"""Create, Update and Delete of Custom::SeqeraCredentials (AWS role credentials with a
Platform-managed External ID), against the emulator."""

import logging
from collections.abc import Callable
from typing import Any

import pytest
from client import AuthError, PlatformError
from emulator import Fault, PlatformEmulator
from framework import (
    OTHER_STACK_ID,
    ROLE_ARN,
    WORKSPACE,
    Provider,
    Result,
    create_event,
    credentials_properties,
    credentials_spec,
    delete_event,
    expected_credentials_name,
    update_event,
)

OTHER_ROLE = "arn:aws:iam::111111111111:role/another-platform-access"


def external_id(emulator: PlatformEmulator, result: Result) -> str:
    value: str = emulator.credentials[result.physical_id].keys["externalId"]
    return value


# Create


def test_create_returns_the_id_name_and_external_id_platform_generated(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    result = provider.run(create_event(credentials_properties(emulator.url)))

    [credentials] = emulator.live_credentials(WORKSPACE)
    assert result.physical_id == credentials.id
    assert result.data == {
        "CredentialsId": credentials.id,
        "CredentialsName": expected_credentials_name(credentials_spec()),
        "ExternalId": credentials.keys["externalId"],
    }
    assert result.polls == 1  # nothing to wait for


def test_create_asks_for_an_external_id_and_sends_keys_with_their_discriminator(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    provider.run(create_event(credentials_properties(emulator.url)))

    [post] = emulator.calls("POST", "/credentials")
    assert post.query == {"useExternalId": "true", "workspaceId": WORKSPACE}
    assert post.body == {
        "credentials": {
            "name": expected_credentials_name(credentials_spec()),
            "provider": "aws",
            "keys": {"mode": "role", "assumeRoleArn": ROLE_ARN, "discriminator": "aws"},
        }
    }
    [describe] = emulator.calls("GET", "/credentials/")
    assert describe.status == 200  # the External ID comes from describing them


def test_a_description_is_sent_and_counts_as_part_of_the_credentials(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    spec = {**credentials_spec(), "description": "Platform's access to account A"}

    result = provider.run(create_event(credentials_properties(emulator.url, credentials=spec)))

    assert emulator.credentials[result.physical_id].description == spec["description"]
    assert result.data["CredentialsName"] == expected_credentials_name(spec)
    assert expected_credentials_name(spec) != expected_credentials_name(credentials_spec())


def test_retried_create_adopts_the_credentials_an_earlier_attempt_made(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    props = credentials_properties(emulator.url)
    first = provider.run(create_event(props))

    again = provider.run(create_event(props))

    assert again.physical_id == first.physical_id
    assert again.data == first.data
    assert len(emulator.calls("POST", "/credentials")) == 1


def test_create_whose_answer_was_lost_adopts_the_credentials_it_made(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    emulator.inject(Fault("lost", on="POST /credentials"))

    result = provider.run(create_event(credentials_properties(emulator.url)))

    assert len(emulator.calls("POST", "/credentials")) == 2  # the retry found the name taken
    assert [c.id for c in emulator.live_credentials(WORKSPACE)] == [result.physical_id]
    assert result.data["ExternalId"] == external_id(emulator, result)


def test_credentials_of_this_name_for_another_role_are_refused_not_adopted(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    name = expected_credentials_name(credentials_spec())
    emulator.add_credentials(name, WORKSPACE, OTHER_ROLE)

    with pytest.raises(PlatformError) as raised:
        provider.run(create_event(credentials_properties(emulator.url)))

    assert f"role {OTHER_ROLE} instead of {ROLE_ARN}" in str(raised.value)
    assert "made or changed outside CloudFormation" in str(raised.value)
    assert emulator.calls("POST") == []


# What Platform can refuse


def test_a_platform_that_makes_no_external_id_fails_and_the_credentials_are_deleted_again(
    make_emulator: Callable[..., PlatformEmulator], provider: Provider
) -> None:
    emulator = make_emulator(external_ids="unsupported")

    with pytest.raises(PlatformError) as raised:
        provider.run(create_event(credentials_properties(emulator.url)))

    text = str(raised.value)
    assert "without an External ID" in text
    assert "older Enterprise" in text
    assert "were deleted again" in text
    assert "give their id as credentials_id" in text
    assert emulator.live_credentials(WORKSPACE) == []


def test_adopted_credentials_without_external_id_fail_and_are_left(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    name = expected_credentials_name(credentials_spec())
    made = emulator.add_credentials(name, WORKSPACE, ROLE_ARN, external_id=None)

    with pytest.raises(PlatformError, match="were left in Platform"):
        provider.run(create_event(credentials_properties(emulator.url)))

    assert [c.id for c in emulator.live_credentials(WORKSPACE)] == [made.id]


def test_a_platform_that_refuses_role_credentials_without_external_id_fails_clearly(
    make_emulator: Callable[..., PlatformEmulator], provider: Provider
) -> None:
    emulator = make_emulator(external_ids="refused")

    with pytest.raises(PlatformError) as raised:
        provider.run(create_event(credentials_properties(emulator.url)))

    text = str(raised.value)
    assert raised.value.status == 400
    assert "refused to create role credentials" in text
    assert "require a Platform-managed External ID" in text  # Platform's own words
    assert "supports useExternalId" in text
    assert "give their id as credentials_id" in text
    assert emulator.live_credentials(WORKSPACE) == []


def test_403_to_the_create_is_a_permission_error(
    make_emulator: Callable[..., PlatformEmulator], provider: Provider
) -> None:
    emulator = make_emulator(forbidden_workspaces={WORKSPACE})

    with pytest.raises(AuthError, match="manage compute environments and credentials"):
        provider.run(create_event(credentials_properties(emulator.url)))


# Update


def test_a_new_role_makes_new_credentials_and_then_the_old_ones_are_deleted(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    before = credentials_properties(emulator.url)
    after = credentials_properties(emulator.url, credentials=credentials_spec(role_arn=OTHER_ROLE))
    first = provider.run(create_event(before))

    second = provider.run(update_event(first.physical_id, after, before))

    assert second.physical_id != first.physical_id
    assert second.data["ExternalId"] != first.data["ExternalId"]  # no rotation in place
    assert emulator.credentials[second.physical_id].keys["assumeRoleArn"] == OTHER_ROLE
    provider.run(delete_event(first.physical_id, before))
    assert [c.id for c in emulator.live_credentials(WORKSPACE)] == [second.physical_id]


def test_a_new_base_name_makes_new_credentials(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    before = credentials_properties(emulator.url)
    after = credentials_properties(emulator.url, credentials=credentials_spec(name="renamed"))
    first = provider.run(create_event(before))

    second = provider.run(update_event(first.physical_id, after, before))

    assert second.physical_id != first.physical_id
    assert second.data["CredentialsName"] == expected_credentials_name(credentials_spec("renamed"))


def test_a_new_workspace_makes_credentials_there(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    before = credentials_properties(emulator.url)
    after = credentials_properties(emulator.url, workspace_id="777")
    first = provider.run(create_event(before))

    second = provider.run(update_event(first.physical_id, after, before))

    assert second.physical_id != first.physical_id
    assert [c.id for c in emulator.live_credentials("777")] == [second.physical_id]


def test_an_update_that_leaves_the_credentials_alone_keeps_them_and_writes_nothing(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    before = credentials_properties(emulator.url)
    after = credentials_properties(emulator.url, retain=True)
    first = provider.run(create_event(before))
    writes = len(emulator.writes())

    second = provider.run(update_event(first.physical_id, after, before))

    assert second.physical_id == first.physical_id
    assert second.data == first.data
    assert len(emulator.writes()) == writes


def test_an_update_remakes_credentials_deleted_outside_cloudformation(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    props = credentials_properties(emulator.url)
    first = provider.run(create_event(props))
    del emulator.credentials[first.physical_id]

    second = provider.run(update_event(first.physical_id, props, props))

    assert second.physical_id != first.physical_id
    assert second.data["ExternalId"] == external_id(emulator, second)


def test_rollback_of_a_replacing_update_returns_the_old_credentials(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    before = credentials_properties(emulator.url)
    after = credentials_properties(emulator.url, credentials=credentials_spec(role_arn=OTHER_ROLE))
    first = provider.run(create_event(before))
    second = provider.run(update_event(first.physical_id, after, before))

    rollback = provider.run(update_event(second.physical_id, before, after))
    provider.run(delete_event(second.physical_id, after))

    assert rollback.physical_id == first.physical_id
    assert rollback.data == first.data  # the old External ID, which the old trust policy has
    assert [c.id for c in emulator.live_credentials(WORKSPACE)] == [first.physical_id]
    assert len(emulator.calls("POST", "/credentials")) == 2


# Delete


def test_delete_removes_the_credentials(emulator: PlatformEmulator, provider: Provider) -> None:
    props = credentials_properties(emulator.url)
    created = provider.run(create_event(props))

    provider.run(delete_event(created.physical_id, props))

    assert emulator.live_credentials(WORKSPACE) == []
    [delete] = emulator.calls("DELETE", "/credentials/")
    assert delete.query == {"checked": "true", "workspaceId": WORKSPACE}


@pytest.mark.parametrize("unknown_id_status", [403, 404])
def test_delete_of_credentials_that_are_already_gone_succeeds(
    make_emulator: Callable[..., PlatformEmulator], provider: Provider, unknown_id_status: int
) -> None:
    emulator = make_emulator(unknown_id_status=unknown_id_status)
    props = credentials_properties(emulator.url)
    created = provider.run(create_event(props))
    del emulator.credentials[created.physical_id]

    provider.run(delete_event(created.physical_id, props))

    assert [r.status for r in emulator.calls("DELETE")] == [unknown_id_status]


def test_403_for_credentials_the_workspace_still_lists_is_a_permission_error(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    props = credentials_properties(emulator.url)
    created = provider.run(create_event(props))
    emulator.inject(Fault(403, on=f"DELETE /credentials/{created.physical_id}"))

    with pytest.raises(AuthError, match="lacks permission"):
        provider.run(delete_event(created.physical_id, props))

    assert created.physical_id in emulator.credentials


def test_delete_of_credentials_a_compute_environment_uses_fails_and_names_it(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    props = credentials_properties(emulator.url)
    created = provider.run(create_event(props))
    ce = emulator.add_compute_env("pipelines", WORKSPACE, credentials_id=created.physical_id)

    with pytest.raises(PlatformError) as raised:
        provider.run(delete_event(created.physical_id, props))

    text = str(raised.value)
    assert f"compute environment pipelines ({ce.id}) still uses them" in text
    assert "set RetainOnDelete to true" in text
    assert created.physical_id in emulator.credentials
    assert emulator.calls("DELETE") == []  # the list said so before any delete


def test_in_use_is_found_by_describing_when_lists_leave_credentials_out(
    make_emulator: Callable[..., PlatformEmulator], provider: Provider
) -> None:
    emulator = make_emulator(realistic=True)
    props = credentials_properties(emulator.url)
    created = provider.run(create_event(props))
    ce = emulator.add_compute_env("pipelines", WORKSPACE, credentials_id=created.physical_id)
    emulator.add_compute_env("other", WORKSPACE)

    with pytest.raises(PlatformError, match=rf"pipelines \({ce.id}\) still uses them"):
        provider.run(delete_event(created.physical_id, props))

    assert len(emulator.calls("GET", "/compute-envs/")) == 2  # each live CE described


def test_platform_409_to_the_checked_delete_fails_and_names_what_depends_on_them(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    props = credentials_properties(emulator.url)
    created = provider.run(create_event(props))
    emulator.credentials[created.physical_id].in_use_by.append(
        {"id": "4Ks9vX", "name": "nf-core-rnaseq", "type": "workflow"}
    )

    with pytest.raises(PlatformError) as raised:
        provider.run(delete_event(created.physical_id, props))

    text = str(raised.value)
    assert "Platform answered HTTP 409: workflow nf-core-rnaseq (4Ks9vX) depends on them" in text
    assert "set RetainOnDelete to true" in text
    assert [r.status for r in emulator.calls("DELETE")] == [409]
    assert created.physical_id in emulator.credentials


def test_credentials_in_use_with_retain_on_delete_are_left_and_the_delete_succeeds(
    emulator: PlatformEmulator, provider: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    props = credentials_properties(emulator.url, retain=True)
    created = provider.run(create_event(props))
    emulator.add_compute_env("pipelines", WORKSPACE, credentials_id=created.physical_id)

    provider.run(delete_event(created.physical_id, props))

    assert created.physical_id in emulator.credentials
    assert any(
        record.levelno == logging.WARNING and "Retained credentials" in record.getMessage()
        for record in caplog.records
    )


def test_credentials_refused_by_platform_409_with_retain_on_delete_are_left(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    props = credentials_properties(emulator.url, retain=True)
    created = provider.run(create_event(props))
    emulator.credentials[created.physical_id].in_use_by.append({"type": "workflow", "name": "x"})

    provider.run(delete_event(created.physical_id, props))

    assert created.physical_id in emulator.credentials


def test_a_compute_environment_being_deleted_does_not_hold_the_credentials(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    props = credentials_properties(emulator.url)
    created = provider.run(create_event(props))
    emulator.add_compute_env(
        "old", WORKSPACE, status="DELETING", credentials_id=created.physical_id
    )

    provider.run(delete_event(created.physical_id, props))

    assert emulator.live_credentials(WORKSPACE) == []


def test_delete_with_an_id_cloudformation_invented_deletes_the_credentials_by_name(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    props = credentials_properties(emulator.url)
    provider.on_event(create_event(props))  # made, but the answer never reached CloudFormation

    provider.run(delete_event("compute-PlatformCredentials-1ABCD2EFGH3IJ", props))

    assert emulator.live_credentials(WORKSPACE) == []


def test_delete_with_an_id_cloudformation_invented_and_no_credentials_does_nothing(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    props = credentials_properties(emulator.url)

    provider.run(delete_event("compute-PlatformCredentials-1ABCD2EFGH3IJ", props))

    assert emulator.calls("DELETE") == []


def test_delete_with_an_invented_id_leaves_credentials_it_did_not_make(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    name = expected_credentials_name(credentials_spec())
    foreign = emulator.add_credentials(name, WORKSPACE, OTHER_ROLE)
    props = credentials_properties(emulator.url)

    provider.run(delete_event("compute-PlatformCredentials-1ABCD2EFGH3IJ", props))

    assert [c.id for c in emulator.live_credentials(WORKSPACE)] == [foreign.id]


# Owners


def test_two_stacks_with_the_same_credentials_get_their_own(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    props = credentials_properties(emulator.url)
    mine = provider.run(create_event(props))
    theirs = provider.run(create_event(props, stack_id=OTHER_STACK_ID))

    provider.run(delete_event(theirs.physical_id, props, stack_id=OTHER_STACK_ID))

    assert mine.physical_id != theirs.physical_id
    assert theirs.data["CredentialsName"] == expected_credentials_name(
        credentials_spec(), stack_id=OTHER_STACK_ID
    )
    assert mine.data["ExternalId"] != theirs.data["ExternalId"]
    assert [c.id for c in emulator.live_credentials(WORKSPACE)] == [mine.physical_id]


def test_two_resources_of_one_stack_with_the_same_credentials_get_their_own(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    props = credentials_properties(emulator.url)

    first = provider.run(create_event(props))
    second = provider.run(create_event(props, logical_id="SecondCredentials"))

    assert first.physical_id != second.physical_id
    assert len(emulator.live_credentials(WORKSPACE)) == 2


# Faults and answers shaped like the real ones


@pytest.mark.parametrize("fault", [Fault(429, retry_after="2"), Fault(502), Fault("reset")])
def test_transient_failures_of_every_credentials_call_are_retried(
    emulator: PlatformEmulator, provider: Provider, fault: Fault
) -> None:
    props = credentials_properties(emulator.url)
    for on in ("GET /credentials", "POST /credentials", "GET /credentials/"):
        emulator.inject(Fault(fault.kind, fault.retry_after, on=on))
    created = provider.run(create_event(props))
    for on in ("GET /compute-envs", "DELETE /credentials/"):
        emulator.inject(Fault(fault.kind, fault.retry_after, on=on))

    provider.run(delete_event(created.physical_id, props))

    assert created.data["ExternalId"]
    assert emulator.live_credentials(WORKSPACE) == []
    assert len(emulator.calls("POST", "/credentials")) == 2


def test_null_laden_credentials_answers_are_read_tolerantly(
    make_emulator: Callable[..., PlatformEmulator], provider: Provider
) -> None:
    emulator = make_emulator(realistic=True)
    props = credentials_properties(emulator.url)

    created = provider.run(create_event(props))
    again = provider.run(create_event(props))
    provider.run(delete_event(created.physical_id, props))

    assert again.physical_id == created.physical_id
    assert created.data["ExternalId"]
    assert emulator.live_credentials(WORKSPACE) == []
    assert "None for not nullable" in "\n".join(emulator.realistic_findings)


def test_personal_workspace_credentials_carry_no_workspace_id(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    props = credentials_properties(emulator.url, workspace_id="")

    created = provider.run(create_event(props))
    provider.run(delete_event(created.physical_id, props))

    assert emulator.live_credentials(None) == []
    assert all("workspaceId" not in request.query for request in emulator.requests)


# Properties


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"provider": "google"}, "provider must be 'aws'"),
        ({"name": ""}, "name must be 1 to 91 characters"),
        ({"name": "n" * 92}, "name must be 1 to 91 characters"),
        ({"name": "has space"}, "only letters, digits, dashes and underscores"),
        ({"keys": {"mode": "keys", "assumeRoleArn": ROLE_ARN}}, "keys.mode must be 'role'"),
        ({"keys": {"mode": "role"}}, "keys.assumeRoleArn must be an IAM role ARN"),
        ({"keys": {"mode": "role", "assumeRoleArn": "MyRole"}}, "must be an IAM role ARN"),
        (
            {"keys": {"mode": "role", "assumeRoleArn": ROLE_ARN, "secretKey": "x"}},
            "access keys do not belong in a template",
        ),
        (
            {"keys": {"mode": "role", "assumeRoleArn": ROLE_ARN, "externalId": "x"}},
            "Platform makes the External ID",
        ),
        (
            {"keys": {"mode": "role", "assumeRoleArn": ROLE_ARN, "discriminator": "s3"}},
            "keys.discriminator must be 'aws'",
        ),
        ({"baseUrl": "https://x"}, "fields the handler does not send"),
        ({"description": 7}, "description must be a string"),
    ],
)
def test_wrong_credentials_are_named_before_any_call(
    emulator: PlatformEmulator, provider: Provider, change: dict[str, Any], complaint: str
) -> None:
    props = credentials_properties(emulator.url, credentials={**credentials_spec(), **change})

    with pytest.raises(ValueError, match=complaint):
        provider.on_event(create_event(props))

    assert emulator.requests == []


@pytest.mark.parametrize(
    ("key", "value", "complaint"),
    [
        ("Credentials", "{not json", "Property Credentials is not valid JSON"),
        ("Credentials", '{"name": "x"}', "Credentials must be a JSON object with a keys object"),
        ("ApiUrl", "http://api.example.com", "ApiUrl must be an https URL"),
        ("TokenSecret", "", "Property TokenSecret is required"),
        ("WorkspaceId", "ws", "WorkspaceId must be a numeric workspace id"),
        ("RetainOnDelete", "no", "RetainOnDelete must be 'true' or 'false'"),
    ],
)
def test_wrong_properties_are_named_before_any_call(
    emulator: PlatformEmulator, provider: Provider, key: str, value: str, complaint: str
) -> None:
    props = {**credentials_properties(emulator.url), key: value}

    with pytest.raises(ValueError, match=complaint):
        provider.on_event(create_event(props))

    assert emulator.requests == []


def test_an_unknown_resource_type_is_refused(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    event = create_event(credentials_properties(emulator.url), resource_type="Custom::Other")

    with pytest.raises(ValueError, match="Unknown ResourceType 'Custom::Other'"):
        provider.on_event(event)

    assert emulator.requests == []
