"""The IAM documents the construct deploys, as plain JSON-ready dictionaries.

No CDK import: these functions are the single source of every statement, so the documents can
be printed, sized and tested without synthesizing anything. The stacks only place them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from constructs_lib.config import AccessSettings, OrganizationSettings, ValidGrant

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
# Prefixes the organisation's statements' Sids carry.
ORG_SID_PREFIX = "Org"
# The Sids of the statements the construct writes into a bucket policy for listed accounts,
# each again for an organisation (but the TLS requirement, which holds for everyone).
_ACCOUNT_BUCKET_POLICY_SIDS = (
    "ForgeBucket",
    "ForgeList",
    "ForgeLocation",
    "ForgeObjects",
    "DenyOtherEncryption",
    "DenyOtherKeys",
    "DenyCustomerKeys",
)
CONSTRUCT_BUCKET_POLICY_SIDS = (
    *_ACCOUNT_BUCKET_POLICY_SIDS,
    "DenyInsecureTransport",
    *(f"{ORG_SID_PREFIX}{sid}" for sid in _ACCOUNT_BUCKET_POLICY_SIDS),
)
PRINCIPAL_ARN = "aws:PrincipalArn"
PRINCIPAL_ACCOUNT = "aws:PrincipalAccount"
PRINCIPAL_ORG_ID = "aws:PrincipalOrgID"
PRINCIPAL_ORG_PATHS = "aws:PrincipalOrgPaths"
# The organisation's statements name every principal and narrow it by these conditions.
EVERY_PRINCIPAL = {"AWS": "*"}
# The account that owns the bucket a request names: S3 sets it on every request.
RESOURCE_ACCOUNT = "s3:ResourceAccount"
# What a write asks of encryption: the kind, the KMS key, and a key of the caller's (SSE-C).
SSE = "s3:x-amz-server-side-encryption"
SSE_KMS_KEY = "s3:x-amz-server-side-encryption-aws-kms-key-id"
SSE_CUSTOMER_ALGORITHM = "s3:x-amz-server-side-encryption-customer-algorithm"
# The bucket (with S3 Bucket Keys) or the object (without) S3 names when it uses a KMS key.
S3_ENCRYPTION_CONTEXT = "kms:EncryptionContext:aws:s3:arn"
SSE_KMS = "aws:kms"
SSE_S3 = "AES256"

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


def encryption_context(partition: str, buckets: Sequence[str]) -> list[str]:
    """The ``kms:EncryptionContext:aws:s3:arn`` values of S3's key use for ``buckets``: the
    bucket's ARN (with S3 Bucket Keys) or an object's (without)."""
    return [
        arn
        for bucket in buckets
        for arn in (bucket_arn(partition, bucket), f"{bucket_arn(partition, bucket)}/*")
    ]


def bucket_key(settings: AccessSettings, grant: ValidGrant) -> str:
    """The key a write to ``grant``'s bucket may name: the existing key's ARN, or for a key
    the storage stack creates (whose ARN is unknown until deployed) a pattern of the storage
    account's keys in its region; each key's policy admits it for its own bucket only."""
    if grant.kms_key_arn is not None:
        return grant.kms_key_arn
    return (
        f"arn:{settings.partition}:kms:{settings.storage_region}:{settings.storage_account}:key/*"
    )


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
    accounts, is the other half that both must allow. Key use is bound to the statement's
    buckets by the encryption context S3 sends, so a read-only grant cannot make data keys
    for its bucket even when its key also serves a read-write one.
    """
    groups: dict[tuple[bool, str, bool], list[ValidGrant]] = {}
    for grant in grants:
        if grant.uses_kms:
            key = (grant.read_only, key_region(settings, grant), grant.kms_key_arn is None)
            groups.setdefault(key, []).append(grant)
    statements: list[Statement] = []
    for number, ((read_only, region, created), members) in enumerate(groups.items(), start=1):
        via_s3 = {"kms:ViaService": s3_service_principal(settings.partition, region)}
        resource = one_or_many(sorted({bucket_key(settings, grant) for grant in members}))
        if created:
            aliases = one_or_many([settings.alias_name(grant) for grant in members])
            condition: dict[str, Any] = {
                "StringEquals": via_s3,
                "ForAnyValue:StringEquals": {"kms:ResourceAliases": aliases},
            }
        else:
            condition = {"StringEquals": via_s3}
        contexts = encryption_context(settings.partition, [grant.name for grant in members])
        condition["StringLike"] = {S3_ENCRYPTION_CONTEXT: contexts}
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


