"""AWS's policy simulator as the doctor asks it: the one call that a recorded answer stands in
for (tests/doctor/simulator_stub.py), since moto does not implement it. Everything else the
doctor reads is the live setup in moto."""

from __future__ import annotations

import json
from typing import Any

import pytest

from constructs_lib.doctor.findings import EXIT_HEALTHY, Result, exit_code
from constructs_lib.doctor.run import Setup, diagnose
from constructs_lib.doctor.simulator import SIMULATOR_CONFIG
from tests.conftest import COMPUTE_ACCOUNT, REGION, STORAGE_ACCOUNT
from tests.doctor.deployment import DATA_BUCKET, REFERENCE_BUCKET, RESULTS_BUCKET, Deployed
from tests.doctor.simulator_stub import Decide, RecordedSimulator, allow_all

pytestmark = pytest.mark.slow

S3_CHECK = "AWS policy simulator (S3)"
KMS_CHECK = "AWS policy simulator (KMS)"


def stubbed(
    deployed: Deployed, decide: Decide = allow_all, error_code: str | None = None
) -> tuple[Setup, RecordedSimulator]:
    """The setup, with the compute account's simulator answered by the stand-in."""
    setup = deployed.setup()
    simulator = setup.computes[COMPUTE_ACCOUNT].client("iam", SIMULATOR_CONFIG)
    return setup, RecordedSimulator(simulator, decide, error_code)


def context_of(request: dict[str, Any]) -> dict[str, list[str]]:
    return {e["ContextKeyName"]: e["ContextKeyValues"] for e in request["ContextEntries"]}


def test_the_simulator_confirms_the_planned_requests_of_each_bucket_and_key(
    deployed: Deployed,
) -> None:
    setup, _ = stubbed(deployed)
    findings = diagnose(setup)
    simulated = [(f.subject, f.check, f.result) for f in findings if "simulator" in f.check]
    assert simulated == [
        (f"bucket {DATA_BUCKET}", S3_CHECK, Result.OK),
        (f"bucket {RESULTS_BUCKET}", S3_CHECK, Result.OK),
        (f"bucket {RESULTS_BUCKET}", KMS_CHECK, Result.OK),
        (f"bucket {REFERENCE_BUCKET}", S3_CHECK, Result.OK),
        (f"bucket {REFERENCE_BUCKET}", KMS_CHECK, Result.OK),
    ]
    assert exit_code(findings) == EXIT_HEALTHY


def test_a_planned_request_the_simulator_refuses_blocks_access(deployed: Deployed) -> None:
    def refuse_writes_to_data(action: str, resource: str) -> str:
        data_object = resource.startswith(f"arn:aws:s3:::{DATA_BUCKET}/")
        return "explicitDeny" if action == "s3:PutObject" and data_object else "allowed"

    setup, _ = stubbed(deployed, refuse_writes_to_data)
    findings = diagnose(setup)
    refused = [f for f in findings if f.result.is_fault]
    assert [(f.subject, f.check, f.result) for f in refused] == [
        (f"bucket {DATA_BUCKET}", S3_CHECK, Result.BLOCKS)
    ]
    assert (
        f"s3:PutObject on arn:aws:s3:::{DATA_BUCKET}/cdk-tower-doctor-probe "
        "(explicitDeny by ResourcePolicy)" in refused[0].why
    )


def test_without_permission_to_simulate_the_report_says_so_and_the_other_checks_decide(
    deployed: Deployed,
) -> None:
    setup, simulator = stubbed(deployed, error_code="AccessDenied")
    findings = diagnose(setup)
    skipped = [f for f in findings if f.result is Result.SKIPPED]
    assert [(f.subject, f.check) for f in skipped] == [
        (f"compute account {COMPUTE_ACCOUNT}", "AWS policy simulator")
    ]
    assert "may not call iam:SimulatePrincipalPolicy" in skipped[0].why
    assert len(simulator.requests) == 1
    assert exit_code(findings) == EXIT_HEALTHY


def test_the_simulation_asks_as_the_forge_role_with_the_live_bucket_policy_of_b(
    deployed: Deployed,
) -> None:
    setup, simulator = stubbed(deployed)
    diagnose(setup)
    request = simulator.requests[0]
    role = f"arn:aws:iam::{COMPUTE_ACCOUNT}:role/{deployed.instance_role}"
    live = deployed.storage("s3").get_bucket_policy(Bucket=DATA_BUCKET)["Policy"]
    assert request["PolicySourceArn"] == role
    assert json.loads(request["ResourcePolicy"]) == json.loads(live)
    assert request["ResourceOwner"] == f"arn:aws:iam::{STORAGE_ACCOUNT}:root"
    assert request["CallerArn"].startswith(f"arn:aws:iam::{COMPUTE_ACCOUNT}:user/")
    assert context_of(request) == {
        "aws:PrincipalArn": [role],
        "aws:SecureTransport": ["true"],
        "s3:ResourceAccount": [STORAGE_ACCOUNT],
    }


def test_the_simulation_of_a_prefix_grant_lists_inside_the_prefix(deployed: Deployed) -> None:
    setup, simulator = stubbed(deployed)
    diagnose(setup)
    request = simulator.requests[1]
    assert f"arn:aws:s3:::{RESULTS_BUCKET}/runs/cdk-tower-doctor-probe" in request["ResourceArns"]
    assert context_of(request)["s3:prefix"] == ["runs/"]


def test_the_simulation_of_a_created_key_gives_the_context_s3_sends(deployed: Deployed) -> None:
    setup, simulator = stubbed(deployed)
    diagnose(setup)
    request = simulator.requests[2]
    key = deployed.storage("kms").describe_key(KeyId=f"alias/tower-cross-account/{RESULTS_BUCKET}")
    assert request["ResourceArns"] == [key["KeyMetadata"]["Arn"]]
    assert sorted(request["ActionNames"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    context = context_of(request)
    assert context["kms:ViaService"] == [f"s3.{REGION}.amazonaws.com"]
    assert context["kms:EncryptionContext:aws:s3:arn"] == [f"arn:aws:s3:::{RESULTS_BUCKET}"]
    assert context["kms:ResourceAliases"] == [f"alias/tower-cross-account/{RESULTS_BUCKET}"]
