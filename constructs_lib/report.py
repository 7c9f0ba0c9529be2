"""The access report: who may reach each bucket, for a security reviewer.

Pure Python (no CDK import): the report is read off the plan, whose documents the stacks
deploy, so it says what the policies say. It is built as data first (``report_data``: sections
of typed rows) and then rendered to Markdown (``access_report``), the one place its English
lives; the tests check the rows, each one claim, with an IAM policy evaluator.

A request from a compute account to the storage account needs both accounts' allow, so each
Allow row holds what the bucket (or key) policy and every compute account's s3-write policy
(all its managed policies; and the organisation's member accounts', which the StackSet makes)
allow.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum, auto
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, assert_never

from constructs_lib import policies
from constructs_lib.config import AccessSettings, ComputeSettings, ValidGrant, is_root_path
from constructs_lib.plan import AccessPlan, OrganizationPlan

REPORT_FILE = "access-report.md"

# Granted by no statement, so denied to the admitted principals; named because each would let
# a caller change who can reach the data, or destroy it beyond recovery.
NOTABLE_BUCKET_ACTIONS = (
    "s3:DeleteBucket",
    "s3:DeleteBucketPolicy",
    "s3:PutBucketAcl",
    "s3:PutBucketPolicy",
    "s3:PutBucketPublicAccessBlock",
    "s3:PutEncryptionConfiguration",
    "s3:PutLifecycleConfiguration",
)
NOTABLE_OBJECT_ACTIONS = ("s3:DeleteObjectVersion", "s3:PutObjectAcl")


class Comparison(Enum):
    """How a condition clause tests its context key against its values."""

    IS = auto()
    """The key equals one of the values."""
    MATCHES = auto()
    """The key matches one of the value patterns (``*`` any text)."""
    INCLUDES = auto()
    """The key, a list, includes one of the values."""
    ABSENT_OR_NOT = auto()
    """The key is absent or equals none of the values."""
    ABSENT_OR_MATCHES_NONE = auto()
    """The key is absent or matches none of the value patterns."""
    PRESENT = auto()
    """The key is present, whatever its value."""
    PRESENT_AND_NOT = auto()
    """The key is present and equals none of the values."""
    PRESENT_AND_MATCHES_NONE = auto()
    """The key is present and matches none of the value patterns."""


@dataclass(frozen=True)
class Clause:
    """One condition a row holds under: context key ``key`` compared with ``values``."""

    key: str
    comparison: Comparison
    values: tuple[str, ...]


class Effect(Enum):
    """What a row claims of its requests: all allowed, or all refused."""

    ALLOW = "Allow"
    DENY = "Deny"


class Who(Enum):
    """The callers an access row speaks of."""

    ADMITTED = auto()
    """The roles the principals rows admit, with their sessions."""
    EVERYONE = auto()
    """Every caller, of any kind the principals rows name."""
    S3_WRITE_HOLDERS = auto()
    """The principals of the work bucket's account that hold its s3-write policy."""


@dataclass(frozen=True)
class AccessRow:
    """A claim about a bucket or its key: ``who`` may (or may not) do each of ``actions`` on
    each of ``resources`` but ``excluded``, when every clause holds."""

    effect: Effect
    who: Who
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    excluded: tuple[str, ...] = ()
    clauses: tuple[Clause, ...] = ()


class PrincipalKind(Enum):
    """A kind of caller the principals section names."""

    ADMITTED_ROLES = auto()
    """Roles of ``accounts[0]`` whose ARN matches ``patterns``, and their sessions, holding
    every managed policy of that account's s3-write policy."""
    ORGANIZATION_ROLES = auto()
    """Roles whose ARN matches ``patterns`` in any account of organisation ``organization``
    in or below ``units`` but the storage account, and their sessions, holding every managed
    policy of the s3-write policy the StackSet makes there."""
    ROLES_UNDER_PATH = auto()
    """Roles of ``accounts[0]`` (of the accounts under ``units``, for an ``organization``)
    under a path deeper than ``path`` whose name starts with ``path_prefix``
    (``example_path`` is one), which ``*`` in the admitted pattern would match: refused,
    whatever their IAM policies."""
    WITHOUT_IAM_POLICY = auto()
    """The admitted roles when no IAM policy of their account allows the request."""
    OTHER_COMPUTE_PRINCIPALS = auto()
    """Every other role and every user of the compute ``accounts``."""
    OTHER_ORGANIZATION_PRINCIPALS = auto()
    """Every other role and every user of the accounts of ``organization`` under ``units``."""
    OTHER_ACCOUNTS = auto()
    """Principals of any account that is neither a compute nor the storage account (nor, for
    an ``organization``, an account under its ``units``)."""
    ANONYMOUS = auto()
    """Requests without credentials."""
    STORAGE_PRINCIPALS = auto()
    """Principals of the storage account ``accounts[0]``."""


class Access(Enum):
    """What a kind of caller gets of the storage account's buckets."""

    AS_TABLES = auto()
    """What the bucket sections' rows say of the admitted principals."""
    NONE = auto()
    """Nothing."""
    OWN_IAM_ONLY = auto()
    """Nothing from this construct: only what their own IAM policies in the account allow."""


@dataclass(frozen=True)
class PrincipalsRow:
    """A kind of caller and its access; the fields its kind does not use stay empty."""

    kind: PrincipalKind
    access: Access
    accounts: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    """The ``aws:PrincipalArn`` patterns of admitted roles."""
    path_prefix: str | None = None
    path: str | None = None
    """The IAM path the admitted roles have."""
    example_path: str | None = None
    """A role's path and name under ``path_prefix``, as in ``role/<prefix>-team/any-name``."""
    s3_write_parts: int = 0
    """How many managed policies the account's s3-write policy is split into."""
    organization: str | None = None
    """The organisation whose accounts the row speaks of."""
    units: tuple[str, ...] = ()
    """The organisation's unit paths the row speaks of (a root's path: all of it)."""


