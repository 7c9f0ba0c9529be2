"""Account A: places the plan's s3-write managed policies (and the Platform resource)."""

from __future__ import annotations

from typing import Any, cast

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct

from constructs_lib import policies
from constructs_lib.config import grantee_kind
from constructs_lib.nag import IAM_USER, IAM_USER_REASON, acknowledge_each, acknowledge_wildcards
from constructs_lib.organization_stack import OrganizationStackSet
from constructs_lib.plan import AccessPlan, ComputePlan
from constructs_lib.seqera.resource import PlatformComputeEnvironmentResource

Grantee = iam.IRole | iam.IUser | iam.IGroup


class ComputeStack(cdk.Stack):
    """A compute account's half: the walkthrough's s3-write policy, widened to B's buckets,
    as one or more managed policies (IAM's size limit may split it); a principal needs them
    all. The first compute account's stack also holds the Platform compute environment, and
    the stack of the organisation grant's administrator account its StackSet."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        plan: AccessPlan,
        compute: ComputePlan,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.plan = plan
        self.compute = compute.compute
        self.s3_write_policies = tuple(
            self._managed_policy(name, document)
            for name, document in zip(compute.policy_names, compute.s3_write, strict=True)
        )
        for grantee in self.compute.attach_to:
            self.attach_s3_write(cast(Grantee, grantee))
        self.organization: OrganizationStackSet | None = None
        if plan.organization is not None and plan.organization.host == compute.construct_id:
            self.organization = OrganizationStackSet(
                self, "Organization", plan=plan, organization=plan.organization
            )
        self.platform_compute_env: PlatformComputeEnvironmentResource | None = None
        if plan.platform is not None and self.compute.account == plan.settings.primary.account:
            self.platform_compute_env = PlatformComputeEnvironmentResource(
                self, "PlatformComputeEnvironment", platform=plan.platform
            )
            for role in self.platform_compute_env.forge_roles:
                self.attach_s3_write(role)
            if self.platform_compute_env.credentials is not None:
                self.attach_s3_write(self.platform_compute_env.credentials.role)

    def _managed_policy(self, construct_id: str, document: policies.Document) -> iam.ManagedPolicy:
        """One part of the s3-write policy, and an output with its ARN."""
        policy = iam.ManagedPolicy(
            self,
            construct_id,
            description=(
                "Seqera Platform Forge access to S3 buckets in account "
                f"{self.plan.settings.storage_account}"
            ),
            document=iam.PolicyDocument.from_json(document),
        )
        acknowledge_wildcards(policy, document)
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

    def attach_s3_write(self, grantee: Grantee) -> None:
        """Attach every part of the s3-write policy to a role, user or group of this account
        (a policy attached to a user is a finding of the compliance packs: acknowledged)."""
        kind = grantee_kind(grantee, "attach_to")
        for policy in self.s3_write_policies:
            if kind == "role":
                policy.attach_to_role(cast(iam.IRole, grantee))
            elif kind == "user":
                policy.attach_to_user(cast(iam.IUser, grantee))
                acknowledge_each(policy, IAM_USER, IAM_USER_REASON)
            else:
                policy.attach_to_group(cast(iam.IGroup, grantee))
