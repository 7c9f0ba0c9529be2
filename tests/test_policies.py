"""The pure policy documents: what each grant kind allows, to whom, and their size."""

from __future__ import annotations

import json
from pathlib import Path

from constructs_lib import AccessOptions, BucketGrant
from constructs_lib.config import AccessSettings, AccountRegion, ValidGrant
from constructs_lib.plan import AccessPlan, plan_access
from constructs_lib.policies import (
    CONSTRUCT_BUCKET_POLICY_SIDS,
    Document,
    bucket_policy_document,
    compact_size,
    deny_insecure_transport,
    key_policy_statements,
)
from tests.conftest import (
    COMPUTE_ACCOUNT,
    EXISTING_KEY_ARN,
    ORGANIZATION,
    REGION,
    STORAGE_ACCOUNT,
    plan_for,
    settings_for,
)

WRITE_ACTIONS = [
    "s3:AbortMultipartUpload",
    "s3:DeleteObject",
    "s3:GetObject",
    "s3:GetObjectTagging",
    "s3:ListMultipartUploadParts",
    "s3:PutObject",
    "s3:PutObjectTagging",
]
FORGE_PATTERN = f"arn:aws:iam::{COMPUTE_ACCOUNT}:role/TowerForge*"
DEEPER = f"{FORGE_PATTERN}/*"
OWNED_BY_B = {"StringEquals": {"s3:ResourceAccount": STORAGE_ACCOUNT}}
FORGE_ROLES = {
    "ArnLike": {"aws:PrincipalArn": FORGE_PATTERN},
    "ArnNotLike": {"aws:PrincipalArn": DEEPER},
}


def s3_write_of(plan: AccessPlan) -> Document:
    """The first compute account's s3-write policy, which these small grants keep whole."""
    (document,) = plan.computes[0].s3_write
    return document


def test_whole_bucket_grant_lists_the_bucket_and_reads_and_writes_every_object() -> None:
    document = s3_write_of(plan_for(BucketGrant("data-b")))
    assert document["Statement"] == [
        {
            "Sid": "ListBuckets",
            "Effect": "Allow",
            "Action": ["s3:GetBucketLocation", "s3:ListBucket"],
            "Resource": "arn:aws:s3:::data-b",
            "Condition": OWNED_BY_B,
        },
        {
            "Sid": "ReadWriteObjects",
            "Effect": "Allow",
            "Action": WRITE_ACTIONS,
            "Resource": "arn:aws:s3:::data-b/*",
            "Condition": OWNED_BY_B,
        },
    ]


def test_prefixed_grant_lists_only_inside_each_prefix_and_reaches_only_its_objects() -> None:
    document = s3_write_of(plan_for(BucketGrant("data-b", prefixes=("runs/2024/", "refs"))))
    location, listing, objects = document["Statement"]
    assert listing["Action"] == "s3:ListBucket"
    assert listing["Condition"] == {
        "StringLike": {"s3:prefix": ["runs/2024/", "runs/2024/*", "refs/", "refs/*"]},
        **OWNED_BY_B,
    }
    assert location["Action"] == "s3:GetBucketLocation"
    assert location["Condition"] == OWNED_BY_B
    assert objects["Resource"] == ["arn:aws:s3:::data-b/runs/2024/*", "arn:aws:s3:::data-b/refs/*"]


def test_read_only_grant_has_no_write_action() -> None:
    document = s3_write_of(plan_for(BucketGrant("data-b", read_only=True)))
    assert document["Statement"][1]["Sid"] == "ReadObjects"
    assert document["Statement"][1]["Action"] == ["s3:GetObject", "s3:GetObjectTagging"]


def test_work_bucket_is_added_read_write_as_the_walkthrough_says() -> None:
    document = s3_write_of(plan_for(BucketGrant("data-b"), work_bucket="work-a"))
    _, _, listing, objects = document["Statement"]
    assert (listing["Sid"], objects["Sid"]) == ("WorkBucket", "WorkBucketObjects")
    assert listing["Resource"] == "arn:aws:s3:::work-a"
    assert objects["Resource"] == "arn:aws:s3:::work-a/*"
    assert objects["Action"] == WRITE_ACTIONS


def test_the_work_bucket_is_reached_only_while_the_compute_account_owns_it() -> None:
    document = s3_write_of(plan_for(BucketGrant("data-b"), work_bucket="work-a"))
    for statement in document["Statement"][2:]:
        assert statement["Condition"] == {"StringEquals": {"s3:ResourceAccount": COMPUTE_ACCOUNT}}


