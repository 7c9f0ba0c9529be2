"""Account B: places the plan's bucket policies, and the buckets and keys it creates."""

from __future__ import annotations

import json
from typing import Any, cast

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from constructs_lib import policies
from constructs_lib.config import AccessSettings, ValidGrant
from constructs_lib.nag import (
    ACCESS_LOG_LOOP,
    ACCESS_LOG_LOOP_REASON,
    CHOSEN_SSE_S3_REASON,
    EVENT_NOTIFICATIONS,
    EVENT_NOTIFICATIONS_REASON,
    LOG_BUCKET_ENCRYPTION_REASON,
    OBJECT_LOCK,
    OBJECT_LOCK_REASON,
    REPLICATION,
    REPLICATION_REASON,
    SSE_S3,
    acknowledge_each,
)
from constructs_lib.plan import AccessPlan, StoragePlan


def secure_bucket(
    scope: Construct,
    construct_id: str,
    *,
    settings: AccessSettings,
    bucket_name: str | None = None,
    encryption_key: kms.IKey | None = None,
    expire_days: int | None = None,
) -> s3.Bucket:
    """A bucket with the settings of every bucket this library creates: no public access,
    encrypted (S3-managed, or with ``encryption_key`` and an S3 Bucket Key), owner-enforced
    (no ACLs: B owns what A writes), versioned, and retained when its stack is deleted; its
    lifecycle aborts unfinished multipart uploads and deletes noncurrent versions after the
    days ``settings`` give, and expires current objects only when ``expire_days`` is given
    (the log bucket's records). The findings every created bucket shares are acknowledged.

    TLS is required by a statement of the bucket's policy, which its caller writes: the data
    buckets' policies come from the plan, so CDK's ``enforce_ssl`` (a policy of its own) is off.
    """
    rules: list[s3.LifecycleRule] = []
    if settings.abort_incomplete_uploads_days is not None:
        rules.append(
            s3.LifecycleRule(
                id="AbortIncompleteUploads",
                abort_incomplete_multipart_upload_after=cdk.Duration.days(
                    settings.abort_incomplete_uploads_days
                ),
            )
        )
    if settings.noncurrent_versions_expire_days is not None:
        rules.append(
            s3.LifecycleRule(
                id="ExpireNoncurrentVersions",
                noncurrent_version_expiration=cdk.Duration.days(
                    settings.noncurrent_versions_expire_days
                ),
            )
        )
    if expire_days is not None:
        rules.append(
            s3.LifecycleRule(id="ExpireObjects", expiration=cdk.Duration.days(expire_days))
        )
    bucket = s3.Bucket(
        scope,
        construct_id,
        bucket_name=bucket_name,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        encryption=(
            s3.BucketEncryption.S3_MANAGED if encryption_key is None else s3.BucketEncryption.KMS
        ),
        encryption_key=encryption_key,
        bucket_key_enabled=encryption_key is not None,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        versioned=True,
        enforce_ssl=False,
        lifecycle_rules=rules or None,
        removal_policy=cdk.RemovalPolicy.RETAIN,
    )
    acknowledge_each(bucket, REPLICATION, REPLICATION_REASON)
    acknowledge_each(bucket, EVENT_NOTIFICATIONS, EVENT_NOTIFICATIONS_REASON)
    acknowledge_each(bucket, OBJECT_LOCK, OBJECT_LOCK_REASON)
    return bucket


