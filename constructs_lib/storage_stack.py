"""Account B: the buckets (existing or new), their bucket policies and KMS keys."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from constructs_lib import policies
from constructs_lib.config import AccessSettings, ValidGrant
from constructs_lib.nag import acknowledge

ACCESS_LOG_LOOP_REASON = (
    "This bucket is the target of the data buckets' server access logs; logging it into "
    "itself would create a feedback loop. It holds only S3 log records, is private, "
    "encrypted, TLS-only and retained."
)


# CloudFormation's quotas per stack, less what every storage stack may hold besides grants
# (CDK metadata, the access-log bucket and its policy).
STACK_RESOURCE_BUDGET = 500 - 3
STACK_OUTPUT_BUDGET = 200


def _stack_load(grant: ValidGrant) -> tuple[int, int]:
    """Resources and (at most) outputs one grant adds to a storage stack."""
    resources = 1 + int(grant.create) + 2 * int(grant.create_kms_key)
    return resources, int(grant.kms_key_arn is not None)


def plan_storage_stacks(settings: AccessSettings) -> list[tuple[ValidGrant, ...]]:
    """Spread the grants over as few storage stacks as CloudFormation's quotas allow.

    A grant's stack depends only on its bucket name (a hash) and the number of stacks, so the
    same input gives the same plan, and adding a bucket moves no other while the count holds.
    """
    loads = [_stack_load(grant) for grant in settings.grants]
    count = max(
        1,
        -(-sum(r for r, _ in loads) // STACK_RESOURCE_BUDGET),
        -(-sum(o for _, o in loads) // STACK_OUTPUT_BUDGET),
    )
    while True:
        stacks: list[list[ValidGrant]] = [[] for _ in range(count)]
        for grant in settings.grants:
            stacks[policies.group_of(grant.name, count)].append(grant)
        totals = [[_stack_load(g) for g in stack] for stack in stacks]
        if all(
            sum(r for r, _ in t) <= STACK_RESOURCE_BUDGET
            and sum(o for _, o in t) <= STACK_OUTPUT_BUDGET
            for t in totals
        ):
            return [tuple(stack) for stack in stacks]
        count += 1


class StorageStack(cdk.Stack):
    """The storage account's half: each bucket gets a policy that admits A's Forge roles.

    Created buckets are private, encrypted, versioned, owner-enforced, TLS-only and retained:
    deleting the stack never deletes data.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: AccessSettings,
        grants: Sequence[ValidGrant] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.settings = settings
        self.grants = tuple(settings.grants if grants is None else grants)
        self.created_buckets: dict[str, s3.Bucket] = {}
        self._imported_buckets: dict[str, s3.IBucket] = {}
        self.bucket_policies: dict[str, s3.CfnBucketPolicy] = {}
        self.keys: dict[str, kms.IKey] = {}
        self._access_logs: s3.IBucket | None = None
        for grant in self.grants:
            self._add_grant(grant)
        self._admit_log_delivery()
        self._request_key_statements()

    @property
    def bucket_names(self) -> tuple[str, ...]:
        """The buckets whose policy this stack writes."""
        return tuple(grant.name for grant in self.grants)

    def bucket(self, name: str) -> s3.IBucket:
        """The bucket ``name``: the one created here, or an existing one imported by name."""
        if name in self.created_buckets:
            return self.created_buckets[name]
        if name not in self.bucket_names:
            raise KeyError(f"{name} is not granted in {self.node.path}")
        if name not in self._imported_buckets:
            scope = cast(Construct, self.node.find_child(name))
            self._imported_buckets[name] = s3.Bucket.from_bucket_name(scope, "Bucket", name)
        return self._imported_buckets[name]

    def _add_grant(self, grant: ValidGrant) -> None:
        scope = Construct(self, grant.name)
        key = self._key_for(scope, grant)
        if key is not None:
            self.keys[grant.name] = key
        bucket = self._create_bucket(scope, grant, key) if grant.create else None
        bucket_policy = s3.CfnBucketPolicy(
            scope,
            "Policy",
            bucket=grant.name,
            policy_document=policies.bucket_policy_document(self.settings, grant),
        )
        if bucket is not None:
            self.created_buckets[grant.name] = bucket
            bucket_policy.node.add_dependency(bucket)
        self.bucket_policies[grant.name] = bucket_policy

    def _request_key_statements(self) -> None:
        """Print, per existing key, the key-policy statement its administrator must add.

        One statement per key (KMS grants per key), with write actions if any bucket it
        encrypts is granted read-write, in whichever storage stack: every stack that prints a
        statement for a key prints the same one.
        """
        by_key: dict[str, list[ValidGrant]] = {}
        for grant in self.settings.grants:
            if grant.kms_key_arn is not None:
                by_key.setdefault(grant.kms_key_arn, []).append(grant)
        here = {grant.kms_key_arn for grant in self.grants}
        for number, (key_arn, grants) in enumerate(by_key.items(), start=1):
            if key_arn not in here:
                continue
            widest = min(grants, key=lambda grant: grant.read_only)
            cdk.CfnOutput(
                self,
                f"KeyPolicyStatement{number}",
                description=(
                    f"Add this statement to the key policy of {key_arn} so that the compute "
                    f"accounts can use it through S3 for {', '.join(g.name for g in grants)}."
                ),
                value=json.dumps(policies.key_policy_statement(self.settings, widest)),
            )

    def _key_for(self, scope: Construct, grant: ValidGrant) -> kms.IKey | None:
        if grant.kms_key_arn is not None:
            return kms.Key.from_key_arn(scope, "Key", grant.kms_key_arn)
        if not grant.create_kms_key:
            return None
        key = kms.Key(
            scope,
            "Key",
            alias=self.settings.alias_name(grant),
            description=f"Encrypts s3://{grant.name}, shared with compute account(s) "
            + ", ".join(c.account for c in self.settings.computes)
            + " through S3 only",
            enable_key_rotation=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        key.add_to_resource_policy(
            iam.PolicyStatement.from_json(policies.key_policy_statement(self.settings, grant))
        )
        return key

    def _create_bucket(
        self, scope: Construct, grant: ValidGrant, key: kms.IKey | None
    ) -> s3.Bucket:
        encryption = s3.BucketEncryption.S3_MANAGED if key is None else s3.BucketEncryption.KMS
        bucket = s3.Bucket(
            scope,
            "Bucket",
            bucket_name=grant.name,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=encryption,
            encryption_key=key,
            bucket_key_enabled=key is not None,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            enforce_ssl=False,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self._log_access(bucket, grant.name)
        return bucket

    def _log_access(self, bucket: s3.Bucket, name: str) -> None:
        """Send the bucket's server access logs to the log bucket, under ``<name>/``.

        Set here rather than with ``server_access_logs_bucket``, whose ACL or policy choice
        depends on a feature flag in the consuming app's cdk.json; ACLs cannot work with
        ``BucketOwnerEnforced``. The log bucket's policy admits delivery once, for all.
        """
        cfn_bucket = cast(s3.CfnBucket, bucket.node.default_child)
        cfn_bucket.logging_configuration = s3.CfnBucket.LoggingConfigurationProperty(
            destination_bucket_name=self.access_logs_bucket.bucket_name,
            log_file_prefix=f"{name}/",
        )

    def _admit_log_delivery(self) -> None:
        """One log-bucket statement for every created bucket, so the policy stays small.

        Only S3's log delivery, on behalf of this account's created buckets, may write.
        """
        created = [policies.bucket_arn(self.settings.partition, n) for n in self.created_buckets]
        if not created:
            return
        logs = self.access_logs_bucket
        logs.add_to_resource_policy(
            iam.PolicyStatement(
                sid="ServerAccessLogDelivery",
                principals=[iam.ServicePrincipal("logging.s3.amazonaws.com")],
                actions=["s3:PutObject"],
                resources=[logs.arn_for_objects("*")],
                conditions={
                    "StringEquals": {"aws:SourceAccount": self.settings.storage_account},
                    "ArnLike": {"aws:SourceArn": policies.one_or_many(created)},
                },
            )
        )

    @property
    def access_logs_bucket(self) -> s3.IBucket:
        """Where created buckets write server access logs: the named bucket, or one made here."""
        if self._access_logs is None:
            if self.settings.access_logs_bucket is not None:
                self._access_logs = s3.Bucket.from_bucket_name(
                    self, "AccessLogs", self.settings.access_logs_bucket
                )
            else:
                created = s3.Bucket(
                    self,
                    "AccessLogs",
                    block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
                    encryption=s3.BucketEncryption.S3_MANAGED,
                    object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
                    enforce_ssl=True,
                    versioned=True,
                    removal_policy=cdk.RemovalPolicy.RETAIN,
                )
                acknowledge(created, "AwsSolutions-S1", ACCESS_LOG_LOOP_REASON)
                self._access_logs = created
        return self._access_logs
