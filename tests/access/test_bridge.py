"""The evaluator bridge: it answers as IAM does, models Block Public Access, refuses bad input.

These are the controls that make the matrix's answers mean something: the evaluator can say
yes and no, RestrictPublicBuckets is really applied when asked for, and a request it cannot
evaluate as given is an error rather than a silent denial.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from tests.access.bridge import (
    ALLOWED,
    EXPLICITLY_DENIED,
    IMPLICITLY_DENIED,
    BridgeError,
    Request,
    evaluate,
)
from tests.conftest import COMPUTE_ACCOUNT, PROJECT_ROOT, STORAGE_ACCOUNT

ROLE = f"arn:aws:iam::{COMPUTE_ACCOUNT}:role/reader"
OBJECT = "arn:aws:s3:::shared-bucket/data.csv"
READ_ANYTHING: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
}


def bucket_policy(principal: object, condition: dict[str, Any] | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": principal,
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::shared-bucket/*",
    }
    return {"Version": "2012-10-17", "Statement": [{**statement, "Condition": condition or {}}]}


def read(block_public_access: bool = False, extra: dict[str, str] | None = None) -> Request:
    """The role of the compute account reads an object of the storage account."""
    return Request(
        principal=ROLE,
        action="s3:GetObject",
        resource=OBJECT,
        resource_account=STORAGE_ACCOUNT,
        identity_policies=("read-anything",),
        resource_policy="bucket",
        context={"aws:PrincipalArn": ROLE, "aws:SecureTransport": "true", **(extra or {})},
        block_public_access=block_public_access,
    )


def test_a_cross_account_read_needs_the_bucket_policy() -> None:
    policies = {
        "read-anything": READ_ANYTHING,
        "bucket": bucket_policy({"AWS": "arn:aws:iam::444455556666:root"}),
    }
    assert [d.result for d in evaluate(policies, [read()])] == [IMPLICITLY_DENIED]


def test_restrict_public_buckets_blocks_a_public_bucket_policy() -> None:
    policies = {"read-anything": READ_ANYTHING, "bucket": bucket_policy("*")}
    decisions = evaluate(policies, [read(), read(block_public_access=True)])
    assert [(d.result, d.blocked_by) for d in decisions] == [
        (ALLOWED, ()),
        (EXPLICITLY_DENIED, ("s3-bpa",)),
    ]


def test_restrict_public_buckets_keeps_an_account_principal_policy() -> None:
    account = {"AWS": f"arn:aws:iam::{COMPUTE_ACCOUNT}:root"}
    policies = {"read-anything": READ_ANYTHING, "bucket": bucket_policy(account)}
    decisions = evaluate(policies, [read(), read(block_public_access=True)])
    assert [d.result for d in decisions] == [ALLOWED, ALLOWED]


def test_context_keys_are_taken_as_given_not_derived() -> None:
    arn_like = {"ArnLike": {"aws:PrincipalArn": ROLE}}
    policies = {"read-anything": READ_ANYTHING, "bucket": bucket_policy("*", arn_like)}
    without_principal_arn = replace(read(), context={"aws:SecureTransport": "true"})
    decisions = evaluate(policies, [read(), without_principal_arn])
    assert [d.result for d in decisions] == [ALLOWED, IMPLICITLY_DENIED]


def test_a_context_key_the_action_does_not_have_is_an_error() -> None:
    policies = {"read-anything": READ_ANYTHING, "bucket": bucket_policy("*")}
    with pytest.raises(BridgeError, match="s3:prefix"):
        evaluate(policies, [read(extra={"s3:prefix": "data/"})])


def test_an_action_that_does_not_exist_is_an_error() -> None:
    policies = {"read-anything": READ_ANYTHING, "bucket": bucket_policy("*")}
    unknown = replace(read(), action="s3:GetEverything")
    with pytest.raises(BridgeError, match=r"invalid\.action"):
        evaluate(policies, [unknown])


def test_the_evaluator_is_never_shipped() -> None:
    shipped = [path for path in (PROJECT_ROOT / "constructs_lib").rglob("*") if path.is_file()]
    assert shipped
    assert [path for path in shipped if b"cloud-copilot" in path.read_bytes()] == []


@pytest.mark.parametrize(
    ("named", "result"),
    [
        ("arn:aws:s3:::shared-bucket", ALLOWED),
        ("arn:aws:s3:::shared-bucket/data.csv", ALLOWED),
        ("arn:aws:s3:::other-bucket", IMPLICITLY_DENIED),
        (None, IMPLICITLY_DENIED),
    ],
)
def test_the_encryption_context_s3_names_is_evaluated(named: str | None, result: str) -> None:
    key = f"arn:aws:kms:eu-west-1:{STORAGE_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    bound = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": key,
                "Condition": {
                    "StringLike": {
                        "kms:EncryptionContext:aws:s3:arn": [
                            "arn:aws:s3:::shared-bucket",
                            "arn:aws:s3:::shared-bucket/*",
                        ]
                    }
                },
            }
        ],
    }
    trusting = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{COMPUTE_ACCOUNT}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }
    context = {"aws:PrincipalArn": ROLE}
    if named is not None:
        context["kms:EncryptionContext:aws:s3:arn"] = named
    request = Request(
        principal=ROLE,
        action="kms:Decrypt",
        resource=key,
        resource_account=STORAGE_ACCOUNT,
        identity_policies=("bound",),
        resource_policy="key",
        context=context,
    )
    (decision,) = evaluate({"bound": bound, "key": trusting}, [request])
    assert decision.result == result
