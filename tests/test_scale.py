"""Scale: several compute accounts, split s3-write policies, spread storage stacks, limits."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam

from constructs_lib import BucketGrant, ComputeAccount, ConfigError, CrossAccountBucketAccess
from constructs_lib.plan import STACK_RESOURCE_BUDGET, storage_layout
from constructs_lib.policies import (
    MANAGED_POLICY_LIMIT,
    Document,
    Entry,
    compact_size,
    identity_document,
)
from tests.conftest import (
    COMPUTE_ENV,
    STORAGE_ENV,
    as_list,
    bucket_policy,
    plan_for,
    settings_for,
    template_of,
)

SECOND = ComputeAccount(
    account="333333333333",
    region="eu-central-1",
    forge_role_prefix="AcmeForge",
    work_bucket="work-c",
)
THIRD = ComputeAccount(
    account="444444444444",
    region="eu-west-1",
    forge_role_prefix=None,
    forge_role_arns=("arn:aws:iam::444444444444:role/head-job",),
)


def many(count: int, **options: Any) -> list[BucketGrant]:
    return [BucketGrant(f"bench-bucket-{n:04d}", **options) for n in range(count)]


def parts_for(*grants: BucketGrant, **options: Any) -> tuple[Document, ...]:
    """The first compute account's s3-write policy as deployed: one document per part."""
    return plan_for(*grants, **options).computes[0].s3_write


def whole_for(*grants: BucketGrant) -> Document:
    """The same policy as one document, before IAM's size limit splits it."""
    settings = settings_for(*grants)
    entries = [Entry(g.name, g.prefixes, g.read_only, g) for g in settings.grants]
    return identity_document(settings, entries, settings.primary.account)


@pytest.fixture(scope="module")
def multi() -> CrossAccountBucketAccess:
    return CrossAccountBucketAccess(
        cdk.App(),
        "Multi",
        compute_env=COMPUTE_ENV,
        storage_env=STORAGE_ENV,
        buckets=[
            BucketGrant("shared-b", prefixes=("runs",)),
            BucketGrant("keyed-b", create=True, create_kms_key=True),
        ],
        compute_accounts=[SECOND, THIRD],
    )


def test_one_bucket_policy_names_every_compute_account(multi: CrossAccountBucketAccess) -> None:
    policy = bucket_policy(template_of(multi.storage_stack), "shared-b")
    allows = [statement for statement in policy["Statement"] if statement["Effect"] == "Allow"]
    refusals = [
        s for s in policy["Statement"] if s["Sid"] in ("DenyOtherEncryption", "DenyCustomerKeys")
    ]
    assert len(allows) == 3
    for statement in refusals:
        assert statement["Principal"] == allows[0]["Principal"]
    for statement in allows:
        assert statement["Principal"] == {
            "AWS": [
                "arn:aws:iam::111111111111:root",
                "arn:aws:iam::333333333333:root",
                "arn:aws:iam::444444444444:root",
            ]
        }
        assert statement["Condition"]["ArnLike"] == {
            "aws:PrincipalArn": [
                "arn:aws:iam::111111111111:role/TowerForge*",
                "arn:aws:iam::333333333333:role/AcmeForge*",
                "arn:aws:iam::444444444444:role/head-job",
            ]
        }
        assert statement["Condition"]["ArnNotLike"] == {
            "aws:PrincipalArn": [
                "arn:aws:iam::111111111111:role/TowerForge*/*",
                "arn:aws:iam::333333333333:role/AcmeForge*/*",
            ]
        }


def test_created_key_policy_names_every_compute_account(multi: CrossAccountBucketAccess) -> None:
    (key,) = template_of(multi.storage_stack).find_resources("AWS::KMS::Key").values()
    (grant,) = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s.get("Sid") == "ForgeRolesUseKeyThroughS3"
    ]
    assert len(grant["Principal"]["AWS"]) == 3


def test_each_compute_account_gets_its_own_stack(multi: CrossAccountBucketAccess) -> None:
    assert [(s.stack_name, s.account, s.region) for s in multi.compute_stacks] == [
        ("Multi-Compute", "111111111111", "eu-west-1"),
        ("Multi-Compute-333333333333", "333333333333", "eu-central-1"),
        ("Multi-Compute-444444444444", "444444444444", "eu-west-1"),
    ]


def test_each_compute_account_policy_carries_its_own_work_bucket(
    multi: CrossAccountBucketAccess,
) -> None:
    texts = [json.dumps(template_of(stack).to_json()) for stack in multi.compute_stacks]
    assert ["work-c" in text for text in texts] == [False, True, False]


def test_a_compute_account_may_be_named_only_once() -> None:
    with pytest.raises(ConfigError) as caught:
        settings_for(*many(1), compute_accounts=[SECOND, SECOND])
    assert caught.value.setting == "compute_accounts[1].account"


def test_the_storage_account_cannot_be_a_compute_account() -> None:
    with pytest.raises(ConfigError) as caught:
        settings_for(*many(1), compute_accounts=[ComputeAccount("222222222222", "eu-west-1")])
    assert caught.value.setting == "compute_accounts[0].account"


