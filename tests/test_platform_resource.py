"""The Platform custom resource in the compute account's template, and its settings."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import assertions
from aws_cdk import aws_lambda as lambda_

from constructs_lib import AccessOptions, BucketGrant, ConfigError, CrossAccountBucketAccess
from constructs_lib.plan import plan_access
from constructs_lib.seqera.settings import PlatformComputeEnvironment
from tests.conftest import (
    COMPUTE_ACCOUNT,
    COMPUTE_ENV,
    MAXIMAL_PLATFORM,
    REGION,
    STORAGE_ENV,
    Synthesized,
    access_for,
    as_list,
    statements_of,
    template_of,
)


@pytest.fixture(scope="module")
def access(maximal: Synthesized) -> CrossAccountBucketAccess:
    return maximal.access


@pytest.fixture(scope="module")
def compute(access: CrossAccountBucketAccess) -> assertions.Template:
    return template_of(access.compute_stack)


def custom_resource(template: assertions.Template) -> dict[str, Any]:
    (resource,) = template.find_resources("Custom::SeqeraComputeEnvironment").values()
    properties: dict[str, Any] = resource["Properties"]
    return properties


def test_custom_resource_is_wired_to_the_provider_framework(compute: assertions.Template) -> None:
    token = custom_resource(compute)["ServiceToken"]["Fn::GetAtt"]
    (framework,) = compute.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": "framework.onEvent"}}
    )
    assert token == [framework, "Arn"]


def test_handlers_run_the_newest_python_runtime(compute: assertions.Template) -> None:
    newest = max(
        (
            getattr(lambda_.Runtime, name)
            for name in dir(lambda_.Runtime)
            if name.startswith("PYTHON_3")
        ),
        key=lambda runtime: int(runtime.name.split(".")[1]),
    )
    handlers = compute.find_resources(
        "AWS::Lambda::Function",
        {"Properties": {"Handler": assertions.Match.string_like_regexp(r"^handler\.")}},
    )
    assert sorted(h["Properties"]["Handler"] for h in handlers.values()) == [
        "handler.is_complete",
        "handler.on_event",
    ]
    assert {h["Properties"]["Runtime"] for h in handlers.values()} == {newest.name}


def test_properties_carry_the_secret_name_never_its_value(compute: assertions.Template) -> None:
    properties = custom_resource(compute)
    assert properties["TokenSecret"] == MAXIMAL_PLATFORM.token_secret
    assert "resolve:secretsmanager" not in json.dumps(compute.to_json())


def test_properties_carry_the_platform_settings(compute: assertions.Template) -> None:
    properties = custom_resource(compute)
    assert properties["ApiUrl"] == "https://tower.example.org/api"
    assert properties["WorkspaceId"] == "123456789012345"
    assert properties["ForgeRolePrefix"] == "TowerForge"
    assert properties["RetainOnDelete"] == "true"


def test_allowed_buckets_are_every_grant_and_prefix(compute: assertions.Template) -> None:
    request = json.loads(custom_resource(compute)["ComputeEnvironment"])
    assert request["config"]["forge"]["allowBuckets"] == [
        "s3://whole-bucket-b",
        "s3://prefixed-bucket-b/runs/2024",
        "s3://prefixed-bucket-b/shared/refs",
        "s3://read-only-bucket-b",
        "s3://existing-key-bucket-b",
        "s3://created-bucket-b",
        "s3://created-key-bucket-b/out",
        "s3://created-read-only-key-bucket-b",
        "s3://created-existing-key-bucket-b",
    ]


def test_compute_env_request_is_a_batch_forge_environment(compute: assertions.Template) -> None:
    request = json.loads(custom_resource(compute)["ComputeEnvironment"])
    assert request["platform"] == "aws-batch"
    assert request["credentialsId"] == "4Kx9Pq2mT7vZ"
    assert request["config"]["discriminator"] == "aws-batch"
    assert request["config"]["region"] == "eu-west-1"
    assert request["config"]["workDir"] == "s3://tower-work-a/work"
    forge = request["config"]["forge"]
    assert (forge["type"], forge["minCpus"], forge["maxCpus"]) == ("EC2", 2, 512)
    assert forge["instanceTypes"] == ["m6i.xlarge", "c6i.2xlarge"]
    assert forge["fargateHeadEnabled"] is True


def test_data_links_are_requested_for_each_allowed_path(compute: assertions.Template) -> None:
    links = json.loads(custom_resource(compute)["DataLinks"])
    assert [link["resourceRef"] for link in links] == json.loads(
        custom_resource(compute)["ComputeEnvironment"]
    )["config"]["forge"]["allowBuckets"]


def test_handlers_may_read_only_the_token_secret(compute: assertions.Template) -> None:
    secret_statements = [
        statement
        for statement in statements_of(compute, "AWS::IAM::Policy")
        if any(str(a).startswith("secretsmanager:") for a in as_list(statement["Action"]))
    ]
    assert len(secret_statements) == 2
    for statement in secret_statements:
        assert statement["Resource"] == MAXIMAL_PLATFORM.token_secret + "-??????"
        assert sorted(as_list(statement["Action"])) == [
            "secretsmanager:DescribeSecret",
            "secretsmanager:GetSecretValue",
        ]


def test_s3_write_policy_is_attached_to_the_forge_roles_it_made(
    compute: assertions.Template,
) -> None:
    (policy,) = compute.find_resources("AWS::IAM::ManagedPolicy").values()
    (resource_id,) = compute.find_resources("Custom::SeqeraComputeEnvironment")
    assert {"Fn::GetAtt": [resource_id, "InstanceRoleName"]} in policy["Properties"]["Roles"]
    assert {"Fn::GetAtt": [resource_id, "FargateRoleName"]} in policy["Properties"]["Roles"]


def test_without_fargate_head_job_only_the_instance_role_gets_the_policy() -> None:
    access = access_for(
        BucketGrant("data-b"),
        platform=dataclasses.replace(MAXIMAL_PLATFORM, fargate_head_job=False),
    )
    (policy,) = template_of(access.compute_stack).find_resources("AWS::IAM::ManagedPolicy").values()
    assert [role["Fn::GetAtt"][1] for role in policy["Properties"]["Roles"]] == ["InstanceRoleName"]


def test_region_defaults_to_the_compute_region() -> None:
    plan = plan_access(
        AccessOptions(
            compute_env=cdk.Environment(account=COMPUTE_ACCOUNT, region="us-east-2"),
            storage_env=STORAGE_ENV,
            buckets=[BucketGrant("data-b")],
            platform=dataclasses.replace(MAXIMAL_PLATFORM, region=None),
        ),
        "Region",
    )
    assert plan.platform is not None
    assert plan.platform.compute_env["config"]["region"] == "us-east-2"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "bad name!"),
        ("name", "x" * 92),
        ("credentials_id", ""),
        ("token_secret", "not a secret name with spaces"),
        ("token_secret", "eyJ0aWQiOiA0Mn0uMTIzNDU2Nzg5MGFiY2RlZg=="),
        ("api_url", "http://api.cloud.seqera.io"),
        ("workspace_id", "my-workspace"),
        ("work_dir", "/local/work"),
        ("forge_type", "FARGATE"),
        ("max_cpus", 0),
    ],
)
def test_bad_platform_settings_are_refused_before_building(field: str, value: Any) -> None:
    app = cdk.App()
    with pytest.raises(ConfigError) as caught:
        CrossAccountBucketAccess(
            app,
            "Access",
            compute_env=COMPUTE_ENV,
            storage_env=STORAGE_ENV,
            buckets=[BucketGrant("data-b")],
            platform=dataclasses.replace(MAXIMAL_PLATFORM, **{field: value}),
        )
    assert caught.value.setting == f"platform.{field}"
    assert app.node.children == []
    if field == "token_secret":
        assert str(value) not in str(caught.value)


def test_platform_settings_must_be_a_platform_compute_environment() -> None:
    with pytest.raises(ConfigError):
        CrossAccountBucketAccess(
            cdk.App(),
            "Access",
            compute_env=COMPUTE_ENV,
            storage_env=STORAGE_ENV,
            buckets=[BucketGrant("data-b")],
            platform={"name": "x"},  # type: ignore[arg-type]
        )


def test_platform_dataclass_is_exported() -> None:
    assert PlatformComputeEnvironment is type(MAXIMAL_PLATFORM)


def test_compute_env_id_and_instance_role_are_outputs(compute: assertions.Template) -> None:
    (resource_id,) = compute.find_resources("Custom::SeqeraComputeEnvironment")
    values = [output["Value"] for output in compute.find_outputs("*").values()]
    assert {"Fn::GetAtt": [resource_id, "ComputeEnvId"]} in values
    assert {"Fn::GetAtt": [resource_id, "InstanceRoleName"]} in values


DEFAULT_PLATFORM = PlatformComputeEnvironment(
    name="genomics-cross-account",
    credentials_id="4Kx9Pq2mT7vZ",
    token_secret="seqera/platform-token",
    work_dir="s3://tower-work-a/work",
)
LOG_KEY_ARN = f"arn:aws:kms:{REGION}:{COMPUTE_ACCOUNT}:key/0000abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture(scope="module")
def default_compute() -> assertions.Template:
    """The compute template of a Platform resource with every handler setting left default."""
    return template_of(access_for(BucketGrant("data-b"), platform=DEFAULT_PLATFORM).compute_stack)


@pytest.fixture(scope="module")
def given_key_compute() -> assertions.Template:
    """The compute template of a Platform resource whose log groups use a given key."""
    platform = dataclasses.replace(DEFAULT_PLATFORM, log_key_arn=LOG_KEY_ARN)
    return template_of(access_for(BucketGrant("data-b"), platform=platform).compute_stack)


def in_partition_aws(arn: str | dict[str, Any]) -> str:
    """An ARN as text, its ``AWS::Partition`` reference read as ``aws``."""
    if isinstance(arn, str):
        return arn
    parts = arn["Fn::Join"][1]
    return "".join("aws" if part == {"Ref": "AWS::Partition"} else part for part in parts)


def functions(template: assertions.Template) -> dict[str, dict[str, Any]]:
    """Every Lambda function's properties (the handlers' and the Provider framework's)."""
    found = template.find_resources("AWS::Lambda::Function")
    assert len(found) == 5
    return {logical_id: f["Properties"] for logical_id, f in found.items()}


