"""One diagnosis: every check of a plan against the live accounts and Platform, in the order
the report shows them (each bucket, then each compute account, then Platform)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from constructs_lib.doctor.aws import AccountAccess
from constructs_lib.doctor.compute import check_compute_account, compute_subject
from constructs_lib.doctor.findings import Finding, Result
from constructs_lib.doctor.platform import (
    PLATFORM_SUBJECT,
    LiveComputeEnv,
    check_allowed_buckets,
    check_platform,
)
from constructs_lib.doctor.simulator import Simulator
from constructs_lib.doctor.storage import bucket_subject, check_bucket
from constructs_lib.plan import AccessPlan


@dataclass(frozen=True)
class PlatformAccess:
    """Where Platform is and which secret holds the token (in the first compute account)."""

    api_url: str
    token_secret: str


@dataclass(frozen=True)
class Setup:
    """What the doctor checks and how it reaches it. ``platform`` None skips Platform."""

    plan: AccessPlan
    storage: AccountAccess
    computes: Mapping[str, AccountAccess]
    """The access to each compute account, by account ID."""
    platform: PlatformAccess | None


def diagnose(setup: Setup) -> list[Finding]:
    """Every finding, each bucket's first, then each compute account's, then Platform's."""
    plan = setup.plan
    problems = {
        access.account: access.identity_problem()
        for access in (setup.storage, *setup.computes.values())
    }
    platform_findings, live = _platform(setup, problems)
    compute_findings: list[Finding] = []
    simulators: list[Simulator] = []
    for index, compute in enumerate(plan.computes):
        access = setup.computes[compute.compute.account]
        problem = problems[access.account]
        if problem is not None:
            why = f"{access.role} could not be read: {problem}"
            compute_findings.append(
                Finding(compute_subject(compute), "account", Result.NOT_CHECKED, why)
            )
            continue
        ids = [env.id for env in live] if index == 0 and live else None
        found, carriers = check_compute_account(plan, compute, access, ids)
        compute_findings += found
        if carriers:
            simulators.append(Simulator(plan, compute, access, carriers[0]))
        else:
            compute_findings.append(
                Finding(
                    compute_subject(compute),
                    "AWS policy simulator",
                    Result.SKIPPED,
                    "no role that pipelines run as exists here to simulate",
                )
            )
    bucket_findings: list[Finding] = []
    storage_problem = problems[setup.storage.account]
    for grant in plan.settings.grants:
        subject = bucket_subject(grant)
        if storage_problem is not None:
            why = f"{setup.storage.role} could not be read: {storage_problem}"
            bucket_findings.append(Finding(subject, "bucket", Result.NOT_CHECKED, why))
            continue
        found, readings = check_bucket(plan, grant, setup.storage)
        bucket_findings += found
        if live:
            bucket_findings += check_allowed_buckets(plan, grant.name, subject, live)
        for simulator in simulators:
            bucket_findings += simulator.check(grant, readings)
    skipped = [finding for simulator in simulators for finding in simulator.skipped]
    return bucket_findings + compute_findings + skipped + platform_findings


def _platform(
    setup: Setup, problems: Mapping[str, str | None]
) -> tuple[list[Finding], list[LiveComputeEnv]]:
    plan = setup.plan
    if plan.platform is None:
        why = "tower:platform is not set: no compute environment to check"
        return [Finding(PLATFORM_SUBJECT, "compute environment", Result.SKIPPED, why)], []
    if setup.platform is None:
        why = "skipped as asked (--skip-platform)"
        return [Finding(PLATFORM_SUBJECT, "compute environment", Result.SKIPPED, why)], []
    primary = setup.computes[plan.computes[0].compute.account]
    problem = problems[primary.account]
    if problem is not None:
        why = f"the token is read in {primary.role}, which could not be read: {problem}"
        return [Finding(PLATFORM_SUBJECT, "access token", Result.NOT_CHECKED, why)], []
    return check_platform(plan, primary, setup.platform.token_secret, setup.platform.api_url)
