"""The access matrix: every caller against every action on every resource, and what is meant.

``expected`` is the specification, written from the walkthrough and the construct's settings,
not from its policies: Forge roles of each compute account (those its own prefix names
without a deeper path, and its named roles) that carry its s3-write policy may list, read and,
unless read-only, write the granted buckets and prefixes over TLS, and use a bucket's KMS key
through S3 only, and reach their own account's work bucket; nobody else in another account
may do anything (a role named as another compute account admits its own included); the
storage account's own principals keep what their own IAM policies give them.

The s3-write policy reaches a bucket only while its owner is the account it was granted from:
a bucket of the same name in a third account, even one whose policy admits everyone, is out of
reach. A write by any principal of a compute account that names another kind of encryption
than the bucket's, another KMS key, or a key of its own (SSE-C) is refused outright; a write
without encryption headers gets the bucket's default. KMS grants are per bucket: the
encryption context S3 sends names the bucket, so a read-only grant cannot make data keys even
when its key also serves a read-write bucket.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from constructs_lib.config import AccessSettings, ComputeSettings, ValidGrant
from constructs_lib.plan import storage_layout
from constructs_lib.policies import (
    S3_ENCRYPTION_CONTEXT,
    SSE,
    SSE_CUSTOMER_ALGORITHM,
    SSE_KMS,
    SSE_KMS_KEY,
    SSE_S3,
)
from tests.access.bridge import ALLOWED, EXPLICITLY_DENIED, IMPLICITLY_DENIED, Result
from tests.access.principals import BROAD, S3_WRITE, Principal, member_compute, principals
from tests.conftest import THIRD_ACCOUNT

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
KMS_GRANT = "kms:CreateGrant"
GRANT_FOR_AWS = "kms:GrantIsForAWSResource"

UNRELATED_BUCKET = "unrelated-bucket-b"
# A bucket named as a granted one, in a third account, whose policy admits everyone.
STRANGER = THIRD_ACCOUNT
STRANGER_POLICY_ID = "stranger-bucket"
STRANGER_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}],
}
# The KMS key a compute account's principal might name for a write: one of its own.
OWN_KEY = "arn:{partition}:kms:{region}:{account}:key/0000aaaa-own-key-of-the-caller"
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
    owner: str | None = None
    """Another account that owns a bucket of this name (``STRANGER``), or None."""

    @property
    def label(self) -> str:
        label = {"bucket": self.bucket, "object": f"{self.bucket}/{self.key}"}.get(
            self.kind, f"key-of-{self.bucket}"
        )
        return label if self.owner is None else f"{label}-owned-by-{self.owner}"


def access_logs(number: int) -> str:
    """The matrix's name for the log bucket of storage stack ``number`` (0 is the first)."""
    return ACCESS_LOGS if number == 0 else f"(access-logs-{number + 1})"


def is_access_logs(bucket: str) -> bool:
    """Whether ``bucket`` is the matrix's name for a log bucket a storage stack creates."""
    return bucket.startswith(ACCESS_LOGS[:-1])


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


def _bucket_arn(settings: AccessSettings, bucket: str) -> str:
    return f"arn:{settings.partition}:s3:::{bucket}"


def _key_cells(principal: Principal, settings: AccessSettings, grant: ValidGrant) -> list[Cell]:
    """Key use through S3 and not, for this bucket (as S3 names it with and without S3 Bucket
    Keys), for another bucket, and with no bucket named."""
    region = key_region(settings, grant)
    via_s3 = ("kms:ViaService", s3_via(region))
    own = (S3_ENCRYPTION_CONTEXT, _bucket_arn(settings, grant.name))
    own_object = (S3_ENCRYPTION_CONTEXT, f"{_bucket_arn(settings, grant.name)}/data/{SAMPLE}")
    other = (S3_ENCRYPTION_CONTEXT, _bucket_arn(settings, UNRELATED_BUCKET))
    contexts: list[tuple[tuple[str, str], ...]] = [
        (via_s3, own),
        (own,),
        (("kms:ViaService", f"ec2.{region}.amazonaws.com"), own),
        (via_s3, own_object),
        (via_s3, other),
        (via_s3,),
    ]
    target = Target("key", grant.name)
    cells = [
        Cell(principal, action, target, context)
        for action in (KMS_READ, KMS_WRITE)
        for context in contexts
    ]
    if grant.create_kms_key:
        cells += [
            Cell(principal, action, target, contexts[0], aliased=False)
            for action in (KMS_READ, KMS_WRITE)
        ]
        cells += [
            Cell(principal, KMS_GRANT, target, ((GRANT_FOR_AWS, for_aws),))
            for for_aws in ("true", "false")
        ]
    return cells


