"""The access report's rows as claims, each turned into requests for the evaluator.

Every row of ``report_data`` is a claim, read from its fields (the Markdown is not read). An
access row says that callers of a kind (``who``) may, or may not, do its actions on its
resources when its clauses hold: each action is asked on a concrete resource of each pattern
(objects outside the excluded patterns, for a row that has them), for every combination of the
clauses' values, by representative callers; ``s3:*`` stands for every S3 action the section's
Allow rows grant. A principals row says what a kind of caller gets of the storage account's
buckets: it is asked every request of every bucket Allow row. A managed-policy row says that
its account's admitted roles holding only that managed policy may use the row's buckets
(``s3:GetBucketLocation``, which every grant allows) and not the first bucket of each other
row. Each kind of principal, access and comparison maps to its requests below; a row this
module does not know how to ask fails.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from constructs_lib.config import AccessSettings
from constructs_lib.report import (
    Access,
    AccessRow,
    BucketSection,
    Clause,
    Comparison,
    ComputeSection,
    Effect,
    ManagedPolicyRow,
    OrganizationSection,
    PrincipalKind,
    PrincipalsRow,
    Report,
    Section,
    Who,
    WorkBucketSection,
)
from tests.access.deployment import Deployment
from tests.access.matrix import OBJECT_WRITES, SAMPLE, Cell, Target
from tests.access.principals import (
    BROAD,
    ORGANIZATION_PATHS,
    S3_WRITE,
    Principal,
    part_of,
    role_arn,
    session_of,
)
from tests.conftest import THIRD_ACCOUNT

Check = tuple[Cell, bool]
Shape = tuple[str, Target, tuple[tuple[str, str], ...], bool]
Way = tuple[dict[str, str], bool]
Row = PrincipalsRow | ManagedPolicyRow | AccessRow


class UnreadableClaimError(ValueError):
    """A report row says something the test does not know how to check."""


@dataclass(frozen=True)
class Claim:
    """One table row of the report, in its section."""

    section: Section
    row: Row


def claims(report: Report) -> list[Claim]:
    """Every table row of the report, in order."""
    return [Claim(section, row) for section in report.sections for row in section.rows]


def _patterns(report: Report) -> list[str]:
    """The ``aws:PrincipalArn`` patterns the principals rows admit, of every account."""
    patterns = [
        pattern
        for row in report.principals.rows
        if row.kind is PrincipalKind.ADMITTED_ROLES
        for pattern in row.patterns
    ]
    if not patterns:
        raise UnreadableClaimError("the principals rows name no admitted pattern")
    return patterns


def _named(pattern: str) -> str:
    """A role ARN the pattern matches (``*`` filled in)."""
    return pattern.replace("*", "-claim-InstanceRole")


def _members(report: Report, row: PrincipalsRow) -> list[str]:
    """An account in (or below) each unit of an organisation row, as the tests' organisation
    places them: neither the storage account nor a compute account."""
    listed = {report.storage_account, *(section.account for section in report.computes)}
    found: list[str] = []
    for unit in row.units:
        inside = [a for a, path in ORGANIZATION_PATHS.items() if path.startswith(unit)]
        member = next((a for a in inside if a not in listed), None)
        if member is None:
            raise UnreadableClaimError(f"no member account of the tests is in {unit}")
        found.append(member)
    return found


def _organization_roles(report: Report, policies: tuple[str, ...]) -> list[Principal]:
    """A role of the pattern of each organisation row, in a member account of each of its
    units (named where the pattern has ``*``), and its session."""
    roles = [
        Principal(f"admitted-{account}", _named(row.patterns[0].replace("*", account, 1)), policies)
        for row in report.principals.rows
        if row.kind is PrincipalKind.ORGANIZATION_ROLES
        for account in _members(report, row)
    ]
    return [*roles, *(session_of(role) for role in roles)]


def _admitted(report: Report, policies: tuple[str, ...]) -> list[Principal]:
    """A role of each pattern the principals rows admit (named where the pattern has ``*``)
    and its session, with ``policies`` as IAM policies: of each compute account, and of a
    member account of each unit an organisation row admits."""
    roles = [
        Principal(f"admitted-{index}", _named(pattern), policies)
        for index, pattern in enumerate(_patterns(report))
    ]
    return [*roles, *(session_of(role) for role in roles), *_organization_roles(report, policies)]


def _transplanted(report: Report, account: str) -> list[Principal]:
    """Roles of ``account`` named as another account's patterns admit that account's roles
    (what a mistaken pattern would admit), where no pattern of ``account`` matches them."""
    patterns = _patterns(report)
    own = [pattern for pattern in patterns if pattern.split(":")[4] == account]
    found: list[Principal] = []
    for index, pattern in enumerate(patterns):
        parts = _named(pattern).split(":")
        arn = ":".join([*parts[:4], account, *parts[5:]])
        if pattern not in own and not any(fnmatchcase(arn, mine) for mine in own):
            found.append(Principal(f"{account}-named-as-pattern-{index}", arn, (BROAD,)))
    return found


def _admitted_roles(
    settings: AccessSettings, report: Report, row: PrincipalsRow
) -> list[Principal]:
    """A role of each admitted pattern and its session, holding the s3-write policy: of every
    compute account, not only the row's (each admitted row is asked of them all)."""
    return _admitted(report, (S3_WRITE,))


