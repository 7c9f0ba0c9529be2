"""The access report read back as claims, each turned into requests for the evaluator.

Every table row of the report is a claim. A bucket row says that callers of a kind (``Who``)
may, or may not, do ``Actions`` on ``Resources`` when the ``Only if`` clauses hold: each action
is asked on a concrete resource of each pattern (objects outside the ``except`` patterns, for a
row that has them), for every combination of the clauses' values, by representative callers;
``s3:*`` stands for every S3 action the section's Allow rows grant. A principals row says what
a kind of caller gets of the storage account's buckets: it is asked every request of every
bucket Allow row. A compute account's managed-policy row says that its admitted roles holding
only that managed policy may use the row's buckets (``s3:GetBucketLocation``, which every
grant allows) and not the first bucket of each other row. The test reads only code spans and
the report's fixed phrases; a row it cannot read fails.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase

from constructs_lib.config import AccessSettings
from constructs_lib.report import ADMITTED, EVERYONE, S3_WRITE_HOLDERS
from tests.access.deployment import Deployment
from tests.access.matrix import (
    OBJECT_WRITES,
    SAMPLE,
    Cell,
    Target,
)
from tests.access.principals import BROAD, S3_WRITE, Principal, part_of, role_arn, session_of
from tests.conftest import THIRD_ACCOUNT

CODE = re.compile(r"`([^`]+)`")
ADMITTED_KIND = re.compile(r"Roles of `\d{12}` whose ARN matches ")
PATH_KIND = re.compile(r"Roles of `(?P<account>\d{12})` under a path that starts with ")
OTHERS_KIND = "Every other role and every user of "
COMPUTE_SECTION = "Compute account "
HEADERS = ("| Decision |", "| Principal |", "| Managed policy |")
Check = tuple[Cell, bool]
Shape = tuple[str, Target, tuple[tuple[str, str], ...], bool]
Way = tuple[dict[str, str], bool]


class UnreadableClaimError(ValueError):
    """A report row says something the test does not know how to check."""


@dataclass(frozen=True)
class Row:
    """One table row of the report, in its section."""

    section: str
    cells: tuple[str, ...]

    @property
    def line(self) -> str:
        return "| " + " | ".join(self.cells) + " |"


def rows(report: str) -> list[Row]:
    """Every table row of the report (not the header rows)."""
    section, found = "", []
    for line in report.splitlines():
        if line.startswith("## "):
            section = line[3:]
        elif line.startswith("| ") and not line.startswith(HEADERS):
            found.append(Row(section, tuple(cell.strip() for cell in line[1:-1].split("|"))))
    return found


def codes(text: str) -> list[str]:
    return CODE.findall(text)


def _patterns(report_rows: list[Row]) -> list[str]:
    """The ``aws:PrincipalArn`` patterns the principals table admits, of every account."""
    patterns = [
        code
        for row in report_rows
        if row.section == "Principals" and ADMITTED_KIND.match(row.cells[0])
        for code in codes(row.cells[0])
        if code.startswith("arn:")
    ]
    if not patterns:
        raise UnreadableClaimError("the principals table names no admitted pattern")
    return patterns


def _named(pattern: str) -> str:
    """A role ARN the pattern matches (``*`` filled in)."""
    return pattern.replace("*", "-claim-InstanceRole")


def _admitted(report_rows: list[Row], policies: tuple[str, ...]) -> list[Principal]:
    """A role of each pattern the principals table admits (named where the pattern has
    ``*``) and its session, with ``policies`` as IAM policies."""
    roles = [
        Principal(f"admitted-{index}", _named(pattern), policies)
        for index, pattern in enumerate(_patterns(report_rows))
    ]
    return [*roles, *(session_of(role) for role in roles)]


def _transplanted(report_rows: list[Row], account: str) -> list[Principal]:
    """Roles of ``account`` named as another account's patterns admit that account's roles
    (what a mistaken pattern would admit), where no pattern of ``account`` matches them."""
    patterns = _patterns(report_rows)
    own = [pattern for pattern in patterns if pattern.split(":")[4] == account]
    found: list[Principal] = []
    for index, pattern in enumerate(patterns):
        parts = _named(pattern).split(":")
        arn = ":".join([*parts[:4], account, *parts[5:]])
        if pattern not in own and not any(fnmatchcase(arn, mine) for mine in own):
            found.append(Principal(f"{account}-named-as-pattern-{index}", arn, (BROAD,)))
    return found


def _kind(settings: AccessSettings, report_rows: list[Row], kind: str) -> list[Principal]:
    """Representative callers of a kind the principals table names."""
    partition, b = settings.partition, settings.storage_account
    if ADMITTED_KIND.match(kind):
        return _admitted(report_rows, (S3_WRITE,))
    if under_path := PATH_KIND.match(kind):
        path = next(code for code in codes(kind) if code.startswith("role/"))
        arn = f"arn:{partition}:iam::{under_path['account']}:{path}"
        return [Principal("path-role", arn, (S3_WRITE,))]
    if kind == "The same roles when no IAM policy of their account allows the request":
        return _admitted(report_rows, ())
    if kind.startswith(OTHERS_KIND):
        accounts = [code for code in codes(kind) if code.isdigit()]
        named = [_named(p) for p in _patterns(report_rows) if "*" not in p]
        return [
            caller
            for a in accounts
            for caller in (
                Principal(f"{a}-outside-role", role_arn(partition, a, "platform-admin"), (BROAD,)),
                Principal(
                    f"{a}-outside-role-s3-write",
                    role_arn(partition, a, "data-analyst"),
                    (S3_WRITE,),
                ),
                Principal(f"{a}-user", f"arn:{partition}:iam::{a}:user/claim-user", (BROAD,)),
                *(Principal(f"{arn}-2", f"{arn}-2", (BROAD,)) for arn in named if f"::{a}:" in arn),
                *_transplanted(report_rows, a),
            )
        ]
    if kind.startswith("Principals of any other account"):
        return _transplanted(report_rows, THIRD_ACCOUNT)
    if kind == "Anonymous requests":
        return [Principal("anonymous", None)]
    if kind == f"Principals of `{b}`":
        return [
            Principal("storage-role", role_arn(partition, b, "claim-steward")),
            Principal("storage-admin", role_arn(partition, b, "claim-admin"), (BROAD,)),
        ]
    raise UnreadableClaimError(f"unknown kind of principal: {kind}")


def _granted_to(principal: Principal, access: str) -> bool:
    """Whether the bucket tables' Allow rows hold for ``principal``, as a principals row says."""
    if access == "as the bucket tables below list":
        return True
    if access == "none":
        return False
    if access.startswith("none from this construct: only what their own IAM policies"):
        return bool(principal.identity_policies)
    raise UnreadableClaimError(f"unknown access: {access}")