def bucket_key_example(settings: AccessSettings, grant: ValidGrant) -> str:
    """The key a write may name for the bucket: its existing key, or a key of the storage
    account (the one it creates, whose ARN the matrix does not know)."""
    if grant.kms_key_arn is not None:
        return grant.kms_key_arn
    storage = f"{settings.storage_region}:{settings.storage_account}"
    return f"arn:{settings.partition}:kms:{storage}:key/created-for-{grant.name}"


def _encryption_cells(
    principal: Principal, settings: AccessSettings, grant: ValidGrant, key: str
) -> list[Cell]:
    """Writes that name the bucket's kind of encryption (and key), another kind, a key of the
    caller's own account, or a key of the caller's (SSE-C)."""
    target = Target("object", grant.name, key)
    own_key = OWN_KEY.format(
        partition=settings.partition,
        region=settings.storage_region,
        account=principal.account or THIRD_ACCOUNT,
    )
    kind, other = (SSE_KMS, SSE_S3) if grant.uses_kms else (SSE_S3, SSE_KMS)
    headers: list[tuple[tuple[str, str], ...]] = [
        ((SSE, kind),),
        ((SSE, other),),
        ((SSE, SSE_KMS), (SSE_KMS_KEY, own_key)),
        ((SSE_CUSTOMER_ALGORITHM, "AES256"),),
    ]
    if grant.uses_kms:
        headers.append(((SSE, SSE_KMS), (SSE_KMS_KEY, bucket_key_example(settings, grant))))
    return [Cell(principal, "s3:PutObject", target, context) for context in headers]


def _stranger_cells(principal: Principal, bucket: str) -> list[Cell]:
    """Requests on a bucket of the same name owned by ``STRANGER``, whose policy admits all."""
    return [
        Cell(principal, "s3:ListBucket", Target("bucket", bucket, owner=STRANGER)),
        Cell(principal, "s3:GetObject", Target("object", bucket, SAMPLE, owner=STRANGER)),
        Cell(principal, "s3:PutObject", Target("object", bucket, SAMPLE, owner=STRANGER)),
    ]


def _plain_http_cells(principal: Principal, bucket: str, key: str) -> list[Cell]:
    return [
        Cell(principal, "s3:ListBucket", Target("bucket", bucket), secure_transport=False),
        Cell(principal, "s3:GetObject", Target("object", bucket, key), secure_transport=False),
        Cell(principal, "s3:PutObject", Target("object", bucket, key), secure_transport=False),
    ]


def other_buckets(settings: AccessSettings) -> list[str]:
    """Buckets of the storage account that are not granted: an unrelated one, and the log
    bucket (named, or created by each storage stack that creates a granted bucket)."""
    if settings.access_logs_bucket is not None:
        return [UNRELATED_BUCKET, settings.access_logs_bucket]
    plan = storage_layout(settings)
    created = [number for number, part in enumerate(plan) if any(g.create for g in part)]
    return [UNRELATED_BUCKET, *(access_logs(number) for number in created)]


def _asked_in_full(settings: AccessSettings, principal: Principal) -> bool:
    """Whether a brief matrix asks the caller every cell: a role of a compute account that the
    bucket policies admit and that holds an IAM policy. Its sessions, which the policies see
    as the role (``aws:PrincipalArn``), and the callers refused at the granted buckets, or
    reaching them by their own account's IAM policies only (the storage account's), are asked
    briefly."""
    return (
        bool(principal.identity_policies)
        and principal.role_arn is None
        and _admitted(settings, principal)
    )


def _brief_cells(principal: Principal, settings: AccessSettings, grant: ValidGrant) -> list[Cell]:
    """What an admitted caller is granted: list, read and write inside the grant, and the
    bucket's key through S3; asked of a caller refused at the granted buckets."""
    target = Target("bucket", grant.name)
    prefix = (("s3:prefix", f"{grant.prefixes[0]}/"),) if grant.prefixes else ()
    key = Target("object", grant.name, _object_keys(grant)[0])
    found = [
        Cell(principal, "s3:ListBucket", target, prefix),
        Cell(principal, "s3:GetObject", key),
        Cell(principal, "s3:PutObject", key),
        Cell(principal, "s3:PutObject", key, ((SSE_CUSTOMER_ALGORITHM, "AES256"),)),
    ]
    if grant.uses_kms:
        via_s3 = ("kms:ViaService", s3_via(key_region(settings, grant)))
        own = (S3_ENCRYPTION_CONTEXT, _bucket_arn(settings, grant.name))
        found += [
            Cell(principal, action, Target("key", grant.name), (via_s3, own))
            for action in (KMS_READ, KMS_WRITE)
        ]
    return found