def _other_compute_principals(
    settings: AccessSettings, report: Report, row: PrincipalsRow
) -> list[Principal]:
    """Of each compute account: roles outside the patterns, with broad IAM grants or the
    s3-write policy, a user, roles named like a named role, and roles named as another
    account's patterns."""
    partition = settings.partition
    named = [_named(p) for p in _patterns(report) if "*" not in p]
    return [
        caller
        for a in row.accounts
        for caller in (
            *_outsiders(partition, a, "claim-user"),
            *(Principal(f"{arn}-2", f"{arn}-2", (BROAD,)) for arn in named if f"::{a}:" in arn),
            *_transplanted(report, a),
        )
    ]


def _other_organization_principals(
    settings: AccessSettings, report: Report, row: PrincipalsRow
) -> list[Principal]:
    """Of a member account of each unit: a role outside the pattern, with broad IAM grants or
    the s3-write policy, and a user named as the pattern names roles."""
    partition = settings.partition
    prefix = _organization_prefix(report)
    return [
        caller
        for a in _members(report, row)
        for caller in _outsiders(partition, a, f"{prefix}-claim")
    ]


def _outsiders(partition: str, account: str, user_name: str) -> tuple[Principal, ...]:
    """Of ``account``: a role outside the patterns with broad IAM grants, one with the
    s3-write policy, and a user ``user_name`` with broad IAM grants."""
    return (
        Principal(
            f"{account}-outside-role", role_arn(partition, account, "platform-admin"), (BROAD,)
        ),
        Principal(
            f"{account}-outside-role-s3-write",
            role_arn(partition, account, "data-analyst"),
            (S3_WRITE,),
        ),
        Principal(f"{account}-user", f"arn:{partition}:iam::{account}:user/{user_name}", (BROAD,)),
    )


def _organization_prefix(report: Report) -> str:
    """The name prefix of the organisation's admitted roles, from its pattern."""
    (pattern,) = [
        row.patterns[0]
        for row in report.principals.rows
        if row.kind is PrincipalKind.ORGANIZATION_ROLES
    ]
    return pattern.rsplit("/", 1)[1].removesuffix("*")


def _organization_forge_name(report: Report) -> str:
    """A role name the organisation's pattern admits, as Batch Forge names its roles."""
    return f"{_organization_prefix(report)}-claim-InstanceRole"


def _other_accounts(
    settings: AccessSettings, report: Report, row: PrincipalsRow
) -> list[Principal]:
    """Roles of a third account named as the compute accounts' patterns admit their roles;
    when the row names an organisation's units, roles named as its Forge roles in the third
    account (another organisation) and in each account of the tests' organisation outside
    the units, with broad IAM grants."""
    found = _transplanted(report, THIRD_ACCOUNT)
    if row.organization is None:
        return found
    name = _organization_forge_name(report)
    outside = [
        account
        for account, path in ORGANIZATION_PATHS.items()
        if not any(path.startswith(unit) for unit in row.units)
    ]
    return found + [
        Principal(f"{a}-forge-named", role_arn(settings.partition, a, name), (BROAD,))
        for a in outside
    ]


