"""Account A: the s3-write managed policy the Forge roles (and other principals) use."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct

from constructs_lib import policies
from constructs_lib.config import AccessSettings, ConfigError
from constructs_lib.nag import acknowledge
from constructs_lib.platform_config import PlatformComputeEnvironment
from constructs_lib.platform_resource import PlatformComputeEnvironmentResource

OBJECT_WILDCARD_REASON = (
    "Object-level S3 actions can only be scoped with an object ARN pattern; '/*' is the "
    "granted bucket or key prefix the storage account chose to share, and the bucket policy "
    "in the storage account applies the same limit."
)
KEY_WILDCARD_REASON = (
    "The KMS key is created in the storage account, so its ARN is unknown here at synth time. "
    "The statement is limited to that account's keys carrying the construct's alias "
    "(kms:ResourceAliases) and to use through S3 (kms:ViaService); the key policy, which "
    "names this account's Forge roles, is the second gate."
)

Grantee = iam.IRole | iam.IUser | iam.IGroup


def grantee_kind(grantee: object, setting: str) -> str:
    """'role', 'user' or 'group' for an IAM principal construct, else a ConfigError.

    jsii interfaces are not runtime-checkable protocols, so they are told apart by attribute.
    """
    for kind in ("role", "user", "group"):
        if hasattr(grantee, f"{kind}_arn"):
            return kind
    raise ConfigError(setting, grantee, "an IAM role, user or group (iam.IRole, IUser, IGroup)")


class ComputeStack(cdk.Stack):
    """The compute account's half: the walkthrough's s3-write policy, widened to B's buckets."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: AccessSettings,
        attach_to: Sequence[Grantee] = (),
        platform: PlatformComputeEnvironment | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.settings = settings
        self.s3_write_policy = iam.ManagedPolicy(
            self,
            "S3WritePolicy",
            description=(
                f"Seqera Platform Forge access to S3 buckets in account {settings.storage_account}"
            ),
            document=iam.PolicyDocument.from_json(policies.s3_write_policy_document(settings)),
        )
        for grantee in attach_to:
            self.attach(grantee)
        self.platform_compute_env: PlatformComputeEnvironmentResource | None = None
        if platform is not None:
            self.platform_compute_env = PlatformComputeEnvironmentResource(
                self, "PlatformComputeEnvironment", settings=settings, platform=platform
            )
            for role in self.platform_compute_env.forge_roles:
                self.attach(role)
        self._acknowledge_wildcards()
        cdk.CfnOutput(
            self,
            "S3WritePolicyArn",
            description="Attach this managed policy to further roles that use the buckets",
            value=self.s3_write_policy.managed_policy_arn,
        )

    def attach(self, grantee: Grantee) -> None:
        """Attach the s3-write policy to a role, user or group in the compute account."""
        kind = grantee_kind(grantee, "attach_to")
        if kind == "role":
            self.s3_write_policy.attach_to_role(cast(iam.IRole, grantee))
        elif kind == "user":
            self.s3_write_policy.attach_to_user(cast(iam.IUser, grantee))
        else:
            self.s3_write_policy.attach_to_group(cast(iam.IGroup, grantee))

    def _acknowledge_wildcards(self) -> None:
        """Acknowledge IAM5 for each object pattern and created-key pattern, one by one."""
        document = policies.s3_write_policy_document(self.settings)
        for statement in document["Statement"]:
            resources = statement["Resource"]
            for resource in resources if isinstance(resources, list) else [resources]:
                if resource.endswith("/*") and ":s3:::" in resource:
                    reason = OBJECT_WILDCARD_REASON
                elif resource.endswith(":key/*"):
                    reason = KEY_WILDCARD_REASON
                else:
                    continue
                acknowledge(
                    self.s3_write_policy, f"AwsSolutions-IAM5[Resource::{resource}]", reason
                )
