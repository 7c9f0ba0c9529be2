"""What the handler says when Platform, the secret or the properties are wrong."""

import json
from collections.abc import Callable

import boto3
import pytest
from client import AuthError, PlatformError
from emulator import Fault, PlatformEmulator
from framework import (
    TOKEN,
    WORKSPACE,
    Provider,
    compute_env,
    create_event,
    expected_name,
    properties,
)


def test_401_says_the_token_is_wrong(
    make_emulator: Callable[..., PlatformEmulator], provider: Provider
) -> None:
    emulator = make_emulator(token="another-token")

    with pytest.raises(AuthError) as raised:
        provider.on_event(create_event(properties(emulator.url)))

    assert raised.value.status == 401
    assert "rejected the access token" in str(raised.value)
    assert "wrong, expired or revoked" in str(raised.value)


def test_403_says_the_token_or_workspace_lacks_permission(
    make_emulator: Callable[..., PlatformEmulator], provider: Provider
) -> None:
    emulator = make_emulator(forbidden_workspaces={WORKSPACE})

    with pytest.raises(AuthError) as raised:
        provider.on_event(create_event(properties(emulator.url)))

    assert raised.value.status == 403
    assert f"lacks permission in workspace {WORKSPACE}" in str(raised.value)
    assert "workspace id is wrong" in str(raised.value)


def test_other_errors_carry_platform_message_and_status(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    props = properties(emulator.url, environment=compute_env(name="not a valid name"))

    with pytest.raises(PlatformError) as raised:
        provider.on_event(create_event(props))

    assert raised.value.status == 400
    assert raised.value.platform_message is not None
    assert raised.value.platform_message.startswith("Invalid compute environment name")
    assert "HTTP 400" in str(raised.value)
    assert raised.value.platform_message in str(raised.value)


def test_a_token_platform_echoes_back_is_blanked_out(
    make_emulator: Callable[..., PlatformEmulator], provider: Provider
) -> None:
    emulator = make_emulator(echo_token=True)
    props = properties(emulator.url, environment=compute_env(name="not a valid name"))

    with pytest.raises(PlatformError) as raised:
        provider.on_event(create_event(props))

    assert "(request sent with Bearer ***)" in str(raised.value)
    assert TOKEN not in str(raised.value)


def test_a_redirect_is_reported_instead_of_followed_with_the_token(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    emulator.inject(Fault(301))

    with pytest.raises(PlatformError) as raised:
        provider.on_event(create_event(properties(emulator.url)))

    assert raised.value.status == 301
    assert len(emulator.requests) == 1  # nothing went to the Location, token included


def test_a_web_page_where_the_api_should_be_points_at_api_url(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    emulator.inject(Fault("html"))

    with pytest.raises(PlatformError, match=r"not JSON\. Is ApiUrl"):
        provider.on_event(create_event(properties(emulator.url)))


def test_a_name_held_by_a_deleting_ce_fails_with_advice(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    emulator.add_compute_env(expected_name(compute_env()), WORKSPACE, status="DELETING")

    with pytest.raises(PlatformError, match="retry once it is gone") as raised:
        provider.on_event(create_event(properties(emulator.url)))

    assert raised.value.status == 409
    assert emulator.calls("POST") == []


def test_a_secret_without_a_string_fails_clearly(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    boto3.client("secretsmanager").create_secret(Name="binary", SecretBinary=b"\x00\x01")

    with pytest.raises(ValueError, match="Secret binary has no SecretString"):
        provider.on_event(create_event(properties(emulator.url, secret="binary")))


def test_the_secret_may_be_named_by_its_arn(emulator: PlatformEmulator, provider: Provider) -> None:
    arn = boto3.client("secretsmanager").describe_secret(SecretId="seqera/platform-token")["ARN"]

    result = provider.run(create_event(properties(emulator.url, secret=arn)))

    assert emulator.compute_envs[result.physical_id].status == "AVAILABLE"


@pytest.mark.parametrize(
    ("key", "value", "complaint"),
    [
        ("ApiUrl", "http://api.example.com", "ApiUrl must be an https URL"),
        ("ApiUrl", "", "Property ApiUrl is required"),
        ("TokenSecret", "", "Property TokenSecret is required"),
        ("ForgeRolePrefix", "", "Property ForgeRolePrefix is required"),
        ("WorkspaceId", "my-workspace", "WorkspaceId must be a numeric workspace id"),
        ("RetainOnDelete", "yes", "RetainOnDelete must be 'true' or 'false'"),
        ("ComputeEnvironment", "{not json", "Property ComputeEnvironment is not valid JSON"),
        ("ComputeEnvironment", '{"name": "x"}', "ComputeEnvironment must be a JSON object with"),
        ("ComputeEnvironment", json.dumps(compute_env(name="n" * 92)), "1 to 91 characters"),
        ("DataLinks", '{"name": "x"}', "DataLinks must be a JSON list"),
        ("DataLinks", '[{"name": "x"}]', "needs a name and a resourceRef"),
        ("DataLinks", '[{"name": "x", "resourceRef": "gs://b"}]', "must be s3://bucket"),
        (
            "DataLinks",
            '[{"name": "x", "resourceRef": "s3://a"}, {"name": "x", "resourceRef": "s3://b"}]',
            "names must be unique",
        ),
    ],
)
def test_wrong_properties_are_named_before_any_call(
    emulator: PlatformEmulator, provider: Provider, key: str, value: str, complaint: str
) -> None:
    props = {**properties(emulator.url), key: value}

    with pytest.raises(ValueError, match=complaint):
        provider.on_event(create_event(props))

    assert emulator.requests == []


def test_data_links_without_credentials_are_refused(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    environment = {k: v for k, v in compute_env().items() if k != "credentialsId"}
    links = [{"name": "bucket-b", "resourceRef": "s3://data-bucket-b"}]
    props = properties(emulator.url, environment=environment, data_links=links)

    with pytest.raises(ValueError, match="DataLinks need ComputeEnvironment credentialsId"):
        provider.on_event(create_event(props))
