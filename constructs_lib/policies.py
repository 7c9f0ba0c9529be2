"""The IAM documents the construct deploys, as plain JSON-ready dictionaries.

No CDK import: these functions are the single source of every statement, so the documents can
be printed, sized and tested without synthesizing anything. The stacks only place them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from constructs_lib.config import AccessSettings, ValidGrant

Statement = dict[str, Any]
Document = dict[str, Any]

POLICY_VERSION = "2012-10-17"
BUCKET_ACTIONS = ("s3:GetBucketLocation", "s3:ListBucket")
OBJECT_READ_ACTIONS = ("s3:GetObject", "s3:GetObjectTagging")
OBJECT_WRITE_ACTIONS = (
    "s3:AbortMultipartUpload",
    "s3:DeleteObject",
    "s3:ListMultipartUploadParts",
    "s3:PutObject",
    "s3:PutObjectTagging",
)
KMS_READ_ACTIONS = ("kms:Decrypt",)
KMS_WRITE_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")
BUCKET_POLICY_LIMIT = 20 * 1024
MANAGED_POLICY_LIMIT = 6144
# The Sids of the statements the construct writes into a bucket policy.
CONSTRUCT_BUCKET_POLICY_SIDS = (
    "ForgeBucket",
    "ForgeList",
    "ForgeLocation",
    "ForgeObjects",
    "DenyInsecureTransport",
)

_DNS_SUFFIX = {
    "aws": "amazonaws.com",
    "aws-cn": "amazonaws.com.cn",
    "aws-us-gov": "amazonaws.com",
    "aws-iso": "c2s.ic.gov",
    "aws-iso-b": "sc2s.sgov.gov",
    "aws-iso-e": "cloud.adc-e.uk",
    "aws-iso-f": "csp.hci.ic.gov",
}


def bucket_arn(partition: str, bucket: str) -> str:
    """The ARN of a bucket."""
    return f"arn:{partition}:s3:::{bucket}"


def object_arns(partition: str, bucket: str, prefixes: tuple[str, ...] = ()) -> list[str]:
    """The object ARNs a grant covers: the whole bucket, or everything below each prefix."""
    if not prefixes:
        return [f"{bucket_arn(partition, bucket)}/*"]
    return [f"{bucket_arn(partition, bucket)}/{prefix}/*" for prefix in prefixes]


def list_prefix_patterns(prefixes: tuple[str, ...]) -> list[str]:
    """``s3:prefix`` values that let a caller list inside each prefix and nowhere else."""
    return [pattern for prefix in prefixes for pattern in (f"{prefix}/", f"{prefix}/*")]


def object_actions(read_only: bool) -> list[str]:
    """Object actions for a grant: reads, plus writes unless the grant is read-only."""
    actions = OBJECT_READ_ACTIONS if read_only else OBJECT_READ_ACTIONS + OBJECT_WRITE_ACTIONS
    return sorted(actions)


def kms_actions(read_only: bool) -> list[str]:
    """KMS actions S3 needs on the caller's behalf: decrypt to read, data keys to write."""
    return list(KMS_READ_ACTIONS if read_only else KMS_WRITE_ACTIONS)


def s3_service_principal(partition: str, region: str) -> str:
    """The ``kms:ViaService`` value for S3 in ``region``."""
    return f"s3.{region}.{_DNS_SUFFIX[partition]}"


def one_or_many(values: list[str]) -> str | list[str]:
    """IAM's compact form, which CDK also renders: a lone value as a string, else a list."""
    return values[0] if len(values) == 1 else values


def _grant_statements(
    partition: str, bucket: str, prefixes: tuple[str, ...], read_only: bool, sid: str
) -> list[Statement]:
    """The allow statements of one grant, before a principal or principal condition is added."""
    location = bucket_arn(partition, bucket)
    if prefixes:
        bucket_statements: list[Statement] = [
            {
                "Sid": f"{sid}List",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": location,
                "Condition": {"StringLike": {"s3:prefix": list_prefix_patterns(prefixes)}},
            },
            {
                "Sid": f"{sid}Location",
                "Effect": "Allow",
                "Action": "s3:GetBucketLocation",
                "Resource": location,
            },
        ]
    else:
        bucket_statements = [
            {
                "Sid": f"{sid}Bucket",
                "Effect": "Allow",
                "Action": list(BUCKET_ACTIONS),
                "Resource": location,
            }
        ]
    objects: Statement = {
        "Sid": f"{sid}Objects",
        "Effect": "Allow",
        "Action": object_actions(read_only),
        "Resource": one_or_many(object_arns(partition, bucket, prefixes)),
    }
    return [*bucket_statements, objects]


def key_region(settings: AccessSettings, grant: ValidGrant) -> str:
    """The region of the key that encrypts ``grant``'s bucket."""
    if grant.kms_key_arn is not None:
        return grant.kms_key_arn.split(":")[3]
    return settings.storage_region