def _callers(
    settings: AccessSettings, report_rows: list[Row], row: Row, allow: bool, brief: bool
) -> list[Principal]:
    """The callers a bucket row's ``Who`` stands for. A denial to the admitted principals must
    hold whatever IAM policies the compute account gives them; the s3-write policy's holders
    are those of the work bucket's account. ``brief`` asks a denial of the admitted roles
    without their sessions (which the policies see as the role), and a denial to everyone of
    one caller of each kind."""
    who, account = row.cells[1], codes(row.section)[-1]
    admitted = _admitted(report_rows, (S3_WRITE,))
    if who == ADMITTED and allow:
        return admitted
    if who == ADMITTED:
        denied = admitted + _admitted(report_rows, (BROAD,))
        return [p for p in denied if p.role_arn is None] if brief else denied
    if who == S3_WRITE_HOLDERS and allow:
        in_account = [p for p in admitted if p.account == account]
        outsider = role_arn(settings.partition, account, "data-analyst")
        return [*in_account, Principal("outside-role-s3-write", outsider, (S3_WRITE,))]
    if who == EVERYONE and not allow:
        kinds = [row.cells[0] for row in report_rows if row.section == "Principals"]
        each = [_kind(settings, report_rows, kind) for kind in kinds]
        each.append(_admitted(report_rows, (BROAD,)))
        return [p for callers in each for p in (callers[:1] if brief else callers)]
    raise UnreadableClaimError(f"unknown callers for {'an Allow' if allow else 'a Deny'}: {who}")


def _is_object_action(action: str) -> bool:
    return "Object" in action or action in OBJECT_WRITES


def _targets(deployment: Deployment, bucket: str, cell: str) -> Iterator[Target]:
    """A concrete target for each resource pattern of a row's ``Resources``."""
    included, _, excluded_text = cell.partition(" except ")
    excluded = [pattern.split(":::", 1)[1] for pattern in codes(excluded_text)]
    for pattern in codes(included):
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


def _matches_any(value: str, patterns: list[str]) -> bool:
    return any(fnmatchcase(value, pattern) for pattern in patterns)


