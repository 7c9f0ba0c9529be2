"""Who knocks: the principals every access check is made for, and their IAM policies.

A principal carries identity policies by id: ``S3_WRITE`` is the s3-write managed policy read
out of the compute stack's template, all its parts (as Batch Forge roles carry it once
attached);
``BROAD`` stands for broad IAM grants a principal may hold in its own account, such as
AmazonS3FullAccess, so that the storage account's policies are the only gate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from constructs_lib.config import DEFAULT_FORGE_ROLE_PREFIX, AccessSettings
from tests.conftest import THIRD_ACCOUNT

S3_WRITE = "s3-write"
BROAD = "broad-s3-and-kms"
BROAD_POLICY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:*", "kms:*"], "Resource": "*"}],
}

COMPUTE_ENV_ID = "4Kx9Pq2mT7vZ"
OTHER_COMPUTE_ENV_ID = "7hQ3wErT5yUi"
SESSION_NAME = "i-0123456789abcdef0"


@dataclass(frozen=True)
class Principal:
    """A caller: ``arn`` None is anonymous; a session's ``role_arn`` is its role's ARN."""

    label: str
    arn: str | None
    identity_policies: tuple[str, ...] = ()
    role_arn: str | None = None

    @property
    def principal_arn(self) -> str | None:
        """The value of ``aws:PrincipalArn``: the role's ARN for a role session."""
        return self.role_arn or self.arn

    @property
    def account(self) -> str | None:
        return None if self.arn is None else self.arn.split(":")[4]

    def context(self) -> dict[str, str]:
        """The context keys AWS sets for this caller (none for an anonymous request)."""
        if self.arn is None or self.account is None or self.principal_arn is None:
            return {}
        return {"aws:PrincipalArn": self.principal_arn, "aws:PrincipalAccount": self.account}


def role_arn(partition: str, account: str, path_and_name: str) -> str:
    return f"arn:{partition}:iam::{account}:role/{path_and_name}"


def session_of(role: Principal) -> Principal:
    """The role's assumed-role session (as an EC2 instance or a Batch job uses it)."""
    assert role.arn is not None
    partition, account = role.arn.split(":")[1], role.arn.split(":")[4]
    name = role.arn.rsplit("/", 1)[1]
    return Principal(
        f"{role.label}-session",
        f"arn:{partition}:sts::{account}:assumed-role/{name}/{SESSION_NAME}",
        role.identity_policies,
        role_arn=role.arn,
    )


def principals(settings: AccessSettings) -> tuple[Principal, ...]:
    """The callers of the access matrix for ``settings``."""
    partition, a, b = settings.partition, settings.compute_account, settings.storage_account
    prefix = settings.forge_role_prefix or DEFAULT_FORGE_ROLE_PREFIX
    instance_role = Principal(
        "forge-instance-role",
        role_arn(partition, a, f"{prefix}-{COMPUTE_ENV_ID}-InstanceRole"),
        (S3_WRITE,),
    )
    found = [
        instance_role,
        session_of(instance_role),
        Principal(
            "forge-fargate-head-job-role",
            role_arn(partition, a, f"{prefix}-{COMPUTE_ENV_ID}-FargateRole"),
            (S3_WRITE,),
        ),
        Principal(
            "forge-role-without-s3-write",
            role_arn(partition, a, f"{prefix}-{OTHER_COMPUTE_ENV_ID}-InstanceRole"),
        ),
        Principal(
            "forge-role-with-broad-iam",
            role_arn(partition, a, f"{prefix}-{OTHER_COMPUTE_ENV_ID}-FargateRole"),
            (BROAD,),
        ),
        Principal(
            "role-under-forge-prefix-path",
            role_arn(partition, a, f"{prefix}-team/analyst"),
            (S3_WRITE,),
        ),
        Principal(
            "user-named-like-forge", f"arn:{partition}:iam::{a}:user/{prefix}-admin", (BROAD,)
        ),
        Principal(
            "outside-role-with-s3-write", role_arn(partition, a, "data-analyst"), (S3_WRITE,)
        ),
        Principal(
            "outside-role-with-broad-iam", role_arn(partition, a, "platform-admin"), (BROAD,)
        ),
        Principal(
            "third-account-forge-role",
            role_arn(partition, THIRD_ACCOUNT, f"{prefix}-{COMPUTE_ENV_ID}-InstanceRole"),
            (BROAD,),
        ),
        Principal("storage-role-without-grants", role_arn(partition, b, "data-steward")),
        Principal("storage-role-with-broad-iam", role_arn(partition, b, "storage-admin"), (BROAD,)),
        Principal("anonymous", None),
    ]
    for index, arn in enumerate(settings.forge_role_arns):
        named = Principal(f"named-role-{index}", arn, (S3_WRITE,))
        found += [
            named,
            session_of(named),
            Principal(f"named-role-{index}-lookalike", f"{arn}-2", (BROAD,)),
        ]
    return tuple(found)
