"""The access report as a document: what it names, where it is written, what it imports.

That each of its table rows is true is checked against the IAM evaluator in
``tests/access/test_report_claims.py``; here the report is read as a reviewer would.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from constructs_lib import BucketGrant, OrganizationGrant
from constructs_lib.config import ComputeAccount
from constructs_lib.plan import AccessPlan
from constructs_lib.report import (
    REPORT_FILE,
    Access,
    AccessRow,
    BucketSection,
    ComputeSection,
    ManagedPolicyRow,
    OrganizationSection,
    PrincipalsRow,
    PrincipalsSection,
    Section,
    Who,
    WorkBucketSection,
    access_report,
    report_data,
    write_access_report,
)
from tests.conftest import (
    COMPUTE_ACCOUNT,
    EXISTING_KEY_ARN,
    HEAD_JOB_ROLE_ARN,
    MAXIMAL_GRANTS,
    ORG_ID,
    ORG_ROOT,
    ORGANIZATION,
    PROJECT_ROOT,
    REGION,
    STORAGE_ACCOUNT,
    THIRD_ACCOUNT,
    plan_for,
)
from tests.test_layering import imported_modules


def section(report: str, heading: str) -> str:
    """The text of the report's section whose heading starts with ``heading``."""
    start = report.index(f"\n## {heading}")
    end = report.find("\n## ", start + 1)
    return report[start : end if end != -1 else None]


def test_the_report_is_written_into_the_assembly_directory(tmp_path: Path) -> None:
    plan = plan_for(BucketGrant("data-b"))
    path = write_access_report(plan, tmp_path)
    assert path == tmp_path / REPORT_FILE == tmp_path / "access-report.md"
    assert path.read_text(encoding="utf-8") == access_report(plan)


def test_every_bucket_and_the_work_bucket_have_a_section() -> None:
    report = access_report(
        plan_for(BucketGrant("data-b"), BucketGrant("refs-b"), work_bucket="work-a")
    )
    headings = [line for line in report.splitlines() if line.startswith("## ")]
    assert headings == [
        "## Principals",
        f"## Compute account `{COMPUTE_ACCOUNT}`",
        "## Bucket `data-b` (read-write)",
        "## Bucket `refs-b` (read-write)",
        f"## Work bucket `work-a` (in `{COMPUTE_ACCOUNT}`)",
        "## Block Public Access",
        "## Not covered",
    ]


def test_the_admitted_role_patterns_and_named_roles_are_listed() -> None:
    named = f"arn:aws:iam::{COMPUTE_ACCOUNT}:role/nextflow-head-job"
    report = access_report(plan_for(BucketGrant("data-b"), forge_role_arns=[named]))
    principals = section(report, "Principals")
    assert f"`arn:aws:iam::{COMPUTE_ACCOUNT}:role/TowerForge*` or `{named}`" in principals


def test_a_read_only_bucket_denies_every_write_to_the_admitted_principals() -> None:
    report = access_report(plan_for(BucketGrant("refs-b", read_only=True)))
    denied_objects = next(
        line
        for line in section(report, "Bucket `refs-b`").splitlines()
        if line.startswith("| Deny | admitted principals |") and "refs-b/*` |" in line
    )
    for write in ("s3:PutObject", "s3:DeleteObject", "s3:PutObjectTagging"):
        assert f"`{write}`" in denied_objects
    assert "## Bucket `refs-b` (read-only)" in report


def test_each_granted_prefix_is_named_and_the_rest_of_the_bucket_denied() -> None:
    report = access_report(plan_for(BucketGrant("results-b", prefixes=["runs", "shared/x"])))
    bucket = section(report, "Bucket `results-b`")
    assert "Granted key prefixes: `runs/`, `shared/x/`." in bucket
    assert (
        "`arn:aws:s3:::results-b/*` except `arn:aws:s3:::results-b/runs/*`, "
        "`arn:aws:s3:::results-b/shared/x/*`" in bucket
    )


def test_a_created_key_is_named_by_its_alias_and_usable_through_s3_only() -> None:
    report = access_report(plan_for(BucketGrant("out-b", create=True, create_kms_key=True)))
    bucket = section(report, "Bucket `out-b`")
    assert "`kms:ResourceAliases` includes `alias/tower-cross-account/out-b`" in bucket
    assert f"`kms:ViaService` is absent or not `s3.{REGION}.amazonaws.com`" in bucket


