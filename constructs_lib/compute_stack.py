"""Account A: the s3-write managed policy the Forge roles (and other principals) use."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct

from constructs_lib import policies
from constructs_lib.config import AccessSettings, ComputeSettings, ConfigError
from constructs_lib.nag import acknowledge_all
from constructs_lib.seqera.settings import PlatformComputeEnvironment
from constructs_lib.seqera.resource import PlatformComputeEnvironmentResource

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
        compute: ComputeSettings | None = None,
        attach_to: Sequence[Grantee] = (),
        platform: PlatformComputeEnvironment | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.settings = settings
        self.compute = compute or settings.primary
        documents = policies.s3_write_policy_documents(settings, self.compute)
        self.s3_write_policies = [
            self._managed_policy(number, document) for number, document in documents.items()
        ]
        self.s3_write_policy = self.s3_write_policies[0]
        for grantee in attach_to:
            self.attach(grantee)
        self.platform_compute_env: PlatformComputeEnvironmentResource | None = None
        if platform is not None:
            self.platform_compute_env = PlatformComputeEnvironmentResource(
                self, "PlatformComputeEnvironment", settings=settings, platform=platform
            )
            for role in self.platform_compute_env.forge_roles:
                self.attach(role)

    def _managed_policy(self, number: int, document: policies.Document) -> iam.ManagedPolicy:
        """One part of the s3-write policy; part 0 keeps the unsuffixed construct id."""
        construct_id = "S3WritePolicy" if number == 0 else f"S3WritePolicy{number + 1}"
        policy = iam.ManagedPolicy(
            self,
            construct_id,
            description=(
                "Seqera Platform Forge access to S3 buckets in account "
                f"{self.settings.storage_account}"
            ),
            document=iam.PolicyDocument.from_json(document),
        )
        self._acknowledge_wildcards(policy, document)
        cdk.CfnOutput(
            self,
            f"{construct_id}Arn",
            description=(
                "Attach to further roles of this account that match the Forge role prefix or "
                "forge_role_arns: the bucket policies admit only those"
            ),
            value=policy.managed_policy_arn,
        )
        return policy

    def attach(self, grantee: Grantee) -> None:
        """Attach every part of the s3-write policy to a role, user or group of this account."""
        kind = grantee_kind(grantee, "attach_to")
        for policy in self.s3_write_policies:
            if kind == "role":
                policy.attach_to_role(cast(iam.IRole, grantee))
            elif kind == "user":
                policy.attach_to_user(cast(iam.IUser, grantee))
            else:
                policy.attach_to_group(cast(iam.IGroup, grantee))

    @staticmethod
    def _acknowledge_wildcards(policy: iam.ManagedPolicy, document: policies.Document) -> None:
        """Acknowledge IAM5 for each object pattern and created-key pattern, one by one."""
        findings: list[tuple[str, str]] = []
        for statement in document["Statement"]:
            resources = statement["Resource"]
            for resource in resources if isinstance(resources, list) else [resources]:
                if resource.endswith("/*") and ":s3:::" in resource:
                    findings.append(
                        (f"AwsSolutions-IAM5[Resource::{resource}]", OBJECT_WILDCARD_REASON)
                    )
                elif resource.endswith(":key/*"):
                    findings.append(
                        (f"AwsSolutions-IAM5[Resource::{resource}]", KEY_WILDCARD_REASON)
                    )
        acknowledge_all(policy, findings)
