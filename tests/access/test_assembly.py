"""Reading policies out of templates: CloudFormation intrinsics resolve to deployed values, and
an account may hold several stacks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.access.assembly import (
    Stack,
    UnresolvedIntrinsicError,
    in_account,
    managed_policies,
    stacks,
)

TEMPLATE: dict[str, Any] = {
    "Resources": {
        "Logs": {"Type": "AWS::S3::Bucket"},
        "Data": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "data-b"}},
        "Key": {"Type": "AWS::KMS::Key"},
        "Topic": {"Type": "AWS::SNS::Topic"},
    }
}
STACK = Stack("Storage", "222222222222", "eu-west-1", "aws", TEMPLATE)


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


def write_assembly(outdir: Path, stacks: dict[str, tuple[str, dict[str, Any]]]) -> None:
    """A cloud assembly in ``outdir`` with one stack per name: its account and its template."""
    artifacts: dict[str, Any] = {}
    for name, (account, template) in stacks.items():
        (outdir / f"{name}.template.json").write_text(json.dumps(template))
        artifacts[name.replace("-", "")] = {
            "type": "aws:cloudformation:stack",
            "environment": f"aws://{account}/eu-west-1",
            "properties": {"templateFile": f"{name}.template.json", "stackName": name},
        }
    artifacts["Tree"] = {"type": "cdk:tree", "properties": {"file": "tree.json"}}
    (outdir / "manifest.json").write_text(json.dumps({"artifacts": artifacts}))


def test_every_stack_of_an_account_is_read_in_the_manifests_order(tmp_path: Path) -> None:
    write_assembly(
        tmp_path,
        {
            "Access-Storage": ("222222222222", TEMPLATE),
            "Access-Storage-2": ("222222222222", TEMPLATE),
            "Access-Compute": ("111111111111", {"Resources": {}}),
        },
    )
    found = stacks(tmp_path, "aws")
    assert [(stack.name, stack.account) for stack in found] == [
        ("Access-Storage", "222222222222"),
        ("Access-Storage-2", "222222222222"),
        ("Access-Compute", "111111111111"),
    ]
    assert [stack.name for stack in in_account(found, "222222222222")] == [
        "Access-Storage",
        "Access-Storage-2",
    ]


def test_a_generated_bucket_name_differs_from_stack_to_stack() -> None:
    other = Stack("Storage-2", "222222222222", "eu-west-1", "aws", TEMPLATE)
    names = {STACK.resolve({"Ref": "Logs"}), other.resolve({"Ref": "Logs"})}
    assert len(names) == 2
    assert all(3 <= len(name) <= 63 and name == name.lower() for name in names)


def managed_policy(sid: str) -> dict[str, Any]:
    document = {"Version": "2012-10-17", "Statement": [{"Sid": sid}]}
    return {"Type": "AWS::IAM::ManagedPolicy", "Properties": {"PolicyDocument": document}}


def test_managed_policies_are_named_by_the_construct_id_their_arn_output_gives() -> None:
    template = {
        "Resources": {
            "S3WritePolicy8DD84E77": managed_policy("First"),
            "S3WritePolicy251AEEBBA": managed_policy("Second"),
        },
        "Outputs": {
            "S3WritePolicyArn": {"Value": {"Ref": "S3WritePolicy8DD84E77"}},
            "S3WritePolicy2Arn": {"Value": {"Ref": "S3WritePolicy251AEEBBA"}},
        },
    }
    compute = Stack("Compute", "111111111111", "eu-west-1", "aws", template)
    found = managed_policies(compute)
    assert {name: document["Statement"][0]["Sid"] for name, document in found.items()} == {
        "S3WritePolicy": "First",
        "S3WritePolicy2": "Second",
    }


def test_a_managed_policy_without_an_arn_output_is_refused() -> None:
    template = {"Resources": {"S3WritePolicy8DD84E77": managed_policy("First")}}
    with pytest.raises(ValueError, match="S3WritePolicy8DD84E77"):
        managed_policies(Stack("Compute", "111111111111", "eu-west-1", "aws", template))