@dataclass(frozen=True)
class ManagedPolicyRow:
    """One managed policy of a compute account's s3-write policy (by construct id) and the
    buckets it grants: a role holding only it may use these and no bucket of another row."""

    policy: str
    buckets: tuple[str, ...]


@dataclass(frozen=True)
class PrincipalsSection:
    """Every kind of caller and what it gets."""

    rows: tuple[PrincipalsRow, ...]


@dataclass(frozen=True)
class ComputeSection:
    """One compute account: what it admits, its work bucket, its s3-write managed policies."""

    account: str
    region: str
    patterns: tuple[str, ...]
    work_bucket: str | None
    rows: tuple[ManagedPolicyRow, ...]
    credentials_role: str | None = None
    """The role the construct made for Platform's credentials in this account, if any."""
    credentials_admitted: bool = False
    """Whether B admits it: Data Explorer reads the data links with the credentials."""


@dataclass(frozen=True)
class OrganizationSection:
    """The organisation grant: whom it admits, the StackSet that carries the s3-write policy to
    its member accounts, and that policy's managed policies by their name there."""

    organization: str
    units: tuple[str, ...]
    pattern: str
    region: str
    admin_account: str
    stack_set: str
    rows: tuple[ManagedPolicyRow, ...]


@dataclass(frozen=True)
class BucketSection:
    """One granted bucket of the storage account: the grant's facts and its access rows (S3,
    then KMS)."""

    bucket: str
    read_only: bool
    created: bool
    prefixes: tuple[str, ...]
    key_alias: str | None
    """The alias of the key the storage stack creates for the bucket."""
    existing_key_arn: str | None
    key_shared_with: tuple[str, ...]
    """The other granted buckets encrypted with the same existing key; the encryption context
    binds each bucket's KMS grant to that bucket."""
    kept_statements: tuple[policies.Statement, ...]
    """Statements kept from the bucket's existing policy, not analysed."""
    rows: tuple[AccessRow, ...]


@dataclass(frozen=True)
class WorkBucketSection:
    """A compute account's work bucket, reached through the s3-write policy alone."""

    bucket: str
    account: str
    rows: tuple[AccessRow, ...]


Section = (
    PrincipalsSection | ComputeSection | OrganizationSection | BucketSection | WorkBucketSection
)


@dataclass(frozen=True)
class Report:
    """The access report of one construct, as data."""

    storage_account: str
    storage_region: str
    partition: str
    account_principals: tuple[str, ...]
    """The fixed principal of each compute account that every Allow statement names."""
    principals: PrincipalsSection
    computes: tuple[ComputeSection, ...]
    buckets: tuple[BucketSection, ...]
    work_buckets: tuple[WorkBucketSection, ...]
    organization: OrganizationSection | None = None

    @property
    def sections(self) -> tuple[Section, ...]:
        """Every section with rows, in the report's order."""
        organization = () if self.organization is None else (self.organization,)
        return (
            self.principals,
            *self.computes,
            *organization,
            *self.buckets,
            *self.work_buckets,
        )