def _storage_principals(
    settings: AccessSettings, report: Report, row: PrincipalsRow
) -> list[Principal]:
    """A role of the storage account without IAM policies, and one with broad grants; with an
    organisation grant, a role named as its Forge roles, without IAM policies."""
    (b,) = row.accounts
    found = [
        Principal("storage-role", role_arn(settings.partition, b, "claim-steward")),
        Principal("storage-admin", role_arn(settings.partition, b, "claim-admin"), (BROAD,)),
    ]
    if report.organization is not None:
        name = _organization_forge_name(report)
        found.append(Principal("storage-forge-named", role_arn(settings.partition, b, name)))
    return found


def _role_under_path(
    settings: AccessSettings, report: Report, row: PrincipalsRow
) -> list[Principal]:
    """The role the row names as an example of those under a deeper path (in a member account
    of each unit, for an organisation's): with the s3-write policy, and with broad IAM
    grants."""
    accounts = row.accounts if row.organization is None else tuple(_members(report, row))
    found: list[Principal] = []
    for account in accounts:
        arn = f"arn:{settings.partition}:iam::{account}:{row.example_path}"
        found += [
            Principal(f"{account}-path-role", arn, (S3_WRITE,)),
            Principal(f"{account}-path-role-broad", arn, (BROAD,)),
        ]
    return found


KindCallers = Callable[[AccessSettings, Report, PrincipalsRow], list[Principal]]
CALLERS: dict[PrincipalKind, KindCallers] = {
    PrincipalKind.ADMITTED_ROLES: _admitted_roles,
    PrincipalKind.ORGANIZATION_ROLES: lambda settings, report, row: _organization_roles(
        report, (S3_WRITE,)
    ),
    PrincipalKind.ROLES_UNDER_PATH: _role_under_path,
    PrincipalKind.WITHOUT_IAM_POLICY: lambda settings, report, row: _admitted(report, ()),
    PrincipalKind.OTHER_COMPUTE_PRINCIPALS: _other_compute_principals,
    PrincipalKind.OTHER_ORGANIZATION_PRINCIPALS: _other_organization_principals,
    PrincipalKind.OTHER_ACCOUNTS: _other_accounts,
    PrincipalKind.ANONYMOUS: lambda settings, report, row: [Principal("anonymous", None)],
    PrincipalKind.STORAGE_PRINCIPALS: _storage_principals,
}
"""Representative callers of each kind of principal."""

GRANTED: dict[Access, Callable[[Principal], bool]] = {
    Access.AS_TABLES: lambda principal: True,
    Access.NONE: lambda principal: False,
    Access.OWN_IAM_ONLY: lambda principal: bool(principal.identity_policies),
}
"""Whether the bucket tables' Allow rows hold for a caller, by the access its row claims."""


def _kind(settings: AccessSettings, report: Report, row: PrincipalsRow) -> list[Principal]:
    """Representative callers of the kind a principals row names."""
    if row.kind not in CALLERS:
        raise UnreadableClaimError(f"unknown kind of principal: {row.kind}")
    return CALLERS[row.kind](settings, report, row)


def _granted_to(principal: Principal, access: Access) -> bool:
    """Whether the bucket tables' Allow rows hold for ``principal``, as its row's access says."""
    if access not in GRANTED:
        raise UnreadableClaimError(f"unknown access: {access}")
    return GRANTED[access](principal)


def _callers(
    settings: AccessSettings,
    report: Report,
    section: BucketSection | WorkBucketSection,
    row: AccessRow,
    brief: bool,
) -> list[Principal]:
    """The callers an access row's ``who`` stands for. A denial to the admitted principals must
    hold whatever IAM policies the compute account gives them; the s3-write policy's holders
    are those of the work bucket's account. ``brief`` asks a denial of the admitted roles
    without their sessions (which the policies see as the role), and a denial to everyone of
    one caller of each kind."""
    who, allow = row.who, row.effect is Effect.ALLOW
    admitted = _admitted(report, (S3_WRITE,))
    if who is Who.ADMITTED and allow:
        return admitted
    if who is Who.ADMITTED:
        denied = admitted + _admitted(report, (BROAD,))
        return [p for p in denied if p.role_arn is None] if brief else denied
    if who is Who.S3_WRITE_HOLDERS and allow and isinstance(section, WorkBucketSection):
        in_account = [p for p in admitted if p.account == section.account]
        outsider = role_arn(settings.partition, section.account, "data-analyst")
        return [*in_account, Principal("outside-role-s3-write", outsider, (S3_WRITE,))]
    if who is Who.EVERYONE and not allow:
        each = [_kind(settings, report, kind) for kind in report.principals.rows]
        each.append(_admitted(report, (BROAD,)))
        return [p for callers in each for p in (callers[:1] if brief else callers)]
    raise UnreadableClaimError(f"unknown callers for {row.effect.value} at {section.bucket}: {who}")


