"""One options type: the construct's keyword arguments, the Stage and cdk.json follow it."""

from __future__ import annotations

import dataclasses
import inspect
import typing

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam

from app import build_app
from constructs_lib import (
    AccessOptions,
    BucketGrant,
    ComputeAccount,
    ConfigError,
    CrossAccountBucketAccess,
    CrossAccountBucketAccessStage,
    PlatformComputeEnvironment,
)
from constructs_lib.context import camel, context_setting, option_keys, options_from_context
from tests.conftest import (
    COMPUTE_ENV,
    PROJECT_ROOT,
    STORAGE_ENV,
    access_for,
    example_context,
    template_of,
)


def test_every_option_is_a_keyword_argument_of_the_construct_with_the_same_default() -> None:
    parameters = inspect.signature(CrossAccountBucketAccess.__init__).parameters
    keywords = {
        name: parameter
        for name, parameter in parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    }
    fields = {field.name: field for field in dataclasses.fields(AccessOptions)}
    assert list(keywords) == list(fields)
    for name, field in fields.items():
        expected = (
            inspect.Parameter.empty if field.default is dataclasses.MISSING else field.default
        )
        assert keywords[name].default == expected, name


def test_every_option_field_is_typed_and_documented() -> None:
    hints = typing.get_type_hints(AccessOptions)
    source = inspect.getsource(AccessOptions)
    for field in dataclasses.fields(AccessOptions):
        assert field.name in hints
        documented = source.split(f"    {field.name}: ", 1)[1].splitlines()[1].strip()
        assert documented.startswith('"""'), field.name


def test_options_are_frozen() -> None:
    options = AccessOptions(compute_env=COMPUTE_ENV, storage_env=STORAGE_ENV, buckets=())
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.buckets = ()  # type: ignore[misc]


def test_every_option_but_the_iam_principals_has_a_context_key() -> None:
    options = set(option_keys().values())
    assert options == {
        "compute_env.account",
        "compute_env.region",
        "storage_env.account",
        "storage_env.region",
        *(f.name for f in dataclasses.fields(AccessOptions) if not f.name.endswith("_env")),
    } - {"attach_to"}
    assert option_keys()["computeAccount"] == "compute_env.account"
    assert option_keys()["maxManagedPolicies"] == "max_managed_policies"


def test_a_new_option_is_read_from_context_without_code_for_it() -> None:
    context = {**example_context(), "tower:computeStackName": "genomics-compute"}
    assert options_from_context(context.get, context).compute_stack_name == "genomics-compute"


def test_the_context_reads_into_the_same_options_as_python_gives() -> None:
    context = {
        "tower:computeAccount": "111111111111",
        "tower:computeRegion": "eu-west-1",
        "tower:storageAccount": "222222222222",
        "tower:storageRegion": "eu-west-1",
        "tower:buckets": ["data-b", {"name": "refs-b", "readOnly": True}],
        "tower:computeAccounts": [{"account": "333333333333", "region": "eu-west-1"}],
    }
    options = options_from_context(context.get, context)
    assert (options.compute_env.account, options.compute_env.region) == (
        "111111111111",
        "eu-west-1",
    )
    assert options.buckets == [BucketGrant("data-b"), BucketGrant("refs-b", read_only=True)]
    assert options.compute_accounts == [ComputeAccount("333333333333", "eu-west-1")]


@pytest.mark.parametrize(
    ("option", "key"),
    [
        ("storage_env.account", "tower:storageAccount"),
        ("compute_env.region", "tower:computeRegion"),
        ("buckets[2].kms_key_arn", "tower:buckets[2].kmsKeyArn"),
        ("compute_accounts[1].forge_role_arns[0]", "tower:computeAccounts[1].forgeRoleArns[0]"),
        ("platform.max_cpus", "tower:platform.maxCpus"),
        (
            "buckets[0].existing_policy.Statement[0].Principal",
            "tower:buckets[0].existingPolicy.Statement[0].Principal",
        ),
        ("max_managed_policies", "tower:maxManagedPolicies"),
        ("tower:bukets", "tower:bukets"),
    ],
)
def test_an_option_name_becomes_the_context_key_the_user_typed(option: str, key: str) -> None:
    assert context_setting(option) == key


def test_a_bad_context_value_is_reported_under_the_key_the_user_typed() -> None:
    with pytest.raises(ConfigError) as caught:
        build_app({**example_context(), "tower:storageAccount": "abc"})
    assert caught.value.setting == "tower:storageAccount"
    assert "got 'abc'" in str(caught.value)


def test_a_bad_nested_context_value_is_reported_under_its_keys() -> None:
    extra = [{"account": "333333333333", "region": "eu-west-1", "forgeRoleArns": ["x"]}]
    with pytest.raises(ConfigError) as caught:
        build_app({**example_context(), "tower:computeAccounts": extra})
    assert caught.value.setting == "tower:computeAccounts[0].forgeRoleArns[0]"


