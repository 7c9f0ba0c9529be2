"""A live setup in the AWS emulator and the Platform emulator, made from the plan itself.

The doctor's expectations and this setup come from the same ``plan_access``: every bucket
policy, key statement and s3-write part is applied with boto3 as the stacks would deploy it
(with the settings every created bucket has), and the compute environment is created in the
Platform emulator with the plan's request. Tests then break one thing and run the doctor.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from client import PlatformClient
from emulator import PlatformEmulator

from constructs_lib.context import options_from_context
from constructs_lib.defaults import DEFAULT_CONSTRUCT_ID
from constructs_lib.doctor.aws import AccountAccess
from constructs_lib.doctor.run import PlatformAccess, Setup
from constructs_lib.plan import AccessPlan, plan_access
from tests.conftest import COMPUTE_ACCOUNT, REGION, STORAGE_ACCOUNT
from tests.deploy.harness import Accounts, profile_name

TOKEN = "eyJ0aWQiOiA0Mn0.ZG9jdG9yLXRlc3QtdG9rZW4tdmFsdWU"
SECRET_NAME = "seqera/doctor-token"
WORKSPACE = "40230138858677"
EXTERNAL_ID = "0d0c70e1-5eed-4b1e-9c3f-000000000042"
DATA_BUCKET = "doctor-data-b"
RESULTS_BUCKET = "doctor-results-b"
REFERENCE_BUCKET = "doctor-reference-b"
COMPUTE_ENV_NAME = "doctor-ce"
# The handler appends a hash of the configuration and owner; any 8 hex digits stand in.
COMPUTE_ENV_SUFFIX = "-0d0c7012"
EC2_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def doctor_context(reference_key_arn: str) -> dict[str, Any]:
    """cdk.json's context for the setup: a whole read-write bucket, a created bucket with a
    created key granted under a prefix, a read-only bucket encrypted with an existing key,
    a work bucket and a Platform compute environment whose credentials the construct makes."""
    return {
        "tower:computeAccount": COMPUTE_ACCOUNT,
        "tower:computeRegion": REGION,
        "tower:storageAccount": STORAGE_ACCOUNT,
        "tower:storageRegion": REGION,
        "tower:workBucket": "doctor-work-a",
        "tower:buckets": [
            {"name": DATA_BUCKET},
            {"name": RESULTS_BUCKET, "prefixes": ["runs"], "create": True, "createKmsKey": True},
            {"name": REFERENCE_BUCKET, "readOnly": True, "kmsKeyArn": reference_key_arn},
        ],
        "tower:platform": {
            "name": COMPUTE_ENV_NAME,
            "tokenSecret": SECRET_NAME,
            "workDir": "s3://doctor-work-a/work",
            "workspaceId": WORKSPACE,
        },
    }


def plan_of(context: Mapping[str, Any]) -> AccessPlan:
    """The plan the doctor computes from the same context."""
    return plan_access(options_from_context(context.get, context.keys()), DEFAULT_CONSTRUCT_ID)


def owner_key_policy(*statements: Mapping[str, Any]) -> str:
    """A key policy with the storage account's own administration, as every key has, and
    ``statements``."""
    owner = {
        "Sid": "OwnerAdministers",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{STORAGE_ACCOUNT}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [owner, *statements]})


@dataclass
class Deployed:
    """The live setup: its settings, plan, and what the tests break."""

    context: dict[str, Any]
    plan: AccessPlan
    accounts: Accounts
    emulator: PlatformEmulator
    compute_env_id: str
    policy_arns: list[str]

    @property
    def instance_role(self) -> str:
        """The Batch Forge instance role of the compute environment."""
        return f"TowerForge-{self.compute_env_id}-InstanceRole"

    def storage(self, service: str) -> Any:
        return self.accounts.client(service, STORAGE_ACCOUNT)

    def compute(self, service: str) -> Any:
        return self.accounts.client(service, COMPUTE_ACCOUNT)

    def setup(self) -> Setup:
        """What the doctor checks, reached as a user would: one profile per account."""
        compute = AccountAccess.open(
            f"compute account {COMPUTE_ACCOUNT}",
            COMPUTE_ACCOUNT,
            REGION,
            profile_name(COMPUTE_ACCOUNT),
        )
        storage = AccountAccess.open(
            f"storage account {STORAGE_ACCOUNT}",
            STORAGE_ACCOUNT,
            REGION,
            profile_name(STORAGE_ACCOUNT),
        )
        platform = PlatformAccess(self.emulator.url, SECRET_NAME)
        return Setup(self.plan, storage, {COMPUTE_ACCOUNT: compute}, platform)

    def cdk_json(self, directory: Path) -> Path:
        """An app folder whose cdk.json holds the setup's settings."""
        (directory / "cdk.json").write_text(json.dumps({"context": self.context}))
        return directory


