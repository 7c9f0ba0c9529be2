"""Live statements compared with the plan's: what counts as the same, and what a difference
does (blocks, widens, drifted). The planned statements are the plan's own bucket policy."""

from __future__ import annotations

import copy
from typing import Any

from constructs_lib import BucketGrant
from constructs_lib.doctor.compare import Difference, Extras, compare
from constructs_lib.doctor.findings import Result
from tests.conftest import (
    COMPUTE_ACCOUNT,
    ORG_ROOT,
    ORGANIZATION,
    STORAGE_ACCOUNT,
    THIRD_ACCOUNT,
    plan_for,
)

BUCKET = "data-b"
PLANNED: list[dict[str, Any]] = plan_for(BucketGrant(BUCKET)).bucket_policies[BUCKET]["Statement"]


def live_copy() -> list[dict[str, Any]]:
    return copy.deepcopy(PLANNED)


def by_sid(statements: list[dict[str, Any]], sid: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in statements if s.get("Sid") == sid)
    return found


def differences(live: list[dict[str, Any]], extras: Extras = "all") -> list[Difference]:
    return compare(PLANNED, live, "aws", extras=extras, owner_account=STORAGE_ACCOUNT)


def summary(found: list[Difference]) -> list[tuple[str, str | None, Result]]:
    return [(d.kind, d.sid, d.result) for d in found]


def test_statements_written_differently_but_saying_the_same_are_as_planned() -> None:
    live = live_copy()
    bucket = by_sid(live, "ForgeBucket")
    bucket["Principal"] = {"AWS": [COMPUTE_ACCOUNT]}
    bucket["Action"] = list(reversed(bucket["Action"]))
    live.reverse()
    assert differences(live) == []


def test_a_statement_made_by_hand_without_a_sid_counts_by_content() -> None:
    live = live_copy()
    del by_sid(live, "ForgeObjects")["Sid"]
    assert differences(live) == []


def test_an_allow_that_lost_an_action_blocks_it() -> None:
    live = live_copy()
    objects = by_sid(live, "ForgeObjects")
    objects["Action"] = [a for a in objects["Action"] if a != "s3:DeleteObject"]
    (found,) = differences(live)
    assert summary([found]) == [("changed", "ForgeObjects", Result.BLOCKS)]
    assert f"s3:DeleteObject on arn:aws:s3:::{BUCKET}/*" in found.why


def test_an_allow_narrowed_to_fewer_roles_blocks_the_others() -> None:
    live = live_copy()
    condition = by_sid(live, "ForgeBucket")["Condition"]["ArnLike"]
    condition["aws:PrincipalArn"] = f"arn:aws:iam::{COMPUTE_ACCOUNT}:role/TowerForge-abc*"
    assert summary(differences(live)) == [("changed", "ForgeBucket", Result.BLOCKS)]


def test_an_allow_to_everyone_widens_access() -> None:
    live = live_copy()
    by_sid(live, "ForgeBucket")["Principal"] = "*"
    assert summary(differences(live)) == [("changed", "ForgeBucket", Result.WIDENS)]


def test_an_allow_that_lost_its_role_condition_widens_access() -> None:
    live = live_copy()
    del by_sid(live, "ForgeObjects")["Condition"]["ArnLike"]
    assert summary(differences(live)) == [("changed", "ForgeObjects", Result.WIDENS)]


def test_an_allow_with_a_wildcard_action_widens_access() -> None:
    live = live_copy()
    by_sid(live, "ForgeObjects")["Action"] = "s3:*"
    assert summary(differences(live)) == [("changed", "ForgeObjects", Result.WIDENS)]


def test_a_missing_deny_widens_access() -> None:
    live = [s for s in live_copy() if s.get("Sid") != "DenyInsecureTransport"]
    assert summary(differences(live)) == [("missing", "DenyInsecureTransport", Result.WIDENS)]


def test_a_missing_allow_that_another_statement_still_grants_has_drifted() -> None:
    live = live_copy()
    bucket = by_sid(live, "ForgeBucket")
    live.remove(bucket)
    by_sid(live, "ForgeObjects")["Resource"] = [bucket["Resource"], f"arn:aws:s3:::{BUCKET}/*"]
    by_sid(live, "ForgeObjects")["Action"] += bucket["Action"]
    found = summary(differences(live))
    assert ("missing", "ForgeBucket", Result.DRIFTED) in found


def test_an_extra_allow_for_another_account_widens_access() -> None:
    extra = {
        "Sid": "Partner",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{THIRD_ACCOUNT}:root"},
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{BUCKET}/*",
    }
    assert summary(differences([*live_copy(), extra])) == [("extra", "Partner", Result.WIDENS)]


def test_an_extra_allow_for_the_owner_account_has_drifted() -> None:
    extra = {
        "Sid": "OwnAnalytics",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{STORAGE_ACCOUNT}:role/analytics"},
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{BUCKET}/*",
    }
    assert summary(differences([*live_copy(), extra])) == [
        ("extra", "OwnAnalytics", Result.DRIFTED)
    ]


def test_harmless_extras_are_left_out_where_others_own_them() -> None:
    extra = {
        "Sid": "OwnAnalytics",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{STORAGE_ACCOUNT}:root"},
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{BUCKET}/*",
    }
    assert differences([*live_copy(), extra], extras="risky") == []


def test_an_extra_deny_that_reaches_the_planned_access_blocks_it() -> None:
    extra = {
        "Sid": "Freeze",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{BUCKET}/*",
    }
    assert summary(differences([*live_copy(), extra])) == [("extra", "Freeze", Result.BLOCKS)]


def test_an_organisation_grant_widened_to_the_whole_organisation_widens_access() -> None:
    planned = plan_for(BucketGrant(BUCKET), organization=ORGANIZATION).bucket_policies[BUCKET]
    live = copy.deepcopy(planned["Statement"])
    paths = by_sid(live, "OrgForgeObjects")["Condition"]["ForAnyValue:StringLike"]
    paths["aws:PrincipalOrgPaths"] = f"{ORG_ROOT}*"
    found = compare(planned["Statement"], live, "aws", extras="all", owner_account=STORAGE_ACCOUNT)
    assert summary(found) == [("changed", "OrgForgeObjects", Result.WIDENS)]