def test_the_stage_takes_the_typed_options() -> None:
    parameters = inspect.signature(CrossAccountBucketAccessStage.__init__).parameters
    assert typing.get_type_hints(CrossAccountBucketAccessStage.__init__)["options"] is (
        AccessOptions
    )
    assert not [p for p in parameters.values() if p.kind is inspect.Parameter.VAR_KEYWORD]


def test_the_stage_refuses_anything_but_options() -> None:
    app = cdk.App()
    with pytest.raises(ConfigError) as caught:
        CrossAccountBucketAccessStage(app, "Production", {"buckets": []})  # type: ignore[arg-type]
    assert caught.value.setting == "options"
    assert app.node.children == []


def test_the_stage_keeps_stack_names_the_options_give() -> None:
    options = AccessOptions(
        compute_env=COMPUTE_ENV,
        storage_env=STORAGE_ENV,
        buckets=[BucketGrant("data-b")],
        storage_stack_name="genomics-storage",
    )
    stage = CrossAccountBucketAccessStage(cdk.App(), "Production", options)
    assert stage.access.compute_stack.stack_name == "Production-Compute"
    assert stage.access.storage_stack.stack_name == "genomics-storage"


def test_from_options_builds_what_the_keyword_arguments_build() -> None:
    options = AccessOptions(
        compute_env=COMPUTE_ENV, storage_env=STORAGE_ENV, buckets=[BucketGrant("data-b")]
    )
    by_options = CrossAccountBucketAccess.from_options(cdk.App(), "Access", options)
    by_keywords = CrossAccountBucketAccess(
        cdk.App(),
        "Access",
        compute_env=COMPUTE_ENV,
        storage_env=STORAGE_ENV,
        buckets=options.buckets,
    )
    assert by_options.options == by_keywords.options
    assert template_of(by_options.storage_stack).to_json() == (
        template_of(by_keywords.storage_stack).to_json()
    )


@pytest.mark.parametrize("name", ["1-starts-with-a-digit", "has_underscore", "x" * 101])
def test_stack_names_must_be_cloudformation_stack_names(name: str) -> None:
    with pytest.raises(ConfigError) as caught:
        access_for(BucketGrant("data-b"), compute_stack_name=name)
    assert caught.value.setting == "compute_stack_name"


def many_prefixed(count: int) -> list[BucketGrant]:
    return [BucketGrant(f"bucket-{n:04d}-b", prefixes=("runs",)) for n in range(count)]


@pytest.fixture(scope="module")
def split() -> CrossAccountBucketAccess:
    """A construct whose s3-write policy needs several managed policies."""
    return access_for(*many_prefixed(200))


def test_s3_write_policies_are_every_part(split: CrossAccountBucketAccess) -> None:
    deployed = template_of(split.compute_stack).find_resources("AWS::IAM::ManagedPolicy")
    assert len(split.s3_write_policies) == len(deployed) > 1


def test_s3_write_policy_documents_are_what_is_deployed(split: CrossAccountBucketAccess) -> None:
    deployed = template_of(split.compute_stack).find_resources("AWS::IAM::ManagedPolicy")
    documents = [policy["Properties"]["PolicyDocument"] for policy in deployed.values()]
    assert sorted(documents, key=str) == sorted(split.s3_write_policy_documents(), key=str)


def test_attach_s3_write_attaches_every_part_in_the_grantee_account() -> None:
    app = cdk.App()
    access = access_for(*many_prefixed(200), app=app)
    other = cdk.Stack(app, "Other", env=COMPUTE_ENV)
    access.attach_s3_write(iam.Role.from_role_name(other, "Analyst", "data-analyst"))
    deployed = template_of(access.compute_stack).find_resources("AWS::IAM::ManagedPolicy")
    assert len(deployed) > 1
    assert all(p["Properties"]["Roles"] == ["data-analyst"] for p in deployed.values())


def test_attach_s3_write_refuses_a_principal_of_another_account() -> None:
    app = cdk.App()
    access = access_for(BucketGrant("data-b"), app=app)
    stranger = cdk.Stack(app, "Stranger", env=cdk.Environment(account="999999999999"))
    with pytest.raises(ConfigError) as caught:
        access.attach_s3_write(iam.Role.from_role_name(stranger, "Role", "someone"))
    assert caught.value.setting == "grantee"


def test_the_readme_documents_every_option_and_every_context_key() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    options_table = readme.split("Options (all keyword arguments", 1)[1].split("\n\n", 2)[1]
    context_table = readme.split("| key | meaning |", 1)[1].split("\n\n", 1)[0]
    for field in dataclasses.fields(AccessOptions):
        assert f"`{field.name}`" in options_table, field.name
    for key in option_keys():
        assert f"`tower:{key}`" in context_table, key


def test_the_readme_documents_every_platform_setting() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    example = readme.split("platform=PlatformComputeEnvironment(", 1)[1].split("```", 1)[0]
    context_keys = readme.split("| `tower:platform` |", 1)[1].split("\n", 1)[0]
    for field in dataclasses.fields(PlatformComputeEnvironment):
        assert field.name in example, field.name
        assert f'"{camel(field.name)}"' in context_keys, field.name