def log_groups(template: assertions.Template) -> dict[str, dict[str, Any]]:
    """Every log group's properties."""
    found = template.find_resources("AWS::Logs::LogGroup")
    assert len(found) == 4
    return {logical_id: group["Properties"] for logical_id, group in found.items()}


def test_every_log_group_keeps_the_retention_asked_for(compute: assertions.Template) -> None:
    assert {group["RetentionInDays"] for group in log_groups(compute).values()} == {731}


def test_log_groups_keep_a_year_by_default(default_compute: assertions.Template) -> None:
    assert {group["RetentionInDays"] for group in log_groups(default_compute).values()} == {365}


def test_every_function_logs_to_one_of_these_log_groups(compute: assertions.Template) -> None:
    groups = log_groups(compute)
    for properties in functions(compute).values():
        assert properties["LoggingConfig"]["LogGroup"]["Ref"] in groups


def test_every_log_group_is_encrypted_with_a_created_retained_rotating_key(
    default_compute: assertions.Template,
) -> None:
    ((key_id, key),) = default_compute.find_resources("AWS::KMS::Key").items()
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain"
    for group in log_groups(default_compute).values():
        assert group["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}


def test_the_log_key_lets_cloudwatch_logs_use_it_for_these_log_groups_only(
    default_compute: assertions.Template,
) -> None:
    (statement,) = [
        s
        for s in statements_of(default_compute, "AWS::KMS::Key")
        if s.get("Principal") == {"Service": f"logs.{REGION}.amazonaws.com"}
    ]
    names = sorted(group["LogGroupName"] for group in log_groups(default_compute).values())
    arns = statement["Condition"]["ArnEquals"]["kms:EncryptionContext:aws:logs:arn"]
    assert sorted(map(in_partition_aws, arns)) == [
        f"arn:aws:logs:{REGION}:{COMPUTE_ACCOUNT}:log-group:{name}" for name in names
    ]
    assert "kms:Decrypt*" in statement["Action"]


def test_the_log_key_refuses_grants_that_are_not_for_an_aws_resource(
    default_compute: assertions.Template,
) -> None:
    (deny,) = [s for s in statements_of(default_compute, "AWS::KMS::Key") if s["Effect"] == "Deny"]
    assert (deny["Principal"], deny["Action"], deny["Resource"]) == (
        {"AWS": "*"},
        "kms:CreateGrant",
        "*",
    )
    assert deny["Condition"] == {
        "BoolIfExists": {"kms:GrantIsForAWSResource": "false", "aws:PrincipalIsAWSService": "false"}
    }


def test_a_given_log_key_encrypts_the_log_groups_and_none_is_created(
    given_key_compute: assertions.Template,
) -> None:
    assert given_key_compute.find_resources("AWS::KMS::Key") == {}
    for group in log_groups(given_key_compute).values():
        assert group["KmsKeyId"] == LOG_KEY_ARN


def test_a_given_log_key_gets_the_statement_its_policy_needs_as_an_output(
    given_key_compute: assertions.Template,
) -> None:
    (output,) = [
        o
        for name, o in given_key_compute.find_outputs("*").items()
        if "LogKeyPolicyStatement" in name
    ]
    assert "logs.eu-west-1.amazonaws.com" in json.dumps(output["Value"])


def test_every_function_runs_in_the_handler_subnets(compute: assertions.Template) -> None:
    for properties in functions(compute).values():
        assert properties["VpcConfig"] == {
            "SubnetIds": list(MAXIMAL_PLATFORM.handler_subnets),
            "SecurityGroupIds": list(MAXIMAL_PLATFORM.handler_security_groups),
        }


def test_every_function_in_a_vpc_may_manage_its_network_interfaces(
    compute: assertions.Template,
) -> None:
    roles = compute.find_resources("AWS::IAM::Role")
    for properties in functions(compute).values():
        role = roles[properties["Role"]["Fn::GetAtt"][0]]["Properties"]
        assert any(
            "AWSLambdaVPCAccessExecutionRole" in json.dumps(arn)
            for arn in role["ManagedPolicyArns"]
        )


def test_without_handler_subnets_no_function_is_in_a_vpc(
    default_compute: assertions.Template,
) -> None:
    assert all("VpcConfig" not in p for p in functions(default_compute).values())
    assert "AWSLambdaVPCAccessExecutionRole" not in json.dumps(default_compute.to_json())


def test_every_function_reserves_the_concurrency_asked_for(compute: assertions.Template) -> None:
    assert {p["ReservedConcurrentExecutions"] for p in functions(compute).values()} == {2}


def test_no_concurrency_is_reserved_by_default(default_compute: assertions.Template) -> None:
    assert all("ReservedConcurrentExecutions" not in p for p in functions(default_compute).values())


def test_the_handlers_and_the_waiter_are_traced_with_xray(compute: assertions.Template) -> None:
    handlers = [p for p in functions(compute).values() if p["Handler"].startswith("handler.")]
    assert [p["TracingConfig"] for p in handlers] == [{"Mode": "Active"}] * 2
    (machine,) = compute.find_resources("AWS::StepFunctions::StateMachine").values()
    assert machine["Properties"]["TracingConfiguration"] == {"Enabled": True}