def _owned_by(account: str, statement: Statement) -> Statement:
    """``statement`` allowed only on buckets of ``account``: were a granted bucket deleted and
    its name taken in another account, the Forge roles would not write into it."""
    owner = {RESOURCE_ACCOUNT: account}
    condition = {**statement.get("Condition", {}), "StringEquals": owner}
    return {**statement, "Condition": condition}


def _work_bucket_statements(partition: str, work_bucket: str, account: str) -> list[Statement]:
    """The compute account's own work bucket: read-write, while it is that account's."""
    location = bucket_arn(partition, work_bucket)
    return [
        _owned_by(
            account,
            {
                "Sid": "WorkBucket",
                "Effect": "Allow",
                "Action": list(BUCKET_ACTIONS),
                "Resource": location,
            },
        ),
        _owned_by(
            account,
            {
                "Sid": "WorkBucketObjects",
                "Effect": "Allow",
                "Action": object_actions(read_only=False),
                "Resource": f"{location}/*",
            },
        ),
    ]


def identity_document(
    settings: AccessSettings, entries: Sequence[Entry], compute_account: str
) -> Document:
    """A compact s3-write document: granted buckets that need the same statement share it,
    each statement bound to the storage account; the work bucket (an entry without a grant)
    is bound to ``compute_account``, whose bucket it is."""
    document = _granted_document(settings, [e for e in entries if e.grant is not None])
    for entry in entries:
        if entry.grant is None:
            document["Statement"] += _work_bucket_statements(
                settings.partition, entry.name, compute_account
            )
    return document


def _granted_document(settings: AccessSettings, entries: Sequence[Entry]) -> Document:
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
    statements = [_owned_by(settings.storage_account, statement) for statement in statements]
    grants = [entry.grant for entry in entries if entry.grant is not None]
    statements += _kms_statements(settings, grants, "UseBucketKeys")
    return {"Version": POLICY_VERSION, "Statement": statements}


def principal_condition(settings: AccessSettings) -> dict[str, Any]:
    """The condition that narrows the compute accounts to their Forge (and named) roles.

    ``*`` in ``ArnLike`` also matches ``/``, so ``role/TowerForge*`` would admit
    ``role/TowerForge-team/any-name``; ``ArnNotLike`` refuses roles deeper than the path the
    prefix was given for (Batch Forge's roles have none).
    """
    condition: dict[str, Any] = {
        "ArnLike": {PRINCIPAL_ARN: one_or_many(list(settings.principal_patterns))}
    }
    deeper = [pattern for compute in settings.computes for pattern in compute.deeper_pattern]
    if deeper:
        condition["ArnNotLike"] = {PRINCIPAL_ARN: one_or_many(deeper)}
    return condition


def merged(*conditions: dict[str, Any]) -> dict[str, Any]:
    """One condition that holds when all ``conditions`` do: tests under the same operator
    are gathered in one block (its keys must all hold)."""
    result: dict[str, Any] = {}
    for condition in conditions:
        for operator, tests in condition.items():
            overlap = set(result.get(operator, {})) & set(tests)
            assert not overlap, f"two tests of {sorted(overlap)} under {operator}"
            result[operator] = {**result.get(operator, {}), **tests}
    return result


def organization_condition(
    organization: OrganizationSettings, storage_account: str
) -> dict[str, Any]:
    """The condition that narrows every principal to the organisation's Forge roles: a role
    whose name starts with the Forge prefix (at the Forge path, no deeper), of an account of
    the organisation in one of the units (or below), other than the storage account.

    ``aws:PrincipalOrgID`` is a fixed value, which keeps the policy non-public under S3 Block
    Public Access; ``aws:PrincipalOrgPaths`` narrows it to the units (left out when a root's
    path grants the whole organisation). The storage account's own roles are left out: a
    bucket policy alone would give them access without any IAM policy of theirs (they get
    what their IAM policies give them, as without the grant).
    """
    condition: dict[str, Any] = {
        "StringEquals": {PRINCIPAL_ORG_ID: organization.org_id},
        "StringNotEquals": {PRINCIPAL_ACCOUNT: storage_account},
        "ArnLike": {PRINCIPAL_ARN: organization.prefix_pattern},
        "ArnNotLike": {PRINCIPAL_ARN: organization.deeper_pattern},
    }
    if not organization.whole_organization:
        condition["ForAnyValue:StringLike"] = {
            PRINCIPAL_ORG_PATHS: one_or_many(list(organization.org_path_patterns))
        }
    return condition