def cells(
    settings: AccessSettings, buckets: Collection[str] | None = None, brief: bool = False
) -> list[Cell]:
    """Every cell of the matrix for ``settings``: on the granted ``buckets`` (all when None),
    the buckets that are not granted and the work buckets. ``brief`` asks the callers that
    are not ``_asked_in_full`` only what an admitted caller is granted at the granted buckets
    (``_brief_cells``) and a list and a read elsewhere, and asks nobody a plain-HTTP request
    of a bucket that is not granted."""
    found: list[Cell] = []
    grants = [g for g in settings.grants if buckets is None or g.name in buckets]
    for principal in principals(settings):
        short = brief and not _asked_in_full(settings, principal)
        for grant in grants:
            if short:
                found += _brief_cells(principal, settings, grant)
                continue
            keys = _object_keys(grant)
            found += _bucket_cells(principal, grant.name, _list_prefixes(grant))
            found += _object_cells(principal, grant.name, keys)
            found += _plain_http_cells(principal, grant.name, keys[0])
            if not grant.read_only:
                found += _encryption_cells(principal, settings, grant, keys[0])
            if S3_WRITE in principal.identity_policies:
                found += _stranger_cells(principal, grant.name)
            if grant.uses_kms:
                found += _key_cells(principal, settings, grant)
        others = other_buckets(settings)
        work_buckets = [c.work_bucket for c in settings.computes if c.work_bucket is not None]
        if not short and S3_WRITE in principal.identity_policies:
            for bucket in work_buckets:
                found += _stranger_cells(principal, bucket)
        for bucket in others + work_buckets:
            target, sample = Target("bucket", bucket), Target("object", bucket, SAMPLE)
            if short:
                found += [Cell(principal, "s3:ListBucket", target)]
                found += [Cell(principal, "s3:GetObject", sample)]
                continue
            found += [Cell(principal, action, target) for action in OTHER_BUCKET_ACTIONS]
            found += [Cell(principal, action, sample) for action in OTHER_OBJECT_ACTIONS]
            if not brief:
                found += _plain_http_cells(principal, bucket, SAMPLE)
    return found


def expected(settings: AccessSettings, cell: Cell) -> Result:
    """What the construct means to happen for ``cell``."""
    if cell.target.owner is not None:
        return ALLOWED if BROAD in cell.principal.identity_policies else IMPLICITLY_DENIED
    if not cell.secure_transport and _refuses_plain_http(settings, cell.target):
        return EXPLICITLY_DENIED
    if _refuses_encryption(settings, cell) or _refuses_grant(settings, cell):
        return EXPLICITLY_DENIED
    return ALLOWED if _allowed(settings, cell) else IMPLICITLY_DENIED


def _refuses_encryption(settings: AccessSettings, cell: Cell) -> bool:
    """A write by a principal of a compute account to a read-write granted bucket that names
    another kind of encryption, another key, or a key of its own (SSE-C)."""
    grant = _grant(settings, cell.target.bucket)
    if (
        cell.action != "s3:PutObject"
        or cell.target.kind != "object"
        or grant is None
        or grant.read_only
        or not (
            compute_of(settings, cell.principal.account) is not None
            or _organization_admits(settings, cell.principal)
        )
    ):
        return False
    headers = dict(cell.context)
    kind = SSE_KMS if grant.uses_kms else SSE_S3
    other_kind = headers.get(SSE, kind) != kind
    key = headers.get(SSE_KMS_KEY)
    bucket_key = bucket_key_example(settings, grant)
    other_key = grant.uses_kms and key is not None and not _same_key_name(key, bucket_key, grant)
    return other_kind or other_key or SSE_CUSTOMER_ALGORITHM in headers


def _refuses_grant(settings: AccessSettings, cell: Cell) -> bool:
    """A grant on a key the storage stack creates, asked by anyone but an AWS service for
    something that is not an AWS resource."""
    grant = _grant(settings, cell.target.bucket)
    return (
        cell.action == KMS_GRANT
        and grant is not None
        and grant.create_kms_key
        and dict(cell.context).get(GRANT_FOR_AWS) == "false"
    )


def _same_key_name(key: str, bucket_key: str, grant: ValidGrant) -> bool:
    """Whether a write names the bucket's key: the existing key's ARN, or for a created key
    any key of the storage account in its region (what the policy can name before deploy)."""
    if grant.kms_key_arn is not None:
        return key == bucket_key
    return key.rsplit("/", 1)[0] == bucket_key.rsplit("/", 1)[0]


