"""Shared test helpers: the example context, and synthesizing an app once per module."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import aws_cdk as cdk
import pytest
from aws_cdk import assertions
from aws_cdk import aws_iam as iam

from app import CONSTRUCT_ID, build_app
from constructs_lib import (
    AccessOptions,
    BucketGrant,
    CrossAccountBucketAccess,
    OrganizationGrant,
    PlatformComputeEnvironment,
)
from constructs_lib.config import NAG_PACKS, AccessSettings, validate
from constructs_lib.plan import AccessPlan, plan_access

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
COMPUTE_ACCOUNT = "111111111111"
STORAGE_ACCOUNT = "222222222222"
THIRD_ACCOUNT = "333333333333"
REGION = "eu-west-1"
COMPUTE_ENV = cdk.Environment(account=COMPUTE_ACCOUNT, region=REGION)
STORAGE_ENV = cdk.Environment(account=STORAGE_ACCOUNT, region=REGION)
EXISTING_KEY_ARN = (
    f"arn:aws:kms:{REGION}:{STORAGE_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
)
HEAD_JOB_ROLE_ARN = f"arn:aws:iam::{COMPUTE_ACCOUNT}:role/nextflow-head-job"
# An AWS organisation: its root, a unit granted (with a unit below it) and a unit that is not.
ORG_ID = "o-a1b2c3d4e5"
ORG_ROOT = f"{ORG_ID}/r-ab12/"
GRANTED_OU = f"{ORG_ROOT}ou-ab12-11111111/"
NESTED_OU = f"{GRANTED_OU}ou-ab12-22222222/"
OTHER_OU = f"{ORG_ROOT}ou-ab12-33333333/"
ORGANIZATION = OrganizationGrant(org_id=ORG_ID, ou_paths=(GRANTED_OU,))

MAXIMAL_GRANTS = (
    BucketGrant("whole-bucket-b"),
    BucketGrant("prefixed-bucket-b", prefixes=("runs/2024", "/shared/refs/")),
    BucketGrant("read-only-bucket-b", read_only=True),
    BucketGrant("existing-key-bucket-b", kms_key_arn=EXISTING_KEY_ARN),
    BucketGrant("created-bucket-b", create=True),
    BucketGrant("created-key-bucket-b", create=True, create_kms_key=True, prefixes=("out",)),
    BucketGrant("created-read-only-key-bucket-b", create=True, create_kms_key=True, read_only=True),
    BucketGrant("created-existing-key-bucket-b", create=True, kms_key_arn=EXISTING_KEY_ARN),
)


MAXIMAL_PLATFORM = PlatformComputeEnvironment(
    name="genomics-cross-account",
    credentials_id="4Kx9Pq2mT7vZ",
    token_secret=f"arn:aws:secretsmanager:{REGION}:{COMPUTE_ACCOUNT}:secret:seqera/token-AbCdEf",
    work_dir="s3://tower-work-a/work",
    api_url="https://tower.example.org/api",
    workspace_id="123456789012345",
    description="Cross-account genomics",
    forge_type="EC2",
    min_cpus=2,
    max_cpus=512,
    instance_types=("m6i.xlarge", "c6i.2xlarge"),
    vpc_id="vpc-0123456789abcdef0",
    subnets=("subnet-0123456789abcdef0",),
    security_groups=("sg-0123456789abcdef0",),
    fargate_head_job=True,
    wave_enabled=True,
    fusion2_enabled=True,
    register_data_links=True,
    retain_on_delete=True,
    handler_subnets=("subnet-0123456789abcdef1", "subnet-0123456789abcdef2"),
    handler_security_groups=("sg-0123456789abcdef1",),
    handler_reserved_concurrency=2,
    log_retention_days=731,
)


def example_context() -> dict[str, Any]:
    """The context of the project's cdk.json, as the CDK CLI passes it to app.py."""
    context: dict[str, Any] = json.loads((PROJECT_ROOT / "cdk.json").read_text())["context"]
    return context


def maximal_app(outdir: str | None = None) -> tuple[cdk.App, CrossAccountBucketAccess]:
    """An app using every option: each grant kind, role ARNs, attached principals, logs,
    Platform with its handlers in a VPC, and every rule pack."""
    app = cdk.App(outdir=outdir)
    principals = cdk.Stack(app, "Principals", env=COMPUTE_ENV)
    access = CrossAccountBucketAccess(
        app,
        "Maximal",
        compute_env=COMPUTE_ENV,
        storage_env=STORAGE_ENV,
        buckets=MAXIMAL_GRANTS,
        forge_role_arns=(HEAD_JOB_ROLE_ARN,),
        attach_to=(
            iam.Role(
                principals,
                "CredentialsRole",
                role_name="seqera-credentials",
                assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            ),
            iam.User.from_user_name(principals, "CredentialsUser", "seqera-user"),
            iam.Group.from_group_name(principals, "Operators", "pipeline-operators"),
        ),
        work_bucket="tower-work-a",
        access_logs_bucket="central-access-logs-b",
        platform=MAXIMAL_PLATFORM,
        nag_packs=NAG_PACKS,
    )
    return app, access