def _for_organization(statements: list[Statement], settings: AccessSettings) -> list[Statement]:
    """The statements again for the organisation's Forge roles (none without an organisation
    grant): every principal, narrowed by ``organization_condition``, under Sids starting with
    ``Org``."""
    organization = settings.organization
    if organization is None:
        return []
    narrowed = organization_condition(organization, settings.storage_account)
    return [
        {
            "Sid": f"{ORG_SID_PREFIX}{statement['Sid']}",
            "Effect": statement["Effect"],
            "Principal": EVERY_PRINCIPAL,
            "Action": statement["Action"],
            "Resource": statement["Resource"],
            "Condition": merged(statement.get("Condition", {}), narrowed),
        }
        for statement in statements
    ]


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
    grants = _grant_statements(
        settings.partition, grant.name, grant.prefixes, grant.read_only, "Forge"
    )
    statements = [
        {
            **statement,
            "Principal": account_principal(settings),
            "Condition": merged(statement.get("Condition", {}), principal_condition(settings)),
        }
        for statement in grants
    ]
    denies = _encryption_denies(settings, grant)
    statements += denies
    statements += _for_organization([*grants, *denies], settings)
    statements.append(deny_insecure_transport(bucket_arn(settings.partition, grant.name)))
    statements += [
        kept
        for kept in grant.existing_statements
        if kept not in statements and kept.get("Sid") not in CONSTRUCT_BUCKET_POLICY_SIDS
    ]
    return {"Version": POLICY_VERSION, "Statement": statements}


def _encryption_denies(settings: AccessSettings, grant: ValidGrant) -> list[Statement]:
    """Writes by the compute accounts that would leave objects the bucket's owner cannot
    read, or that its encryption settings do not allow, are refused: another kind of
    encryption than the bucket's, another KMS key than the bucket's, or a key of the caller's
    own (SSE-C). A write without encryption headers gets the bucket's default and passes: each
    refusal tests that its header is present (``Null`` false), since a negated operator, or
    ``...IfExists``, would also hold when it is absent. S3 authorizes ``PutObject``,
    ``CreateMultipartUpload`` and copies all as ``s3:PutObject``. A read-only grant writes
    nothing, so it needs none of them."""
    if grant.read_only:
        return []
    refused = {
        "Effect": "Deny",
        "Principal": account_principal(settings),
        "Action": "s3:PutObject",
        "Resource": f"{bucket_arn(settings.partition, grant.name)}/*",
    }
    kind = SSE_KMS if grant.uses_kms else SSE_S3
    statements: list[Statement] = [
        {
            "Sid": "DenyOtherEncryption",
            **refused,
            "Condition": {"Null": {SSE: "false"}, "StringNotEquals": {SSE: kind}},
        }
    ]
    if grant.uses_kms:
        statements.append(
            {
                "Sid": "DenyOtherKeys",
                **refused,
                "Condition": {
                    "Null": {SSE_KMS_KEY: "false"},
                    "StringNotLike": {SSE_KMS_KEY: bucket_key(settings, grant)},
                },
            }
        )
    statements.append(
        {
            "Sid": "DenyCustomerKeys",
            **refused,
            "Condition": {"Null": {SSE_CUSTOMER_ALGORITHM: "false"}},
        }
    )
    return statements


