"""The Platform credentials the construct makes when no credentials_id is given: the role, its
permissions and trust policy, their registration, and the order they are made in."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

import pytest
from aws_cdk import assertions

from constructs_lib import BucketGrant, ConfigError, CrossAccountBucketAccess
from constructs_lib.defaults import DEFAULT_PLATFORM_PRINCIPAL
from tests.conftest import (
    COMPUTE_ACCOUNT,
    MAXIMAL_PLATFORM,
    REGION,
    access_for,
    as_list,
    bucket_policy,
    template_of,
)

ZERO_CLICK = dataclasses.replace(
    MAXIMAL_PLATFORM,
    credentials_id=None,
    register_data_links=False,
    handler_subnets=(),
    handler_security_groups=(),
)
ROLE_NAME = "SeqeraPlatform-genomics-cross-account"
ROLE_ARN = f"arn:aws:iam::{COMPUTE_ACCOUNT}:role/{ROLE_NAME}"


@pytest.fixture(scope="module")
def access() -> CrossAccountBucketAccess:
    return access_for(BucketGrant("data-b"), work_bucket="tower-work-a", platform=ZERO_CLICK)


@pytest.fixture(scope="module")
def compute(access: CrossAccountBucketAccess) -> assertions.Template:
    return template_of(access.compute_stack)


def one(template: assertions.Template, resource_type: str) -> tuple[str, Mapping[str, Any]]:
    ((logical_id, resource),) = template.find_resources(resource_type).items()
    return logical_id, resource


def credentials_role(template: assertions.Template) -> tuple[str, Mapping[str, Any]]:
    roles = template.find_resources("AWS::IAM::Role", {"Properties": {"RoleName": ROLE_NAME}})
    ((logical_id, resource),) = roles.items()
    return logical_id, resource


def test_the_role_trusts_the_platform_principal_with_the_external_id_only(
    compute: assertions.Template,
) -> None:
    credentials, _ = one(compute, "Custom::SeqeraCredentials")
    _, role = credentials_role(compute)
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"AWS": DEFAULT_PLATFORM_PRINCIPAL}
    assert statement["Action"] == ["sts:AssumeRole", "sts:TagSession"]
    assert statement["Condition"] == {
        "StringEquals": {"sts:ExternalId": {"Fn::GetAtt": [credentials, "ExternalId"]}}
    }


def test_the_credentials_register_the_role_in_the_workspace(compute: assertions.Template) -> None:
    _, credentials = one(compute, "Custom::SeqeraCredentials")
    properties = credentials["Properties"]
    assert json.loads(properties["Credentials"]) == {
        "name": "genomics-cross-account",
        "provider": "aws",
        "keys": {"mode": "role", "assumeRoleArn": ROLE_ARN},
    }
    assert properties["WorkspaceId"] == MAXIMAL_PLATFORM.workspace_id
    assert properties["TokenSecret"] == MAXIMAL_PLATFORM.token_secret
    assert properties["RetainOnDelete"] == "true"


def test_the_compute_environment_uses_the_credentials_once_the_role_is_ready(
    compute: assertions.Template,
) -> None:
    credentials, _ = one(compute, "Custom::SeqeraCredentials")
    role, _ = credentials_role(compute)
    _, environment = one(compute, "Custom::SeqeraComputeEnvironment")
    request = json.dumps(environment["Properties"]["ComputeEnvironment"])
    assert json.dumps({"Fn::GetAtt": [credentials, "CredentialsId"]}) in request
    (permissions,) = [
        logical_id
        for logical_id, policy in compute.find_resources("AWS::IAM::ManagedPolicy").items()
        if policy["Properties"].get("Roles") == [{"Ref": role}]
    ]
    assert set(environment["DependsOn"]) >= {role, permissions}


def test_the_role_gets_the_s3_write_policy_too(
    access: CrossAccountBucketAccess, compute: assertions.Template
) -> None:
    role, _ = credentials_role(compute)
    s3_write = compute.find_resources(
        "AWS::IAM::ManagedPolicy",
        {"Properties": {"Roles": assertions.Match.array_with([{"Ref": role}])}},
    )
    assert len(s3_write) == len(access.s3_write_policies) + 1


def test_the_permissions_name_every_action_and_narrow_forge_resources(
    compute: assertions.Template,
) -> None:
    role, _ = credentials_role(compute)
    (permissions,) = [
        policy["Properties"]["PolicyDocument"]
        for policy in compute.find_resources("AWS::IAM::ManagedPolicy").values()
        if policy["Properties"].get("Roles") == [{"Ref": role}]
    ]
    statements = {statement["Sid"]: statement for statement in permissions["Statement"]}
    actions = [action for s in statements.values() for action in as_list(s["Action"])]
    assert not [action for action in actions if "*" in action]
    assert as_list(statements["ForgeRolesAndInstanceProfiles"]["Resource"]) == [
        f"arn:aws:iam::{COMPUTE_ACCOUNT}:role/TowerForge-*",
        f"arn:aws:iam::{COMPUTE_ACCOUNT}:instance-profile/TowerForge-*",
    ]
    assert statements["PassForgeRolesToBatchAndEc2"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": ["batch.amazonaws.com", "ec2.amazonaws.com"]}
    }
    assert all(
        f":{REGION}:{COMPUTE_ACCOUNT}:" in resource
        for resource in as_list(statements["ForgeBatchEnvironments"]["Resource"])
    )


def test_without_data_links_the_bucket_policies_do_not_admit_the_role(
    access: CrossAccountBucketAccess,
) -> None:
    document = bucket_policy(template_of(access.storage_stack), "data-b")
    assert ROLE_ARN not in json.dumps(document)


def test_with_data_links_the_bucket_policies_admit_the_role() -> None:
    platform = dataclasses.replace(ZERO_CLICK, register_data_links=True)
    access = access_for(BucketGrant("data-b"), platform=platform)
    (allow, *_) = bucket_policy(template_of(access.storage_stack), "data-b")["Statement"]
    assert ROLE_ARN in as_list(allow["Condition"]["ArnLike"]["aws:PrincipalArn"])


def test_given_credentials_make_no_role_and_no_registration() -> None:
    access = access_for(BucketGrant("data-b"), platform=MAXIMAL_PLATFORM)
    template = template_of(access.compute_stack)
    assert template.find_resources("Custom::SeqeraCredentials") == {}
    assert template.find_resources("AWS::IAM::Role", {"Properties": {"RoleName": ROLE_NAME}}) == {}


def test_the_role_may_not_be_named_like_a_forge_role() -> None:
    platform = dataclasses.replace(ZERO_CLICK, credentials_role_name="TowerForge-credentials")
    with pytest.raises(ConfigError) as caught:
        access_for(BucketGrant("data-b"), platform=platform)
    assert caught.value.setting == "platform.credentials_role_name"


def test_the_platform_principal_must_be_in_the_compute_partition() -> None:
    principal = "arn:aws-cn:iam::123456789012:role/EnterprisePlatform"
    platform = dataclasses.replace(ZERO_CLICK, platform_principal_arn=principal)
    with pytest.raises(ConfigError) as caught:
        access_for(BucketGrant("data-b"), platform=platform)
    assert caught.value.setting == "platform.platform_principal_arn"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("platform_principal_arn", "arn:aws:iam::161471496260:role/*"),
        ("credentials_name", "has space"),
        ("credentials_role_name", "x" * 65),
    ],
)
def test_bad_credentials_settings_are_refused(field: str, value: Any) -> None:
    with pytest.raises(ConfigError) as caught:
        access_for(
            BucketGrant("data-b"), platform=dataclasses.replace(ZERO_CLICK, **{field: value})
        )
    assert caught.value.setting == f"platform.{field}"
