"""Bad input is refused before any construct is built, naming the setting, value and rule."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest

from app import build_app
from constructs_lib import BucketGrant, ConfigError, CrossAccountBucketAccess
from constructs_lib.context import options_from_context
from tests.conftest import (
    COMPUTE_ENV,
    EXISTING_KEY_ARN,
    STORAGE_ENV,
    THIRD_ACCOUNT,
    example_context,
)


def build(**overrides: Any) -> cdk.App:
    """Build the construct with ``overrides``; the App is returned to check nothing was made."""
    app = cdk.App()
    options: dict[str, Any] = {
        "compute_env": COMPUTE_ENV,
        "storage_env": STORAGE_ENV,
        "buckets": [BucketGrant("genomics-data-b")],
        **overrides,
    }
    CrossAccountBucketAccess(app, "Access", **options)
    return app


def refused(setting: str, given: str, **overrides: Any) -> ConfigError:
    """Assert the construct refuses ``overrides`` naming ``setting`` and the value given."""
    with pytest.raises(ConfigError) as caught:
        build(**overrides)
    error = caught.value
    assert error.setting == setting
    assert given in str(error)
    assert "expected" in str(error)
    return error


def test_valid_settings_build_both_stacks() -> None:
    app = build()
    assert {child.node.id for child in app.node.find_all()} >= {"Access", "Compute", "Storage"}


def test_nothing_is_built_when_a_setting_is_wrong() -> None:
    app = cdk.App()
    with pytest.raises(ConfigError):
        CrossAccountBucketAccess(
            app, "Access", compute_env=COMPUTE_ENV, storage_env=STORAGE_ENV, buckets=[]
        )
    assert app.node.children == []


def test_compute_account_must_have_twelve_digits() -> None:
    refused(
        "compute_env.account",
        "'12345'",
        compute_env=cdk.Environment(account="12345", region="eu-west-1"),
    )


def test_storage_account_must_have_twelve_digits() -> None:
    refused(
        "storage_env.account",
        "'abcdefghijkl'",
        storage_env=cdk.Environment(account="abcdefghijkl", region="eu-west-1"),
    )


def test_account_must_not_be_a_token() -> None:
    refused(
        "compute_env.account",
        "Token",
        compute_env=cdk.Environment(account=cdk.Aws.ACCOUNT_ID, region="eu-west-1"),
    )


def test_region_must_be_a_region() -> None:
    error = refused(
        "storage_env.region",
        "'europe-1'",
        storage_env=cdk.Environment(account="222222222222", region="europe-1"),
    )
    assert "eu-west-1" in error.expected


def test_regions_must_share_a_partition() -> None:
    refused(
        "storage_env.region",
        "'cn-north-1'",
        storage_env=cdk.Environment(account="222222222222", region="cn-north-1"),
    )


def test_compute_and_storage_accounts_must_differ() -> None:
    refused("storage_env.account", "'111111111111'", storage_env=COMPUTE_ENV)


def test_at_least_one_bucket_is_required() -> None:
    refused("buckets", "[]", buckets=[])


@pytest.mark.parametrize(
    "name",
    [
        "Genomics-Data",
        "ab",
        "a" * 64,
        "-data",
        "data..b",
        "192.168.5.4",
        "xn--data",
        "data-s3alias",
        "data_b",
    ],
)
def test_bucket_names_follow_the_s3_naming_rules(name: str) -> None:
    refused("buckets[0].name", repr(name), buckets=[BucketGrant(name)])


def test_a_bucket_may_be_granted_only_once() -> None:
    refused("buckets[1].name", "'data-b'", buckets=[BucketGrant("data-b"), BucketGrant("data-b")])


@pytest.mark.parametrize("prefix", ["runs/*", "runs?", "runs/../secret", "${aws:username}", ""])
def test_prefixes_must_be_literal(prefix: str) -> None:
    refused("buckets[0].prefixes[0]", repr(prefix), buckets=[BucketGrant("data-b", (prefix,))])


def test_a_prefix_may_be_given_only_once() -> None:
    refused(
        "buckets[0].prefixes[1]",
        "'runs/'",
        buckets=[BucketGrant("data-b", prefixes=("runs", "runs/"))],
    )


def test_role_prefix_must_not_be_empty() -> None:
    refused("forge_role_prefix", "''", forge_role_prefix="")


def test_role_prefix_must_not_contain_a_wildcard() -> None:
    refused("forge_role_prefix", "'Tower*'", forge_role_prefix="Tower*")


def test_without_a_prefix_some_role_arn_is_required() -> None:
    refused("forge_role_prefix", "None", forge_role_prefix=None)


def test_role_arns_must_be_in_the_compute_account() -> None:
    arn = f"arn:aws:iam::{THIRD_ACCOUNT}:role/head-job"
    refused("forge_role_arns[0]", repr(arn), forge_role_arns=[arn])


def test_role_arns_must_not_contain_wildcards() -> None:
    arn = "arn:aws:iam::111111111111:role/head-*"
    refused("forge_role_arns[0]", repr(arn), forge_role_arns=[arn])


def test_the_aws_managed_s3_key_is_refused() -> None:
    alias = "arn:aws:kms:eu-west-1:222222222222:alias/aws/s3"
    error = refused(
        "buckets[0].kms_key_arn", repr(alias), buckets=[BucketGrant("data-b", kms_key_arn=alias)]
    )
    assert "cannot be used from another account" in str(error)


def test_a_key_alias_is_refused_in_favour_of_the_key_arn() -> None:
    alias = "arn:aws:kms:eu-west-1:222222222222:alias/data"
    refused(
        "buckets[0].kms_key_arn", repr(alias), buckets=[BucketGrant("data-b", kms_key_arn=alias)]
    )


def test_a_created_bucket_cannot_use_a_key_of_another_account() -> None:
    foreign = EXISTING_KEY_ARN.replace("222222222222", THIRD_ACCOUNT)
    refused(
        "buckets[0].kms_key_arn",
        repr(foreign),
        buckets=[BucketGrant("data-b", create=True, kms_key_arn=foreign)],
    )


def test_a_key_can_only_be_created_for_a_created_bucket() -> None:
    refused(
        "buckets[0].create_kms_key", "True", buckets=[BucketGrant("data-b", create_kms_key=True)]
    )


def test_attach_to_takes_iam_principals_only() -> None:
    refused("attach_to[0]", "'seqera-role'", attach_to=["seqera-role"])


def test_work_bucket_must_be_a_bucket_name() -> None:
    refused("work_bucket", "'Work_A'", work_bucket="Work_A")


def test_misspelt_context_key_is_named() -> None:
    context = {**example_context(), "tower:bukets": "[]"}
    with pytest.raises(ConfigError) as caught:
        options_from_context(context.get, context)
    assert caught.value.setting == "tower:bukets"


def test_unknown_bucket_option_in_context_is_named() -> None:
    context = {**example_context(), "tower:buckets": [{"name": "data-b", "readonly": True}]}
    with pytest.raises(ConfigError) as caught:
        options_from_context(context.get, context)
    assert caught.value.setting == "tower:buckets[0].readonly"


def test_context_given_on_the_command_line_is_decoded_from_json() -> None:
    context = {**example_context(), "tower:buckets": '[{"name": "data-b", "readOnly": true}]'}
    options = options_from_context(context.get, context)
    assert options.buckets == [BucketGrant("data-b", read_only=True)]


def test_platform_can_be_left_out_from_the_command_line() -> None:
    context = {**example_context(), "tower:platform": "false"}
    assert options_from_context(context.get, context).platform is None


def test_example_platform_settings_are_read_from_context() -> None:
    platform = options_from_context(example_context().get, example_context()).platform
    assert platform is not None
    assert platform.name == "genomics-cross-account"
    assert platform.token_secret == "seqera/platform-token"
    assert platform.fusion2_enabled is True


def test_unknown_platform_option_in_context_is_named() -> None:
    context = {**example_context(), "tower:platform": {"name": "ce", "tokenValue": "secret"}}
    with pytest.raises(ConfigError) as caught:
        options_from_context(context.get, context)
    assert caught.value.setting == "tower:platform.tokenValue"
    assert "secret" not in str(caught.value)


def test_the_same_bucket_cannot_be_granted_by_two_constructs_in_one_app() -> None:
    app = cdk.App()
    CrossAccountBucketAccess(
        app,
        "First",
        compute_env=COMPUTE_ENV,
        storage_env=STORAGE_ENV,
        buckets=[BucketGrant("data-b")],
    )
    with pytest.raises(ConfigError) as caught:
        CrossAccountBucketAccess(
            app,
            "Second",
            compute_env=COMPUTE_ENV,
            storage_env=STORAGE_ENV,
            buckets=[BucketGrant("other-b"), BucketGrant("data-b")],
        )
    assert caught.value.setting == "buckets[1].name"
    assert "First/Storage" in str(caught.value)


def test_a_bucket_policy_over_the_s3_size_limit_is_refused() -> None:
    prefixes = [f"project-{n:04d}/results" for n in range(300)]
    error = refused("buckets[0]", "'data-b'", buckets=[BucketGrant("data-b", prefixes=prefixes)])
    assert "20480" in str(error)


def test_an_existing_policy_that_is_not_a_document_is_refused() -> None:
    refused(
        "buckets[0].existing_policy",
        "'Version'",
        buckets=[BucketGrant("data-b", existing_policy={"Version": "2012-10-17"})],
    )


def test_an_existing_policy_file_that_cannot_be_read_is_refused(tmp_path: Any) -> None:
    missing = str(tmp_path / "missing.json")
    refused(
        "buckets[0].existing_policy",
        repr(missing),
        buckets=[BucketGrant("data-b", existing_policy=missing)],
    )


def test_a_public_statement_is_never_merged() -> None:
    public = {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}]}
    refused(
        "buckets[0].existing_policy.Statement[0].Principal",
        "'*'",
        buckets=[BucketGrant("data-b", existing_policy=public)],
    )


def test_further_compute_accounts_are_read_from_context() -> None:
    extra = [
        {
            "account": "333333333333",
            "region": "eu-west-1",
            "forgeRolePrefix": False,
            "forgeRoleArns": ["arn:aws:iam::333333333333:role/head"],
        }
    ]
    context = {
        **example_context(),
        "tower:computeAccounts": extra,
        "tower:maxManagedPolicies": "20",
    }
    options = options_from_context(context.get, context)
    assert options.compute_accounts[0].forge_role_prefix is None
    assert options.max_managed_policies == 20


def test_a_compute_account_in_context_needs_account_and_region() -> None:
    context = {**example_context(), "tower:computeAccounts": [{"account": "333333333333"}]}
    with pytest.raises(ConfigError) as caught:
        options_from_context(context.get, context)
    assert caught.value.setting == "tower:computeAccounts[0].region"


def test_an_account_given_as_a_number_is_refused_not_converted() -> None:
    context = {**example_context(), "tower:computeAccount": 11111111111}
    with pytest.raises(ConfigError) as caught:
        build_app(context)
    assert caught.value.setting == "tower:computeAccount"
    assert "got 11111111111" in str(caught.value)


def test_a_named_role_under_a_deeper_path_than_the_forge_path_is_refused() -> None:
    arn = "arn:aws:iam::111111111111:role/TowerForge-team/head-job"
    error = refused("forge_role_arns[0]", repr(arn), forge_role_arns=[arn])
    assert "forge_role_path" in str(error)


@pytest.mark.parametrize("path", ["tower/", "/tower", "/to*/", "//"])
def test_the_forge_role_path_is_an_iam_path_without_wildcards(path: str) -> None:
    refused("forge_role_path", repr(path), forge_role_path=path)


@pytest.mark.parametrize("days", [0, -1, True, "7"])
def test_lifecycle_days_are_whole_days_or_none(days: object) -> None:
    refused("abort_incomplete_uploads_days", repr(days), abort_incomplete_uploads_days=days)


def test_an_unknown_rule_pack_is_refused() -> None:
    refused("nag_packs[0]", "'HIPAA'", nag_packs=["HIPAA"])
