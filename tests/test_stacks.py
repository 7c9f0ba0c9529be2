"""The synthesized templates of a maximal configuration: what each account's stack holds."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import assertions

from constructs_lib import BucketGrant, CrossAccountBucketAccess
from tests.conftest import (
    COMPUTE_ACCOUNT,
    COMPUTE_ENV,
    EXISTING_KEY_ARN,
    HEAD_JOB_ROLE_ARN,
    MAXIMAL_GRANTS,
    REGION,
    STORAGE_ENV,
    Synthesized,
    access_for,
    as_list,
    bucket_policy,
    statements_of,
    template_of,
)

FORGE_CONDITION = {
    "aws:PrincipalArn": [f"arn:aws:iam::{COMPUTE_ACCOUNT}:role/TowerForge*", HEAD_JOB_ROLE_ARN]
}
CREATED = [grant.name for grant in MAXIMAL_GRANTS if grant.create]


@pytest.fixture(scope="module")
def access(maximal: Synthesized) -> CrossAccountBucketAccess:
    return maximal.access


@pytest.fixture(scope="module")
def storage(access: CrossAccountBucketAccess) -> assertions.Template:
    return template_of(access.storage_stack)


@pytest.fixture(scope="module")
def compute(access: CrossAccountBucketAccess) -> assertions.Template:
    return template_of(access.compute_stack)


def test_each_stack_targets_its_own_account(access: CrossAccountBucketAccess) -> None:
    assert access.compute_stack.account == COMPUTE_ACCOUNT
    assert access.storage_stack.account == "222222222222"
    assert access.compute_stack.stack_name == "Maximal-Compute"
    assert access.storage_stack.stack_name == "Maximal-Storage"


def test_every_granted_bucket_gets_exactly_one_policy(storage: assertions.Template) -> None:
    buckets = [
        resource["Properties"]["Bucket"]
        for resource in storage.find_resources("AWS::S3::BucketPolicy").values()
    ]
    assert sorted(b for b in buckets if b.endswith("-b")) == sorted(g.name for g in MAXIMAL_GRANTS)


def test_bucket_policies_match_the_pure_documents(
    access: CrossAccountBucketAccess, storage: assertions.Template
) -> None:
    for name, document in access.bucket_policy_documents().items():
        assert bucket_policy(storage, name) == document


def test_every_allow_in_a_bucket_policy_is_bound_to_account_a_and_its_forge_roles(
    storage: assertions.Template,
) -> None:
    for grant in MAXIMAL_GRANTS:
        for statement in bucket_policy(storage, grant.name)["Statement"]:
            if statement["Effect"] == "Allow":
                assert statement["Principal"] == {"AWS": f"arn:aws:iam::{COMPUTE_ACCOUNT}:root"}
                assert statement["Condition"]["ArnLike"] == FORGE_CONDITION


def test_every_bucket_policy_denies_plain_http(storage: assertions.Template) -> None:
    for grant in MAXIMAL_GRANTS:
        deny = bucket_policy(storage, grant.name)["Statement"][-1]
        assert deny["Effect"] == "Deny"
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert deny["Resource"] == [f"arn:aws:s3:::{grant.name}", f"arn:aws:s3:::{grant.name}/*"]


def test_no_statement_grants_s3_wildcard_actions(
    storage: assertions.Template, compute: assertions.Template
) -> None:
    allows = [
        statement
        for statement in statements_of(storage, "AWS::S3::BucketPolicy")
        + statements_of(compute, "AWS::IAM::ManagedPolicy")
        if statement["Effect"] == "Allow"
    ]
    assert allows
    for statement in allows:
        assert all("*" not in action for action in as_list(statement["Action"]))


def test_created_buckets_are_private_encrypted_versioned_owner_enforced_and_retained(
    storage: assertions.Template,
) -> None:
    for name in CREATED:
        storage.has_resource(
            "AWS::S3::Bucket",
            {
                "Properties": assertions.Match.object_like(
                    {
                        "BucketName": name,
                        "PublicAccessBlockConfiguration": {
                            "BlockPublicAcls": True,
                            "BlockPublicPolicy": True,
                            "IgnorePublicAcls": True,
                            "RestrictPublicBuckets": True,
                        },
                        "VersioningConfiguration": {"Status": "Enabled"},
                        "OwnershipControls": {
                            "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]
                        },
                        "LoggingConfiguration": {
                            "DestinationBucketName": "central-access-logs-b",
                            "LogFilePrefix": f"{name}/",
                        },
                    }
                ),
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
            },
        )


def test_existing_buckets_are_not_created(storage: assertions.Template) -> None:
    created = [
        resource["Properties"]["BucketName"]
        for resource in storage.find_resources("AWS::S3::Bucket").values()
    ]
    assert sorted(created) == sorted(CREATED)


def _encryption(storage: assertions.Template, name: str) -> dict[str, Any]:
    (bucket,) = storage.find_resources(
        "AWS::S3::Bucket", {"Properties": {"BucketName": name}}
    ).values()
    rule: dict[str, Any] = bucket["Properties"]["BucketEncryption"][
        "ServerSideEncryptionConfiguration"
    ][0]
    return rule


def test_created_bucket_defaults_to_s3_managed_encryption(storage: assertions.Template) -> None:
    rule = _encryption(storage, "created-bucket-b")
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}


def test_created_bucket_with_existing_key_uses_that_key(storage: assertions.Template) -> None:
    rule = _encryption(storage, "created-existing-key-bucket-b")
    assert rule["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": EXISTING_KEY_ARN,
    }
    assert rule["BucketKeyEnabled"] is True


def test_created_keys_rotate_are_retained_and_carry_the_alias(storage: assertions.Template) -> None:
    keys = storage.find_resources("AWS::KMS::Key")
    assert len(keys) == 2
    for key in keys.values():
        assert key["Properties"]["EnableKeyRotation"] is True
        assert key["DeletionPolicy"] == "Retain"
    aliases = sorted(
        alias["Properties"]["AliasName"]
        for alias in storage.find_resources("AWS::KMS::Alias").values()
    )
    assert aliases == [
        "alias/tower-cross-account/created-key-bucket-b",
        "alias/tower-cross-account/created-read-only-key-bucket-b",
    ]


def test_created_key_policy_admits_forge_roles_of_a_through_s3_only(
    storage: assertions.Template,
) -> None:
    grants = {
        statement["Sid"]: statement
        for statement in statements_of(storage, "AWS::KMS::Key")
        if statement.get("Sid", "").startswith("ForgeRoles")
    }
    assert as_list(grants["ForgeRolesUseKeyThroughS3"]["Action"]) == [
        "kms:Decrypt",
        "kms:GenerateDataKey",
    ]
    assert as_list(grants["ForgeRolesDecryptThroughS3"]["Action"]) == ["kms:Decrypt"]
    for statement in grants.values():
        assert statement["Principal"] == {"AWS": f"arn:aws:iam::{COMPUTE_ACCOUNT}:root"}
        assert statement["Condition"]["ArnLike"] == FORGE_CONDITION
        assert statement["Condition"]["ArnNotLike"] == {
            "aws:PrincipalArn": f"arn:aws:iam::{COMPUTE_ACCOUNT}:role/TowerForge*/*"
        }
        assert statement["Condition"]["StringEquals"] == {
            "kms:ViaService": f"s3.{REGION}.amazonaws.com"
        }
        assert list(statement["Condition"]["StringLike"]) == ["kms:EncryptionContext:aws:s3:arn"]


def test_created_keys_refuse_grants_that_are_not_for_an_aws_resource(
    storage: assertions.Template,
) -> None:
    refusals = [
        statement
        for statement in statements_of(storage, "AWS::KMS::Key")
        if statement.get("Sid") == "DenyGrantsOutsideAws"
    ]
    created_keys = storage.find_resources("AWS::KMS::Key")
    assert len(refusals) == len(created_keys) > 0
    for statement in refusals:
        assert statement["Effect"] == "Deny"
        assert statement["Action"] == "kms:CreateGrant"


def test_each_existing_key_gets_one_statement_output_for_its_buckets(
    storage: assertions.Template,
) -> None:
    outputs = storage.find_outputs("*")
    (statement,) = [o for key, o in outputs.items() if "KeyPolicyStatement" in key]
    assert EXISTING_KEY_ARN in statement["Description"]
    assert "existing-key-bucket-b" in statement["Description"]
    assert "created-existing-key-bucket-b" in statement["Description"]
    (use,) = json.loads(statement["Value"])
    assert use["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert use["Condition"]["StringLike"]["kms:EncryptionContext:aws:s3:arn"] == [
        "arn:aws:s3:::existing-key-bucket-b",
        "arn:aws:s3:::existing-key-bucket-b/*",
        "arn:aws:s3:::created-existing-key-bucket-b",
        "arn:aws:s3:::created-existing-key-bucket-b/*",
    ]


def test_s3_write_policy_matches_the_pure_document(
    access: CrossAccountBucketAccess, compute: assertions.Template
) -> None:
    deployed = access.s3_write_policy_documents()
    assert statements_of(compute, "AWS::IAM::ManagedPolicy") == [
        statement for document in deployed for statement in document["Statement"]
    ]


def test_s3_write_policy_is_attached_to_each_principal_given(
    compute: assertions.Template,
) -> None:
    compute.has_resource_properties(
        "AWS::IAM::ManagedPolicy",
        {
            "Roles": assertions.Match.array_with(
                [{"Fn::ImportValue": assertions.Match.string_like_regexp("CredentialsRole")}]
            ),
            "Users": ["seqera-user"],
            "Groups": ["pipeline-operators"],
        },
    )


def test_s3_write_policy_arn_is_an_output(compute: assertions.Template) -> None:
    assert "S3WritePolicyArn" in compute.find_outputs("*")


def test_s3_write_policy_reaches_only_granted_prefixes(compute: assertions.Template) -> None:
    objects = [
        resource
        for statement in statements_of(compute, "AWS::IAM::ManagedPolicy")
        if statement["Sid"] in ("ReadWriteObjects", "ReadObjects")
        for resource in as_list(statement["Resource"])
        if "prefixed-bucket-b" in resource
    ]
    assert objects == [
        "arn:aws:s3:::prefixed-bucket-b/runs/2024/*",
        "arn:aws:s3:::prefixed-bucket-b/shared/refs/*",
    ]


def test_read_only_grants_carry_no_write_action(compute: assertions.Template) -> None:
    (read_only,) = [
        statement
        for statement in statements_of(compute, "AWS::IAM::ManagedPolicy")
        if statement["Sid"] == "ReadObjects"
    ]
    assert as_list(read_only["Action"]) == ["s3:GetObject", "s3:GetObjectTagging"]
    assert sorted(as_list(read_only["Resource"])) == [
        "arn:aws:s3:::created-read-only-key-bucket-b/*",
        "arn:aws:s3:::read-only-bucket-b/*",
    ]


def test_created_log_bucket_admits_only_s3_log_delivery_for_this_account(tmp_path: Any) -> None:
    app = cdk.App(outdir=str(tmp_path))
    access = CrossAccountBucketAccess(
        app,
        "Logs",
        compute_env=COMPUTE_ENV,
        storage_env=STORAGE_ENV,
        buckets=[BucketGrant("created-b", create=True)],
    )
    template = template_of(access.storage_stack)
    delivery = [
        statement
        for statement in statements_of(template, "AWS::S3::BucketPolicy")
        if statement.get("Principal") == {"Service": "logging.s3.amazonaws.com"}
    ]
    assert len(delivery) == 1
    assert delivery[0]["Action"] == "s3:PutObject"
    assert delivery[0]["Condition"]["StringEquals"] == {"aws:SourceAccount": "222222222222"}
    (log_bucket,) = (
        template.find_resources(
            "AWS::S3::Bucket", {"Properties": {"AccessControl": assertions.Match.absent()}}
        ).keys()
        - template.find_resources(
            "AWS::S3::Bucket", {"Properties": {"BucketName": "created-b"}}
        ).keys()
    )
    assert log_bucket.startswith("AccessLogs")


def test_storage_stack_hands_out_created_and_imported_buckets() -> None:
    access = access_for(BucketGrant("created-bucket-b", create=True), BucketGrant("whole-bucket-b"))
    created = access.storage_stack.bucket("created-bucket-b")
    imported = access.storage_stack.bucket("whole-bucket-b")
    assert created is access.storage_stack.created_buckets["created-bucket-b"]
    assert access.storage_stack.resolve(imported.bucket_name) == "whole-bucket-b"
    with pytest.raises(KeyError):
        access.storage_stack.bucket("not-granted-b")


@pytest.fixture(scope="module")
def logged() -> CrossAccountBucketAccess:
    """A construct that creates a bucket, and so a log bucket for its access logs."""
    return access_for(BucketGrant("created-b", create=True))


def test_the_log_bucket_has_the_secure_settings_of_a_data_bucket(
    logged: CrossAccountBucketAccess,
) -> None:
    buckets = template_of(logged.storage_stack).find_resources("AWS::S3::Bucket")
    shared = ("PublicAccessBlockConfiguration", "BucketEncryption", "OwnershipControls")
    (data,) = [b for b in buckets.values() if b["Properties"].get("BucketName") == "created-b"]
    (logs,) = [b for b in buckets.values() if "BucketName" not in b["Properties"]]
    for setting in (*shared, "VersioningConfiguration"):
        assert logs["Properties"][setting] == data["Properties"][setting], setting
    assert logs["DeletionPolicy"] == data["DeletionPolicy"] == "Retain"


def test_the_log_bucket_requires_tls_with_the_data_buckets_statement(
    logged: CrossAccountBucketAccess,
) -> None:
    template = template_of(logged.storage_stack)
    tls = [
        statement
        for statement in statements_of(template, "AWS::S3::BucketPolicy")
        if statement.get("Sid") == "DenyInsecureTransport"
    ]
    assert len(tls) == 2
    assert {json.dumps(s["Condition"]) for s in tls} == {
        json.dumps({"Bool": {"aws:SecureTransport": "false"}})
    }


def test_a_storage_stack_that_creates_no_bucket_has_no_log_bucket() -> None:
    access = access_for(BucketGrant("existing-b"))
    before = len(access.storage_stack.node.find_all())
    assert access.storage_stack.access_logs_bucket is None
    assert len(access.storage_stack.node.find_all()) == before
    assert template_of(access.storage_stack).find_resources("AWS::S3::Bucket") == {}


def lifecycle_rules(template: assertions.Template, named: str | None) -> list[dict[str, Any]]:
    """The lifecycle rules of the bucket ``named`` (None: the created log bucket)."""
    (bucket,) = [
        b
        for b in template.find_resources("AWS::S3::Bucket").values()
        if b["Properties"].get("BucketName") == named
    ]
    rules: list[dict[str, Any]] = (
        bucket["Properties"].get("LifecycleConfiguration", {}).get("Rules", [])
    )
    return rules


def abort_rule(days: int) -> dict[str, Any]:
    return {
        "Id": "AbortIncompleteUploads",
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": days},
        "Status": "Enabled",
    }


def noncurrent_rule(days: int) -> dict[str, Any]:
    return {
        "Id": "ExpireNoncurrentVersions",
        "NoncurrentVersionExpiration": {"NoncurrentDays": days},
        "Status": "Enabled",
    }


def expire_rule(days: int) -> dict[str, Any]:
    return {"Id": "ExpireObjects", "ExpirationInDays": days, "Status": "Enabled"}


def test_created_buckets_abort_unfinished_uploads_and_expire_noncurrent_versions(
    storage: assertions.Template,
) -> None:
    for name in CREATED:
        assert lifecycle_rules(storage, name) == [abort_rule(7), noncurrent_rule(90)], name


def test_the_created_log_bucket_also_expires_its_records_after_a_year(
    logged: CrossAccountBucketAccess,
) -> None:
    assert lifecycle_rules(template_of(logged.storage_stack), None) == [
        abort_rule(7),
        noncurrent_rule(90),
        expire_rule(365),
    ]


def test_the_lifecycle_days_given_are_the_days_of_the_rules() -> None:
    access = access_for(
        BucketGrant("created-b", create=True),
        abort_incomplete_uploads_days=1,
        noncurrent_versions_expire_days=30,
        access_logs_expire_days=2557,
    )
    template = template_of(access.storage_stack)
    assert lifecycle_rules(template, "created-b") == [abort_rule(1), noncurrent_rule(30)]
    assert lifecycle_rules(template, None) == [
        abort_rule(1),
        noncurrent_rule(30),
        expire_rule(2557),
    ]


def test_none_keeps_objects_versions_and_uploads_forever() -> None:
    access = access_for(
        BucketGrant("created-b", create=True),
        abort_incomplete_uploads_days=None,
        noncurrent_versions_expire_days=None,
        access_logs_expire_days=None,
    )
    template = template_of(access.storage_stack)
    assert lifecycle_rules(template, "created-b") == lifecycle_rules(template, None) == []
