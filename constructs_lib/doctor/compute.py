"""A compute account's half, read live and compared with the plan: the roles that need the
s3-write policy exist and carry it.

Roles are found in the account itself: Batch Forge's roles by the prefix (under the path the
bucket policies admit), the roles named by ARN, and the Platform credentials role the
construct makes. Of Forge's roles, those its jobs run as (``-InstanceRole``, and the Fargate
head job's ``-FargateRole``) need the policy; when Platform names the compute environment,
only its own roles are checked. A policy counts as the s3-write policy by content, whatever
its name, since it may have been made by hand from the walkthrough: attached managed policies
and inline policies alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from constructs_lib.doctor.aws import AccountAccess, ReadError, pages
from constructs_lib.doctor.compare import compare, statements_of
from constructs_lib.doctor.findings import Finding, Result
from constructs_lib.plan import AccessPlan, ComputePlan

# The Forge roles that run jobs, and so read and write the buckets (TowerForge-<ceId>-...).
FORGE_DATA_ROLE_SUFFIXES = ("-InstanceRole", "-FargateRole")


@dataclass(frozen=True)
class NeededRole:
    """A role that must carry the s3-write policy, and why it needs it; ``runs_jobs`` for
    the roles pipelines run as (not the credentials role)."""

    name: str
    why: str
    runs_jobs: bool = True


def compute_subject(compute: ComputePlan) -> str:
    """The compute account's section in the report."""
    return f"compute account {compute.compute.account}"


def check_compute_account(
    plan: AccessPlan,
    compute: ComputePlan,
    access: AccountAccess,
    compute_env_ids: Sequence[str] | None,
) -> tuple[list[Finding], list[str]]:
    """The roles of one compute account and their s3-write policies; also the ARNs of the
    roles pipelines run as that exist, for AWS's policy simulator. ``compute_env_ids`` are the
    Platform compute environments whose roles to check (None: every Forge role)."""
    subject = compute_subject(compute)
    findings: list[Finding] = []
    try:
        forge = _forge_roles(compute, access, compute_env_ids)
    except ReadError as error:
        return [Finding(subject, "Forge roles", Result.NOT_CHECKED, error.reason)], []
    settings = compute.compute
    if settings.forge_role_prefix is not None and not forge:
        where = "" if compute_env_ids is None else " for the Platform compute environment"
        findings.append(
            Finding(
                subject,
                "Forge roles",
                Result.BLOCKS,
                f"no role matches {settings.prefix_pattern[0]}{where} and ends with "
                f"{' or '.join(FORGE_DATA_ROLE_SUFFIXES)}: Batch Forge makes them with the "
                "compute environment, and until then no job can reach the buckets",
                "create the compute environment in Platform (or let the compute stack do so)",
            )
        )
    carriers: list[str] = []
    for role in [*forge, *_named_roles(plan, compute)]:
        role_findings, arn = _check_role(compute, role, access, subject)
        findings += role_findings
        if arn is not None and role.runs_jobs:
            carriers.append(arn)
    return findings, carriers


def _forge_roles(
    compute: ComputePlan, access: AccountAccess, compute_env_ids: Sequence[str] | None
) -> list[NeededRole]:
    """The Batch Forge roles that run jobs, found by the prefix (none without one)."""
    settings = compute.compute
    needed: list[NeededRole] = []
    if settings.forge_role_prefix is None:
        return needed
    for role in _roles_under(access, settings.forge_role_path):
        name = role["RoleName"]
        if not name.startswith(settings.forge_role_prefix) or not name.endswith(
            FORGE_DATA_ROLE_SUFFIXES
        ):
            continue
        if compute_env_ids is not None and not any(f"-{ce}-" in name for ce in compute_env_ids):
            continue
        needed.append(NeededRole(name, "a Batch Forge role its jobs run as"))
    return needed