def test_an_existing_key_says_its_key_policy_needs_the_printed_statement() -> None:
    report = access_report(plan_for(BucketGrant("data-b", kms_key_arn=EXISTING_KEY_ARN)))
    assert "an output `KeyPolicyStatement<n>` whose description names the key" in section(
        report, "Bucket `data-b`"
    )


def test_a_key_shared_by_a_read_only_bucket_is_called_out() -> None:
    report = access_report(
        plan_for(
            BucketGrant("data-b", kms_key_arn=EXISTING_KEY_ARN),
            BucketGrant("refs-b", read_only=True, kms_key_arn=EXISTING_KEY_ARN),
        )
    )
    assert "The same key encrypts `data-b`" in section(report, "Bucket `refs-b`")


def test_statements_kept_from_an_existing_policy_are_shown_as_given() -> None:
    kept = {
        "Sid": "AnalyticsRead",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{STORAGE_ACCOUNT}:role/analytics"},
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::data-b/*",
    }
    policy = {"Version": "2012-10-17", "Statement": [kept]}
    report = access_report(plan_for(BucketGrant("data-b", existing_policy=policy)))
    bucket = section(report, "Bucket `data-b`")
    assert "not analysed here" in bucket
    assert '"Sid": "AnalyticsRead"' in bucket
    table = [line for line in bucket.splitlines() if line.startswith("|")]
    assert not [line for line in table if "AnalyticsRead" in line]


def test_every_compute_account_has_its_admitted_roles_row() -> None:
    more = ComputeAccount(THIRD_ACCOUNT, REGION, forge_role_prefix="SeqeraForge")
    report = access_report(plan_for(BucketGrant("data-b"), compute_accounts=[more]))
    principals = section(report, "Principals")
    assert f"`arn:aws:iam::{THIRD_ACCOUNT}:role/SeqeraForge*`" in principals
    assert f"| Every other role and every user of `{COMPUTE_ACCOUNT}` and `{THIRD_ACCOUNT}`" in (
        principals
    )


SECOND = ComputeAccount(
    THIRD_ACCOUNT, "eu-central-1", forge_role_prefix="SeqeraForge", work_bucket="work-c"
)
NAMED_ONLY = ComputeAccount(
    "444444444444",
    REGION,
    forge_role_prefix=None,
    forge_role_arns=("arn:aws:iam::444444444444:role/head",),
)


def many(count: int) -> list[BucketGrant]:
    return [BucketGrant(f"bench-bucket-{n:04d}", prefixes=("runs",)) for n in range(count)]


def parts_table(report: str, account: str) -> dict[str, list[str]]:
    """The managed-policy rows of a compute account's section: buckets by managed policy."""
    found: dict[str, list[str]] = {}
    for line in section(report, f"Compute account `{account}`").splitlines():
        if line.startswith("| `"):
            name, buckets = line[2:-2].split(" | ")
            found[name.strip("`")] = [bucket.strip("` ") for bucket in buckets.split(",")]
    return found


def test_every_compute_account_has_a_section_with_its_region_patterns_and_work_bucket() -> None:
    report = access_report(
        plan_for(BucketGrant("data-b"), work_bucket="work-a", compute_accounts=[SECOND, NAMED_ONLY])
    )
    second = section(report, f"Compute account `{THIRD_ACCOUNT}`")
    assert "Region `eu-central-1`." in second
    assert f"`arn:aws:iam::{THIRD_ACCOUNT}:role/SeqeraForge*`" in second
    assert f"Work bucket `work-c`, in `{THIRD_ACCOUNT}`." in second
    named_only = section(report, "Compute account `444444444444`")
    assert "matches `arn:aws:iam::444444444444:role/head`, and their sessions" in named_only
    assert "Work bucket" not in named_only
    assert parts_table(report, COMPUTE_ACCOUNT) == {"S3WritePolicy": ["data-b", "work-a"]}
    assert parts_table(report, THIRD_ACCOUNT) == {"S3WritePolicy": ["data-b", "work-c"]}
    assert parts_table(report, "444444444444") == {"S3WritePolicy": ["data-b"]}


def test_a_split_s3_write_policy_lists_each_managed_policy_and_its_buckets_once() -> None:
    plan = plan_for(*many(300), work_bucket="work-a", compute_accounts=[SECOND])
    report = access_report(plan)
    for compute_plan in plan.computes:
        compute = compute_plan.compute
        parts = parts_table(report, compute.account)
        assert list(parts) == [
            "S3WritePolicy" if n == 0 else f"S3WritePolicy-{n + 1}"
            for n in range(len(compute_plan.s3_write))
        ]
        assert len(parts) > 1
        listed = [bucket for buckets in parts.values() for bucket in buckets]
        assert sorted(listed) == sorted(
            [g.name for g in plan.settings.grants] + [str(compute.work_bucket)]
        )
        assert (
            f"with all {len(parts)} managed policies of the s3-write policy of `{compute.account}` "
            "attached" in section(report, "Principals")
        )
        assert "attach them all" in section(report, f"Compute account `{compute.account}`")


def test_several_accounts_are_listed_in_the_title_and_their_roots_as_fixed_principals() -> None:
    report = access_report(plan_for(BucketGrant("data-b"), compute_accounts=[SECOND, NAMED_ONLY]))
    accounts = f"`{COMPUTE_ACCOUNT}`, `{THIRD_ACCOUNT}` and `444444444444`"
    assert report.startswith(
        f"# Access report: buckets of `{STORAGE_ACCOUNT}` for Seqera Platform in {accounts}\n"
    )
    roots = ", ".join(f"`arn:aws:iam::{a}:root`" for a in (COMPUTE_ACCOUNT, THIRD_ACCOUNT))
    assert f"names the fixed principals {roots} and `arn:aws:iam::444444444444:root`" in report


def test_a_report_for_several_constructs_has_a_title_for_each() -> None:
    report = access_report([plan_for(BucketGrant("data-b")), plan_for(BucketGrant("x-b"))])
    assert [line for line in report.splitlines() if line.startswith("# ")] == [
        f"# Access report: buckets of `{STORAGE_ACCOUNT}` for Seqera Platform in "
        f"`{COMPUTE_ACCOUNT}`"
    ] * 2


def test_the_report_imports_neither_the_cdk_nor_the_evaluator() -> None:
    assert imported_modules(PROJECT_ROOT / "constructs_lib" / "report.py") <= {
        "__future__",
        "json",
        "collections.abc",
        "dataclasses",
        "enum",
        "fnmatch",
        "pathlib",
        "typing",
        "constructs_lib",
        "constructs_lib.config",
        "constructs_lib.plan",
        "constructs_lib.policies",
    }


Row = PrincipalsRow | ManagedPolicyRow | AccessRow
TABLE_HEADERS = ("| Decision |", "| Principal |", "| Managed policy |", "|---")
WHO = {
    Who.ADMITTED: "admitted principals",
    Who.EVERYONE: "everyone",
    Who.S3_WRITE_HOLDERS: "principals of this account with the s3-write policy",
}
ACCESS = {
    Access.AS_TABLES: "as the bucket tables below list",
    Access.NONE: "none",
    Access.OWN_IAM_ONLY: "none from this construct: only what their own IAM policies in ",
}


def tables(report: str) -> list[tuple[str, list[list[str]]]]:
    """Each section heading with the cells of its table rows (not the header rows)."""
    found: list[tuple[str, list[list[str]]]] = []
    for line in report.splitlines():
        if line.startswith("## "):
            found.append((line[3:], []))
        elif line.startswith("| ") and not line.startswith(TABLE_HEADERS):
            found[-1][1].append([cell.strip() for cell in line[1:-1].split(" | ")])
    return [(heading, rows) for heading, rows in found if rows]


def codes(text: str) -> list[str]:
    return re.findall(r"`([^`]+)`", text)


def heading_of(section: Section) -> str:
    """The heading the section is rendered under."""
    match section:
        case PrincipalsSection():
            return "Principals"
        case ComputeSection():
            return f"Compute account `{section.account}`"
        case OrganizationSection():
            return f"Organisation `{section.organization}`"
        case BucketSection():
            mode = "read-only" if section.read_only else "read-write"
            return f"Bucket `{section.bucket}` ({mode})"
        case WorkBucketSection():
            return f"Work bucket `{section.bucket}` (in `{section.account}`)"


def renders(row: Row, cells: list[str]) -> bool:
    """Whether a table row's cells say what the data row holds."""
    if isinstance(row, ManagedPolicyRow):
        return codes(cells[0]) == [row.policy] and codes(cells[1]) == list(row.buckets)
    if isinstance(row, PrincipalsRow):
        named = {
            *row.accounts,
            *row.patterns,
            *row.units,
            row.organization,
            row.path_prefix,
            row.path,
            row.example_path,
        } - {None}
        parts = row.s3_write_parts
        return (
            named <= set(codes(cells[0]))
            and (parts < 2 or f"with all {parts} managed policies" in cells[0])
            and cells[1].startswith(ACCESS[row.access])
        )
    included, _, excluded = cells[3].partition(" except ")
    clauses = [clause for clause in cells[4].split("; ") if clause]
    return (
        cells[:2] == [row.effect.value, WHO[row.who]]
        and codes(cells[2]) == list(row.actions)
        and codes(included) == list(row.resources)
        and codes(excluded) == list(row.excluded)
        and len(clauses) == len(row.clauses)
        and all(
            codes(text)[0] == clause.key
            and set(codes(text)[1:]) - {clause.key} == set(clause.values)
            for text, clause in zip(clauses, row.clauses, strict=True)
        )
    )


KEPT = {
    "Sid": "AnalyticsRead",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{STORAGE_ACCOUNT}:role/analytics"},
    "Action": "s3:GetObject",
    "Resource": "arn:aws:s3:::kept-b/*",
}
RENDERED_PLANS = {
    "every-kind-of-grant": plan_for(
        *MAXIMAL_GRANTS,
        BucketGrant("kept-b", existing_policy={"Version": "2012-10-17", "Statement": [KEPT]}),
        work_bucket="work-a",
        forge_role_arns=[HEAD_JOB_ROLE_ARN],
        compute_accounts=[SECOND, NAMED_ONLY],
    ),
    "split-s3-write-policy": plan_for(*many(300), work_bucket="work-a", compute_accounts=[SECOND]),
    "organization-split": plan_for(*many(300), organization=ORGANIZATION),
    "whole-organization": plan_for(
        *MAXIMAL_GRANTS, organization=OrganizationGrant(ORG_ID, ou_paths=(ORG_ROOT,))
    ),
}


@pytest.mark.parametrize("plan", RENDERED_PLANS.values(), ids=RENDERED_PLANS.keys())
def test_each_table_row_renders_one_data_row_of_its_section(plan: AccessPlan) -> None:
    data = report_data(plan)
    rendered = tables(access_report(plan))
    assert len(rendered) == len(data.sections)
    for (heading, rows), section in zip(rendered, data.sections, strict=True):
        data_rows: Sequence[Row] = section.rows
        assert heading == heading_of(section)
        assert len(rows) == len(data_rows), heading
        for cells, row in zip(rows, data_rows, strict=True):
            assert renders(row, cells), f"{heading}: {cells} does not render {row}"


def test_a_report_for_several_constructs_renders_the_rows_of_each() -> None:
    plans = list(RENDERED_PLANS.values())
    expected = [len(section.rows) for plan in plans for section in report_data(plan).sections]
    assert [len(rows) for _, rows in tables(access_report(plans))] == expected


def test_an_organization_grant_names_the_organization_its_units_and_the_stack_set() -> None:
    report = access_report(plan_for(BucketGrant("data-b"), organization=ORGANIZATION))
    principals = section(report, "Principals")
    assert f"organisation `{ORG_ID}` in or below the unit `{ORGANIZATION.ou_paths[0]}`" in (
        principals
    )
    assert "other than the storage account" in principals
    assert "Principals of any other account (outside the accounts of organisation" in principals
    organization = section(report, f"Organisation `{ORG_ID}`")
    assert "The StackSet `Test-S3Write` (service-managed" in organization
    assert "| `Test-S3Write` | `data-b` |" in organization
    assert f"or every principal of the organisation `{ORG_ID}`" in section(
        report, "Block Public Access"
    )