def test_a_further_compute_account_role_arn_must_be_its_own() -> None:
    stray = ComputeAccount(
        "333333333333", "eu-west-1", forge_role_arns=("arn:aws:iam::111111111111:role/x",)
    )
    with pytest.raises(ConfigError) as caught:
        settings_for(*many(1), compute_accounts=[stray])
    assert caught.value.setting == "compute_accounts[0].forge_role_arns[0]"


def test_small_policies_are_not_split() -> None:
    assert parts_for(*many(10)) == (whole_for(*many(10)),)


def test_large_policies_are_split_within_the_iam_limit() -> None:
    parts = parts_for(*many(300))
    assert len(parts) > 1
    assert all(compact_size(part) <= MANAGED_POLICY_LIMIT for part in parts)


def test_the_split_keeps_every_grant_exactly_once() -> None:
    resources = sorted(
        resource
        for part in parts_for(*many(300))
        for statement in part["Statement"]
        for resource in as_list(statement["Resource"])
    )
    whole = sorted(
        resource
        for statement in whole_for(*many(300))["Statement"]
        for resource in as_list(statement["Resource"])
    )
    assert resources == whole


def test_the_split_is_the_same_on_every_run() -> None:
    first = parts_for(*many(300))
    second = parts_for(*reversed(many(300)))
    assert [_buckets(d) for d in first] == [_buckets(d) for d in second]


def test_adding_a_bucket_moves_no_other_bucket_between_policies() -> None:
    before = [_buckets(d) for d in parts_for(*many(300))]
    after = [_buckets(d) for d in parts_for(*many(300), BucketGrant("one-more-bucket"))]
    assert len(before) == len(after)
    moved = [n for n, part in enumerate(before) if part != after[n] - {"one-more-bucket"}]
    assert moved == []


def test_split_policies_are_all_attached_to_each_principal() -> None:
    app = cdk.App()
    principals = cdk.Stack(app, "Principals", env=COMPUTE_ENV)
    role = iam.Role.from_role_name(principals, "Role", "seqera-credentials")
    access = CrossAccountBucketAccess(
        app,
        "Big",
        compute_env=COMPUTE_ENV,
        storage_env=STORAGE_ENV,
        buckets=many(300),
        attach_to=[role],
    )
    policies = template_of(access.compute_stack).find_resources("AWS::IAM::ManagedPolicy")
    assert len(policies) == len(access.compute_stack.s3_write_policies) > 1
    assert all(p["Properties"]["Roles"] == ["seqera-credentials"] for p in policies.values())


def test_too_many_policies_names_the_limit_the_size_and_the_grant() -> None:
    with pytest.raises(ConfigError) as caught:
        plan_for(*many(1000), max_managed_policies=2)
    message = str(caught.value)
    assert caught.value.setting == "max_managed_policies"
    assert "6144" in message and "characters" in message
    assert "bench-bucket-" in message


def test_the_managed_policy_quota_is_at_most_twenty() -> None:
    with pytest.raises(ConfigError) as caught:
        settings_for(*many(1), max_managed_policies=21)
    assert caught.value.setting == "max_managed_policies"


def test_the_construct_refuses_grants_that_cannot_fit_before_building() -> None:
    app = cdk.App()
    with pytest.raises(ConfigError):
        CrossAccountBucketAccess(
            app, "TooBig", compute_env=COMPUTE_ENV, storage_env=STORAGE_ENV, buckets=many(1000)
        )
    assert app.node.children == []


def test_storage_grants_stay_in_one_stack_while_they_fit() -> None:
    assert len(storage_layout(settings_for(*many(300)))) == 1


def test_storage_grants_spread_over_stacks_within_the_resource_quota() -> None:
    grants = many(600, create=True, create_kms_key=True)
    layout = storage_layout(settings_for(*grants, max_managed_policies=20))
    assert len(layout) > 1
    assert sorted(g.name for stack in layout for g in stack) == sorted(g.name for g in grants)
    assert all(4 * len(stack) <= STACK_RESOURCE_BUDGET for stack in layout)


def test_spread_storage_stacks_synthesize_within_the_quota() -> None:
    access = CrossAccountBucketAccess(
        cdk.App(),
        "Spread",
        compute_env=COMPUTE_ENV,
        storage_env=STORAGE_ENV,
        buckets=many(200, create=True, create_kms_key=True),
    )
    names = [stack.stack_name for stack in access.storage_stacks]
    assert names[:2] == ["Spread-Storage", "Spread-Storage-2"]
    for stack in access.storage_stacks:
        assert len(template_of(stack).to_json()["Resources"]) <= 500


def _buckets(document: dict[str, Any]) -> set[str]:
    return {
        resource.split(":::")[1].split("/")[0]
        for statement in document["Statement"]
        for resource in as_list(statement["Resource"])
        if ":::" in resource
    }


def test_the_access_log_bucket_policy_stays_small_with_many_created_buckets() -> None:
    access = CrossAccountBucketAccess(
        cdk.App(),
        "Logs",
        compute_env=COMPUTE_ENV,
        storage_env=STORAGE_ENV,
        buckets=many(240, create=True),
    )
    (stack,) = access.storage_stacks
    template = template_of(stack)
    (log_policy,) = [
        resource["Properties"]["PolicyDocument"]
        for resource in template.find_resources("AWS::S3::BucketPolicy").values()
        if not isinstance(resource["Properties"]["Bucket"], str)
    ]
    assert len(log_policy["Statement"]) == 2
    assert compact_size(log_policy) < 20 * 1024