@dataclass(frozen=True)
class Synthesized:
    """A construct of a synthesized app, and the cloud assembly directory it was written to."""

    access: CrossAccountBucketAccess
    outdir: Path


def synth_keeping_findings(app: cdk.App) -> None:
    """Synthesize ``app``; findings of its rule packs stay in validation-report.json for the
    tests that check it, so the templates are still there for every other test."""
    try:
        app.synth()
    except RuntimeError as error:
        if "ValidationFailed" not in str(error):
            raise


def findings(outdir: Path) -> list[tuple[str, str, str]]:
    """The unacknowledged findings of a synthesized app: (plugin, rule, construct path), and
    (plugin, "failed", its error) for a plugin that could not run."""
    report = json.loads((outdir / "validation-report.json").read_text())
    found: list[tuple[str, str, str]] = []
    for plugin in report["pluginReports"]:
        if plugin["conclusion"] != "success" and not plugin["violations"]:
            found.append((plugin["pluginName"], "failed", json.dumps(plugin.get("metadata"))))
        found += [
            (plugin["pluginName"], violation["ruleName"], construct["constructPath"])
            for violation in plugin["violations"]
            for construct in violation["violatingConstructs"]
        ]
    return found


@pytest.fixture(scope="session")
def maximal(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The maximal app, built and synthesized (every rule pack included) once per session."""
    outdir = tmp_path_factory.mktemp("maximal")
    app, access = maximal_app(outdir=str(outdir))
    synth_keeping_findings(app)
    return Synthesized(access, outdir)


@pytest.fixture(scope="session")
def example(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The example app of cdk.json (every rule pack on), synthesized once per session."""
    outdir = tmp_path_factory.mktemp("example")
    app = build_app(example_context(), outdir=str(outdir))
    synth_keeping_findings(app)
    return Synthesized(cast(CrossAccountBucketAccess, app.node.find_child(CONSTRUCT_ID)), outdir)


def template_of(stack: cdk.Stack) -> assertions.Template:
    """The synthesized CloudFormation template of ``stack``: read from its cloud assembly when
    its app was synthesized already (a session app whose findings a compliance test reports),
    else synthesized now."""
    written = Path(cast(cdk.Stage, cdk.Stage.of(stack)).outdir) / stack.template_file
    if written.is_file():
        return assertions.Template.from_json(json.loads(written.read_text()))
    return assertions.Template.from_stack(stack)


def statements_of(template: assertions.Template, resource_type: str) -> list[dict[str, Any]]:
    """Every policy statement of the resources of one type, in template order."""
    document_property = "KeyPolicy" if resource_type == "AWS::KMS::Key" else "PolicyDocument"
    statements: list[dict[str, Any]] = []
    for resource in template.find_resources(resource_type).values():
        statements += resource["Properties"][document_property]["Statement"]
    return statements


def bucket_policy(template: assertions.Template, bucket: str) -> dict[str, Any]:
    """The PolicyDocument of the bucket policy for ``bucket``."""
    found = [
        resource["Properties"]["PolicyDocument"]
        for resource in template.find_resources("AWS::S3::BucketPolicy").values()
        if resource["Properties"]["Bucket"] == bucket
    ]
    assert len(found) == 1, f"expected one policy for {bucket}, found {len(found)}"
    document: dict[str, Any] = found[0]
    return document


def as_list(value: str | Sequence[str]) -> list[str]:
    """IAM allows a string or a list; tests compare lists."""
    return [value] if isinstance(value, str) else list(value)


def options_for(*grants: BucketGrant, **options: Any) -> AccessOptions:
    """Options for accounts A and B in one region, with ``grants``."""
    return AccessOptions(
        compute_env=COMPUTE_ENV, storage_env=STORAGE_ENV, buckets=grants, **options
    )


def access_for(
    *grants: BucketGrant, app: cdk.App | None = None, construct_id: str = "Access", **options: Any
) -> CrossAccountBucketAccess:
    """The construct for accounts A and B in one region, with ``grants``, in ``app`` (a new
    App unless given)."""
    return CrossAccountBucketAccess.from_options(
        app or cdk.App(), construct_id, options_for(*grants, **options)
    )


def settings_for(*grants: BucketGrant, **options: Any) -> AccessSettings:
    """Validated settings for accounts A and B in one region, with ``grants``."""
    return validate(options_for(*grants, **options))


def plan_for(*grants: BucketGrant, **options: Any) -> AccessPlan:
    """The plan of a construct ``Test`` for accounts A and B in one region, with ``grants``."""
    return plan_access(options_for(*grants, **options), "Test")