def reset_emulator(endpoint: str) -> None:
    """Forget everything the AWS emulator holds."""
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=10):
        pass


def deploy(endpoint: str, emulator: PlatformEmulator) -> Deployed:
    """Reset the AWS emulator and set up both accounts and Platform from the plan."""
    reset_emulator(endpoint)
    accounts = Accounts(endpoint, REGION)
    kms = accounts.client("kms", STORAGE_ACCOUNT)
    reference_key = kms.create_key(Policy=owner_key_policy())["KeyMetadata"]["Arn"]
    context = doctor_context(reference_key)
    plan = plan_of(context)
    for grant in plan.settings.grants:
        _deploy_bucket(plan, accounts, grant.name)
    compute_env_id = _create_compute_env(plan, emulator)
    policy_arns = _deploy_compute(plan, accounts, compute_env_id)
    return Deployed(context, plan, accounts, emulator, compute_env_id, policy_arns)


def _deploy_bucket(plan: AccessPlan, accounts: Accounts, name: str) -> None:
    settings = plan.settings
    grant = next(grant for grant in settings.grants if grant.name == name)
    s3 = accounts.client("s3", STORAGE_ACCOUNT)
    kms = accounts.client("kms", STORAGE_ACCOUNT)
    s3.create_bucket(
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": settings.storage_region}
    )
    s3.put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_ownership_controls(
        Bucket=name, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    )
    encryption: dict[str, Any] = {"SSEAlgorithm": "AES256"}
    key_policy = owner_key_policy(*plan.key_statements.get(name, ()))
    if grant.create_kms_key:
        key = kms.create_key(Policy=key_policy)["KeyMetadata"]["Arn"]
        kms.create_alias(AliasName=settings.alias_name(grant), TargetKeyId=key)
        encryption = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}
    elif grant.kms_key_arn is not None:
        kms.put_key_policy(KeyId=grant.kms_key_arn, PolicyName="default", Policy=key_policy)
        encryption = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": grant.kms_key_arn}
    s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": encryption,
                    "BucketKeyEnabled": grant.uses_kms,
                }
            ]
        },
    )
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps(plan.bucket_policies[name]))


def _create_compute_env(plan: AccessPlan, emulator: PlatformEmulator) -> str:
    """The compute environment the custom resource would create, AVAILABLE, with the
    credentials it would register."""
    platform = plan.platform
    assert platform is not None and platform.credentials is not None
    credentials = emulator.add_credentials(
        platform.credentials.request["name"],
        WORKSPACE,
        platform.credentials.role_arn,
        external_id=EXTERNAL_ID,
    )
    client = PlatformClient(emulator.url, TOKEN, WORKSPACE, time.monotonic() + 30)
    request = {
        **platform.compute_env,
        "name": platform.compute_env["name"] + COMPUTE_ENV_SUFFIX,
        "credentialsId": credentials.id,
    }
    compute_env_id = client.create_compute_env(request)
    assert client.describe_compute_env(compute_env_id)["status"] == "AVAILABLE"
    return compute_env_id


def _deploy_compute(plan: AccessPlan, accounts: Accounts, compute_env_id: str) -> list[str]:
    """The s3-write parts as managed policies, attached to Forge's instance role and to the
    credentials role; the token in Secrets Manager."""
    platform = plan.platform
    assert platform is not None and platform.credentials is not None
    iam = accounts.client("iam", COMPUTE_ACCOUNT)
    compute = plan.computes[0]
    arns = [
        iam.create_policy(PolicyName=f"doctor-{name}", PolicyDocument=json.dumps(document))[
            "Policy"
        ]["Arn"]
        for name, document in zip(compute.policy_names, compute.s3_write, strict=True)
    ]
    roles = {
        f"TowerForge-{compute_env_id}-InstanceRole": EC2_TRUST,
        platform.credentials.role_name: platform.credentials.trust_policy(EXTERNAL_ID),
    }
    for role, trust in roles.items():
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))
        for arn in arns:
            iam.attach_role_policy(RoleName=role, PolicyArn=arn)
    accounts.client("secretsmanager", COMPUTE_ACCOUNT).create_secret(
        Name=SECRET_NAME, SecretString=TOKEN
    )
    return arns
