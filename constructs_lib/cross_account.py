"""The L3 construct: a stack per compute account (A, ...), and the storage account's (B)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aws_cdk as cdk
from constructs import Construct

from constructs_lib import policies
from constructs_lib.compute_stack import ComputeStack, Grantee, grantee_kind
from constructs_lib.config import (
    DEFAULT_FORGE_ROLE_PREFIX,
    DEFAULT_MAX_MANAGED_POLICIES,
    AccessSettings,
    BucketGrant,
    ComputeAccount,
    ConfigError,
    validate_settings,
)
from constructs_lib.seqera.settings import PlatformComputeEnvironment, validate_platform
from constructs_lib.storage_stack import StorageStack, plan_storage_stacks


def _numbered(name: str, number: int) -> str:
    """The first stack keeps ``name``; further ones are ``name-2``, ``name-3``, ..."""
    return name if number == 0 else f"{name}-{number + 1}"


def _environment_value(env: object, field: str, setting: str) -> object:
    if not isinstance(env, cdk.Environment):
        raise ConfigError(setting, env, "an aws_cdk.Environment with account and region")
    value = getattr(env, field)
    if value is None or cdk.Token.is_unresolved(value):
        raise ConfigError(
            f"{setting}.{field}",
            value,
            "a concrete value (not a token or unset): cross-account "
            "policies name accounts and regions literally",
        )
    return value


def check_options(
    *,
    compute_env: cdk.Environment,
    storage_env: cdk.Environment,
    buckets: Sequence[BucketGrant],
    forge_role_prefix: str | None = DEFAULT_FORGE_ROLE_PREFIX,
    forge_role_arns: Sequence[str] = (),
    attach_to: Sequence[Grantee] = (),
    work_bucket: str | None = None,
    access_logs_bucket: str | None = None,
    platform: PlatformComputeEnvironment | None = None,
    compute_accounts: Sequence[ComputeAccount] = (),
    max_managed_policies: int = DEFAULT_MAX_MANAGED_POLICIES,
) -> tuple[AccessSettings, PlatformComputeEnvironment | None]:
    """Validate every option of CrossAccountBucketAccess; raise ConfigError on the first bad one."""
    settings = validate_settings(
        compute_account=_environment_value(compute_env, "account", "compute_env"),
        compute_region=_environment_value(compute_env, "region", "compute_env"),
        storage_account=_environment_value(storage_env, "account", "storage_env"),
        storage_region=_environment_value(storage_env, "region", "storage_env"),
        buckets=buckets,
        forge_role_prefix=forge_role_prefix,
        forge_role_arns=forge_role_arns,
        work_bucket=work_bucket,
        access_logs_bucket=access_logs_bucket,
        compute_accounts=compute_accounts,
        max_managed_policies=max_managed_policies,
    )
    for index, grantee in enumerate(attach_to):
        grantee_kind(grantee, f"attach_to[{index}]")
    for index, extra in enumerate(compute_accounts):
        for number, grantee in enumerate(extra.attach_to):
            grantee_kind(grantee, f"compute_accounts[{index}].attach_to[{number}]")
    policies.check_limits(settings)
    return settings, None if platform is None else validate_platform(platform)


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
    keys), spread over ``storage_stacks`` when CloudFormation's quotas require. Every setting
    is validated before any construct is made; a bad one raises ConfigError. Use it in an
    ``App`` or a ``Stage``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        compute_env: cdk.Environment,
        storage_env: cdk.Environment,
        buckets: Sequence[BucketGrant],
        forge_role_prefix: str | None = DEFAULT_FORGE_ROLE_PREFIX,
        forge_role_arns: Sequence[str] = (),
        attach_to: Sequence[Grantee] = (),
        work_bucket: str | None = None,
        access_logs_bucket: str | None = None,
        platform: PlatformComputeEnvironment | None = None,
        compute_accounts: Sequence[ComputeAccount] = (),
        max_managed_policies: int = DEFAULT_MAX_MANAGED_POLICIES,
        compute_stack_name: str | None = None,
        storage_stack_name: str | None = None,
    ) -> None:
        self.settings, checked_platform = check_options(
            compute_env=compute_env,
            storage_env=storage_env,
            buckets=buckets,
            forge_role_prefix=forge_role_prefix,
            forge_role_arns=forge_role_arns,
            attach_to=attach_to,
            work_bucket=work_bucket,
            access_logs_bucket=access_logs_bucket,
            platform=platform,
            compute_accounts=compute_accounts,
            max_managed_policies=max_managed_policies,
        )
        check_buckets_unclaimed(scope, self.settings)
        super().__init__(scope, construct_id)
        plan = plan_storage_stacks(self.settings)
        self.storage_stacks = [
            StorageStack(
                self,
                "Storage" if number == 0 else f"Storage{number + 1}",
                settings=self.settings,
                grants=grants,
                env=storage_env,
                stack_name=_numbered(storage_stack_name or f"{construct_id}-Storage", number),
                description="Bucket policies that admit Seqera Platform Forge roles of account(s) "
                + ", ".join(c.account for c in self.settings.computes),
            )
            for number, grants in enumerate(plan)
        ]
        self.storage_stack = self.storage_stacks[0]
        self.compute_stacks = [
            ComputeStack(
                self,
                "Compute",
                settings=self.settings,
                attach_to=attach_to,
                platform=checked_platform,
                env=compute_env,
                stack_name=compute_stack_name or f"{construct_id}-Compute",
                description=f"s3-write policy for Seqera Platform Forge roles reaching buckets "
                f"in account {self.settings.storage_account}",
            )
        ]
        for extra, compute in zip(compute_accounts, self.settings.more_compute, strict=True):
            self.compute_stacks.append(
                ComputeStack(
                    self,
                    f"Compute{compute.account}",
                    settings=self.settings,
                    compute=compute,
                    attach_to=extra.attach_to,
                    env=cdk.Environment(account=compute.account, region=compute.region),
                    stack_name=f"{compute_stack_name or f'{construct_id}-Compute'}-"
                    f"{compute.account}",
                    description=f"s3-write policy for Seqera Platform Forge roles reaching "
                    f"buckets in account {self.settings.storage_account}",
                )
            )
        self.compute_stack = self.compute_stacks[0]
        self.s3_write_policy = self.compute_stack.s3_write_policy
        self.platform_compute_env = self.compute_stack.platform_compute_env

    def s3_write_policy_document(self) -> policies.Document:
        """The compute account's s3-write policy as a plain JSON-ready document."""
        return policies.s3_write_policy_document(self.settings)

    def bucket_policy_documents(self) -> dict[str, policies.Document]:
        """Each granted bucket's policy as a plain JSON-ready document, by bucket name."""
        return {
            grant.name: policies.bucket_policy_document(self.settings, grant)
            for grant in self.settings.grants
        }


class CrossAccountBucketAccessStage(cdk.Stage):
    """A Stage holding one CrossAccountBucketAccess, for a CDK Pipelines pipeline.

    A pipeline in a tools account adds this stage to deploy both accounts' stacks in order.
    The options are those of CrossAccountBucketAccess and are checked before anything is
    built; stacks are named ``<stage id>-Compute`` and ``<stage id>-Storage`` by default.
    """

    def __init__(self, scope: Construct, construct_id: str, **options: Any) -> None:
        stack_names: dict[str, Any] = {
            "compute_stack_name": options.pop("compute_stack_name", None)
            or f"{construct_id}-Compute",
            "storage_stack_name": options.pop("storage_stack_name", None)
            or f"{construct_id}-Storage",
        }
        check_options(**options)
        super().__init__(scope, construct_id)
        self.access = CrossAccountBucketAccess(self, "Access", **options, **stack_names)
