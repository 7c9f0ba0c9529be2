"""The L3 construct: a stack per compute account (A, ...), and the storage account's (B)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct

from constructs_lib import policies
from constructs_lib.compute_stack import ComputeStack, Grantee
from constructs_lib.config import (
    AccessOptions,
    AccessSettings,
    BucketGrant,
    ComputeAccount,
    ConfigError,
    Environment,
    OrganizationGrant,
)
from constructs_lib.defaults import (
    DEFAULT_ABORT_INCOMPLETE_UPLOADS_DAYS,
    DEFAULT_ACCESS_LOGS_EXPIRE_DAYS,
    DEFAULT_FORGE_ROLE_PATH,
    DEFAULT_FORGE_ROLE_PREFIX,
    DEFAULT_MAX_MANAGED_POLICIES,
    DEFAULT_NONCURRENT_VERSIONS_EXPIRE_DAYS,
)
from constructs_lib.nag import add_packs
from constructs_lib.organization_stack import OrganizationStack, OrganizationStackSet
from constructs_lib.plan import AccessPlan, plan_access
from constructs_lib.seqera.resource import PlatformComputeEnvironmentResource
from constructs_lib.seqera.settings import PlatformComputeEnvironment
from constructs_lib.storage_stack import StorageStack


def check_buckets_unclaimed(scope: Construct, settings: AccessSettings) -> None:
    """Refuse a bucket whose policy another construct in the same app already writes.

    A bucket has one policy; two stacks writing it would overwrite each other at deploy.
    """
    claimed = {
        name: stack.node.path
        for stack in scope.node.root.node.find_all()
        if isinstance(stack, StorageStack)
        for name in stack.bucket_names
    }
    for index, grant in enumerate(settings.grants):
        if grant.name in claimed:
            raise ConfigError(
                f"buckets[{index}].name",
                grant.name,
                f"a bucket no other construct writes a policy for; {claimed[grant.name]} already "
                "does: grant all compute accounts of a bucket from one construct",
            )


class CrossAccountBucketAccess(Construct):
    """Give Seqera Platform Forge roles in one account access to S3 buckets in another.

    Makes ``compute_stack`` (deploy to ``compute_env``: the s3-write managed policies and the
    optional Platform custom resource), one more compute stack per ``compute_accounts`` entry,
    and ``storage_stack`` (deploy to ``storage_env``: bucket policies, created buckets and
    keys), spread over ``storage_stacks`` when CloudFormation's quotas require. An
    ``organization`` grant adds a StackSet (``organization``) in the compute stack of its
    administrator account, or in ``organization_stack`` when that is no compute account. The keyword
    arguments are the fields of ``AccessOptions``, where each is documented. Every option is
    validated, and every document computed (``plan``), before any construct is made; a bad
    option raises ConfigError. Use it in an ``App`` or a ``Stage``: the rule packs of
    ``nag_packs`` check that stage's stacks at every synth.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        compute_env: Environment,
        storage_env: Environment,
        buckets: Sequence[BucketGrant],
        forge_role_prefix: str | None = DEFAULT_FORGE_ROLE_PREFIX,
        forge_role_path: str = DEFAULT_FORGE_ROLE_PATH,
        forge_role_arns: Sequence[str] = (),
        attach_to: Sequence[Grantee] = (),
        work_bucket: str | None = None,
        access_logs_bucket: str | None = None,
        platform: PlatformComputeEnvironment | None = None,
        compute_accounts: Sequence[ComputeAccount] = (),
        max_managed_policies: int = DEFAULT_MAX_MANAGED_POLICIES,
        compute_stack_name: str | None = None,
        storage_stack_name: str | None = None,
        abort_incomplete_uploads_days: int | None = DEFAULT_ABORT_INCOMPLETE_UPLOADS_DAYS,
        noncurrent_versions_expire_days: int | None = DEFAULT_NONCURRENT_VERSIONS_EXPIRE_DAYS,
        access_logs_expire_days: int | None = DEFAULT_ACCESS_LOGS_EXPIRE_DAYS,
        nag_packs: Sequence[str] = (),
        organization: OrganizationGrant | None = None,
    ) -> None:
        self.options = AccessOptions(
            compute_env=compute_env,
            storage_env=storage_env,
            buckets=buckets,
            forge_role_prefix=forge_role_prefix,
            forge_role_path=forge_role_path,
            forge_role_arns=forge_role_arns,
            attach_to=attach_to,
            work_bucket=work_bucket,
            access_logs_bucket=access_logs_bucket,
            platform=platform,
            compute_accounts=compute_accounts,
            max_managed_policies=max_managed_policies,
            compute_stack_name=compute_stack_name,
            storage_stack_name=storage_stack_name,
            abort_incomplete_uploads_days=abort_incomplete_uploads_days,
            noncurrent_versions_expire_days=noncurrent_versions_expire_days,
            access_logs_expire_days=access_logs_expire_days,
            nag_packs=nag_packs,
            organization=organization,
        )
        self.plan: AccessPlan = plan_access(self.options, construct_id)
        self.settings = self.plan.settings
        check_buckets_unclaimed(scope, self.settings)
        super().__init__(scope, construct_id)
        storage_account = self.settings.storage_account
        self.storage_stacks = tuple(
            StorageStack(
                self,
                storage.construct_id,
                plan=self.plan,
                storage=storage,
                env=cdk.Environment(account=storage_account, region=self.settings.storage_region),
                stack_name=storage.stack_name,
                description="Bucket policies that admit Seqera Platform Forge roles of account(s) "
                + ", ".join(c.account for c in self.settings.computes),
            )
            for storage in self.plan.storages
        )
        self.compute_stacks = tuple(
            ComputeStack(
                self,
                compute.construct_id,
                plan=self.plan,
                compute=compute,
                env=cdk.Environment(account=compute.compute.account, region=compute.compute.region),
                stack_name=compute.stack_name,
                description=f"s3-write policy for Seqera Platform Forge roles reaching buckets "
                f"in account {storage_account}",
            )
            for compute in self.plan.computes
        )
        self.organization_stack: OrganizationStack | None = None
        organization_plan = self.plan.organization
        if organization_plan is not None and organization_plan.host is None:
            admin = organization_plan.organization
            self.organization_stack = OrganizationStack(
                self,
                "Organization",
                plan=self.plan,
                organization=organization_plan,
                env=cdk.Environment(account=admin.admin_account, region=admin.admin_region),
                stack_name=organization_plan.stack_name,
                description="StackSet of the s3-write policy for Seqera Platform Forge roles "
                f"of organisation {admin.org_id}",
            )
        add_packs(self, self.settings.nag_packs)

    @classmethod
    def from_options(
        cls, scope: Construct, construct_id: str, options: AccessOptions
    ) -> CrossAccountBucketAccess:
        """The construct made from an ``AccessOptions`` (as the app and the Stage do)."""
        if not isinstance(options, AccessOptions):
            raise ConfigError("options", options, "an AccessOptions")
        return cls(
            scope,
            construct_id,
            **{field.name: getattr(options, field.name) for field in dataclasses.fields(options)},
        )

    @property
    def compute_stack(self) -> ComputeStack:
        """The stack of the first compute account, ``compute_env``."""
        return self.compute_stacks[0]

    @property
    def storage_stack(self) -> StorageStack:
        """The first (usually the only) storage stack."""
        return self.storage_stacks[0]

    @property
    def s3_write_policies(self) -> tuple[iam.ManagedPolicy, ...]:
        """Every managed policy of the first compute account's s3-write policy: a principal
        needs them all (IAM's size limit may split the policy)."""
        return self.compute_stack.s3_write_policies

    @property
    def platform_compute_env(self) -> PlatformComputeEnvironmentResource | None:
        """The Platform compute environment resource, when ``platform`` is given."""
        return self.compute_stack.platform_compute_env

    @property
    def organization(self) -> OrganizationStackSet | None:
        """The StackSet that carries the s3-write policy to the organisation's member
        accounts, when ``organization`` is given."""
        if self.organization_stack is not None:
            return self.organization_stack.stack_set
        return next(
            (stack.organization for stack in self.compute_stacks if stack.organization), None
        )

    def attach_s3_write(self, grantee: Grantee) -> None:
        """Attach every part of the s3-write policy to a role, user or group.

        The grantee's account picks the compute account's policy; it must be one of them.
        """
        account = grantee.env.account
        for stack in self.compute_stacks:
            if stack.compute.account == account:
                stack.attach_s3_write(grantee)
                return
        raise ConfigError(
            "grantee",
            grantee.node.path,
            "an IAM role, user or group of a compute account: "
            + ", ".join(stack.compute.account for stack in self.compute_stacks),
        )

    def s3_write_policy_documents(
        self, account: str | None = None
    ) -> tuple[policies.Document, ...]:
        """The s3-write policy of a compute account (the first by default) as deployed: one
        plain JSON-ready document per managed policy."""
        return self.plan.compute(account or self.settings.primary.account).s3_write

    def bucket_policy_documents(self) -> dict[str, policies.Document]:
        """Each granted bucket's policy as a plain JSON-ready document, by bucket name."""
        return dict(self.plan.bucket_policies)


class CrossAccountBucketAccessStage(cdk.Stage):
    """A Stage holding one CrossAccountBucketAccess, for a CDK Pipelines pipeline.

    A pipeline in a tools account adds this stage to deploy both accounts' stacks in order.
    The options are checked before anything is kept: on a bad one the stage is taken out of
    ``scope`` again and ConfigError raised. The construct inside carries the stage's id, so
    its names do too: stacks ``<stage id>-Compute`` and ``<stage id>-Storage`` unless the
    options name them, and an organisation's StackSet and policies ``<stage id>-S3Write``.
    """

    def __init__(self, scope: Construct, construct_id: str, options: AccessOptions) -> None:
        super().__init__(scope, construct_id)
        try:
            self.access = CrossAccountBucketAccess.from_options(self, construct_id, options)
        except ConfigError:
            scope.node.try_remove_child(construct_id)
            raise