def _grant(settings: AccessSettings, bucket: str) -> ValidGrant | None:
    return next((grant for grant in settings.grants if grant.name == bucket), None)


def _refuses_plain_http(settings: AccessSettings, target: Target) -> bool:
    """Granted buckets, and the log buckets the stacks create, refuse requests without TLS."""
    return target.kind != "key" and (
        _grant(settings, target.bucket) is not None or is_access_logs(target.bucket)
    )


def compute_of(settings: AccessSettings, account: str | None) -> ComputeSettings | None:
    """The compute account ``account``, if it is one."""
    return next((c for c in settings.computes if c.account == account), None)


def _work_bucket_owner(settings: AccessSettings, bucket: str) -> ComputeSettings | None:
    return next((c for c in settings.computes if c.work_bucket == bucket), None)


def target_account(settings: AccessSettings, target: Target) -> str:
    if target.owner is not None:
        return target.owner
    grant = _grant(settings, target.bucket)
    if target.kind == "key" and grant is not None and grant.kms_key_arn is not None:
        return grant.kms_key_arn.split(":")[4]
    owner = _work_bucket_owner(settings, target.bucket)
    return settings.storage_account if owner is None else owner.account


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
    """Whether one IAM policy of the caller allows the request: broad grants allow anything;
    the s3-write policy of the caller's account allows its grants and its own work bucket."""
    if policy == BROAD:
        return True
    account = str(cell.principal.account)
    compute = compute_of(settings, account) or member_compute(settings, account)
    assert policy == S3_WRITE and compute is not None, f"{policy} in {cell.principal.account}"
    owner = _work_bucket_owner(settings, cell.target.bucket)
    if owner is not None:
        granted = BUCKET_READS if cell.target.kind == "bucket" else OBJECT_READS | OBJECT_WRITES
        return owner == compute and cell.action in granted
    return _granted(settings, cell, True)


def _is_forge_role(arn: str, partition: str, account: str, path: str, prefix: str | None) -> bool:
    """Whether ``arn`` is a role of ``account`` (a regular expression) right at ``path`` whose
    name starts with ``prefix`` (no role without a prefix)."""
    role = re.fullmatch(
        rf"arn:{partition}:iam::{account}:role(?P<path>/(?:.*/)?)(?P<name>[^/]+)", arn
    )
    return (
        role is not None
        and prefix is not None
        and role["path"] == path
        and role["name"].startswith(prefix)
    )


def _organization_admits(settings: AccessSettings, principal: Principal) -> bool:
    """Whether the organisation grant admits the caller: a role of an account of the
    organisation in (or below) a granted unit, other than the storage account, at the Forge
    path, whose name starts with the Forge prefix; a session counts as its role."""
    organization = settings.organization
    path = principal.org_path
    if organization is None or path is None or principal.account == settings.storage_account:
        return False
    return (
        path.startswith(f"{organization.org_id}/")
        and any(path.startswith(unit) for unit in organization.ou_paths)
        and _is_forge_role(
            principal.principal_arn or "",
            settings.partition,
            r"\d{12}",
            organization.forge_role_path,
            organization.forge_role_prefix,
        )
    )


def _admitted(settings: AccessSettings, principal: Principal) -> bool:
    """Whether the storage account admits the caller: a role of a compute account with that
    account's Forge role path whose name starts with its Forge prefix, or one of its named
    roles, or a role the organisation grant admits; a session counts as its role."""
    if _organization_admits(settings, principal):
        return True
    arn = principal.principal_arn or ""
    return any(
        arn in compute.forge_role_arns
        or arn == compute.credentials_role_arn
        or _is_forge_role(
            arn,
            settings.partition,
            compute.account,
            compute.forge_role_path,
            compute.forge_role_prefix,
        )
        for compute in settings.computes
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
    named_bucket = context.get(S3_ENCRYPTION_CONTEXT, "")
    users = [
        other
        for other in settings.grants
        if _same_key(other, grant)
        and named_bucket
        in (_bucket_arn(settings, other.name), *_objects_of(settings, other, named_bucket))
    ]
    actions = {KMS_READ} if all(g.read_only for g in users) else {KMS_READ, KMS_WRITE}
    through_s3 = context.get("kms:ViaService") == s3_via(key_region(settings, grant))
    named = not identity_side or not grant.create_kms_key or cell.aliased
    return bool(users) and cell.action in actions and through_s3 and named


def _objects_of(settings: AccessSettings, grant: ValidGrant, arn: str) -> list[str]:
    """``arn`` if it is an object ARN of ``grant``'s bucket."""
    return [arn] if arn.startswith(f"{_bucket_arn(settings, grant.name)}/") else []