def key_policy_statements(
    settings: AccessSettings, grants: Sequence[ValidGrant], created: bool
) -> list[Statement]:
    """The key-policy statements in B that let A's Forge roles use a key through S3, for the
    buckets it encrypts (``grants``): decrypt for each, data keys for the read-write ones,
    each bound to its buckets by the encryption context. A key the storage stack creates also
    refuses every grant that is neither for an AWS resource nor asked by an AWS service (S3
    needs none), in the shape the AWS Control Tower control CT.KMS.PR.3 checks for."""
    region = key_region(settings, grants[0])
    via_s3 = {"kms:ViaService": s3_service_principal(settings.partition, region)}
    uses: list[Statement] = []
    for read_only, sid in (
        (False, "ForgeRolesUseKeyThroughS3"),
        (True, "ForgeRolesDecryptThroughS3"),
    ):
        buckets = [grant.name for grant in grants if grant.read_only == read_only]
        if buckets:
            uses.append(
                {
                    "Sid": sid,
                    "Effect": "Allow",
                    "Action": one_or_many(kms_actions(read_only)),
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": via_s3,
                        "StringLike": {
                            S3_ENCRYPTION_CONTEXT: encryption_context(settings.partition, buckets)
                        },
                    },
                }
            )
    statements: list[Statement] = [
        {
            "Sid": use["Sid"],
            "Effect": "Allow",
            "Principal": account_principal(settings),
            "Action": use["Action"],
            "Resource": "*",
            "Condition": merged(principal_condition(settings), use["Condition"]),
        }
        for use in uses
    ]
    statements += _for_organization(uses, settings)
    if created:
        statements.append(deny_grants_outside_aws())
    return statements


def deny_grants_outside_aws() -> Statement:
    """The key-policy statement of every key the library creates that refuses grants neither
    for an AWS resource nor asked by an AWS service, in the shape the AWS Control Tower
    control CT.KMS.PR.3 checks for."""
    return {
        "Sid": "DenyGrantsOutsideAws",
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "kms:CreateGrant",
        "Resource": "*",
        "Condition": {
            "BoolIfExists": {
                "kms:GrantIsForAWSResource": "false",
                "aws:PrincipalIsAWSService": "false",
            }
        },
    }


def compact_size(document: Document) -> int:
    """The size IAM counts against its limits: the JSON text without whitespace."""
    return len(json.dumps(document, separators=(",", ":")))


