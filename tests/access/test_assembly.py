"""Reading policies out of templates: CloudFormation intrinsics resolve to deployed values."""

from __future__ import annotations

from typing import Any

import pytest

from tests.access.assembly import Stack, UnresolvedIntrinsicError

TEMPLATE: dict[str, Any] = {
    "Resources": {
        "Logs": {"Type": "AWS::S3::Bucket"},
        "Data": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "data-b"}},
        "Key": {"Type": "AWS::KMS::Key"},
        "Topic": {"Type": "AWS::SNS::Topic"},
    }
}
STACK = Stack("222222222222", "eu-west-1", "aws", TEMPLATE)


@pytest.mark.parametrize(
    ("pseudo", "value"),
    [
        ("AWS::Partition", "aws"),
        ("AWS::AccountId", "222222222222"),
        ("AWS::Region", "eu-west-1"),
        ("AWS::URLSuffix", "amazonaws.com"),
    ],
)
def test_a_pseudo_parameter_is_the_stacks_environment(pseudo: str, value: str) -> None:
    assert STACK.resolve({"Ref": pseudo}) == value


def test_a_bucket_arn_uses_the_bucket_name_the_template_gives() -> None:
    assert STACK.resolve({"Fn::GetAtt": ["Data", "Arn"]}) == "arn:aws:s3:::data-b"


def test_a_join_of_a_generated_bucket_arn_stays_inside_that_bucket() -> None:
    joined = STACK.resolve({"Fn::Join": ["", [{"Fn::GetAtt": ["Logs", "Arn"]}, "/*"]]})
    assert joined == f"arn:aws:s3:::{STACK.resolve({'Ref': 'Logs'})}/*"


def test_a_key_arn_is_in_the_stacks_account_and_region_and_names_the_keys_id() -> None:
    key_id = STACK.resolve({"Ref": "Key"})
    arn = STACK.resolve({"Fn::GetAtt": ["Key", "Arn"]})
    assert arn == f"arn:aws:kms:eu-west-1:222222222222:key/{key_id}"


def test_intrinsics_inside_a_policy_resolve_where_they_stand() -> None:
    statement = {"Resource": [{"Fn::GetAtt": ["Data", "Arn"]}, "arn:aws:s3:::other"]}
    assert STACK.resolve(statement) == {"Resource": ["arn:aws:s3:::data-b", "arn:aws:s3:::other"]}


@pytest.mark.parametrize(
    "value",
    [
        {"Fn::ImportValue": "SharedKeyArn"},
        {"Ref": "Missing"},
        {"Ref": "Topic"},
        {"Fn::GetAtt": ["Data", "DomainName"]},
    ],
    ids=["import-value", "missing-resource", "unknown-resource-type", "unknown-attribute"],
)
def test_what_cannot_be_resolved_is_refused(value: dict[str, Any]) -> None:
    with pytest.raises(UnresolvedIntrinsicError):
        STACK.resolve(value)
