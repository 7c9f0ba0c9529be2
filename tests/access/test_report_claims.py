"""The access report says what the evaluator decides: each table row is one claim, checked.

Each row of ``constructs_lib.report.access_report`` is read back (``claims``) into requests,
each either claimed allowed or claimed refused, and evaluated on the synthesized templates
with S3 Block Public Access off and, for allowed S3 requests, on: the report's last claim is
that RestrictPublicBuckets changes no decision.

For an app whose matrix is a sample of its buckets (``Config.sample``), the bucket sections
checked are those of the first sampled bucket of each storage stack
(``Config.reported_buckets``), the principals rows are asked the requests of those sections,
and a bucket row's denial is asked briefly (``claims.checks``); every other row (principals,
each compute account's managed policies with all its buckets, work buckets) is checked in
full.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from constructs_lib.report import access_report
from tests.access.bridge import Decision
from tests.access.claims import Check, Row, checks, codes, rows
from tests.access.configs import CONFIGS, Config
from tests.access.conftest import Synthesized
from tests.access.deployment import decide

Outcome = tuple[Check, Decision, Decision | None]


def checked_rows(config: Config) -> list[Row]:
    """The rows of the app's report that are checked: all, or for a sampled app those outside
    the sections of the buckets that are not reported on."""
    every, sample = rows(access_report(config.plan)), config.reported_buckets
    return [
        row
        for row in every
        if sample is None
        or not row.section.startswith("Bucket ")
        or codes(row.section)[0] in sample
    ]


REPORTS = {config.name: checked_rows(config) for config in CONFIGS}


def row_id(config: Config, index: int, row: Row) -> str:
    """``example:genomics-data-b:row12:Deny:s3:DeleteBucket``, ``example:principals:row2:...``,
    ``example:compute-111111111111:row9:S3WritePolicy``."""
    if row.section == "Principals":
        return f"{config.name}:principals:row{index}:{'-'.join(row.cells[0].split()[:4])}"
    where = codes(row.section)[0]
    if row.section.startswith("Compute account "):
        return f"{config.name}:compute-{where}:row{index}:{codes(row.cells[0])[0]}"
    return f"{config.name}:{where}:row{index}:{row.cells[0]}:{codes(row.cells[2])[0]}"


CASES = [
    pytest.param(config, index, id=row_id(config, index, row))
    for config in CONFIGS
    for index, row in enumerate(REPORTS[config.name])
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
            report_rows = REPORTS[config.name]
            brief = config.sample is not None
            claimed = [checks(deployment, report_rows, row, brief) for row in report_rows]
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
    assert not wrong, REPORTS[config.name][index].line + "\n" + "\n".join(wrong[:10])