def _named_roles(plan: AccessPlan, compute: ComputePlan) -> list[NeededRole]:
    """The roles named by ARN, and the Platform credentials role in the first account."""
    needed = [
        NeededRole(arn.rsplit("/", 1)[-1], f"named in forgeRoleArns ({arn})")
        for arn in compute.compute.forge_role_arns
    ]
    credentials = plan.platform.credentials if plan.platform is not None else None
    if credentials is not None and compute is plan.computes[0]:
        needed.append(
            NeededRole(
                credentials.role_name,
                "the Platform credentials role the construct makes",
                runs_jobs=False,
            )
        )
    return needed


def _roles_under(access: AccountAccess, path: str) -> list[dict[str, Any]]:
    """The roles directly under ``path`` (deeper ones are refused by the bucket policies)."""
    return [
        role
        for page in pages(access.read, "iam", "list_roles", PathPrefix=path)
        for role in page["Roles"]
        if role["Path"] == path
    ]


def _policies_of(access: AccountAccess, name: str) -> dict[str, dict[str, Any]]:
    """Every customer managed and inline policy of a role, by name (a managed policy that
    several roles carry is read once)."""
    found: dict[str, dict[str, Any]] = {}
    attached = access.read("iam", "list_attached_role_policies", RoleName=name)
    for policy in attached["AttachedPolicies"]:
        arn = policy["PolicyArn"]
        if ":iam::aws:policy/" not in arn:
            version = access.read("iam", "get_policy", PolicyArn=arn)["Policy"]["DefaultVersionId"]
            found[policy["PolicyName"]] = access.read(
                "iam", "get_policy_version", PolicyArn=arn, VersionId=version
            )["PolicyVersion"]["Document"]
    for inline in access.read("iam", "list_role_policies", RoleName=name)["PolicyNames"]:
        found[f"{inline} (inline)"] = access.read(
            "iam", "get_role_policy", RoleName=name, PolicyName=inline
        )["PolicyDocument"]
    return found


def _check_role(
    compute: ComputePlan,
    role: NeededRole,
    access: AccountAccess,
    subject: str,
) -> tuple[list[Finding], str | None]:
    """One role: it exists, and its policies hold every part of the s3-write policy."""
    check = f"s3-write on {role.name}"
    try:
        arn: str = access.read("iam", "get_role", RoleName=role.name)["Role"]["Arn"]
    except ReadError as error:
        if error.code != "NoSuchEntity":
            return [Finding(subject, check, Result.NOT_CHECKED, error.reason)], None
        why = f"the role {role.name} ({role.why}) does not exist"
        return [
            Finding(subject, check, Result.BLOCKS, why, _REDEPLOY.format(compute.stack_name))
        ], None
    try:
        documents = _policies_of(access, role.name)
    except ReadError as error:
        return [Finding(subject, check, Result.NOT_CHECKED, error.reason)], arn
    findings = [
        finding
        for name, part in zip(compute.policy_names, compute.s3_write, strict=True)
        for finding in _check_part(compute, name, part, documents, check, subject)
    ]
    return findings or [
        Finding(subject, check, Result.OK, f"{role.why}: carries the planned s3-write policy")
    ], arn


_REDEPLOY = "deploy the compute stack {} again: it attaches the planned s3-write policy"


def _check_part(
    compute: ComputePlan,
    name: str,
    part: dict[str, Any],
    documents: dict[str, dict[str, Any]],
    check: str,
    subject: str,
) -> list[Finding]:
    """One managed policy of the s3-write policy, compared statement by statement with all
    the role's policies (whatever else they hold)."""
    live = [statement for document in documents.values() for statement in statements_of(document)]
    fix = _REDEPLOY.format(compute.stack_name)
    differences = compare(part["Statement"], live, compute.compute.partition, extras="none")
    if differences and all(
        difference.kind == "missing" and difference.result is Result.BLOCKS
        for difference in differences
    ):
        held = ", ".join(documents) or "none"
        return [
            Finding(
                subject,
                check,
                Result.BLOCKS,
                f"no policy of the role holds {name}, the planned s3-write policy (its "
                f"policies: {held}): IAM in the compute account allows none of its requests",
                fix,
            )
        ]
    return [
        Finding(subject, check, difference.result, difference.why, fix, difference.sid)
        for difference in differences
    ]