def credentials_trust_policy(principal: str, external_id: str) -> Document:
    """The trust policy of the role made for Platform's credentials: the Platform principal
    may assume it, and tag its session, with the External ID Platform keeps for them."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "PlatformAssumesWithItsExternalId",
                "Effect": "Allow",
                "Principal": {"AWS": principal},
                "Action": ["sts:AssumeRole", "sts:TagSession"],
                "Condition": {"StringEquals": {"sts:ExternalId": external_id}},
            }
        ],
    }


def credentials_permissions(
    partition: str, account: str, region: str, forge_prefix: str, work_bucket: str
) -> Document:
    """What Platform does with its credentials in the compute account: Batch Forge builds and
    removes the Batch environment, its roles and launch templates; launch submits and watches
    jobs and reads their logs; Platform reads and writes the work directory. Seqera's published
    policy, with each resource narrowed to this account and region, and to Forge's names where
    Batch and IAM allow it."""
    here = f"{region}:{account}"
    forge = f"{forge_prefix}-*"
    work = bucket_arn(partition, work_bucket)
    owned_by_account = {"StringEquals": {RESOURCE_ACCOUNT: account}}
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "ForgeBatchEnvironments",
                "Effect": "Allow",
                "Action": [
                    "batch:CreateComputeEnvironment",
                    "batch:CreateJobQueue",
                    "batch:DeleteComputeEnvironment",
                    "batch:DeleteJobQueue",
                    "batch:TagResource",
                    "batch:UpdateComputeEnvironment",
                    "batch:UpdateJobQueue",
                ],
                "Resource": [
                    f"arn:{partition}:batch:{here}:compute-environment/{forge}",
                    f"arn:{partition}:batch:{here}:job-queue/{forge}",
                ],
            },
            {
                "Sid": "LaunchBatchJobs",
                "Effect": "Allow",
                "Action": [
                    "batch:CancelJob",
                    "batch:RegisterJobDefinition",
                    "batch:SubmitJob",
                    "batch:TagResource",
                    "batch:TerminateJob",
                ],
                "Resource": [
                    f"arn:{partition}:batch:{here}:job-definition/*",
                    f"arn:{partition}:batch:{here}:job-queue/{forge}",
                    f"arn:{partition}:batch:{here}:job/*",
                ],
            },
            {
                "Sid": "DescribeBatchEc2AndEcs",
                "Effect": "Allow",
                "Action": [
                    "batch:DescribeComputeEnvironments",
                    "batch:DescribeJobDefinitions",
                    "batch:DescribeJobQueues",
                    "batch:DescribeJobs",
                    "batch:ListJobs",
                    "ec2:DescribeAccountAttributes",
                    "ec2:DescribeImages",
                    "ec2:DescribeInstanceAttribute",
                    "ec2:DescribeInstanceStatus",
                    "ec2:DescribeInstanceTypeOfferings",
                    "ec2:DescribeInstanceTypes",
                    "ec2:DescribeInstances",
                    "ec2:DescribeKeyPairs",
                    "ec2:DescribeLaunchTemplateVersions",
                    "ec2:DescribeLaunchTemplates",
                    "ec2:DescribeSecurityGroups",
                    "ec2:DescribeSubnets",
                    "ec2:DescribeVpcs",
                    "ec2:GetEbsEncryptionByDefault",
                    "ecs:DescribeContainerInstances",
                    "ecs:DescribeTasks",
                ],
                "Resource": "*",
            },
            {
                "Sid": "ForgeLaunchTemplates",
                "Effect": "Allow",
                "Action": ["ec2:CreateLaunchTemplate", "ec2:DeleteLaunchTemplate"],
                "Resource": f"arn:{partition}:ec2:{here}:launch-template/*",
            },
            {
                "Sid": "ForgeInstanceConsoleOutput",
                "Effect": "Allow",
                "Action": "ec2:GetConsoleOutput",
                "Resource": f"arn:{partition}:ec2:{here}:instance/*",
            },
            {
                "Sid": "ForgeRolesAndInstanceProfiles",
                "Effect": "Allow",
                "Action": [
                    "iam:AddRoleToInstanceProfile",
                    "iam:AttachRolePolicy",
                    "iam:CreateInstanceProfile",
                    "iam:CreateRole",
                    "iam:DeleteInstanceProfile",
                    "iam:DeleteRole",
                    "iam:DeleteRolePolicy",
                    "iam:DetachRolePolicy",
                    "iam:GetRole",
                    "iam:ListAttachedRolePolicies",
                    "iam:ListRolePolicies",
                    "iam:PutRolePolicy",
                    "iam:RemoveRoleFromInstanceProfile",
                    "iam:TagInstanceProfile",
                    "iam:TagRole",
                ],
                "Resource": [
                    f"arn:{partition}:iam::{account}:role/{forge}",
                    f"arn:{partition}:iam::{account}:instance-profile/{forge}",
                ],
            },
            {
                "Sid": "PassForgeRolesToBatchAndEc2",
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": f"arn:{partition}:iam::{account}:role/{forge}",
                "Condition": {
                    "StringEquals": {
                        "iam:PassedToService": ["batch.amazonaws.com", "ec2.amazonaws.com"]
                    }
                },
            },
            {
                "Sid": "EcsOptimizedAmis",
                "Effect": "Allow",
                "Action": "ssm:GetParameters",
                "Resource": f"arn:{partition}:ssm:{region}::parameter/aws/service/ecs/*",
            },
            {
                "Sid": "JobLogs",
                "Effect": "Allow",
                "Action": [
                    "logs:DescribeLogStreams",
                    "logs:FilterLogEvents",
                    "logs:GetLogEvents",
                    "logs:StartQuery",
                ],
                "Resource": f"arn:{partition}:logs:{here}:log-group:/aws/batch/job:*",
            },
            {
                "Sid": "JobLogQueries",
                "Effect": "Allow",
                "Action": ["logs:DescribeLogGroups", "logs:GetQueryResults", "logs:StopQuery"],
                "Resource": "*",
            },
            {
                "Sid": "PipelineSecretsListing",
                "Effect": "Allow",
                "Action": "secretsmanager:ListSecrets",
                "Resource": "*",
            },
            {
                "Sid": "PipelineSecrets",
                "Effect": "Allow",
                "Action": [
                    "secretsmanager:CreateSecret",
                    "secretsmanager:DeleteSecret",
                    "secretsmanager:DescribeSecret",
                ],
                "Resource": f"arn:{partition}:secretsmanager:{here}:secret:tower-*",
            },
            {
                "Sid": "WorkDirectoryBucket",
                "Effect": "Allow",
                "Action": list(BUCKET_ACTIONS),
                "Resource": work,
                "Condition": owned_by_account,
            },
            {
                "Sid": "WorkDirectoryObjects",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": f"{work}/*",
                "Condition": owned_by_account,
            },
        ],
    }