class StorageStack(cdk.Stack):
    """The storage account's half: each bucket gets a policy that admits A's Forge roles.

    Created buckets are private, encrypted, versioned, owner-enforced, TLS-only and retained:
    deleting the stack never deletes data; their lifecycle only aborts unfinished uploads and
    deletes noncurrent versions (and old log records). Their server access logs go to
    ``access_logs_bucket`` (the named bucket, or one created here; None when this stack
    creates no bucket).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        plan: AccessPlan,
        storage: StoragePlan,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.plan = plan
        self.grants = storage.grants
        self.created_buckets: dict[str, s3.Bucket] = {}
        self._imported_buckets: dict[str, s3.IBucket] = {}
        self.bucket_policies: dict[str, s3.CfnBucketPolicy] = {}
        self.keys: dict[str, kms.IKey] = {}
        self.access_logs_bucket = self._access_logs_bucket()
        for grant in self.grants:
            self._add_grant(grant)
        self._admit_log_delivery()
        for request in storage.key_requests:
            cdk.CfnOutput(
                self,
                request.output_id,
                description=(
                    f"Add these statements to the key policy of {request.key_arn} so that the "
                    f"compute accounts can use it through S3 for {', '.join(request.buckets)}."
                ),
                value=json.dumps(list(request.statements)),
            )

    @property
    def bucket_names(self) -> tuple[str, ...]:
        """The buckets whose policy this stack writes."""
        return tuple(grant.name for grant in self.grants)

    def bucket(self, name: str) -> s3.IBucket:
        """The bucket ``name``: the one created here, or an existing one, imported by name on
        the first call (most apps never need the imported construct)."""
        if name in self.created_buckets:
            return self.created_buckets[name]
        if name not in self.bucket_names:
            raise KeyError(f"{name} is not granted in {self.node.path}")
        if name not in self._imported_buckets:
            scope = cast(Construct, self.node.find_child(name))
            self._imported_buckets[name] = s3.Bucket.from_bucket_name(scope, "Bucket", name)
        return self._imported_buckets[name]

    def _access_logs_bucket(self) -> s3.IBucket | None:
        """Where this stack's created buckets write access logs, made only when one does."""
        if not any(grant.create for grant in self.grants):
            return None
        named = self.plan.settings.access_logs_bucket
        if named is not None:
            return s3.Bucket.from_bucket_name(self, "AccessLogs", named)
        settings = self.plan.settings
        logs = secure_bucket(
            self, "AccessLogs", settings=settings, expire_days=settings.access_logs_expire_days
        )
        logs.add_to_resource_policy(
            iam.PolicyStatement.from_json(policies.deny_insecure_transport(logs.bucket_arn))
        )
        acknowledge_each(logs, ACCESS_LOG_LOOP, ACCESS_LOG_LOOP_REASON)
        acknowledge_each(logs, SSE_S3, LOG_BUCKET_ENCRYPTION_REASON)
        return logs

    def _add_grant(self, grant: ValidGrant) -> None:
        scope = Construct(self, grant.name)
        key = self._key_for(scope, grant)
        if key is not None:
            self.keys[grant.name] = key
        bucket = None
        if grant.create:
            bucket = secure_bucket(
                scope,
                "Bucket",
                settings=self.plan.settings,
                bucket_name=grant.name,
                encryption_key=key,
            )
            if key is None:
                acknowledge_each(bucket, SSE_S3, CHOSEN_SSE_S3_REASON)
            self._log_access(bucket, grant.name)
            self.created_buckets[grant.name] = bucket
        bucket_policy = s3.CfnBucketPolicy(
            scope,
            "Policy",
            bucket=grant.name,
            policy_document=self.plan.bucket_policies[grant.name],
        )
        if bucket is not None:
            bucket_policy.node.add_dependency(bucket)
        self.bucket_policies[grant.name] = bucket_policy

    def _key_for(self, scope: Construct, grant: ValidGrant) -> kms.IKey | None:
        if grant.kms_key_arn is not None:
            return kms.Key.from_key_arn(scope, "Key", grant.kms_key_arn)
        if not grant.create_kms_key:
            return None
        settings = self.plan.settings
        key = kms.Key(
            scope,
            "Key",
            alias=settings.alias_name(grant),
            description=f"Encrypts s3://{grant.name}, shared with compute account(s) "
            + ", ".join(c.account for c in settings.computes)
            + " through S3 only",
            enable_key_rotation=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        for statement in self.plan.key_statements[grant.name]:
            key.add_to_resource_policy(iam.PolicyStatement.from_json(statement))
        return key

    def _log_access(self, bucket: s3.Bucket, name: str) -> None:
        """Send the bucket's server access logs to the log bucket, under ``<name>/``.

        Set here rather than with ``server_access_logs_bucket``, whose ACL or policy choice
        depends on a feature flag in the consuming app's cdk.json; ACLs cannot work with
        ``BucketOwnerEnforced``. The log bucket's policy admits delivery once, for all.
        """
        logs = cast(s3.IBucket, self.access_logs_bucket)
        cfn_bucket = cast(s3.CfnBucket, bucket.node.default_child)
        cfn_bucket.logging_configuration = s3.CfnBucket.LoggingConfigurationProperty(
            destination_bucket_name=logs.bucket_name,
            log_file_prefix=f"{name}/",
        )

    def _admit_log_delivery(self) -> None:
        """One log-bucket statement for every created bucket, so the policy stays small.

        Only S3's log delivery, on behalf of this account's created buckets, may write.
        """
        if self.access_logs_bucket is None:
            return
        settings = self.plan.settings
        created = [policies.bucket_arn(settings.partition, n) for n in self.created_buckets]
        logs = self.access_logs_bucket
        logs.add_to_resource_policy(
            iam.PolicyStatement(
                sid="ServerAccessLogDelivery",
                principals=[iam.ServicePrincipal("logging.s3.amazonaws.com")],
                actions=["s3:PutObject"],
                resources=[logs.arn_for_objects("*")],
                conditions={
                    "StringEquals": {"aws:SourceAccount": settings.storage_account},
                    "ArnLike": {"aws:SourceArn": policies.one_or_many(created)},
                },
            )
        )
