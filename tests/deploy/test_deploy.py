"""Rehearse ``cdk deploy`` of the example app across both accounts, offline, in an emulator.

What runs, once per module: ``moto_server`` on 127.0.0.1 (a free port) with a throwaway AWS
configuration (dummy keys, one profile per account, in a temporary directory; ~/.aws is never
read or written), and the pinned CDK CLI in the project directory with the app command from
cdk.json and ``-c tower:platform=false``:

1. ``cdk synth`` into a temporary cloud assembly (cdk.out is left alone);
2. ``cdk bootstrap`` of the compute account A, and of the storage account B with
   ``--trust A --cloudformation-execution-policies ...``;
3. ``cdk deploy --all --require-approval never``, acting as A: B's stack goes through B's
   bootstrap roles, as in a real cross-account deployment;
4. boto3 reads back, per account, what the emulator holds;
5. ``cdk diff --method=template --fail`` synthesizes the app again and must find no change;
6. ``cdk destroy --all --force``, read back again.

Steps 2, 3 and 6 use the assembly of step 1 (``--app DIR``, as a CI pipeline deploys what it
synthesized), so the app is synthesized twice instead of five times.

This proves deployment mechanics only: the example's templates deploy and delete, each stack
and each resource lands in its own account, every asset is published to its account's
bootstrap bucket, a second synthesis matches what is deployed, and retained data survives a
destroy. It proves no access decision. The emulator enforces no IAM, trust, bucket or key
policy (any dummy key may do anything; AssumeRole ignores trust policies), its CloudFormation
skips AWS::S3::BucketPolicy (the stack still completes with no bucket policy set, which is also
why the example's existing buckets need not exist here), and it cannot run the Lambda-backed
Platform custom resource, so the example is deployed without it. It also returns no stack
outputs through change sets and leaves managed policies behind on delete. Who can reach which
bucket and key is proven elsewhere, by the IAM evaluator tests (tests/access).

Nothing leaves the machine: the CLI runs with --no-notices, CDK_DISABLE_CLI_TELEMETRY,
CDK_DISABLE_VERSION_CHECK, AWS_EC2_METADATA_DISABLED and the emulator as its only endpoint, and
its proxy variables point at a local trap (127.0.0.1 and localhost exempt); any CLI run fails
if the trap saw a request.

The tests run in file order; the last two destroy the deployment.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.conftest import COMPUTE_ACCOUNT, REGION, STORAGE_ACCOUNT
from tests.deploy.harness import (
    Accounts,
    Cdk,
    OutsideTrap,
    StackArtifact,
    StackResource,
    assembly_file_assets,
    assembly_stacks,
    profile_name,
    running_emulator,
    write_aws_files,
)

WITHOUT_PLATFORM = ("-c", "tower:platform=false")
EXECUTION_POLICY = "arn:aws:iam::aws:policy/AdministratorAccess"
# Types the emulator's CloudFormation does not create, though the stack completes.
EMULATOR_SKIPS = {"AWS::S3::BucketPolicy", "AWS::CDK::Metadata"}
LAMBDA_BACKED = ("Custom::", "AWS::CloudFormation::CustomResource", "AWS::Lambda::Function")


@dataclass(frozen=True)
class DeployedStack:
    """A stack of the assembly, and what the emulator made of its resources."""

    artifact: StackArtifact
    resources: dict[str, StackResource]


def other_account(account: str) -> str:
    return STORAGE_ACCOUNT if account == COMPUTE_ACCOUNT else COMPUTE_ACCOUNT


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("deploy")


@pytest.fixture(scope="module")
def endpoint(workdir: Path) -> Iterator[str]:
    with running_emulator(workdir / "moto_server.log") as url:
        yield url


@pytest.fixture(scope="module")
def trap() -> Iterator[OutsideTrap]:
    with OutsideTrap().serving() as serving:
        yield serving


@pytest.fixture(scope="module")
def cdk(endpoint: str, trap: OutsideTrap, workdir: Path) -> Cdk:
    aws_files = write_aws_files(workdir, [COMPUTE_ACCOUNT, STORAGE_ACCOUNT], REGION)
    return Cdk.for_emulator(endpoint, aws_files, workdir / "cdk-home", trap)


@pytest.fixture(scope="module")
def accounts(endpoint: str) -> Accounts:
    return Accounts(endpoint, REGION)


@pytest.fixture(scope="module")
def assembly(cdk: Cdk, workdir: Path) -> Path:
    outdir = workdir / "assembly"
    cdk("synth", "--quiet", *WITHOUT_PLATFORM, "--output", str(outdir))
    environments = {(stack.account, stack.region) for stack in assembly_stacks(outdir)}
    assert environments == {(COMPUTE_ACCOUNT, REGION), (STORAGE_ACCOUNT, REGION)}, (
        f"the example's stacks moved to {environments}; update the accounts of this rehearsal"
    )
    return outdir


@pytest.fixture(scope="module")
def deployed(cdk: Cdk, assembly: Path, accounts: Accounts) -> list[DeployedStack]:
    app = ("--app", str(assembly))
    cdk(
        "bootstrap",
        f"aws://{COMPUTE_ACCOUNT}/{REGION}",
        "--profile",
        profile_name(COMPUTE_ACCOUNT),
        *app,
    )
    cdk(
        "bootstrap",
        f"aws://{STORAGE_ACCOUNT}/{REGION}",
        "--profile",
        profile_name(STORAGE_ACCOUNT),
        "--trust",
        COMPUTE_ACCOUNT,
        "--cloudformation-execution-policies",
        EXECUTION_POLICY,
        *app,
    )
    cdk(
        "deploy",
        "--all",
        "--require-approval",
        "never",
        "--profile",
        profile_name(COMPUTE_ACCOUNT),
        *app,
    )
    return [
        DeployedStack(stack, accounts.stack_resources(stack.account, stack.name))
        for stack in assembly_stacks(assembly)
    ]


@pytest.fixture(scope="module")
def destroyed(cdk: Cdk, assembly: Path, deployed: list[DeployedStack]) -> list[DeployedStack]:
    cdk(
        "destroy",
        "--all",
        "--force",
        "--profile",
        profile_name(COMPUTE_ACCOUNT),
        "--app",
        str(assembly),
    )
    return deployed


def test_platform_false_leaves_out_everything_lambda_backed(assembly: Path) -> None:
    found = {
        f"{stack.name}/{logical_id}: {resource['Type']}"
        for stack in assembly_stacks(assembly)
        for logical_id, resource in stack.resources.items()
        if resource["Type"].startswith(LAMBDA_BACKED)
    }
    assert not found, f"-c tower:platform=false still synthesizes {sorted(found)}"


def test_each_stack_completes_in_its_own_account_only(
    deployed: list[DeployedStack], accounts: Accounts
) -> None:
    default = accounts.default_account()
    expected = {
        account: {
            d.artifact.name: "CREATE_COMPLETE" for d in deployed if d.artifact.account == account
        }
        for account in (COMPUTE_ACCOUNT, STORAGE_ACCOUNT, default)
    }
    assert {account: accounts.stack_statuses(account) for account in expected} == expected


def test_each_resource_is_created_in_its_stacks_account_only(
    deployed: list[DeployedStack], accounts: Accounts
) -> None:
    problems = []
    for stack in deployed:
        account = stack.artifact.account
        expected = {
            logical_id
            for logical_id, resource in stack.artifact.resources.items()
            if resource["Type"] not in EMULATOR_SKIPS
        }
        if set(stack.resources) != expected:
            problems.append(
                f"{stack.artifact.name}: made {sorted(stack.resources)}, "
                f"expected {sorted(expected)}"
            )
        for logical_id, resource in stack.resources.items():
            where = f"{stack.artifact.name}/{logical_id} ({resource.type} {resource.physical_id})"
            if resource.status != "CREATE_COMPLETE":
                problems.append(f"{where} is {resource.status}")
            if resource.physical_id not in accounts.listed(resource.type, account):
                problems.append(f"{where} is missing from account {account}")
            if resource.physical_id in accounts.listed(resource.type, other_account(account)):
                problems.append(f"{where} is also in account {other_account(account)}")
    assert not problems, "\n".join(problems)


def test_every_asset_is_published_to_its_accounts_bootstrap_bucket(
    deployed: list[DeployedStack], assembly: Path, accounts: Accounts
) -> None:
    assets = assembly_file_assets(assembly)
    assert {asset.account for asset in assets} == {d.artifact.account for d in deployed}
    problems = []
    for asset in assets:
        where = f"s3://{asset.bucket}/{asset.key} ({asset.source.name})"
        if asset.bucket not in accounts.listed("AWS::S3::Bucket", asset.account):
            problems.append(f"{where}: the bucket is not in account {asset.account}")
            continue
        try:
            published = (
                accounts.client("s3", asset.account)
                .get_object(Bucket=asset.bucket, Key=asset.key)["Body"]
                .read()
            )
        except ClientError as error:
            problems.append(f"{where}: {error}")
            continue
        if asset.packaging == "file" and published != asset.source.read_bytes():
            problems.append(f"{where}: the published object differs from the source")
    assert not problems, "\n".join(problems)


def test_diff_is_clean_after_deploy(cdk: Cdk, deployed: list[DeployedStack], workdir: Path) -> None:
    output = cdk(
        "diff",
        "--method=template",
        "--fail",
        "--profile",
        profile_name(COMPUTE_ACCOUNT),
        *WITHOUT_PLATFORM,
        "--output",
        str(workdir / "diff-assembly"),
    )
    compared = {d.artifact.name for d in deployed if f"({d.artifact.name})" in output}
    assert compared == {d.artifact.name for d in deployed}, output


def test_destroy_removes_both_stacks(destroyed: list[DeployedStack], accounts: Accounts) -> None:
    live = {
        account: accounts.stack_statuses(account) for account in (COMPUTE_ACCOUNT, STORAGE_ACCOUNT)
    }
    assert live == {COMPUTE_ACCOUNT: {}, STORAGE_ACCOUNT: {}}
    not_deleted = {
        d.artifact.name
        for d in destroyed
        if d.artifact.name not in accounts.deleted_stacks(d.artifact.account)
    }
    assert not not_deleted, f"no DELETE_COMPLETE for {sorted(not_deleted)}"


def test_destroy_keeps_the_retained_buckets_and_keys(
    destroyed: list[DeployedStack], accounts: Accounts
) -> None:
    retained = [
        (stack.artifact.account, logical_id, made)
        for stack in destroyed
        for logical_id, made in stack.resources.items()
        if stack.artifact.resources[logical_id].get("DeletionPolicy") == "Retain"
    ]
    assert retained, "the example retains no resource; this test has nothing left to check"
    gone = [
        f"{logical_id} ({resource.type} {resource.physical_id}) in {account}"
        for account, logical_id, resource in retained
        if resource.physical_id not in accounts.listed(resource.type, account)
    ]
    assert not gone, f"destroy deleted retained resources: {gone}"
