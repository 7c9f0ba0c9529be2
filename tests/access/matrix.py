"""The access matrix: every caller against every action on every resource, and what is meant.

``expected`` is the specification, written from the walkthrough and the construct's settings,
not from its policies: Forge roles of the compute account (and the named roles) that carry the
s3-write policy may list, read and, unless read-only, write the granted buckets and prefixes
over TLS, and use a bucket's KMS key through S3 only; nobody else in another account may do
anything; the storage account's own principals keep what their own IAM policies give them.

KMS grants are per key, not per bucket: when a read-only grant shares an existing key with a
read-write grant, the key may generate data keys too (the bucket policy still refuses writes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from constructs_lib.config import AccessSettings, ValidGrant
from tests.access.bridge import ALLOWED, EXPLICITLY_DENIED, IMPLICITLY_DENIED, Result
from tests.access.principals import BROAD, Principal, principals

# The walkthrough's actions, and the ones the construct grants on top of them.
WALKTHROUGH_ACTIONS = (
    "s3:ListBucket",
    "s3:GetObject",
    "s3:PutObject",
    "s3:PutObjectTagging",
    "s3:DeleteObject",
)
EXTRA_ACTIONS = (
    "s3:GetBucketLocation",
    "s3:GetObjectTagging",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
)
BUCKET_READS = frozenset({"s3:ListBucket", "s3:GetBucketLocation"})
OBJECT_READS = frozenset({"s3:GetObject", "s3:GetObjectTagging"})
OBJECT_WRITES = frozenset(
    {
        "s3:PutObject",
        "s3:PutObjectTagging",
        "s3:DeleteObject",
        "s3:AbortMultipartUpload",
        "s3:ListMultipartUploadParts",
    }
)
# Actions nobody outside the storage account may ever be granted.
FORBIDDEN_BUCKET_ACTIONS = (
    "s3:PutBucketPolicy",
    "s3:DeleteBucket",
    "s3:PutBucketPublicAccessBlock",
)
FORBIDDEN_OBJECT_ACTIONS = ("s3:PutObjectAcl",)
# What is asked of the buckets that are not granted.
OTHER_BUCKET_ACTIONS = ("s3:ListBucket", "s3:PutBucketPolicy")
OTHER_OBJECT_ACTIONS = ("s3:GetObject", "s3:PutObject", "s3:DeleteObject")
KMS_READ = "kms:Decrypt"
KMS_WRITE = "kms:GenerateDataKey"

UNRELATED_BUCKET = "unrelated-bucket-b"
ACCESS_LOGS = "(access-logs)"
SAMPLE = "sample.bam"

Kind = Literal["bucket", "object", "key"]


@dataclass(frozen=True)
class Target:
    """What a request is made on. ``bucket`` is a bucket name, ``ACCESS_LOGS`` for the log
    bucket the storage stack creates, or (for a key) the name of the bucket it encrypts."""

    kind: Kind
    bucket: str
    key: str = ""

    @property
    def label(self) -> str:
        return {"bucket": self.bucket, "object": f"{self.bucket}/{self.key}"}.get(
            self.kind, f"key-of-{self.bucket}"
        )


@dataclass(frozen=True)
class Cell:
    """One request of the matrix. ``aliased`` False asks about a created key as if it had
    lost its alias (the compute account's grant names created keys by alias)."""

    principal: Principal
    action: str
    target: Target
    context: tuple[tuple[str, str], ...] = ()
    secure_transport: bool = True
    aliased: bool = True

    @property
    def id(self) -> str:
        parts = [self.principal.label, self.action, self.target.label]
        parts += [f"{key}={value}" for key, value in self.context]
        if not self.aliased:
            parts.append("without-its-alias")
        if not self.secure_transport:
            parts.append("plain-http")
        return ":".join(parts)


def s3_via(region: str) -> str:
    return f"s3.{region}.amazonaws.com"


def key_region(settings: AccessSettings, grant: ValidGrant) -> str:
    return settings.storage_region if grant.kms_key_arn is None else grant.kms_key_arn.split(":")[3]


def _list_prefixes(grant: ValidGrant) -> list[str | None]:
    """``s3:prefix`` values to list with (None: no prefix): inside each granted prefix, and
    next to the first one (a sibling that shares its text, the prefix without its slash)."""
    if not grant.prefixes:
        return [None, "any/"]
    first = grant.prefixes[0]
    inside = [value for prefix in grant.prefixes for value in (f"{prefix}/", f"{prefix}/deeper/")]
    return [None, *inside, first, f"{first}-archive/"]


def _object_keys(grant: ValidGrant) -> list[str]:
    """Keys inside each granted prefix, and in a sibling of the first that shares its text."""
    if not grant.prefixes:
        return [f"data/{SAMPLE}"]
    inside = [f"{prefix}/{SAMPLE}" for prefix in grant.prefixes]
    return [*inside, f"{grant.prefixes[0]}-archive/{SAMPLE}"]


def _bucket_cells(principal: Principal, bucket: str, list_with: list[str | None]) -> list[Cell]:
    target = Target("bucket", bucket)
    cells = [
        Cell(principal, "s3:ListBucket", target, () if prefix is None else (("s3:prefix", prefix),))
        for prefix in list_with
    ]
    actions = ("s3:GetBucketLocation", *FORBIDDEN_BUCKET_ACTIONS)
    return cells + [Cell(principal, action, target) for action in actions]


def _object_cells(principal: Principal, bucket: str, keys: list[str]) -> list[Cell]:
    actions = sorted(OBJECT_READS | OBJECT_WRITES) + list(FORBIDDEN_OBJECT_ACTIONS)
    return [
        Cell(principal, action, Target("object", bucket, key)) for key in keys for action in actions
    ]


def _key_cells(principal: Principal, settings: AccessSettings, grant: ValidGrant) -> list[Cell]:
    region = key_region(settings, grant)
    via: list[tuple[tuple[str, str], ...]] = [
        (("kms:ViaService", s3_via(region)),),
        (),
        (("kms:ViaService", f"ec2.{region}.amazonaws.com"),),
    ]
    target = Target("key", grant.name)
    cells = [
        Cell(principal, action, target, context)
        for action in (KMS_READ, KMS_WRITE)
        for context in via
    ]
    if grant.create_kms_key:
        cells += [
            Cell(principal, action, target, via[0], aliased=False)
            for action in (KMS_READ, KMS_WRITE)
        ]
    return cells


def _plain_http_cells(principal: Principal, bucket: str, key: str) -> list[Cell]:
    return [
        Cell(principal, "s3:ListBucket", Target("bucket", bucket), secure_transport=False),
        Cell(principal, "s3:GetObject", Target("object", bucket, key), secure_transport=False),
        Cell(principal, "s3:PutObject", Target("object", bucket, key), secure_transport=False),
    ]


def other_buckets(settings: AccessSettings) -> list[str]:
    """Buckets of the storage account that are not granted: an unrelated one, and the log
    bucket (named, or created by the stack when a granted bucket is created)."""
    if settings.access_logs_bucket is not None:
        return [UNRELATED_BUCKET, settings.access_logs_bucket]
    if any(grant.create for grant in settings.grants):
        return [UNRELATED_BUCKET, ACCESS_LOGS]
    return [UNRELATED_BUCKET]


def cells(settings: AccessSettings) -> list[Cell]:
    """Every cell of the matrix for ``settings``."""
    found: list[Cell] = []
    for principal in principals(settings):
        for grant in settings.grants:
            keys = _object_keys(grant)
            found += _bucket_cells(principal, grant.name, _list_prefixes(grant))
            found += _object_cells(principal, grant.name, keys)
            found += _plain_http_cells(principal, grant.name, keys[0])
            if grant.uses_kms:
                found += _key_cells(principal, settings, grant)
        buckets = other_buckets(settings)
        if settings.work_bucket is not None:
            buckets.append(settings.work_bucket)
        for bucket in buckets:
            target, sample = Target("bucket", bucket), Target("object", bucket, SAMPLE)
            found += [Cell(principal, action, target) for action in OTHER_BUCKET_ACTIONS]
            found += [Cell(principal, action, sample) for action in OTHER_OBJECT_ACTIONS]
            found += _plain_http_cells(principal, bucket, SAMPLE)
    return found


def expected(settings: AccessSettings, cell: Cell) -> Result:
    """What the construct means to happen for ``cell``."""
    if not cell.secure_transport and _refuses_plain_http(settings, cell.target):
        return EXPLICITLY_DENIED
    return ALLOWED if _allowed(settings, cell) else IMPLICITLY_DENIED


def _grant(settings: AccessSettings, bucket: str) -> ValidGrant | None:
    return next((grant for grant in settings.grants if grant.name == bucket), None)


def _refuses_plain_http(settings: AccessSettings, target: Target) -> bool:
    """Granted buckets, and the log bucket the stack creates, refuse requests without TLS."""
    return target.kind != "key" and (
        _grant(settings, target.bucket) is not None or target.bucket == ACCESS_LOGS
    )


def target_account(settings: AccessSettings, target: Target) -> str:
    grant = _grant(settings, target.bucket)
    if target.kind == "key" and grant is not None and grant.kms_key_arn is not None:
        return grant.kms_key_arn.split(":")[4]
    if target.bucket == settings.work_bucket:
        return settings.compute_account
    return settings.storage_account


def _allowed(settings: AccessSettings, cell: Cell) -> bool:
    principal = cell.principal
    if principal.arn is None:
        return False
    identity = any(
        _identity_allows(settings, policy, cell) for policy in principal.identity_policies
    )
    if principal.account == target_account(settings, cell.target):
        return identity
    return identity and _admitted(settings, principal) and _granted(settings, cell, False)


def _identity_allows(settings: AccessSettings, policy: str, cell: Cell) -> bool:
    if policy == BROAD:
        return True
    if cell.target.bucket == settings.work_bucket:
        granted = BUCKET_READS if cell.target.kind == "bucket" else OBJECT_READS | OBJECT_WRITES
        return cell.action in granted
    return _granted(settings, cell, True)


def _admitted(settings: AccessSettings, principal: Principal) -> bool:
    """Whether the storage account admits the caller: a role of the compute account whose
    path and name start with the Forge prefix (what ``role/<prefix>*`` matches), or a named
    role; a session counts as its role."""
    arn = principal.principal_arn or ""
    role = re.fullmatch(
        rf"arn:{settings.partition}:iam::{settings.compute_account}:role/(?P<path_and_name>.+)",
        arn,
    )
    if role is None:
        return False
    prefix = settings.forge_role_prefix
    return arn in settings.forge_role_arns or (
        prefix is not None and role["path_and_name"].startswith(prefix)
    )


def _same_key(one: ValidGrant, other: ValidGrant) -> bool:
    """Whether two grants use one key: an existing key named by both (a created key is one
    bucket's own)."""
    return one is other or (one.kms_key_arn is not None and one.kms_key_arn == other.kms_key_arn)


def _under(value: str | None, prefixes: tuple[str, ...]) -> bool:
    return value is not None and (
        not prefixes or any(value.startswith(f"{prefix}/") for prefix in prefixes)
    )


def _granted(settings: AccessSettings, cell: Cell, identity_side: bool) -> bool:
    """Whether the grant for the cell's bucket covers the request. The compute account's side
    also names a created key by its alias."""
    grant = _grant(settings, cell.target.bucket)
    if grant is None:
        return False
    context = dict(cell.context)
    if cell.target.kind == "bucket":
        if cell.action == "s3:ListBucket":
            return not grant.prefixes or _under(context.get("s3:prefix"), grant.prefixes)
        return cell.action == "s3:GetBucketLocation"
    if cell.target.kind == "object":
        writable = OBJECT_WRITES if not grant.read_only else frozenset()
        return _under(cell.target.key, grant.prefixes) and cell.action in OBJECT_READS | writable
    sharing = [other for other in settings.grants if _same_key(other, grant)]
    actions = {KMS_READ} if all(g.read_only for g in sharing) else {KMS_READ, KMS_WRITE}
    through_s3 = context.get("kms:ViaService") == s3_via(key_region(settings, grant))
    named = not identity_side or not grant.create_kms_key or cell.aliased
    return cell.action in actions and through_s3 and named