def test_granted_buckets_are_reached_only_while_the_storage_account_owns_them() -> None:
    document = s3_write_of(
        plan_for(BucketGrant("data-b"), BucketGrant("runs-b", prefixes=("runs",)))
    )
    for statement in document["Statement"]:
        assert statement["Condition"]["StringEquals"] == OWNED_BY_B["StringEquals"]


def test_buckets_that_need_the_same_statement_share_it() -> None:
    document = s3_write_of(
        plan_for(
            BucketGrant("data-b"),
            BucketGrant("data.b"),
            BucketGrant("runs-b", prefixes=("runs",)),
            BucketGrant("more-runs-b", prefixes=("runs",)),
            BucketGrant("other-runs-b", prefixes=("other",)),
        )
    )
    sids = [statement["Sid"] for statement in document["Statement"]]
    assert sids == [
        "ListBuckets",
        "LocatePrefixedBuckets",
        "ListPrefixes1",
        "ListPrefixes2",
        "ReadWriteObjects",
    ]
    assert document["Statement"][2]["Resource"] == [
        "arn:aws:s3:::runs-b",
        "arn:aws:s3:::more-runs-b",
    ]


def test_existing_key_is_granted_by_full_arn_and_only_through_s3() -> None:
    document = s3_write_of(plan_for(BucketGrant("data-b", kms_key_arn=EXISTING_KEY_ARN)))
    assert document["Statement"][-1] == {
        "Sid": "UseBucketKeys",
        "Effect": "Allow",
        "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
        "Resource": EXISTING_KEY_ARN,
        "Condition": {
            "StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"},
            "StringLike": {
                "kms:EncryptionContext:aws:s3:arn": ["arn:aws:s3:::data-b", "arn:aws:s3:::data-b/*"]
            },
        },
    }


def test_created_key_is_granted_through_its_alias_in_the_storage_account_only() -> None:
    document = s3_write_of(
        plan_for(BucketGrant("data-b", create=True, create_kms_key=True, read_only=True))
    )
    key_statement = document["Statement"][-1]
    assert key_statement["Action"] == "kms:Decrypt"
    assert key_statement["Resource"] == f"arn:aws:kms:{REGION}:{STORAGE_ACCOUNT}:key/*"
    assert key_statement["Condition"] == {
        "StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"},
        "ForAnyValue:StringEquals": {"kms:ResourceAliases": "alias/tower-cross-account/data-b"},
        "StringLike": {
            "kms:EncryptionContext:aws:s3:arn": ["arn:aws:s3:::data-b", "arn:aws:s3:::data-b/*"]
        },
    }


