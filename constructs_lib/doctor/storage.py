"""The storage account's half of each grant, read live and compared with the plan: the bucket
(where it is, Block Public Access, Object Ownership, default encryption), its policy, and
the key that encrypts it.

The bucket policy and key statements expected are the plan's documents; the bucket's
settings are those every bucket the construct creates has (``storage_stack.secure_bucket``),
which the plan does not hold: Block Public Access on and ACLs off. Buckets are found by name
and keys by ARN or by the alias the construct gives them, never through CloudFormation, so
a setup made by hand from the walkthrough is diagnosed the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from constructs_lib import policies
from constructs_lib.config import ValidGrant
from constructs_lib.doctor.aws import AccountAccess, ReadError
from constructs_lib.doctor.compare import Difference, policy_findings
from constructs_lib.doctor.findings import Finding, Result
from constructs_lib.plan import AccessPlan

PUBLIC_ACCESS_BLOCK = (
    "BlockPublicAcls",
    "IgnorePublicAcls",
    "BlockPublicPolicy",
    "RestrictPublicBuckets",
)
OWNER_ENFORCED = "BucketOwnerEnforced"
# GetBucketLocation's names for regions it does not spell as codes.
_LEGACY_LOCATIONS = {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}


@dataclass(frozen=True)
class BucketReadings:
    """What was read of one bucket, for AWS's policy simulator to reuse."""

    policy: dict[str, Any] | None
    key_arn: str | None
    key_policy: dict[str, Any] | None


def bucket_subject(grant: ValidGrant) -> str:
    """The bucket's section in the report."""
    return f"bucket {grant.name}"


def check_bucket(
    plan: AccessPlan, grant: ValidGrant, storage: AccountAccess
) -> tuple[list[Finding], BucketReadings]:
    """Every storage-side check of ``grant``'s bucket, and what they read."""
    bucket = _BucketDoctor(plan, grant, storage)
    if not bucket.exists():
        return bucket.findings, BucketReadings(None, None, None)
    bucket.public_access_block()
    bucket.object_ownership()
    policy = bucket.bucket_policy()
    key_arn = bucket.key_arn() if grant.uses_kms else None
    bucket.default_encryption(key_arn)
    key_policy = bucket.key_policy(key_arn) if key_arn is not None else None
    return bucket.findings, BucketReadings(policy, key_arn, key_policy)


