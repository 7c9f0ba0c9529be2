"""The plan: every document and the stack layout, computed once from validated options."""

from __future__ import annotations

import pytest

from constructs_lib import BucketGrant, ComputeAccount, ConfigError
from constructs_lib.plan import numbered
from tests.conftest import MAXIMAL_PLATFORM, REGION, plan_for


def many(count: int) -> list[BucketGrant]:
    return [
        BucketGrant(f"plan-bucket-{n:04d}", create=True, create_kms_key=True) for n in range(count)
    ]


def test_numbered_parts_keep_the_name_then_count_from_two() -> None:
    assert [numbered("X", index) for index in range(3)] == ["X", "X-2", "X-3"]


def test_policies_and_stacks_are_numbered_alike() -> None:
    plan = plan_for(*many(300), max_managed_policies=20)
    assert [storage.stack_name for storage in plan.storages][:2] == [
        "Test-Storage",
        "Test-Storage-2",
    ]
    assert [storage.construct_id for storage in plan.storages][:2] == ["Storage", "Storage-2"]
    assert plan.computes[0].policy_names[:2] == ("S3WritePolicy", "S3WritePolicy-2")


def test_accounts_without_a_work_bucket_share_one_computed_policy() -> None:
    more = [ComputeAccount(f"{300000000000 + n}", REGION) for n in range(3)]
    plan = plan_for(BucketGrant("data-b"), compute_accounts=more)
    first = plan.computes[0].s3_write
    assert all(compute.s3_write is first for compute in plan.computes)


def test_an_account_with_a_work_bucket_gets_its_own_policy() -> None:
    more = [ComputeAccount("333333333333", REGION, work_bucket="work-c")]
    plan = plan_for(BucketGrant("data-b"), compute_accounts=more)
    assert plan.computes[1].s3_write != plan.computes[0].s3_write
    assert "work-c" in str(plan.computes[1].s3_write)


def test_every_grant_is_in_exactly_one_storage_stack() -> None:
    plan = plan_for(*many(300), max_managed_policies=20)
    placed = [grant.name for storage in plan.storages for grant in storage.grants]
    assert sorted(placed) == sorted(grant.name for grant in many(300))


def test_every_granted_bucket_has_its_policy_and_every_key_its_statement() -> None:
    plan = plan_for(BucketGrant("data-b"), BucketGrant("out-b", create=True, create_kms_key=True))
    assert set(plan.bucket_policies) == {"data-b", "out-b"}
    assert set(plan.key_statements) == {"out-b"}


def test_a_limit_is_checked_while_the_plan_is_built() -> None:
    with pytest.raises(ConfigError) as caught:
        plan_for(BucketGrant("data-b", prefixes=[f"project-{n:04d}/results" for n in range(300)]))
    assert caught.value.setting == "buckets[0]"


def test_the_platform_request_is_planned_with_the_granted_paths() -> None:
    plan = plan_for(BucketGrant("data-b", prefixes=("runs",)), platform=MAXIMAL_PLATFORM)
    assert plan.platform is not None
    assert plan.platform.compute_env["config"]["forge"]["allowBuckets"] == ["s3://data-b/runs"]
    assert [link["resourceRef"] for link in plan.platform.data_links] == ["s3://data-b/runs"]
