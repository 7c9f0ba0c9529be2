"""The IAM documents the construct deploys, as plain JSON-ready dictionaries.

No CDK import: these functions are the single source of every statement, so the documents can
be printed, sized and tested without synthesizing anything. The stacks only place them.
"""

from __future__ import annotations

import json
import re
from typing import Any

from constructs_lib.config import (
    CONSTRUCT_BUCKET_POLICY_SIDS,
    AccessSettings,
    ConfigError,
    ValidGrant,
)

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
WORK_BUCKET_SID = "WorkBucket"
KMS_WRITE_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")

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


def statement_id(text: str) -> str:
    """An alphanumeric Sid fragment from a bucket name: ``genomics-data-b`` -> ``GenomicsDataB``."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", text))


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


def _unique_sids(names: list[str], reserved: tuple[str, ...]) -> list[str]:
    """Sid fragments for each bucket, numbered where two names would give the same one."""
    sids: list[str] = list(reserved)
    for name in names:
        sid = statement_id(name)
        candidate, number = sid, 2
        while candidate in sids:
            candidate, number = f"{sid}{number}", number + 1
        sids.append(candidate)
    return sids[len(reserved) :]


def kms_identity_statement(settings: AccessSettings, grant: ValidGrant, sid: str) -> Statement:
    """The compute account's half of a KMS grant: use the bucket's key, only through S3.

    An existing key is named by its full ARN. A key the storage stack creates has no ARN known
    at synth time in the other account, so the statement names the storage account's keys and
    narrows them to the key's alias with ``kms:ResourceAliases``; the key policy in B, which
    names this account, is the other half that both must allow.
    """
    if grant.kms_key_arn is not None:
        region = grant.kms_key_arn.split(":")[3]
        resource = grant.kms_key_arn
        condition: dict[str, Any] = {
            "StringEquals": {"kms:ViaService": s3_service_principal(settings.partition, region)}
        }
    else:
        region = settings.storage_region
        resource = f"arn:{settings.partition}:kms:{region}:{settings.storage_account}:key/*"
        condition = {
            "StringEquals": {"kms:ViaService": s3_service_principal(settings.partition, region)},
            "ForAnyValue:StringEquals": {"kms:ResourceAliases": settings.alias_name(grant)},
        }
    return {
        "Sid": f"{sid}Key",
        "Effect": "Allow",
        "Action": one_or_many(kms_actions(grant.read_only)),
        "Resource": resource,
        "Condition": condition,
    }


def s3_write_policy_document(settings: AccessSettings) -> Document:
    """The compute account's s3-write policy: every granted bucket, the work bucket, and keys."""
    sids = _unique_sids([grant.name for grant in settings.grants], reserved=(WORK_BUCKET_SID,))
    statements: list[Statement] = []
    for grant, sid in zip(settings.grants, sids, strict=True):
        statements += _grant_statements(
            settings.partition, grant.name, grant.prefixes, grant.read_only, sid
        )
        if grant.uses_kms:
            statements.append(kms_identity_statement(settings, grant, sid))
    if settings.work_bucket is not None:
        statements += _grant_statements(
            settings.partition, settings.work_bucket, (), False, WORK_BUCKET_SID
        )
    return {"Version": POLICY_VERSION, "Statement": statements}


def principal_condition(settings: AccessSettings) -> dict[str, Any]:
    """The condition that narrows account A to its Forge roles (and any named roles)."""
    return {"ArnLike": {"aws:PrincipalArn": one_or_many(list(settings.principal_patterns))}}


def deny_insecure_transport(partition: str, bucket: str) -> Statement:
    """Refuse every request to the bucket that does not use TLS."""
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "s3:*",
        "Resource": [bucket_arn(partition, bucket), f"{bucket_arn(partition, bucket)}/*"],
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
                "Principal": {"AWS": settings.compute_account_principal},
                "Condition": condition,
            }
        )
    statements.append(deny_insecure_transport(settings.partition, grant.name))
    statements += [
        kept
        for kept in grant.existing_statements
        if kept not in statements and kept.get("Sid") not in CONSTRUCT_BUCKET_POLICY_SIDS
    ]
    return {"Version": POLICY_VERSION, "Statement": statements}


def key_policy_statement(settings: AccessSettings, grant: ValidGrant) -> Statement:
    """The key-policy statement in B that lets A's Forge roles use the bucket's key via S3."""
    region = (
        grant.kms_key_arn.split(":")[3]
        if grant.kms_key_arn is not None
        else settings.storage_region
    )
    return {
        "Sid": "ForgeRolesUseKeyThroughS3",
        "Effect": "Allow",
        "Principal": {"AWS": settings.compute_account_principal},
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


BUCKET_POLICY_LIMIT = 20 * 1024
MANAGED_POLICY_LIMIT = 6144


def check_limits(settings: AccessSettings) -> None:
    """Refuse, before synth, documents that AWS would reject at deploy time for their size."""
    for index, grant in enumerate(settings.grants):
        size = compact_size(bucket_policy_document(settings, grant))
        if size > BUCKET_POLICY_LIMIT:
            raise ConfigError(
                f"buckets[{index}]",
                grant.name,
                f"a bucket policy within S3's limit of {BUCKET_POLICY_LIMIT} bytes; this grant "
                f"makes {size} (fewer prefixes, role ARNs or kept statements)",
            )
    size = compact_size(s3_write_policy_document(settings))
    if size > MANAGED_POLICY_LIMIT:
        raise ConfigError(
            "buckets",
            f"{len(settings.grants)} grants",
            f"an s3-write policy within IAM's limit of {MANAGED_POLICY_LIMIT} characters; "
            f"these grants make {size}",
        )
