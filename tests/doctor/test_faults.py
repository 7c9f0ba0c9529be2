"""The doctor against a live setup deployed from the plan, healthy and then broken on purpose,
one fault per test: each fault is found, named by its check (and Sid), and is the only one.

Everything is real: moto_server for both accounts, the Platform emulator checked against the
spec. Only AWS's policy simulator, which moto does not offer, is reported as skipped.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from constructs_lib.doctor.compute import check_compute_account
from constructs_lib.doctor.findings import EXIT_FAULT, EXIT_HEALTHY, Finding, Result, exit_code
from constructs_lib.doctor.run import diagnose
from tests.conftest import COMPUTE_ACCOUNT, STORAGE_ACCOUNT
from tests.deploy.harness import profile_name
from tests.doctor.deployment import (
    DATA_BUCKET,
    EC2_TRUST,
    REFERENCE_BUCKET,
    RESULTS_BUCKET,
    Deployed,
    plan_of,
)

pytestmark = pytest.mark.slow

Fault = tuple[str, str, str | None, Result]


def faults(findings: list[Finding]) -> list[Fault]:
    """The findings that say something is wrong, as (subject, check, Sid, result)."""
    return [
        (finding.subject, finding.check, finding.sid, finding.result)
        for finding in findings
        if finding.result.is_fault or finding.result is Result.NOT_CHECKED
    ]


def live_policy(deployed: Deployed, bucket: str) -> dict[str, Any]:
    policy: dict[str, Any] = json.loads(
        deployed.storage("s3").get_bucket_policy(Bucket=bucket)["Policy"]
    )
    return policy


def statement(policy: dict[str, Any], sid: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in policy["Statement"] if s.get("Sid") == sid)
    return found


def test_a_setup_deployed_from_the_plan_reports_no_fault_and_exits_0(deployed: Deployed) -> None:
    findings = diagnose(deployed.setup())
    assert faults(findings) == []
    assert exit_code(findings) == EXIT_HEALTHY


def test_a_healthy_setup_says_the_simulator_was_skipped_where_the_endpoint_lacks_it(
    deployed: Deployed,
) -> None:
    skipped = [f for f in diagnose(deployed.setup()) if f.result is Result.SKIPPED]
    assert [(f.subject, f.check) for f in skipped] == [
        (f"compute account {COMPUTE_ACCOUNT}", "AWS policy simulator")
    ]
    assert "does not offer iam:SimulatePrincipalPolicy" in skipped[0].why


def test_a_deleted_bucket_policy_blocks_access(deployed: Deployed) -> None:
    deployed.storage("s3").delete_bucket_policy(Bucket=DATA_BUCKET)
    findings = diagnose(deployed.setup())
    assert faults(findings) == [(f"bucket {DATA_BUCKET}", "bucket policy", None, Result.BLOCKS)]
    assert exit_code(findings) == EXIT_FAULT


def test_an_edited_statement_that_drops_a_write_action_blocks_access(deployed: Deployed) -> None:
    policy = live_policy(deployed, DATA_BUCKET)
    objects = statement(policy, "ForgeObjects")
    objects["Action"] = [action for action in objects["Action"] if action != "s3:PutObject"]
    deployed.storage("s3").put_bucket_policy(Bucket=DATA_BUCKET, Policy=json.dumps(policy))
    findings = diagnose(deployed.setup())
    assert faults(findings) == [
        (f"bucket {DATA_BUCKET}", "bucket policy", "ForgeObjects", Result.BLOCKS)
    ]
    (finding,) = [f for f in findings if f.sid == "ForgeObjects"]
    assert "s3:PutObject" in finding.why


def test_a_statement_widened_to_everyone_widens_access(deployed: Deployed) -> None:
    policy = live_policy(deployed, DATA_BUCKET)
    statement(policy, "ForgeBucket")["Principal"] = "*"
    deployed.storage("s3").put_bucket_policy(Bucket=DATA_BUCKET, Policy=json.dumps(policy))
    findings = diagnose(deployed.setup())
    assert faults(findings) == [
        (f"bucket {DATA_BUCKET}", "bucket policy", "ForgeBucket", Result.WIDENS)
    ]


def test_block_public_access_turned_off_widens_access(deployed: Deployed) -> None:
    deployed.storage("s3").delete_public_access_block(Bucket=DATA_BUCKET)
    findings = diagnose(deployed.setup())
    assert faults(findings) == [
        (f"bucket {DATA_BUCKET}", "Block Public Access", None, Result.WIDENS)
    ]


def test_acls_turned_on_block_the_owner_from_what_the_compute_account_writes(
    deployed: Deployed,
) -> None:
    deployed.storage("s3").put_bucket_ownership_controls(
        Bucket=DATA_BUCKET, OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]}
    )
    findings = diagnose(deployed.setup())
    assert faults(findings) == [(f"bucket {DATA_BUCKET}", "Object Ownership", None, Result.BLOCKS)]


def test_a_key_policy_that_lost_its_statement_for_the_compute_account_blocks_access(
    deployed: Deployed,
) -> None:
    kms = deployed.storage("kms")
    key = kms.describe_key(KeyId=f"alias/tower-cross-account/{RESULTS_BUCKET}")["KeyMetadata"]
    policy = json.loads(kms.get_key_policy(KeyId=key["Arn"], PolicyName="default")["Policy"])
    policy["Statement"] = [
        s for s in policy["Statement"] if s.get("Sid") != "ForgeRolesUseKeyThroughS3"
    ]
    kms.put_key_policy(KeyId=key["Arn"], PolicyName="default", Policy=json.dumps(policy))
    findings = diagnose(deployed.setup())
    assert faults(findings) == [
        (f"bucket {RESULTS_BUCKET}", "key policy", "ForgeRolesUseKeyThroughS3", Result.BLOCKS)
    ]


def test_an_s3_write_policy_detached_from_the_forge_role_blocks_access(deployed: Deployed) -> None:
    deployed.compute("iam").detach_role_policy(
        RoleName=deployed.instance_role, PolicyArn=deployed.policy_arns[0]
    )
    findings = diagnose(deployed.setup())
    assert faults(findings) == [
        (
            f"compute account {COMPUTE_ACCOUNT}",
            f"s3-write on {deployed.instance_role}",
            None,
            Result.BLOCKS,
        )
    ]


def test_a_bucket_in_another_region_than_planned_has_drifted(deployed: Deployed) -> None:
    s3 = deployed.storage("s3")
    policy = s3.get_bucket_policy(Bucket=DATA_BUCKET)["Policy"]
    s3.delete_bucket(Bucket=DATA_BUCKET)
    elsewhere = boto3.Session(profile_name=profile_name(STORAGE_ACCOUNT)).client(
        "s3", region_name="us-west-2"
    )
    elsewhere.create_bucket(
        Bucket=DATA_BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-west-2"}
    )
    elsewhere.put_bucket_ownership_controls(
        Bucket=DATA_BUCKET,
        OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
    )
    elsewhere.put_public_access_block(
        Bucket=DATA_BUCKET,
        PublicAccessBlockConfiguration=dict.fromkeys(
            ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"),
            True,
        ),
    )
    elsewhere.put_bucket_policy(Bucket=DATA_BUCKET, Policy=policy)
    findings = diagnose(deployed.setup())
    assert faults(findings) == [(f"bucket {DATA_BUCKET}", "region", None, Result.DRIFTED)]


def test_an_errored_compute_environment_blocks_access(deployed: Deployed) -> None:
    compute_env = deployed.emulator.compute_envs[deployed.compute_env_id]
    compute_env.status, compute_env.message = (
        "ERRORED",
        "Unable to create Batch compute environment",
    )
    findings = diagnose(deployed.setup())
    assert faults(findings) == [("Seqera Platform", "compute environment", None, Result.BLOCKS)]
    (finding,) = [f for f in findings if f.result is Result.BLOCKS]
    assert "ERRORED: Unable to create Batch compute environment" in finding.why


def test_a_compute_environment_that_does_not_allow_a_granted_bucket_blocks_it(
    deployed: Deployed,
) -> None:
    compute_env = deployed.emulator.compute_envs[deployed.compute_env_id]
    compute_env.config["forge"]["allowBuckets"].remove(f"s3://{REFERENCE_BUCKET}")
    findings = diagnose(deployed.setup())
    assert faults(findings) == [
        (f"bucket {REFERENCE_BUCKET}", "Platform allowed buckets", None, Result.BLOCKS)
    ]


def test_a_role_named_in_forge_role_arns_does_not_stand_in_for_the_missing_forge_roles(
    deployed: Deployed,
) -> None:
    """The Forge instance role is gone; a role named by ARN that starts with the prefix is
    healthy. Only the compute account is checked: naming the role changes the planned bucket
    policies, which the deployed ones would then differ from."""
    iam = deployed.compute("iam")
    for arn in deployed.policy_arns:
        iam.detach_role_policy(RoleName=deployed.instance_role, PolicyArn=arn)
    iam.delete_role(RoleName=deployed.instance_role)
    named = "TowerForge-HeadJob"
    iam.create_role(RoleName=named, AssumeRolePolicyDocument=json.dumps(EC2_TRUST))
    for arn in deployed.policy_arns:
        iam.attach_role_policy(RoleName=named, PolicyArn=arn)
    context = {
        **deployed.context,
        "tower:forgeRoleArns": [f"arn:aws:iam::{COMPUTE_ACCOUNT}:role/{named}"],
    }
    plan = plan_of(context)
    access = deployed.setup().computes[COMPUTE_ACCOUNT]
    findings, _ = check_compute_account(plan, plan.computes[0], access, [deployed.compute_env_id])
    assert faults(findings) == [
        (f"compute account {COMPUTE_ACCOUNT}", "Forge roles", None, Result.BLOCKS)
    ]