def _ways(deployment: Deployment, bucket: str, clause: str) -> list[Way]:
    """The ways a request can meet one ``Only if`` clause: context values, and TLS or not."""
    key, *values = codes(clause)
    if key == "aws:SecureTransport" and clause.endswith(" is `false`"):
        return [({}, False)]
    if " is absent or not " in clause:
        return [({}, True), ({key: f"not.{values[0]}"}, True)]
    if " is absent or matches none of " in clause:
        beside = {value.removesuffix("*").removesuffix("/") for value in values}
        misses = [m for b in beside for m in (b, f"{b}-archive/") if not _matches_any(m, values)]
        return [({}, True), *(({key: miss}, True) for miss in misses)]
    if " matches " in clause:
        return [({key: value.replace("*", "claim/")}, True) for value in values]
    if " includes " in clause:
        if values[0] not in deployment.keys[bucket].aliases:
            raise UnreadableClaimError(f"the key of {bucket} has no alias {values[0]}")
        return [({}, True)]
    if " is " in clause:
        return [({key: values[0]}, True)]
    raise UnreadableClaimError(f"unknown condition: {clause}")


def _shapes(deployment: Deployment, report_rows: list[Row], row: Row) -> list[Shape]:
    """Each request a bucket row speaks of, before a caller is put to it. ``s3:*`` stands for
    every S3 action an Allow row of the same section grants."""
    _, _, actions_cell, resources_cell, only_if = row.cells
    bucket = codes(row.section)[0]
    targets = list(_targets(deployment, bucket, resources_cell))
    granted = sorted(
        {
            action
            for other in report_rows
            if other.section == row.section and other.cells[0] == "Allow"
            for action in codes(other.cells[2])
            if action.startswith("s3:")
        }
    )
    actions = [
        action for code in codes(actions_cell) for action in (granted if code == "s3:*" else [code])
    ]
    ways = [_ways(deployment, bucket, clause) for clause in only_if.split("; ") if clause]
    shapes: list[Shape] = []
    for action in actions:
        fitting = [
            target
            for target in targets
            if (target.kind == "key") == action.startswith("kms:")
            and (target.kind == "object") == _is_object_action(action)
        ]
        if not fitting:
            raise UnreadableClaimError(f"no resource of the row fits {action}: {row.line}")
        for target, combination in itertools.product(fitting, itertools.product(*ways)):
            context = {key: value for way in combination for key, value in way[0].items()}
            secure = all(way[1] for way in combination)
            shapes.append((action, target, tuple(sorted(context.items())), secure))
    return shapes


def _part_checks(report_rows: list[Row], row: Row) -> list[Check]:
    """A managed-policy row: the account's admitted roles with only that managed policy may
    locate each bucket of the row, and not the first bucket of each other row."""
    account, (name,) = codes(row.section)[0], codes(row.cells[0])
    roles = [
        role
        for role in _admitted(report_rows, (part_of(name),))
        if role.account == account and role.role_arn is None
    ]
    others = [
        codes(other.cells[1])[0]
        for other in report_rows
        if other.section == row.section and other != row
    ]
    asked = [(bucket, True) for bucket in codes(row.cells[1])]
    asked += [(bucket, False) for bucket in others]
    return [
        (Cell(role, "s3:GetBucketLocation", Target("bucket", bucket)), allowed)
        for role in roles
        for bucket, allowed in asked
    ]


def checks(
    deployment: Deployment, report_rows: list[Row], row: Row, brief: bool = False
) -> list[Check]:
    """The requests a row claims, each with whether it must be allowed (``brief``: see
    ``_callers``)."""
    settings = deployment.settings
    if row.section.startswith(COMPUTE_SECTION):
        return _part_checks(report_rows, row)
    if row.section == "Principals":
        kind, access = row.cells
        callers = [(p, _granted_to(p, access)) for p in _kind(settings, report_rows, kind)]
        shapes = [
            shape
            for other in report_rows
            if other.section.startswith("Bucket ") and other.cells[0] == "Allow"
            for shape in _shapes(deployment, report_rows, other)
        ]
    else:
        allow = row.cells[0] == "Allow"
        callers = [(p, allow) for p in _callers(settings, report_rows, row, allow, brief)]
        shapes = _shapes(deployment, report_rows, row)
    return [
        (Cell(principal, action, target, context, secure), allowed)
        for principal, allowed in callers
        for action, target, context, secure in shapes
    ]