def _kms_statements(
    settings: AccessSettings, grants: Sequence[ValidGrant], sid: str
) -> list[Statement]:
    """The compute accounts' half of the buckets' KMS grants: use the key, only through S3.

    Grants whose actions and conditions are equal share a statement. An existing key is named
    by its full ARN. A key the storage stack creates has no ARN known at synth time in the
    other account, so the statement names the storage account's keys and narrows them to the
    key's alias with ``kms:ResourceAliases``; the key policy in B, which names the compute
    accounts, is the other half that both must allow.
    """
    groups: dict[tuple[bool, str, bool], list[ValidGrant]] = {}
    for grant in grants:
        if grant.uses_kms:
            key = (grant.read_only, key_region(settings, grant), grant.kms_key_arn is None)
            groups.setdefault(key, []).append(grant)
    statements: list[Statement] = []
    for number, ((read_only, region, created), members) in enumerate(groups.items(), start=1):
        via_s3 = {"kms:ViaService": s3_service_principal(settings.partition, region)}
        if created:
            resource: str | list[str] = (
                f"arn:{settings.partition}:kms:{region}:{settings.storage_account}:key/*"
            )
            aliases = one_or_many([settings.alias_name(grant) for grant in members])
            condition = {
                "StringEquals": via_s3,
                "ForAnyValue:StringEquals": {"kms:ResourceAliases": aliases},
            }
        else:
            resource = one_or_many(sorted({str(grant.kms_key_arn) for grant in members}))
            condition = {"StringEquals": via_s3}
        statements.append(
            {
                "Sid": sid if len(groups) == 1 else f"{sid}{number}",
                "Effect": "Allow",
                "Action": one_or_many(kms_actions(read_only)),
                "Resource": resource,
                "Condition": condition,
            }
        )
    return statements


@dataclass(frozen=True)
class Entry:
    """One bucket in an s3-write policy: a granted bucket, or the compute account's work bucket."""

    name: str
    prefixes: tuple[str, ...]
    read_only: bool
    grant: ValidGrant | None


def identity_document(settings: AccessSettings, entries: Sequence[Entry]) -> Document:
    """A compact s3-write document: buckets that need the same statement share it."""
    partition = settings.partition
    statements: list[Statement] = []
    whole = [bucket_arn(partition, e.name) for e in entries if not e.prefixes]
    if whole:
        statements.append(
            {
                "Sid": "ListBuckets",
                "Effect": "Allow",
                "Action": list(BUCKET_ACTIONS),
                "Resource": one_or_many(whole),
            }
        )
    prefix_groups: dict[tuple[str, ...], list[str]] = {}
    for entry in entries:
        if entry.prefixes:
            prefix_groups.setdefault(entry.prefixes, []).append(bucket_arn(partition, entry.name))
    if prefix_groups:
        statements.append(
            {
                "Sid": "LocatePrefixedBuckets",
                "Effect": "Allow",
                "Action": "s3:GetBucketLocation",
                "Resource": one_or_many([arn for arns in prefix_groups.values() for arn in arns]),
            }
        )
    for number, (prefixes, arns) in enumerate(prefix_groups.items(), start=1):
        statements.append(
            {
                "Sid": f"ListPrefixes{number}",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": one_or_many(arns),
                "Condition": {"StringLike": {"s3:prefix": list_prefix_patterns(prefixes)}},
            }
        )
    for read_only, sid in ((False, "ReadWriteObjects"), (True, "ReadObjects")):
        objects = [
            arn
            for e in entries
            if e.read_only == read_only
            for arn in object_arns(partition, e.name, e.prefixes)
        ]
        if objects:
            statements.append(
                {
                    "Sid": sid,
                    "Effect": "Allow",
                    "Action": object_actions(read_only),
                    "Resource": one_or_many(objects),
                }
            )
    grants = [entry.grant for entry in entries if entry.grant is not None]
    statements += _kms_statements(settings, grants, "UseBucketKeys")
    return {"Version": POLICY_VERSION, "Statement": statements}


def principal_condition(settings: AccessSettings) -> dict[str, Any]:
    """The condition that narrows the compute accounts to their Forge (and named) roles."""
    return {"ArnLike": {"aws:PrincipalArn": one_or_many(list(settings.principal_patterns))}}


def account_principal(settings: AccessSettings) -> dict[str, str | list[str]]:
    """The fixed principals of the compute accounts: never public, never past them."""
    return {"AWS": one_or_many(list(settings.account_principals))}


def deny_insecure_transport(location: str) -> Statement:
    """Refuse every request to the bucket with ARN ``location`` that does not use TLS."""
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "s3:*",
        "Resource": [location, f"{location}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def bucket_policy_document(settings: AccessSettings, grant: ValidGrant) -> Document:
    """The storage account's bucket policy for one bucket.

    Each allow names the fixed principal of account A, so the policy stays non-public and
    never reaches past A even if a role pattern is wrong; ``ArnLike aws:PrincipalArn`` then
    narrows it to the Forge roles, which need not exist yet. Statements kept from the bucket's
    existing policy follow, except the construct's own (by Sid) from an earlier deploy.
    """
    statements: list[Statement] = []
    for statement in _grant_statements(
        settings.partition, grant.name, grant.prefixes, grant.read_only, "Forge"
    ):
        condition = {**statement.get("Condition", {}), **principal_condition(settings)}
        statements.append(
            {
                **statement,
                "Principal": account_principal(settings),
                "Condition": condition,
            }
        )
    statements.append(deny_insecure_transport(bucket_arn(settings.partition, grant.name)))
    statements += [
        kept
        for kept in grant.existing_statements
        if kept not in statements and kept.get("Sid") not in CONSTRUCT_BUCKET_POLICY_SIDS
    ]
    return {"Version": POLICY_VERSION, "Statement": statements}


def key_policy_statement(settings: AccessSettings, grant: ValidGrant) -> Statement:
    """The key-policy statement in B that lets A's Forge roles use the bucket's key via S3."""
    region = key_region(settings, grant)
    return {
        "Sid": "ForgeRolesUseKeyThroughS3",
        "Effect": "Allow",
        "Principal": account_principal(settings),
        "Action": one_or_many(kms_actions(grant.read_only)),
        "Resource": "*",
        "Condition": {
            **principal_condition(settings),
            "StringEquals": {"kms:ViaService": s3_service_principal(settings.partition, region)},
        },
    }


def compact_size(document: Document) -> int:
    """The size IAM counts against its limits: the JSON text without whitespace."""
    return len(json.dumps(document, separators=(",", ":")))
