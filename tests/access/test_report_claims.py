"""The access report says what the evaluator decides: each table row is one claim, checked.

Each row of ``constructs_lib.report.report_data`` (the data ``access_report`` renders) is read
(``claims``) into requests, each either claimed allowed or claimed refused, and evaluated on
the synthesized templates with S3 Block Public Access off and, for allowed S3 requests, on:
the report's last claim is that RestrictPublicBuckets changes no decision.

For an app whose matrix is a sample of its buckets (``Config.sample``), the bucket sections
checked are those of the first sampled bucket of each storage stack
(``Config.reported_buckets``), the principals rows are asked the requests of those sections,
and a bucket row's denial is asked briefly (``claims.checks``); every other row (principals,
each compute account's managed policies with all its buckets, work buckets) is checked in
full.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from enum import Enum

import pytest

from constructs_lib.report import (
    Access,
    AccessRow,
    BucketSection,
    Comparison,
    ComputeSection,
    ManagedPolicyRow,
    OrganizationSection,
    PrincipalKind,
    PrincipalsRow,
    Report,
    WorkBucketSection,
    report_data,
)
from tests.access.bridge import Decision
from tests.access.claims import CALLERS, GRANTED, WAYS, Check, Claim, checks, claims
from tests.access.configs import CONFIGS, Config
from tests.access.conftest import Synthesized
from tests.access.deployment import decide

Outcome = tuple[Check, Decision, Decision | None]


def checked_report(config: Config) -> Report:
    """The app's report as checked: whole, or for a sampled app without the sections of the
    buckets that are not reported on."""
    report, sample = report_data(config.plan), config.reported_buckets
    if sample is None:
        return report
    return dataclasses.replace(
        report, buckets=tuple(section for section in report.buckets if section.bucket in sample)
    )


REPORTS = {config.name: checked_report(config) for config in CONFIGS}
CLAIMS = {name: claims(report) for name, report in REPORTS.items()}


def _slug(member: Enum) -> str:
    return member.name.lower().replace("_", "-")


def claim_id(config: Config, index: int, claim: Claim) -> str:
    """``example:principals:row1:roles-under-path-111111111111``,
    ``example:compute-111111111111:row9:S3WritePolicy``,
    ``example:genomics-data-b:row12:Deny:s3:DeleteBucket``."""
    row, section = claim.row, claim.section
    if isinstance(row, PrincipalsRow):
        return f"{config.name}:principals:row{index}:{'-'.join([_slug(row.kind), *row.accounts])}"
    if isinstance(row, ManagedPolicyRow) and isinstance(section, ComputeSection):
        return f"{config.name}:compute-{section.account}:row{index}:{row.policy}"
    if isinstance(row, ManagedPolicyRow) and isinstance(section, OrganizationSection):
        return f"{config.name}:organization-{section.organization}:row{index}:{row.policy}"
    assert isinstance(row, AccessRow) and isinstance(section, BucketSection | WorkBucketSection)
    return f"{config.name}:{section.bucket}:row{index}:{row.effect.value}:{row.actions[0]}"


CASES = [
    pytest.param(config, index, id=claim_id(config, index, claim))
    for config in CONFIGS
    for index, claim in enumerate(CLAIMS[config.name])
]


@pytest.fixture(scope="module")
def outcomes(
    synthesized: Callable[[Config], Synthesized],
) -> Callable[[Config], list[list[Outcome]]]:
    """Each row's checks and decisions, from one evaluation per app."""
    done: dict[str, list[list[Outcome]]] = {}

    def of(config: Config) -> list[list[Outcome]]:
        if config.name not in done:
            deployment = synthesized(config).deployment
            report, brief = REPORTS[config.name], config.sample is not None
            claimed = [checks(deployment, report, claim, brief) for claim in CLAIMS[config.name]]
            every = [check for row in claimed for check in row]
            decisions = iter(decide(deployment, *zip(*every, strict=True)))
            done[config.name] = [[(check, *next(decisions)) for check in row] for row in claimed]
        return done[config.name]

    return of


@pytest.mark.parametrize(("config", "index"), CASES)
def test_the_claim_of_the_report_row_holds(
    config: Config, index: int, outcomes: Callable[[Config], list[list[Outcome]]]
) -> None:
    wrong = [
        f"{cell.id}: claimed {'allowed' if allowed else 'refused'}, evaluated "
        f"{[decision.result for decision in decisions if decision is not None]}"
        for (cell, allowed), *decisions in outcomes(config)[index]
        if any(d is not None and d.allowed != allowed for d in decisions)
    ]
    assert outcomes(config)[index], "the row claims nothing that can be asked"
    assert not wrong, f"{CLAIMS[config.name][index].row}\n" + "\n".join(wrong[:10])


def test_every_kind_of_principal_access_and_comparison_has_a_claim() -> None:
    assert set(CALLERS) == set(PrincipalKind)
    assert set(GRANTED) == set(Access)
    assert set(WAYS) == set(Comparison)