class _BucketDoctor:
    """The checks of one bucket, in the order the report lists them."""

    def __init__(self, plan: AccessPlan, grant: ValidGrant, storage: AccountAccess) -> None:
        self.plan = plan
        self.grant = grant
        self.storage = storage
        self.owner = {"Bucket": grant.name, "ExpectedBucketOwner": storage.account}
        self.stack = next(s.stack_name for s in plan.storages if grant in s.grants)
        self.findings: list[Finding] = []

    def add(
        self, check: str, result: Result, why: str, fix: str = "", sid: str | None = None
    ) -> None:
        self.findings.append(Finding(bucket_subject(self.grant), check, result, why, fix, sid))

    def unreadable(self, check: str, error: ReadError) -> None:
        self.add(check, Result.NOT_CHECKED, error.reason, _permission_fix(error, self.storage))

    def exists(self) -> bool:
        """The bucket is in the storage account, in the region the plan expects."""
        try:
            answer = self.storage.read("s3", "get_bucket_location", **self.owner)
        except ReadError as error:
            if error.code != "NoSuchBucket":
                self.unreadable("exists", error)
                return True
            self.add(
                "exists",
                Result.BLOCKS,
                f"there is no bucket {self.grant.name}: nothing can be read or written there",
                'create it in the storage account, or grant it with create=True ("create": '
                "true in tower:buckets) so that the storage stack creates it",
            )
            return False
        region = _LEGACY_LOCATIONS.get(
            answer.get("LocationConstraint"), answer.get("LocationConstraint")
        )
        expected = policies.key_region(self.plan.settings, self.grant)
        self.add("exists", Result.OK, f"in {self.storage.role}")
        if region == expected:
            self.add("region", Result.OK, f"in {region}, as planned")
            return True
        if self.grant.uses_kms:
            self.add(
                "region",
                Result.BLOCKS,
                f"it is in {region}, but its KMS key and the compute accounts' key grants are "
                f"for {expected}: S3 uses only a key of the bucket's own region",
                f"encrypt it with a key of {region} (kmsKeyArn), or grant a bucket of {expected}",
            )
        else:
            self.add(
                "region",
                Result.DRIFTED,
                f"it is in {region}; the plan expects the storage region {expected}",
                f"set tower:storageRegion to {region}, where the bucket is",
            )
        return True

    def public_access_block(self) -> None:
        """All four Block Public Access settings on, for the bucket or for its account."""
        try:
            answer = self.storage.read("s3", "get_public_access_block", **self.owner)
            settings = answer["PublicAccessBlockConfiguration"]
        except ReadError as error:
            if error.code != "NoSuchPublicAccessBlockConfiguration":
                self.unreadable("Block Public Access", error)
                return
            settings = {}
        off = [name for name in PUBLIC_ACCESS_BLOCK if not settings.get(name)]
        if not off:
            self.add("Block Public Access", Result.OK, "all four settings are on for the bucket")
            return
        account_note = ""
        try:
            account = self.storage.read(
                "s3control", "get_public_access_block", AccountId=self.storage.account
            )["PublicAccessBlockConfiguration"]
            off = [name for name in off if not account.get(name)]
        except ReadError as error:
            if error.code != "NoSuchPublicAccessBlockConfiguration":
                account_note = f"; the account's own settings could not be read ({error.reason})"
        if not off:
            self.add(
                "Block Public Access", Result.OK, "on: the account's settings cover the bucket"
            )
            return
        self.add(
            "Block Public Access",
            Result.WIDENS,
            f"off for the bucket: {', '.join(off)}; a public policy statement or ACL would "
            f"take effect{account_note}",
            f"aws s3api put-public-access-block --bucket {self.grant.name} "
            "--public-access-block-configuration BlockPublicAcls=true,IgnorePublicAcls=true,"
            "BlockPublicPolicy=true,RestrictPublicBuckets=true (with the storage profile)",
        )

    def object_ownership(self) -> None:
        """ACLs off (``BucketOwnerEnforced``): B owns every object the compute accounts write."""
        try:
            rules = self.storage.read("s3", "get_bucket_ownership_controls", **self.owner)[
                "OwnershipControls"
            ]["Rules"]
            ownership = rules[0]["ObjectOwnership"] if rules else "ObjectWriter"
        except ReadError as error:
            if error.code != "OwnershipControlsNotFoundError":
                self.unreadable("Object Ownership", error)
                return
            ownership = "ObjectWriter"
        if ownership == OWNER_ENFORCED:
            self.add("Object Ownership", Result.OK, "ACLs are off: B owns what A writes")
            return
        self.add(
            "Object Ownership",
            Result.BLOCKS,
            f"ACLs are on ({ownership}): objects the compute accounts write stay theirs, and "
            "B, whose bucket it is, cannot read them",
            f"aws s3api put-bucket-ownership-controls --bucket {self.grant.name} "
            f"--ownership-controls 'Rules=[{{ObjectOwnership={OWNER_ENFORCED}}}]' "
            "(with the storage profile)",
        )

    def bucket_policy(self) -> dict[str, Any] | None:
        """The live bucket policy compared with the plan's, statement by statement."""
        redeploy = f"deploy the storage stack {self.stack} again: it writes the planned policy"
        try:
            text = self.storage.read("s3", "get_bucket_policy", **self.owner)["Policy"]
        except ReadError as error:
            if error.code != "NoSuchBucketPolicy":
                self.unreadable("bucket policy", error)
                return None
            self.add(
                "bucket policy",
                Result.BLOCKS,
                "the bucket has no policy: no principal of the compute accounts is admitted",
                redeploy,
            )
            return None
        live: dict[str, Any] = json.loads(text)
        planned = self.plan.bucket_policies[self.grant.name]["Statement"]
        self.findings += policy_findings(
            bucket_subject(self.grant),
            "bucket policy",
            planned,
            live,
            self.plan.settings.partition,
            extras="all",
            owner_account=self.storage.account,
            fix=lambda difference: _policy_fix(difference, redeploy),
            holds=f"holds every planned statement ({len(planned)}) and no other",
        )
        return live

    def key_arn(self) -> str | None:
        """The key that should encrypt the bucket: the granted one, or the one the storage
        stack creates, found by its alias; None (and a finding) when it cannot be found."""
        key_id = self.grant.kms_key_arn or self.plan.settings.alias_name(self.grant)
        try:
            metadata = self.storage.read("kms", "describe_key", KeyId=key_id)["KeyMetadata"]
        except ReadError as error:
            if error.code != "NotFoundException":
                self.unreadable("KMS key", error)
                return None
            self.add(
                "KMS key",
                Result.BLOCKS,
                f"there is no key {key_id}: objects encrypted with it cannot be read or written",
                self._key_fix(),
            )
            return None
        state = metadata.get("KeyState")
        if state != "Enabled":
            self.add(
                "KMS key",
                Result.BLOCKS,
                f"the key {metadata['Arn']} is {state}: S3 cannot use it",
                "enable the key (or cancel its deletion) in the storage account",
            )
        else:
            self.add("KMS key", Result.OK, f"{metadata['Arn']} is enabled")
        arn: str = metadata["Arn"]
        return arn

    def default_encryption(self, key_arn: str | None) -> None:
        """Writes without encryption headers get the kind (and key) the plan grants."""
        try:
            rules = self.storage.read("s3", "get_bucket_encryption", **self.owner)[
                "ServerSideEncryptionConfiguration"
            ]["Rules"]
        except ReadError as error:
            if error.code != "ServerSideEncryptionConfigurationNotFoundError":
                self.unreadable("default encryption", error)
                return
            rules = []
        default = rules[0]["ApplyServerSideEncryptionByDefault"] if rules else {}
        algorithm = default.get("SSEAlgorithm", policies.SSE_S3)
        key_id = default.get("KMSMasterKeyID")
        fix = (
            f"aws s3api put-bucket-encryption --bucket {self.grant.name} "
            "--server-side-encryption-configuration "
        )
        if not self.grant.uses_kms:
            if algorithm == policies.SSE_S3:
                self.add("default encryption", Result.OK, "S3-managed keys (SSE-S3), as planned")
                return
            self.add(
                "default encryption",
                Result.BLOCKS,
                f"{algorithm} with {key_id or 'the AWS managed key aws/s3'}: writes without "
                "encryption headers use it, and the plan grants the compute accounts no key "
                "for this bucket",
                fix + '\'{"Rules":[{"ApplyServerSideEncryptionByDefault":'
                '{"SSEAlgorithm":"AES256"}}]}\', or grant the key with kmsKeyArn',
            )
            return
        if algorithm == policies.SSE_S3:
            self.add(
                "default encryption",
                Result.DRIFTED,
                f"S3-managed keys (SSE-S3); the plan encrypts with {key_arn or 'its KMS key'}",
                fix + f"with SSEAlgorithm aws:kms and KMSMasterKeyID {key_arn or 'the key'}",
            )
            return
        if key_id is None:
            self.add(
                "default encryption",
                Result.BLOCKS,
                "SSE-KMS with the AWS managed key aws/s3, which no other account can use",
                fix + f"with KMSMasterKeyID {key_arn or 'the granted key'}",
            )
            return
        # The key key_arn() described needs no second look.
        found = key_arn if key_id == key_arn else self._resolve_key(key_id)
        if key_arn is None or found == key_arn:
            self.add("default encryption", Result.OK, f"SSE-KMS with {found}")
            return
        self.add(
            "default encryption",
            Result.BLOCKS,
            f"SSE-KMS with {found}, not the granted key {key_arn}: the compute accounts may "
            "not use it",
            fix + f"with KMSMasterKeyID {key_arn}",
        )

    def key_policy(self, key_arn: str) -> dict[str, Any] | None:
        """The key policy holds the plan's statements for the compute accounts."""
        try:
            text = self.storage.read("kms", "get_key_policy", KeyId=key_arn, PolicyName="default")[
                "Policy"
            ]
        except ReadError as error:
            self.unreadable("key policy", error)
            return None
        live: dict[str, Any] = json.loads(text)
        planned = self.plan.key_statements[self.grant.name]
        self.findings += policy_findings(
            bucket_subject(self.grant),
            "key policy",
            planned,
            live,
            self.plan.settings.partition,
            extras="risky",
            owner_account=self.storage.account,
            fix=lambda _: self._key_fix(),
            holds=f"holds every planned statement ({len(planned)}) for the compute accounts",
        )
        return live

    def _key_fix(self) -> str:
        if self.grant.create_kms_key:
            return f"deploy the storage stack {self.stack} again: it makes the key and its policy"
        request = next(
            r for s in self.plan.storages for r in s.key_requests if self.grant.name in r.buckets
        )
        return (
            f"add the statements of the storage stack's output {request.output_id} "
            f"({self.stack}) to the key policy of {request.key_arn}"
        )

    def _resolve_key(self, key_id: str) -> str:
        """A key's ARN from the id, ARN or alias a bucket's encryption names."""
        try:
            arn: str = self.storage.read("kms", "describe_key", KeyId=key_id)["KeyMetadata"]["Arn"]
        except ReadError:
            return key_id
        return arn


def _policy_fix(difference: Difference, redeploy: str) -> str:
    if difference.kind != "extra":
        return redeploy
    if difference.result is Result.DRIFTED:
        return (
            "the next deploy removes it; to keep it, add it to the bucket's existingPolicy "
            "in tower:buckets"
        )
    return f"remove the statement; {redeploy}"


def _permission_fix(error: ReadError, access: AccountAccess) -> str:
    if error.denied:
        return f"use a profile that may read it in {access.role}"
    return ""