def _as_tuple(value: str | list[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _bucket_of(resource: str) -> str | None:
    """The bucket an S3 resource ARN names, or None (not S3, or a wildcard in the name)."""
    if ":s3:::" not in resource:
        return None
    name = resource.split(":::", 1)[1].split("/", 1)[0]
    return None if "*" in name or "?" in name else name


def _buckets_of(statements: Sequence[policies.Statement]) -> list[str]:
    """The buckets statements name, in order of first mention."""
    names = [
        _bucket_of(resource)
        for statement in statements
        for resource in _as_tuple(statement["Resource"])
    ]
    return list(dict.fromkeys(name for name in names if name is not None))


@dataclass(frozen=True)
class _Identity:
    """A compute account's s3-write policy: its managed policies' statements by name, and
    for each bucket its statements narrowed to the resources that name the bucket (no other
    resource can match the bucket's ARNs), so that what the policy allows on one bucket is
    found without matching every resource of every statement."""

    parts: dict[str, list[policies.Statement]]
    by_bucket: dict[str, list[policies.Statement]]
    elsewhere: list[policies.Statement]

    @classmethod
    def of(cls, names: Sequence[str], documents: Sequence[policies.Document]) -> _Identity:
        """The s3-write policy whose managed policies are ``names`` (construct ids, or the
        StackSet's fixed names) holding ``documents``."""
        parts = {
            name: document["Statement"] for name, document in zip(names, documents, strict=True)
        }
        by_bucket: dict[str, list[policies.Statement]] = {}
        elsewhere: list[policies.Statement] = []
        for statement in (s for part in parts.values() for s in part):
            resources = _as_tuple(statement["Resource"])
            buckets = [_bucket_of(resource) for resource in resources]
            if None in buckets:
                elsewhere.append(statement)
                continue
            narrowed: dict[str, list[str]] = {}
            for bucket, resource in zip(buckets, resources, strict=True):
                narrowed.setdefault(str(bucket), []).append(resource)
            for name, own in narrowed.items():
                by_bucket.setdefault(name, []).append({**statement, "Resource": own})
        return cls(parts, by_bucket, elsewhere)

    def about(self, bucket: str) -> list[policies.Statement]:
        """The statements that may allow something on ``bucket`` or its objects."""
        return self.by_bucket.get(bucket, []) + self.elsewhere


_COMPARISONS = {
    "StringLike": Comparison.MATCHES,
    "ForAnyValue:StringEquals": Comparison.INCLUDES,
    "StringNotEquals": Comparison.ABSENT_OR_NOT,
    "StringNotLike": Comparison.ABSENT_OR_MATCHES_NONE,
}
# A negated test of a key that must also be present (``Null`` false) holds only when it is.
_WHEN_PRESENT = {
    Comparison.ABSENT_OR_NOT: Comparison.PRESENT_AND_NOT,
    Comparison.ABSENT_OR_MATCHES_NONE: Comparison.PRESENT_AND_MATCHES_NONE,
}


# The keys that say who the caller is: the principals section says whom they admit.
PRINCIPAL_KEYS = frozenset(
    {
        policies.PRINCIPAL_ARN,
        policies.PRINCIPAL_ACCOUNT,
        policies.PRINCIPAL_ORG_ID,
        policies.PRINCIPAL_ORG_PATHS,
    }
)


def _clauses(condition: dict[str, Any]) -> tuple[Clause, ...]:
    """The clauses of a statement's condition, leaving out the principal condition (the
    principals section says whom it admits). A key tested for presence and by a negated
    operator makes one clause."""
    present = {key for key, value in condition.get("Null", {}).items() if value == "false"}
    assert set(condition.get("Null", {})) == present, f"only presence tests are read: {condition}"
    clauses: list[Clause] = []
    for operator, values in condition.items():
        for key, value in values.items():
            if key in PRINCIPAL_KEYS or operator == "Null":
                continue
            comparison = _COMPARISONS.get(operator, Comparison.IS)
            if key in present and comparison in _WHEN_PRESENT:
                comparison = _WHEN_PRESENT[comparison]
                present.discard(key)
            clauses.append(Clause(key, comparison, _as_tuple(value)))
    clauses += [Clause(key, Comparison.PRESENT, ()) for key in sorted(present)]
    return tuple(clauses)


def _without(condition: dict[str, Any], keys: frozenset[str]) -> dict[str, Any]:
    return {
        operator: {key: value for key, value in values.items() if key not in keys}
        for operator, values in condition.items()
        if any(key not in keys for key in values)
    }


# Conditions that only one account's policy states: who the caller is (the bucket or key
# policy), and which account owns the bucket (the s3-write policy).
_ONE_SIDED = PRINCIPAL_KEYS | {policies.RESOURCE_ACCOUNT}


def _without_principal(condition: dict[str, Any]) -> dict[str, Any]:
    return _without(condition, _ONE_SIDED)


def _allows(
    statements: Sequence[policies.Statement],
    action: str,
    resource: str,
    condition: dict[str, Any],
) -> bool:
    """Whether an Allow statement covers ``action`` on ``resource`` under ``condition``."""
    return any(
        statement["Effect"] == "Allow"
        and any(fnmatchcase(action, pattern) for pattern in _as_tuple(statement["Action"]))
        and any(fnmatchcase(resource, pattern) for pattern in _as_tuple(statement["Resource"]))
        and _without_principal(statement.get("Condition", {})) == condition
        for statement in statements
    )


def _both_allow(
    statement: policies.Statement, identities: Sequence[Sequence[policies.Statement]]
) -> tuple[str, ...]:
    """The actions of a bucket or key policy statement that every compute account's s3-write
    policy also allows, on every resource of the statement and under the same conditions."""
    condition = _without_principal(statement.get("Condition", {}))
    return tuple(
        sorted(
            action
            for action in _as_tuple(statement["Action"])
            if all(
                _allows(identity, action, resource, condition)
                for identity in identities
                for resource in _as_tuple(statement["Resource"])
            )
        )
    )


def _owner_clauses(
    identities: Sequence[Sequence[policies.Statement]], action: str, resource: str
) -> tuple[Clause, ...]:
    """The account the s3-write policies require to own the bucket of ``resource``."""
    owners = {
        statement["Condition"]["StringEquals"][policies.RESOURCE_ACCOUNT]
        for identity in identities
        for statement in identity
        if statement["Effect"] == "Allow"
        and any(fnmatchcase(action, pattern) for pattern in _as_tuple(statement["Action"]))
        and any(fnmatchcase(resource, pattern) for pattern in _as_tuple(statement["Resource"]))
        and policies.RESOURCE_ACCOUNT in statement.get("Condition", {}).get("StringEquals", {})
    }
    return tuple(Clause(policies.RESOURCE_ACCOUNT, Comparison.IS, (owner,)) for owner in owners)


def _who(statement: policies.Statement) -> Who:
    """Everyone for a statement of every principal that no principal condition narrows, else
    the compute accounts' principals or the organisation's Forge roles, of whom the admitted
    ones are the callers the rows speak of."""
    principal = statement["Principal"]
    narrowed = any(
        key in PRINCIPAL_KEYS for tests in statement.get("Condition", {}).values() for key in tests
    )
    return Who.EVERYONE if principal in ("*", {"AWS": "*"}) and not narrowed else Who.ADMITTED


def _s3_rows(
    plan: AccessPlan,
    grant: ValidGrant,
    identities: Sequence[Sequence[policies.Statement]],
) -> list[AccessRow]:
    settings = plan.settings
    bucket_policy = plan.bucket_policies[grant.name]["Statement"]
    kept = [statement for statement in bucket_policy if statement in grant.existing_statements]
    rows: list[AccessRow] = []
    granted: set[str] = set()
    for statement in bucket_policy:
        if statement["Effect"] != "Allow" or statement in kept:
            continue
        actions = _both_allow(statement, identities)
        granted.update(actions)
        if actions:
            resources = _as_tuple(statement["Resource"])
            owner = _owner_clauses(identities, actions[0], resources[0])
            rows.append(
                AccessRow(
                    Effect.ALLOW,
                    Who.ADMITTED,
                    actions,
                    resources,
                    clauses=_clauses(statement.get("Condition", {})) + owner,
                )
            )
    location = policies.bucket_arn(settings.partition, grant.name)
    everything = f"{location}/*"
    if grant.prefixes:
        patterns = tuple(policies.list_prefix_patterns(grant.prefixes))
        outside = Clause("s3:prefix", Comparison.ABSENT_OR_MATCHES_NONE, patterns)
        object_actions = tuple(sorted(granted - set(policies.BUCKET_ACTIONS)))
        granted_objects = policies.object_arns(settings.partition, grant.name, grant.prefixes)
        rows += [
            AccessRow(
                Effect.DENY, Who.ADMITTED, ("s3:ListBucket",), (location,), clauses=(outside,)
            ),
            AccessRow(
                Effect.DENY, Who.ADMITTED, object_actions, (everything,), tuple(granted_objects)
            ),
        ]
    object_denied = set(policies.OBJECT_WRITE_ACTIONS) | set(NOTABLE_OBJECT_ACTIONS)
    bucket_denied = tuple(sorted(set(NOTABLE_BUCKET_ACTIONS) - granted))
    rows += [
        AccessRow(Effect.DENY, Who.ADMITTED, bucket_denied, (location,)),
        AccessRow(Effect.DENY, Who.ADMITTED, tuple(sorted(object_denied - granted)), (everything,)),
    ]
    for statement in bucket_policy:
        if statement["Effect"] == "Deny" and statement not in kept:
            rows.append(
                AccessRow(
                    Effect.DENY,
                    _who(statement),
                    _as_tuple(statement["Action"]),
                    _as_tuple(statement["Resource"]),
                    clauses=_clauses(statement["Condition"]),
                )
            )
    return list(dict.fromkeys(rows))


def _key_sharers(settings: AccessSettings, grant: ValidGrant) -> list[ValidGrant]:
    """The grants whose buckets use ``grant``'s key: itself, and those naming the same
    existing key (a created key is one bucket's own)."""
    return [
        other
        for other in settings.grants
        if other is grant
        or (grant.kms_key_arn is not None and other.kms_key_arn == grant.kms_key_arn)
    ]


def _bound_to(statement: policies.Statement, contexts: list[str]) -> policies.Statement | None:
    """``statement`` narrowed to one bucket's encryption contexts, or None if it does not
    cover them."""
    condition = statement.get("Condition", {})
    bound = _as_tuple(condition.get("StringLike", {}).get(policies.S3_ENCRYPTION_CONTEXT, ()))
    if not set(contexts) <= set(bound):
        return None
    like = {**condition["StringLike"], policies.S3_ENCRYPTION_CONTEXT: contexts}
    return {**statement, "Condition": {**condition, "StringLike": like}}


def _kms_identity(
    settings: AccessSettings, grant: ValidGrant, identity: Sequence[policies.Statement]
) -> list[policies.Statement]:
    """The KMS statements of a compute account's s3-write policy that cover ``grant``'s key
    and bucket, narrowed to them: the key's ARN, or (for a key the storage stack creates,
    whose ARN is not known in A) the account's keys carrying the bucket's own alias, and the
    bucket's own encryption contexts."""
    alias = settings.alias_name(grant)
    contexts = policies.encryption_context(settings.partition, [grant.name])
    found: list[policies.Statement] = []
    for statement in identity:
        resources = _as_tuple(statement["Resource"])
        bound = _bound_to(statement, contexts)
        if not all(":kms:" in resource for resource in resources) or bound is None:
            continue
        if grant.kms_key_arn is not None and grant.kms_key_arn in resources:
            found.append({**bound, "Resource": grant.kms_key_arn})
        aliases = statement["Condition"].get("ForAnyValue:StringEquals", {})
        if grant.create_kms_key and alias in _as_tuple(aliases.get("kms:ResourceAliases", ())):
            narrowed = {**aliases, "kms:ResourceAliases": alias}
            condition = {**bound["Condition"], "ForAnyValue:StringEquals": narrowed}
            found.append({**bound, "Condition": condition})
    return found


def _kms_rows(
    plan: AccessPlan, grant: ValidGrant, identity: Sequence[policies.Statement]
) -> list[AccessRow]:
    """KMS permissions of the bucket's key for this bucket: what its key policy and the
    s3-write policy both allow, bound to the bucket by the encryption context S3 sends."""
    settings = plan.settings
    contexts = policies.encryption_context(settings.partition, [grant.name])
    statements = _kms_identity(settings, grant, identity)
    key_policy = [
        bound
        for statement in plan.key_statements[grant.name]
        if statement["Effect"] == "Allow" and (bound := _bound_to(statement, contexts))
    ]
    actions = tuple(
        sorted(
            {action for statement in statements for action in _as_tuple(statement["Action"])}
            & {action for statement in key_policy for action in _as_tuple(statement["Action"])}
        )
    )
    resources = _as_tuple(statements[0]["Resource"])
    clauses = _clauses(key_policy[0]["Condition"]) + _clauses(statements[0]["Condition"])
    via_s3 = statements[0]["Condition"]["StringEquals"]["kms:ViaService"]
    outside_s3 = Clause("kms:ViaService", Comparison.ABSENT_OR_NOT, (via_s3,))
    other_bucket = Clause(
        policies.S3_ENCRYPTION_CONTEXT, Comparison.ABSENT_OR_MATCHES_NONE, tuple(contexts)
    )
    rows = [
        AccessRow(
            Effect.ALLOW, Who.ADMITTED, actions, resources, clauses=tuple(dict.fromkeys(clauses))
        ),
        AccessRow(Effect.DENY, Who.ADMITTED, actions, resources, clauses=(outside_s3,)),
        AccessRow(Effect.DENY, Who.ADMITTED, actions, resources, clauses=(other_bucket,)),
    ]
    not_granted = tuple(sorted(set(policies.KMS_WRITE_ACTIONS) - set(actions)))
    if not_granted:
        rows.append(AccessRow(Effect.DENY, Who.ADMITTED, not_granted, resources))
    for statement in plan.key_statements[grant.name]:
        if statement["Effect"] == "Deny":
            rows.append(
                AccessRow(
                    Effect.DENY,
                    _who(statement),
                    _as_tuple(statement["Action"]),
                    resources,
                    clauses=_clauses(statement["Condition"]),
                )
            )
    return list(dict.fromkeys(rows))


def _principals_section(
    settings: AccessSettings, identities: dict[str, _Identity]
) -> PrincipalsSection:
    """The admitted roles of each compute account (by pattern, and under the Forge prefix's
    path), then every kind of caller that gets nothing from the construct."""
    rows: list[PrincipalsRow] = []
    for compute in settings.computes:
        parts = len(identities[compute.account].parts)
        rows.append(
            PrincipalsRow(
                PrincipalKind.ADMITTED_ROLES,
                Access.AS_TABLES,
                accounts=(compute.account,),
                patterns=compute.principal_patterns,
                s3_write_parts=parts,
            )
        )
        if compute.forge_role_prefix is not None:
            rows.append(
                PrincipalsRow(
                    PrincipalKind.ROLES_UNDER_PATH,
                    Access.NONE,
                    accounts=(compute.account,),
                    path_prefix=compute.forge_role_prefix,
                    path=compute.forge_role_path,
                    example_path=(
                        f"role{compute.forge_role_path}{compute.forge_role_prefix}-team/any-name"
                    ),
                )
            )
    organization = settings.organization
    if organization is not None:
        rows += [
            PrincipalsRow(
                PrincipalKind.ORGANIZATION_ROLES,
                Access.AS_TABLES,
                patterns=(organization.prefix_pattern,),
                s3_write_parts=len(identities[ORGANIZATION].parts),
                organization=organization.org_id,
                units=organization.ou_paths,
            ),
            PrincipalsRow(
                PrincipalKind.ROLES_UNDER_PATH,
                Access.NONE,
                path_prefix=organization.forge_role_prefix,
                path=organization.forge_role_path,
                example_path=(
                    f"role{organization.forge_role_path}{organization.forge_role_prefix}"
                    "-team/any-name"
                ),
                organization=organization.org_id,
                units=organization.ou_paths,
            ),
        ]
    accounts = tuple(compute.account for compute in settings.computes)
    rows += [
        PrincipalsRow(PrincipalKind.WITHOUT_IAM_POLICY, Access.NONE),
        PrincipalsRow(PrincipalKind.OTHER_COMPUTE_PRINCIPALS, Access.NONE, accounts=accounts),
    ]
    if organization is not None:
        rows.append(
            PrincipalsRow(
                PrincipalKind.OTHER_ORGANIZATION_PRINCIPALS,
                Access.NONE,
                organization=organization.org_id,
                units=organization.ou_paths,
            )
        )
    rows += [
        PrincipalsRow(
            PrincipalKind.OTHER_ACCOUNTS,
            Access.NONE,
            organization=None if organization is None else organization.org_id,
            units=() if organization is None else organization.ou_paths,
        ),
        PrincipalsRow(PrincipalKind.ANONYMOUS, Access.NONE),
        PrincipalsRow(
            PrincipalKind.STORAGE_PRINCIPALS,
            Access.OWN_IAM_ONLY,
            accounts=(settings.storage_account,),
        ),
    ]
    return PrincipalsSection(tuple(rows))


def _compute_section(
    plan: AccessPlan, compute: ComputeSettings, identity: _Identity
) -> ComputeSection:
    """One compute account, with its s3-write policy's managed policies and the buckets each
    grants, in the order of the grants (the work bucket last), and the role the construct made
    for Platform's credentials there."""
    order = [grant.name for grant in plan.settings.grants] + [str(compute.work_bucket)]
    credentials = plan.platform.credentials if plan.platform is not None else None
    made_here = credentials is not None and compute.account == plan.settings.primary.account
    return ComputeSection(
        compute.account,
        compute.region,
        compute.principal_patterns,
        compute.work_bucket,
        _policy_rows(identity, order),
        credentials_role=credentials.role_arn if credentials is not None and made_here else None,
        credentials_admitted=compute.credentials_role_arn is not None,
    )


def _organization_section(
    plan: AccessPlan, organization: OrganizationPlan, identity: _Identity
) -> OrganizationSection:
    """The organisation grant: the units, the StackSet, and its managed policies' buckets."""
    order = [grant.name for grant in plan.settings.grants]
    settings = organization.organization
    return OrganizationSection(
        organization=settings.org_id,
        units=settings.ou_paths,
        pattern=settings.prefix_pattern,
        region=settings.region,
        admin_account=settings.admin_account,
        stack_set=organization.stack_set_name,
        rows=_policy_rows(identity, order),
    )


def _policy_rows(identity: _Identity, order: list[str]) -> tuple[ManagedPolicyRow, ...]:
    """Each managed policy of an s3-write policy, with the buckets it grants in ``order``."""
    return tuple(
        ManagedPolicyRow(name, tuple(sorted(_buckets_of(statements), key=order.index)))
        for name, statements in identity.parts.items()
    )


def _bucket_section(
    plan: AccessPlan,
    grant: ValidGrant,
    identities: Sequence[Sequence[policies.Statement]],
) -> BucketSection:
    settings = plan.settings
    rows = _s3_rows(plan, grant, identities)
    if grant.uses_kms:
        rows += _kms_rows(plan, grant, identities[0])
    return BucketSection(
        bucket=grant.name,
        read_only=grant.read_only,
        created=grant.create,
        prefixes=grant.prefixes,
        key_alias=settings.alias_name(grant) if grant.create_kms_key else None,
        existing_key_arn=grant.kms_key_arn,
        key_shared_with=tuple(
            other.name for other in _key_sharers(settings, grant) if other is not grant
        ),
        kept_statements=grant.existing_statements,
        rows=tuple(rows),
    )


def _work_bucket_section(
    settings: AccessSettings, compute: ComputeSettings, work_bucket: str, own: _Identity
) -> WorkBucketSection:
    identity = own.about(work_bucket)
    location = policies.bucket_arn(settings.partition, work_bucket)
    rows = []
    for resource, candidates in (
        (location, policies.BUCKET_ACTIONS),
        (f"{location}/*", policies.object_actions(read_only=False)),
    ):
        actions = tuple(a for a in sorted(candidates) if _allows(identity, a, resource, {}))
        owner = _owner_clauses([identity], actions[0], resource)
        rows.append(
            AccessRow(Effect.ALLOW, Who.S3_WRITE_HOLDERS, actions, (resource,), clauses=owner)
        )
    return WorkBucketSection(work_bucket, compute.account, tuple(rows))


# The key of the organisation's member accounts among the s3-write policies by account.
ORGANIZATION = "organization"


def report_data(plan: AccessPlan) -> Report:
    """The access report of one construct's plan, as sections of rows."""
    settings = plan.settings
    policies_by_key = {
        compute.compute.account: (compute.policy_names, compute.s3_write)
        for compute in plan.computes
    }
    organization = plan.organization
    if organization is not None:
        policies_by_key[ORGANIZATION] = (organization.policy_names, organization.s3_write)
    identities = {key: _Identity.of(*named) for key, named in policies_by_key.items()}
    # Accounts without a work bucket (and the organisation's members) share one s3-write
    # policy: each bucket is judged once against each distinct policy, the first one first.
    distinct: dict[int, _Identity] = {}
    for key, (_, documents) in policies_by_key.items():
        distinct.setdefault(id(documents), identities[key])
    return Report(
        storage_account=settings.storage_account,
        storage_region=settings.storage_region,
        partition=settings.partition,
        account_principals=settings.account_principals,
        principals=_principals_section(settings, identities),
        computes=tuple(
            _compute_section(plan, compute, identities[compute.account])
            for compute in settings.computes
        ),
        buckets=tuple(
            _bucket_section(
                plan, grant, [identity.about(grant.name) for identity in distinct.values()]
            )
            for grant in settings.grants
        ),
        work_buckets=tuple(
            _work_bucket_section(
                settings, compute, compute.work_bucket, identities[compute.account]
            )
            for compute in settings.computes
            if compute.work_bucket is not None
        ),
        organization=(
            None
            if organization is None
            else _organization_section(plan, organization, identities[ORGANIZATION])
        ),
    )


# The Markdown rendering: every sentence of the report is below.

_TABLE_HEADER = (
    "| Decision | Who | Actions | Resources | Only if |",
    "|---|---|---|---|---|",
)
_PARTS_HEADER = ("| Managed policy | Buckets |", "|---|---|")
_PRINCIPALS_HEADER = ("| Principal | Access to the buckets of B |", "|---|---|")
_WHO = {
    Who.ADMITTED: "admitted principals",
    Who.EVERYONE: "everyone",
    Who.S3_WRITE_HOLDERS: "principals of this account with the s3-write policy",
}


def _code(text: str) -> str:
    return f"`{text}`"


def _codes(texts: Iterable[str]) -> str:
    return ", ".join(_code(text) for text in texts)


def _listed(texts: Sequence[str]) -> str:
    """``a``; ``a and b``; ``a, b and c``."""
    return " and ".join(filter(None, (", ".join(texts[:-1]), texts[-1])))


def _clause_text(clause: Clause) -> str:
    key, values = _code(clause.key), clause.values
    match clause.comparison:
        case Comparison.IS:
            return " or ".join(f"{key} is {_code(value)}" for value in values)
        case Comparison.MATCHES:
            return f"{key} matches " + " or ".join(map(_code, values))
        case Comparison.INCLUDES:
            return f"{key} includes {_codes(values)}"
        case Comparison.ABSENT_OR_NOT:
            return f"{key} is absent or not {_codes(values)}"
        case Comparison.ABSENT_OR_MATCHES_NONE:
            return f"{key} is absent or matches none of {_codes(values)}"
        case Comparison.PRESENT:
            return f"{key} is present"
        case Comparison.PRESENT_AND_NOT:
            return f"{key} is present and not {_codes(values)}"
        case Comparison.PRESENT_AND_MATCHES_NONE:
            return f"{key} is present and matches none of {_codes(values)}"
        case unknown:
            assert_never(unknown)


def _access_row_markdown(row: AccessRow) -> str:
    """An access row as a table row: decision, who, actions, resources, conditions."""
    resources = _codes(row.resources)
    if row.excluded:
        resources += f" except {_codes(row.excluded)}"
    only_if = "; ".join(_clause_text(clause) for clause in row.clauses)
    cells = (row.effect.value, _WHO[row.who], _codes(row.actions), resources, only_if)
    return "| " + " | ".join(cells) + " |"


def _managed_policy_row_markdown(row: ManagedPolicyRow) -> str:
    """A managed-policy row as a table row: the policy, then its buckets."""
    return f"| {_code(row.policy)} | {_codes(row.buckets)} |"


def _s3_write_parts(row: PrincipalsRow) -> str:
    """The s3-write policy, or all its managed policies when it is split."""
    if row.s3_write_parts == 1:
        return "the s3-write policy"
    return f"all {row.s3_write_parts} managed policies of the s3-write policy"


def _attached(row: PrincipalsRow) -> str:
    """How a compute account's s3-write policy must be attached for the bucket tables to hold."""
    return f"with {_s3_write_parts(row)} of {_code(row.accounts[0])} attached"


def _units_text(row: PrincipalsRow) -> str:
    """The accounts of an organisation's units: every account of the organisation (for its
    root's path), or the accounts of the organisation in or below the units."""
    organization = _code(str(row.organization))
    roots = [unit for unit in row.units if is_root_path(unit)]
    if roots:
        return f"every account of organisation {organization} (its root's path {_code(roots[0])})"
    units = " or ".join(map(_code, row.units))
    unit = "unit" if len(row.units) == 1 else "units"
    return f"the accounts of organisation {organization} in or below the {unit} {units}"


def _principal_text(row: PrincipalsRow) -> str:
    match row.kind:
        case PrincipalKind.ADMITTED_ROLES:
            patterns = " or ".join(map(_code, row.patterns))
            return (
                f"Roles of {_code(row.accounts[0])} whose ARN matches {patterns}, and their "
                f"sessions, {_attached(row)}"
            )
        case PrincipalKind.ORGANIZATION_ROLES:
            return (
                f"Roles of {_units_text(row)} (`aws:PrincipalOrgID`, `aws:PrincipalOrgPaths`), "
                f"other than the storage account, whose ARN matches {_code(row.patterns[0])}, "
                f"and their sessions, with {_s3_write_parts(row)} the StackSet makes in their "
                "account attached"
            )
        case PrincipalKind.ROLES_UNDER_PATH:
            who = _units_text(row) if row.organization is not None else _code(row.accounts[0])
            return (
                f"Roles of {who} under a path deeper than "
                f"{_code(str(row.path))} whose name starts with {_code(str(row.path_prefix))} "
                f"(such as {_code(str(row.example_path))}, which `*` in the pattern would "
                "match), whatever their IAM policies"
            )
        case PrincipalKind.WITHOUT_IAM_POLICY:
            return "The same roles when no IAM policy of their account allows the request"
        case PrincipalKind.OTHER_COMPUTE_PRINCIPALS:
            accounts = _listed([_code(account) for account in row.accounts])
            return f"Every other role and every user of {accounts}, whatever its IAM policies"
        case PrincipalKind.OTHER_ORGANIZATION_PRINCIPALS:
            return (
                f"Every other role and every user of {_units_text(row)}, whatever its IAM policies"
            )
        case PrincipalKind.OTHER_ACCOUNTS if row.organization is not None:
            return (
                f"Principals of any other account (outside {_units_text(row)}), whatever "
                "their IAM policies"
            )
        case PrincipalKind.OTHER_ACCOUNTS:
            return "Principals of any other account, whatever their IAM policies"
        case PrincipalKind.ANONYMOUS:
            return "Anonymous requests"
        case PrincipalKind.STORAGE_PRINCIPALS:
            return f"Principals of {_code(row.accounts[0])}"
        case unknown:
            assert_never(unknown)


def _access_text(row: PrincipalsRow) -> str:
    match row.access:
        case Access.AS_TABLES:
            return "as the bucket tables below list"
        case Access.NONE:
            return "none"
        case Access.OWN_IAM_ONLY:
            b = _code(row.accounts[0])
            return f"none from this construct: only what their own IAM policies in {b} allow"
        case unknown:
            assert_never(unknown)


def _principals_row_markdown(row: PrincipalsRow) -> str:
    """A principals row as a table row: the kind of caller, then its access."""
    return f"| {_principal_text(row)} | {_access_text(row)} |"


def _principals_markdown(section: PrincipalsSection) -> list[str]:
    return [
        "## Principals",
        "",
        *_PRINCIPALS_HEADER,
        *(_principals_row_markdown(row) for row in section.rows),
        "",
        "A role's session (`arn:<partition>:sts::<account>:assumed-role/<role>/<session>`) is "
        "admitted as the role: the policies test `aws:PrincipalArn`, which is the role's ARN. "
        "Each compute account's patterns name that account: a role of one compute account is "
        "not admitted by the prefix or the role names of another.",
    ]


def _compute_markdown(section: ComputeSection) -> list[str]:
    a = _code(section.account)
    patterns = " or ".join(_code(pattern) for pattern in section.patterns)
    facts = [
        f"Region {_code(section.region)}.",
        f"Admitted: roles whose ARN matches {patterns}, and their sessions.",
    ]
    if section.work_bucket is not None:
        facts.append(f"Work bucket {_code(section.work_bucket)}, in {a}.")
    if section.credentials_role is not None and section.credentials_admitted:
        facts.append(
            f"{_code(section.credentials_role)} is the role the construct made for Platform's "
            "credentials: admitted, because Data Explorer reads the data links with it."
        )
    elif section.credentials_role is not None:
        facts.append(
            f"{_code(section.credentials_role)}, the role the construct made for Platform's "
            "credentials, is not admitted: no data links are registered, so no bucket of B "
            "is read with the credentials."
        )
    if len(section.rows) == 1:
        facts.append(
            f"The s3-write policy is one managed policy, {_code(section.rows[0].policy)} of this "
            "account's compute stack."
        )
        claim = (
            f"An admitted role of {a} with this managed policy attached (and no other IAM "
            "policy) may use these buckets:"
        )
    else:
        facts.append(
            f"The s3-write policy is {len(section.rows)} managed policies of this account's "
            f"compute stack, each within IAM's {policies.MANAGED_POLICY_LIMIT:,} characters. A "
            "role reaches a bucket only with the managed policy that grants it attached: attach "
            "them all (the construct attaches them all to the roles, users and groups it is "
            "given)."
        )
        claim = (
            f"An admitted role of {a} with only one of these managed policies attached (and "
            "no other IAM policy) may use the buckets of its row, and no bucket of another row:"
        )
    return [
        f"## Compute account {a}",
        "",
        " ".join(facts),
        "",
        claim,
        "",
        *_PARTS_HEADER,
        *(_managed_policy_row_markdown(row) for row in section.rows),
    ]


def _organization_markdown(section: OrganizationSection) -> list[str]:
    organization = _code(section.organization)
    facts = [
        f"Admitted: roles whose ARN matches {_code(section.pattern)} in the accounts of "
        f"{organization} in or below {' or '.join(map(_code, section.units))}, other than the "
        "storage account, and their sessions.",
        f"The StackSet {_code(section.stack_set)} (service-managed, in "
        f"{_code(section.admin_account)}) deploys the s3-write policy to each of those accounts "
        f"in {_code(section.region)}, and to each account that joins them later; the "
        "organisation's management account gets none (StackSets never deploy there).",
        "Each managed policy has the same name in every account, so the Forge roles there can "
        "have it attached by name.",
    ]
    return [
        f"## Organisation {organization}",
        "",
        " ".join(facts),
        "",
        "An admitted role of such an account with only one of these managed policies attached "
        "(and no other IAM policy) may use the buckets of its row, and no bucket of another row:",
        "",
        *_PARTS_HEADER,
        *(_managed_policy_row_markdown(row) for row in section.rows),
    ]


def _bucket_markdown(report: Report, section: BucketSection) -> list[str]:
    mode = "read-only" if section.read_only else "read-write"
    origin = "created by the storage stack" if section.created else "an existing bucket"
    facts = [f"In {_code(report.storage_account)}, {origin}."]
    if section.prefixes:
        facts.append(f"Granted key prefixes: {_codes(p + '/' for p in section.prefixes)}.")
    else:
        facts.append("Granted on every key.")
    if section.key_alias is not None:
        facts.append(
            f"Encrypted with a KMS key of its own, alias {_code(section.key_alias)}, "
            "whose key policy the storage stack writes."
        )
    elif section.existing_key_arn is not None:
        facts.append(
            f"Encrypted with the existing KMS key {_code(section.existing_key_arn)}. The "
            "construct does not manage that key's policy: the KMS rows hold once the key policy "
            "contains the statement the storage stack prints for it (an output "
            "`KeyPolicyStatement<n>` whose description names the key); until then the admitted "
            "principals cannot read or write objects encrypted with it."
        )
    if section.key_shared_with:
        facts.append(
            f"The same key encrypts {_codes(section.key_shared_with)}; the encryption context "
            "S3 sends binds each bucket's KMS grant to that bucket, so the rows below are this "
            "bucket's own."
        )
    lines = [
        f"## Bucket `{section.bucket}` ({mode})",
        "",
        " ".join(facts),
        "",
        *_TABLE_HEADER,
        *(_access_row_markdown(row) for row in section.rows),
    ]
    if section.kept_statements:
        lines += [
            "",
            "Kept from the bucket's existing policy, as given and not analysed here; they may "
            "admit principals the tables above do not list:",
            "",
            "```json",
            json.dumps(list(section.kept_statements), indent=2),
            "```",
        ]
    return lines


def _work_bucket_markdown(section: WorkBucketSection) -> list[str]:
    a = _code(section.account)
    return [
        f"## Work bucket `{section.bucket}` (in {a})",
        "",
        f"Same account as the callers: the s3-write policy alone grants this, to whichever role, "
        f"user or group of {a} it is attached to, Forge or not. The work bucket's own bucket "
        "policy is not managed by this construct.",
        "",
        *_TABLE_HEADER,
        *(_access_row_markdown(row) for row in section.rows),
    ]


def _section_markdown(report: Report, section: Section) -> list[str]:
    match section:
        case PrincipalsSection():
            return _principals_markdown(section)
        case ComputeSection():
            return _compute_markdown(section)
        case OrganizationSection():
            return _organization_markdown(section)
        case BucketSection():
            return _bucket_markdown(report, section)
        case WorkBucketSection():
            return _work_bucket_markdown(section)
        case unknown:
            assert_never(unknown)


def _report_markdown(report: Report) -> list[str]:
    """The lines of one construct's report."""
    accounts = _listed([_code(compute.account) for compute in report.computes])
    if report.organization is not None:
        accounts += f" and organisation {_code(report.organization.organization)}"
    b = _code(report.storage_account)
    principals = _listed([_code(p) for p in report.account_principals])
    fixed = "principal" if len(report.account_principals) == 1 else "principals"
    lines = [
        f"# Access report: buckets of {b} for Seqera Platform in {accounts}",
        "",
        f"Read off the policies the construct deploys: the s3-write managed policy in each "
        f"compute account ({accounts}), a bucket policy on each bucket of the storage account "
        f"B ({b}, {_code(report.storage_region)}) and the key policies of the KMS keys. "
        f"Partition {_code(report.partition)}.",
        "",
        "A request from a compute account to a bucket of B is allowed only when both accounts "
        "allow it: an IAM policy in the compute account (the s3-write policy, once attached to "
        "the role) and B's bucket policy, plus the key policy for encrypted objects. Whatever "
        "IAM policies a compute account attaches, B admits no more than the Allow rows below. "
        "Every table row is one claim, checked by the project's tests with an IAM policy "
        "evaluator; what no Allow row grants is denied.",
    ]
    for section in report.sections:
        lines += ["", *_section_markdown(report, section)]
    public = (
        f"Every Allow statement the construct writes into the bucket policies names the fixed "
        f"{fixed} {principals}"
    )
    if report.organization is not None:
        public = (
            f"Every Allow statement the construct writes into the bucket policies names the "
            f"fixed {fixed} {principals}, or every principal of the organisation "
            f"{_code(report.organization.organization)} (a fixed `aws:PrincipalOrgID`)"
        )
    lines += [
        "",
        "## Block Public Access",
        "",
        f"{public}, so S3 Block Public Access does not count them as public: turning on "
        "RestrictPublicBuckets changes none of the decisions above.",
        "",
        "## Not covered",
        "",
        "Service and resource control policies, VPC endpoint policies, permission boundaries "
        "and session policies can only narrow what is listed here. Object ACLs are disabled "
        "(owner enforced) only on buckets the storage stack creates; on existing buckets they "
        "are as the bucket's owner left them.",
    ]
    return lines


def access_report(plan: AccessPlan | Sequence[AccessPlan]) -> str:
    """The Markdown access report for one construct's plan, or several constructs'."""
    every = [plan] if isinstance(plan, AccessPlan) else list(plan)
    lines: list[str] = []
    for index, one in enumerate(every):
        lines += ([""] if index else []) + _report_markdown(report_data(one))
    return "\n".join(lines) + "\n"


def write_access_report(plan: AccessPlan | Sequence[AccessPlan], outdir: str | Path) -> Path:
    """Write the report as ``access-report.md`` into ``outdir`` (the cloud assembly)."""
    path = Path(outdir) / REPORT_FILE
    path.write_text(access_report(plan), encoding="utf-8")
    return path