def _is_object_action(action: str) -> bool:
    return "Object" in action or action in OBJECT_WRITES


def _targets(deployment: Deployment, bucket: str, row: AccessRow) -> Iterator[Target]:
    """A concrete target for each resource pattern of a row."""
    excluded = [pattern.split(":::", 1)[1] for pattern in row.excluded]
    for pattern in row.resources:
        if ":kms:" in pattern:
            if not fnmatchcase(deployment.keys[bucket].arn, pattern):
                raise UnreadableClaimError(f"{pattern} does not name the key of {bucket}")
            yield Target("key", bucket)
            continue
        name, _, key_pattern = pattern.split(":::", 1)[1].partition("/")
        if not key_pattern:
            yield Target("bucket", name)
            continue
        keys = [key_pattern.replace("*", f"claim/{SAMPLE}")]
        if excluded:
            beside = [other.split("/", 1)[1].removesuffix("/*") for other in excluded]
            keys = [f"{prefix}-archive/{SAMPLE}" for prefix in beside] + [f"elsewhere/{SAMPLE}"]
        for key in keys:
            if _matches_any(f"{name}/{key}", excluded):
                raise UnreadableClaimError(f"no key outside {excluded}")
            yield Target("object", name, key)


def _matches_any(value: str, patterns: Sequence[str]) -> bool:
    return any(fnmatchcase(value, pattern) for pattern in patterns)


def _equal(deployment: Deployment, bucket: str, clause: Clause) -> list[Way]:
    """Each value in turn; ``aws:SecureTransport`` ``false`` is a request without TLS."""
    if clause.key == "aws:SecureTransport" and clause.values == ("false",):
        return [({}, False)]
    return [({clause.key: value}, True) for value in clause.values]


def _matching(deployment: Deployment, bucket: str, clause: Clause) -> list[Way]:
    """A value each pattern matches (``*`` filled in)."""
    return [({clause.key: value.replace("*", "claim/")}, True) for value in clause.values]


def _included(deployment: Deployment, bucket: str, clause: Clause) -> list[Way]:
    """The request as is, once the bucket's key is seen to carry the values (its aliases: the
    deployment sets ``kms:ResourceAliases`` from them)."""
    missing = [value for value in clause.values if value not in deployment.keys[bucket].aliases]
    if missing:
        raise UnreadableClaimError(f"the key of {bucket} has no alias {missing}")
    return [({}, True)]


def _absent_or_not(deployment: Deployment, bucket: str, clause: Clause) -> list[Way]:
    """The key absent, and set to another value."""
    return [({}, True), ({clause.key: f"not.{clause.values[0]}"}, True)]


def _absent_or_matching_none(deployment: Deployment, bucket: str, clause: Clause) -> list[Way]:
    """The key absent, and set beside each pattern: its text without the wildcard and the
    slash, and a sibling sharing that text, where no pattern matches them."""
    values = clause.values
    beside = dict.fromkeys(value.removesuffix("*").removesuffix("/") for value in values)
    misses = [m for b in beside for m in (b, f"{b}-archive/") if not _matches_any(m, values)]
    return [({}, True), *(({clause.key: miss}, True) for miss in misses)]


def _present(deployment: Deployment, bucket: str, clause: Clause) -> list[Way]:
    """The key set, to a value a request may carry."""
    return [({clause.key: "AES256"}, True)]


def _present_and_not(deployment: Deployment, bucket: str, clause: Clause) -> list[Way]:
    """The key set to another value than the first."""
    return [({clause.key: f"not.{clause.values[0]}"}, True)]


def _present_and_matching_none(deployment: Deployment, bucket: str, clause: Clause) -> list[Way]:
    """The key set to a value no pattern matches."""
    miss = f"other.{clause.values[0].replace('*', 'claim')}"
    if _matches_any(miss, clause.values):
        raise UnreadableClaimError(f"no value outside {clause.values}")
    return [({clause.key: miss}, True)]


