"""The organisation's member accounts: their s3-write policy, carried there by a StackSet.

The StackSet's template (a ``cdk-stacksets`` StackSetStack, synthesized beside the app's
templates and published as an asset of the stack that holds the StackSet) makes the plan's
s3-write managed policies under fixed names, so that the same policy ARN works in every
member account. A service-managed StackSet deploys it to every account under the grant's units
and, with automatic deployment, to each account that joins them later.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import cdk_stacksets as stacksets
from aws_cdk import aws_iam as iam
from constructs import Construct

from constructs_lib.nag import acknowledge_wildcards
from constructs_lib.plan import S3_WRITE_POLICY, AccessPlan, OrganizationPlan, numbered

# Deploy to a quarter of the member accounts at a time; the operation stops once a tenth of
# them failed (an account whose IAM quota is reached, say), rather than going on failing.
MAX_CONCURRENT_PERCENTAGE = 25
FAILURE_TOLERANCE_PERCENTAGE = 10


class OrganizationStackSet(Construct):
    """The StackSet that gives every member account under the units the s3-write policy.

    ``template`` is the StackSet's stack (not deployed by itself) and ``s3_write_policies``
    its managed policies; ``stack_set`` deploys it. Whether stacks stay in an account that
    leaves the units is the library's default (they stay): the bucket policies stop admitting
    that account's roles as soon as it leaves, so what stays grants nothing.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        plan: AccessPlan,
        organization: OrganizationPlan,
    ) -> None:
        super().__init__(scope, construct_id)
        settings = organization.organization
        self.template = stacksets.StackSetStack(self, "Template")
        self.s3_write_policies = tuple(
            self._managed_policy(index, name, document, plan.settings.storage_account)
            for index, (name, document) in enumerate(
                zip(organization.policy_names, organization.s3_write, strict=True)
            )
        )
        self.stack_set = stacksets.StackSet(
            self,
            "StackSet",
            stack_set_name=organization.stack_set_name,
            description=(
                "s3-write policy for Seqera Platform Forge roles reaching buckets in account "
                f"{plan.settings.storage_account}"
            ),
            template=stacksets.StackSetTemplate.from_stack_set_stack(self.template),
            target=stacksets.StackSetTarget.from_organizational_units(
                regions=[settings.region], organizational_units=list(settings.target_ids)
            ),
            deployment_type=stacksets.DeploymentType.service_managed(
                auto_deploy_enabled=True,
                auto_deploy_retain_stacks=True,
                delegated_admin=settings.delegated_admin,
            ),
            capabilities=[stacksets.Capability.NAMED_IAM],
            operation_preferences=stacksets.OperationPreferences(
                max_concurrent_percentage=MAX_CONCURRENT_PERCENTAGE,
                failure_tolerance_percentage=FAILURE_TOLERANCE_PERCENTAGE,
            ),
        )

    def _managed_policy(
        self, index: int, name: str, document: dict[str, Any], storage_account: str
    ) -> iam.ManagedPolicy:
        """One part of the s3-write policy, named the same in every member account."""
        policy = iam.ManagedPolicy(
            self.template,
            numbered(S3_WRITE_POLICY, index),
            managed_policy_name=name,
            description=(
                f"Seqera Platform Forge access to S3 buckets in account {storage_account}: "
                "attach to the Forge roles of this account"
            ),
            document=iam.PolicyDocument.from_json(document),
        )
        acknowledge_wildcards(policy, document)
        return policy


class OrganizationStack(cdk.Stack):
    """A stack of its own for the StackSet, in an administrator account that is no compute
    account of the construct (the organisation's management account, or a delegated
    administrator of StackSets)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        plan: AccessPlan,
        organization: OrganizationPlan,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.stack_set = OrganizationStackSet(
            self, "Organization", plan=plan, organization=organization
        )