def test_bucket_policy_grants_account_a_narrowed_to_forge_roles_and_requires_tls() -> None:
    document = bucket_policy_document(*_single(BucketGrant("data-b")))
    allow_bucket, allow_objects, *_, deny = document["Statement"]
    for allow in (allow_bucket, allow_objects):
        assert allow["Effect"] == "Allow"
        assert allow["Principal"] == {"AWS": f"arn:aws:iam::{COMPUTE_ACCOUNT}:root"}
        assert allow["Condition"] == FORGE_ROLES
    assert allow_objects["Action"] == WRITE_ACTIONS
    assert deny == {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "s3:*",
        "Resource": ["arn:aws:s3:::data-b", "arn:aws:s3:::data-b/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def test_bucket_policy_keeps_the_prefix_condition_beside_the_principal_condition() -> None:
    document = bucket_policy_document(*_single(BucketGrant("data-b", prefixes=("runs",))))
    assert document["Statement"][0]["Condition"] == {
        "StringLike": {"s3:prefix": ["runs/", "runs/*"]},
        **FORGE_ROLES,
    }


def test_explicit_role_arns_join_the_prefix_pattern() -> None:
    role = f"arn:aws:iam::{COMPUTE_ACCOUNT}:role/head-job"
    settings = settings_for(BucketGrant("data-b"), forge_role_arns=(role,))
    statement = bucket_policy_document(settings, settings.grants[0])["Statement"][0]
    assert statement["Condition"] == {
        "ArnLike": {"aws:PrincipalArn": [FORGE_PATTERN, role]},
        "ArnNotLike": {"aws:PrincipalArn": DEEPER},
    }


def test_explicit_role_arns_can_replace_the_prefix() -> None:
    role = f"arn:aws:iam::{COMPUTE_ACCOUNT}:role/head-job"
    settings = settings_for(BucketGrant("data-b"), forge_role_prefix=None, forge_role_arns=(role,))
    statement = bucket_policy_document(settings, settings.grants[0])["Statement"][0]
    assert statement["Condition"] == {"ArnLike": {"aws:PrincipalArn": role}}


def test_custom_forge_prefix_is_used_in_the_pattern() -> None:
    settings = settings_for(BucketGrant("data-b"), forge_role_prefix="AcmeForge")
    statement = bucket_policy_document(settings, settings.grants[0])["Statement"][0]
    expected = f"arn:aws:iam::{COMPUTE_ACCOUNT}:role/AcmeForge*"
    assert statement["Condition"] == {
        "ArnLike": {"aws:PrincipalArn": expected},
        "ArnNotLike": {"aws:PrincipalArn": f"{expected}/*"},
    }


def test_roles_under_a_deeper_path_than_the_forge_path_are_refused() -> None:
    settings = settings_for(BucketGrant("data-b"), forge_role_path="/tower/")
    statement = bucket_policy_document(settings, settings.grants[0])["Statement"][0]
    pattern = f"arn:aws:iam::{COMPUTE_ACCOUNT}:role/tower/TowerForge*"
    assert statement["Condition"] == {
        "ArnLike": {"aws:PrincipalArn": pattern},
        "ArnNotLike": {"aws:PrincipalArn": f"{pattern}/*"},
    }


def test_a_write_naming_another_encryption_or_key_is_refused_to_the_compute_account() -> None:
    document = bucket_policy_document(*_single(BucketGrant("data-b", kms_key_arn=EXISTING_KEY_ARN)))
    refused = {s["Sid"]: s for s in document["Statement"] if s["Sid"].startswith("DenyOther")}
    sse = "s3:x-amz-server-side-encryption"
    assert refused["DenyOtherEncryption"]["Condition"] == {
        "Null": {sse: "false"},
        "StringNotEquals": {sse: "aws:kms"},
    }
    assert refused["DenyOtherKeys"]["Condition"] == {
        "Null": {f"{sse}-aws-kms-key-id": "false"},
        "StringNotLike": {f"{sse}-aws-kms-key-id": EXISTING_KEY_ARN},
    }
    for statement in refused.values():
        assert statement["Effect"] == "Deny"
        assert statement["Principal"] == {"AWS": f"arn:aws:iam::{COMPUTE_ACCOUNT}:root"}
        assert statement["Action"] == "s3:PutObject"
        assert statement["Resource"] == "arn:aws:s3:::data-b/*"


def test_a_bucket_without_a_key_refuses_writes_with_kms_and_customer_keys() -> None:
    statements = bucket_policy_document(*_single(BucketGrant("data-b")))["Statement"]
    conditions = {s["Sid"]: s.get("Condition") for s in statements}
    sse = "s3:x-amz-server-side-encryption"
    assert conditions["DenyOtherEncryption"]["StringNotEquals"] == {sse: "AES256"}
    assert "DenyOtherKeys" not in conditions
    assert conditions["DenyCustomerKeys"] == {"Null": {f"{sse}-customer-algorithm": "false"}}


def test_a_created_key_is_named_by_the_storage_accounts_keys_before_deploy() -> None:
    grant = BucketGrant("data-b", create=True, create_kms_key=True)
    statements = bucket_policy_document(*_single(grant))["Statement"]
    (other_keys,) = [s for s in statements if s["Sid"] == "DenyOtherKeys"]
    key_id = "s3:x-amz-server-side-encryption-aws-kms-key-id"
    assert other_keys["Condition"]["StringNotLike"] == {
        key_id: f"arn:aws:kms:{REGION}:{STORAGE_ACCOUNT}:key/*"
    }


def test_a_read_only_grant_needs_no_write_refusals() -> None:
    statements = bucket_policy_document(*_single(BucketGrant("data-b", read_only=True)))
    assert [s["Sid"] for s in statements["Statement"]] == [
        "ForgeBucket",
        "ForgeObjects",
        "DenyInsecureTransport",
    ]


def test_key_policy_statement_admits_forge_roles_of_a_through_s3_only() -> None:
    settings, grant = _single(BucketGrant("data-b", kms_key_arn=EXISTING_KEY_ARN))
    (statement,) = key_policy_statements(settings, [grant], created=False)
    assert statement["Principal"] == {"AWS": f"arn:aws:iam::{COMPUTE_ACCOUNT}:root"}
    assert statement["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert statement["Condition"] == {
        **FORGE_ROLES,
        "StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"},
        "StringLike": {
            "kms:EncryptionContext:aws:s3:arn": ["arn:aws:s3:::data-b", "arn:aws:s3:::data-b/*"]
        },
    }


def test_a_key_shared_by_a_read_only_bucket_makes_data_keys_for_the_others_only() -> None:
    settings = settings_for(
        BucketGrant("data-b", kms_key_arn=EXISTING_KEY_ARN),
        BucketGrant("refs-b", read_only=True, kms_key_arn=EXISTING_KEY_ARN),
    )
    use, decrypt = key_policy_statements(settings, settings.grants, created=False)
    context = "kms:EncryptionContext:aws:s3:arn"
    assert use["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert use["Condition"]["StringLike"][context] == [
        "arn:aws:s3:::data-b",
        "arn:aws:s3:::data-b/*",
    ]
    assert decrypt["Action"] == "kms:Decrypt"
    assert decrypt["Condition"]["StringLike"][context] == [
        "arn:aws:s3:::refs-b",
        "arn:aws:s3:::refs-b/*",
    ]


def test_a_created_key_refuses_grants_that_are_not_for_an_aws_resource() -> None:
    settings, grant = _single(BucketGrant("data-b", create=True, create_kms_key=True))
    *_, refusal = key_policy_statements(settings, [grant], created=True)
    assert refusal == {
        "Sid": "DenyGrantsOutsideAws",
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "kms:CreateGrant",
        "Resource": "*",
        "Condition": {
            "BoolIfExists": {
                "kms:GrantIsForAWSResource": "false",
                "aws:PrincipalIsAWSService": "false",
            }
        },
    }


def test_china_regions_use_the_china_partition_everywhere() -> None:
    options = AccessOptions(
        compute_env=AccountRegion(COMPUTE_ACCOUNT, "cn-north-1"),
        storage_env=AccountRegion(STORAGE_ACCOUNT, "cn-northwest-1"),
        buckets=[BucketGrant("data-b", create=True, create_kms_key=True)],
    )
    plan = plan_access(options, "China")
    text = json.dumps([s3_write_of(plan), *_documents(plan.settings)])
    assert "arn:aws:" not in text
    assert "s3.cn-northwest-1.amazonaws.com.cn" in text


def test_compact_size_ignores_whitespace() -> None:
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow"}]}
    assert compact_size(document) == len(
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow"}]}'
    )


def _single(grant: BucketGrant) -> tuple[AccessSettings, ValidGrant]:
    settings = settings_for(grant)
    return settings, settings.grants[0]


def _documents(settings: AccessSettings) -> list[object]:
    return [bucket_policy_document(settings, grant) for grant in settings.grants]


def test_existing_statements_are_kept_after_the_construct_statements(tmp_path: Path) -> None:
    analytics = {
        "Sid": "AnalyticsRead",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::333333333333:role/analytics"},
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::data-b/reports/*",
    }
    path = tmp_path / "existing.json"
    path.write_text(json.dumps({"Version": "2012-10-17", "Statement": [analytics]}))
    settings, grant = _single(BucketGrant("data-b", existing_policy=str(path)))
    statements = bucket_policy_document(settings, grant)["Statement"]
    assert statements[-1] == analytics
    assert [s["Sid"] for s in statements[:-1]] == [
        "ForgeBucket",
        "ForgeObjects",
        "DenyOtherEncryption",
        "DenyCustomerKeys",
        "DenyInsecureTransport",
    ]


def test_an_existing_statement_the_construct_already_writes_is_not_repeated() -> None:
    deny = deny_insecure_transport("arn:aws:s3:::data-b")
    settings, grant = _single(BucketGrant("data-b", existing_policy={"Statement": [deny]}))
    statements = bucket_policy_document(settings, grant)["Statement"]
    assert statements.count(deny) == 1


def test_construct_bucket_policy_sids_are_the_reserved_ones() -> None:
    prefixed = settings_for(BucketGrant("data-b", prefixes=("runs",)), organization=ORGANIZATION)
    settings, grant = prefixed, prefixed.grants[0]
    keyed = settings_for(
        BucketGrant("data-b", kms_key_arn=EXISTING_KEY_ARN), organization=ORGANIZATION
    )
    whole = bucket_policy_document(keyed, keyed.grants[0])
    sids = {
        s["Sid"] for s in bucket_policy_document(settings, grant)["Statement"] + whole["Statement"]
    }
    assert sids == set(CONSTRUCT_BUCKET_POLICY_SIDS)


def test_the_construct_statements_of_an_earlier_deploy_are_replaced_not_kept() -> None:
    earlier = {"Sid": "ForgeObjects", "Effect": "Allow", "Principal": {"AWS": "x"}, "Action": "*"}
    settings, grant = _single(BucketGrant("data-b", existing_policy={"Statement": [earlier]}))
    statements = bucket_policy_document(settings, grant)["Statement"]
    assert earlier not in statements
    assert [s["Sid"] for s in statements].count("ForgeObjects") == 1