WAYS: dict[Comparison, Callable[[Deployment, str, Clause], list[Way]]] = {
    Comparison.IS: _equal,
    Comparison.MATCHES: _matching,
    Comparison.INCLUDES: _included,
    Comparison.ABSENT_OR_NOT: _absent_or_not,
    Comparison.ABSENT_OR_MATCHES_NONE: _absent_or_matching_none,
    Comparison.PRESENT: _present,
    Comparison.PRESENT_AND_NOT: _present_and_not,
    Comparison.PRESENT_AND_MATCHES_NONE: _present_and_matching_none,
}
"""The ways a request can meet a clause, by its comparison: context values, and TLS or not."""


def _ways(deployment: Deployment, bucket: str, clause: Clause) -> list[Way]:
    if clause.comparison not in WAYS:
        raise UnreadableClaimError(f"unknown condition: {clause}")
    return WAYS[clause.comparison](deployment, bucket, clause)


def _shapes(
    deployment: Deployment, section: BucketSection | WorkBucketSection, row: AccessRow
) -> list[Shape]:
    """Each request an access row speaks of, before a caller is put to it. ``s3:*`` stands for
    every S3 action an Allow row of the same section grants."""
    targets = list(_targets(deployment, section.bucket, row))
    granted = sorted(
        {
            action
            for other in section.rows
            if other.effect is Effect.ALLOW
            for action in other.actions
            if action.startswith("s3:")
        }
    )
    actions = [
        action for named in row.actions for action in (granted if named == "s3:*" else [named])
    ]
    ways = [_ways(deployment, section.bucket, clause) for clause in row.clauses]
    shapes: list[Shape] = []
    for action in actions:
        fitting = [
            target
            for target in targets
            if (target.kind == "key") == action.startswith("kms:")
            and (target.kind == "object") == _is_object_action(action)
        ]
        if not fitting:
            raise UnreadableClaimError(f"no resource of the row fits {action}: {row}")
        for target, combination in itertools.product(fitting, itertools.product(*ways)):
            context = {key: value for way in combination for key, value in way[0].items()}
            secure = all(way[1] for way in combination)
            shapes.append((action, target, tuple(sorted(context.items())), secure))
    return shapes


def _part_checks(
    report: Report, section: ComputeSection | OrganizationSection, row: ManagedPolicyRow
) -> list[Check]:
    """A managed-policy row: the account's admitted roles (a member account's, for the
    organisation's) with only that managed policy may locate each bucket of the row, and not
    the first bucket of each other row."""
    if isinstance(section, OrganizationSection):
        candidates = _organization_roles(report, (part_of(row.policy),))
    else:
        candidates = [
            role
            for role in _admitted(report, (part_of(row.policy),))
            if role.account == section.account
        ]
    roles = [role for role in candidates if role.role_arn is None]
    asked = [(bucket, True) for bucket in row.buckets]
    asked += [(other.buckets[0], False) for other in section.rows if other != row]
    return [
        (Cell(role, "s3:GetBucketLocation", Target("bucket", bucket)), allowed)
        for role in roles
        for bucket, allowed in asked
    ]


def checks(
    deployment: Deployment, report: Report, claim: Claim, brief: bool = False
) -> list[Check]:
    """The requests a row claims, each with whether it must be allowed (``brief``: see
    ``_callers``)."""
    settings, section, row = deployment.settings, claim.section, claim.row
    if isinstance(row, ManagedPolicyRow) and isinstance(
        section, ComputeSection | OrganizationSection
    ):
        return _part_checks(report, section, row)
    if isinstance(row, PrincipalsRow):
        callers = [(p, _granted_to(p, row.access)) for p in _kind(settings, report, row)]
        shapes = [
            shape
            for bucket in report.buckets
            for other in bucket.rows
            if other.effect is Effect.ALLOW
            for shape in _shapes(deployment, bucket, other)
        ]
    elif isinstance(row, AccessRow) and isinstance(section, BucketSection | WorkBucketSection):
        allow = row.effect is Effect.ALLOW
        callers = [(p, allow) for p in _callers(settings, report, section, row, brief)]
        shapes = _shapes(deployment, section, row)
    else:
        raise UnreadableClaimError(f"unknown row in a {type(section).__name__}: {row}")
    return [
        (Cell(principal, action, target, context, secure), allowed)
        for principal, allowed in callers
        for action, target, context, secure in shapes
    ]
