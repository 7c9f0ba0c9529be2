"""Rehearse ``cdk deploy`` of the example app across both accounts, offline, in an emulator.

What runs, once per module: ``moto_server`` on 127.0.0.1 (a free port) with a throwaway AWS
configuration (dummy keys, one profile per account, in a temporary directory; ~/.aws is never
read or written), and the pinned CDK CLI in the project directory with the app command and the
settings of cdk.json, the Platform compute environment included:

1. ``cdk synth`` into a temporary cloud assembly (cdk.out is left alone);
2. a copy of that assembly edited for the emulator (tests/deploy/emulator_edits.py), since the
   emulator can deploy the Platform's Lambda functions and Provider but not the custom
   resource they serve. In the compute template only:
   - the ``Custom::SeqeraComputeEnvironment`` resource is removed, with its outputs and the
     s3-write policy's ``Roles`` entry (the Forge instance role it returns): the emulator
     cannot run a Lambda-backed custom resource;
   - the Provider's waiter state machine is named after its logical id: the emulator names it
     ``<stack>-<logical id>-<suffix>``, over the 80 characters allowed, where CloudFormation
     would shorten the generated name.
   Every other byte of the assembly, the asset manifests and the Lambda code included, is as
   synthesized; the edited template is published under its synthesized asset hash;
3. ``cdk bootstrap`` of the compute account A, and of the storage account B with
   ``--trust A --cloudformation-execution-policies ...``;
4. ``cdk deploy --all --require-approval never`` of the edited assembly, acting as A: B's stack
   goes through B's bootstrap roles, as in a real cross-account deployment, and the CLI
   publishes the Lambda code (the Platform handler zip and the Provider framework zip) to A's
   bootstrap bucket, from which the emulator creates the functions;
5. boto3 reads back, per account, what the emulator holds;
6. ``cdk synth`` once more, the same edits, and ``cdk diff --method=template --fail`` of that
   edited assembly must find no change. The diff runs on an edited assembly because the app
   itself necessarily differs from what is deployed by the edits of step 2 (the custom
   resource, its outputs, the policy's Roles, the state machine's name);
7. ``cdk destroy --all --force``, read back again.

Steps 3, 4 and 7 use the edited assembly of step 2 (``--app DIR``, as a CI pipeline deploys
what it synthesized).

This proves deployment mechanics only: the example's templates, less the custom resource,
deploy and delete; each stack and each resource lands in its own account; every asset, the
Lambda code included, is published to its account's bootstrap bucket with the staged bytes;
the Lambda functions are created in A alone from that code, with the synthesized runtimes and
handlers; the custom resource's log groups keep their retention; a second synthesis matches
what is deployed; and retained data survives a destroy.
It proves no access decision and runs no Lambda code. The emulator enforces no IAM, trust,
bucket or key policy (any dummy key may do anything; AssumeRole ignores trust policies), its
CloudFormation skips AWS::S3::BucketPolicy (the stack still completes with no bucket policy set,
which is also why the example's existing buckets need not exist here), it does not attach the
s3-write policy to the Forge instance role (the custom resource that names the role is not
deployed), it drops a log group's KmsKeyId, it returns no stack outputs through change sets,
and it leaves managed policies behind on delete. Who can reach which bucket and key is proven
elsewhere, by the IAM evaluator tests (tests/access); what the custom resource does, by
tests/platform.

Nothing leaves the machine: the CLI runs with --no-notices, CDK_DISABLE_CLI_TELEMETRY,
CDK_DISABLE_VERSION_CHECK, AWS_EC2_METADATA_DISABLED and the emulator as its only endpoint, and
its proxy variables point at a local trap (127.0.0.1 and localhost exempt); any CLI run fails
if the trap saw a request.

The tests run in file order; the last two destroy the deployment.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from constructs_lib.seqera.resource import HANDLER_DIRECTORY, RUNTIME
from tests.conftest import COMPUTE_ACCOUNT, REGION, STORAGE_ACCOUNT
from tests.deploy.emulator_edits import (
    CREDENTIALS_TYPE,
    CUSTOM_RESOURCE_TYPE,
    STAND_IN_EXTERNAL_ID,
    STATE_MACHINE_TYPE,
    edit_assembly,
)
from tests.deploy.harness import (
    Accounts,
    Cdk,
    OutsideTrap,
    StackArtifact,
    StackResource,
    assembly_file_assets,
    assembly_stacks,
    files_of_directory,
    files_of_zip,
    profile_name,
    write_aws_files,
)

# Builds and deploys for real: left out of `make test-fast`.
pytestmark = pytest.mark.slow

EXECUTION_POLICY = "arn:aws:iam::aws:policy/AdministratorAccess"
# Types the emulator's CloudFormation does not create, though the stack completes.
EMULATOR_SKIPS = {"AWS::S3::BucketPolicy", "AWS::CDK::Metadata"}
LAMBDA_FUNCTION = "AWS::Lambda::Function"
LOG_GROUP = "AWS::Logs::LogGroup"
MANAGED_POLICY = "AWS::IAM::ManagedPolicy"
PLATFORM_HANDLERS = {"handler.on_event", "handler.is_complete"}
# The Lambda asset's modules, as the package ships them.
PLATFORM_CODE_FILES = {path.name for path in HANDLER_DIRECTORY.glob("*.py")}
PROVIDER_CODE_FILE = "framework.js"


@dataclass(frozen=True)
class DeployedStack:
    """A stack of the assembly, and what the emulator made of its resources."""

    artifact: StackArtifact
    resources: dict[str, StackResource]


def other_account(account: str) -> str:
    return STORAGE_ACCOUNT if account == COMPUTE_ACCOUNT else COMPUTE_ACCOUNT


def listed_id(artifact: StackArtifact, logical_id: str, made: StackResource) -> str:
    """How a made resource shows in its account's listing (Accounts.listed): by physical id,
    except an inline policy, which the emulator (as CloudFormation) gives a generated physical
    id and which shows under its PolicyName in its roles."""
    if made.type == "AWS::IAM::Policy":
        name: str = artifact.resources[logical_id]["Properties"]["PolicyName"]
        return name
    return made.physical_id


def compute_stack(assembly: Path) -> StackArtifact:
    (stack,) = [s for s in assembly_stacks(assembly) if s.account == COMPUTE_ACCOUNT]
    return stack


@pytest.fixture(scope="module")
def trap() -> Iterator[OutsideTrap]:
    with OutsideTrap().serving() as serving:
        yield serving


@pytest.fixture(scope="module")
def cdk(endpoint: str, trap: OutsideTrap, workdir: Path) -> Cdk:
    aws_files = write_aws_files(workdir, [COMPUTE_ACCOUNT, STORAGE_ACCOUNT], REGION)
    return Cdk.for_emulator(endpoint, aws_files, workdir / "cdk-home", trap)


@pytest.fixture(scope="module")
def synthesized(cdk: Cdk, workdir: Path) -> Path:
    """The example's cloud assembly, as synthesized with the settings of cdk.json."""
    outdir = workdir / "synthesized"
    cdk("synth", "--quiet", "--output", str(outdir))
    environments = {(stack.account, stack.region) for stack in assembly_stacks(outdir)}
    assert environments == {(COMPUTE_ACCOUNT, REGION), (STORAGE_ACCOUNT, REGION)}, (
        f"the example's stacks moved to {environments}; update the accounts of this rehearsal"
    )
    return outdir


@pytest.fixture(scope="module")
def assembly(synthesized: Path, workdir: Path) -> Path:
    """The synthesized assembly edited for the emulator: what is deployed."""
    outdir = workdir / "assembly"
    edit_assembly(synthesized, outdir)
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


def detach_managed_policies(accounts: Accounts, deployed: list[DeployedStack]) -> list[str]:
    """Detach the managed policies from the deployed roles, as CloudFormation does when it
    deletes an AWS::IAM::ManagedPolicy: the emulator's CloudFormation keeps managed policies
    (and their attachments) on delete, and then cannot delete a role they are attached to."""
    detached: list[str] = []
    for stack in deployed:
        iam = accounts.client("iam", stack.artifact.account)
        for made in stack.resources.values():
            if made.type != "AWS::IAM::Role":
                continue
            attached = iam.list_attached_role_policies(RoleName=made.physical_id)
            for policy in attached["AttachedPolicies"]:
                iam.detach_role_policy(RoleName=made.physical_id, PolicyArn=policy["PolicyArn"])
                detached.append(f"{made.physical_id}: {policy['PolicyName']}")
    return detached


@pytest.fixture(scope="module")
def destroyed(
    cdk: Cdk, assembly: Path, deployed: list[DeployedStack], accounts: Accounts
) -> list[DeployedStack]:
    assert detach_managed_policies(accounts, deployed), "no role had a managed policy to detach"
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


def test_the_example_synthesizes_the_platform_lambdas_and_custom_resource(
    synthesized: Path,
) -> None:
    stack = compute_stack(synthesized)
    handlers = {
        function["Properties"]["Handler"] for function in stack.of_type(LAMBDA_FUNCTION).values()
    }
    assert len(stack.of_type(CUSTOM_RESOURCE_TYPE)) == 1, "cdk.json no longer sets tower:platform"
    assert len(stack.of_type(CREDENTIALS_TYPE)) == 1, "cdk.json gives tower:platform credentials"
    assert handlers >= PLATFORM_HANDLERS, handlers


def changed_keys(before: Mapping[str, Any], after: Mapping[str, Any]) -> set[str]:
    """The keys of a resource, and of its Properties, whose values differ."""
    changed = {
        key for key in {*before, *after} - {"Properties"} if before.get(key) != after.get(key)
    }
    properties_before, properties_after = before.get("Properties", {}), after.get("Properties", {})
    return changed | {
        f"Properties.{name}"
        for name in {*properties_before, *properties_after}
        if properties_before.get(name) != properties_after.get(name)
    }


def test_the_deployed_assembly_differs_from_the_synthesized_one_by_the_edits_only(
    synthesized: Path, assembly: Path
) -> None:
    before, after = files_of_directory(synthesized), files_of_directory(assembly)
    assert set(after) == set(before)
    original_stack = compute_stack(synthesized)
    changed_files = {name for name in before if before[name] != after[name]}
    assert changed_files == {original_stack.template_file}

    original, edited = original_stack.template, compute_stack(assembly).template
    assert {key for key in {*original, *edited} if original.get(key) != edited.get(key)} == {
        "Resources",
        "Outputs",
    }
    (environment,) = original_stack.of_type(CUSTOM_RESOURCE_TYPE)
    (credentials,) = original_stack.of_type(CREDENTIALS_TYPE)
    removed = {environment, credentials}
    assert set(edited["Resources"]) == set(original["Resources"]) - removed
    changed = {
        (logical_id, key)
        for logical_id, resource in edited["Resources"].items()
        for key in changed_keys(original["Resources"][logical_id], resource)
    }
    (policy,) = [
        logical_id
        for logical_id, resource in original_stack.of_type(MANAGED_POLICY).items()
        if environment in json.dumps(resource["Properties"].get("Roles"))
    ]
    (state_machine,) = original_stack.of_type(STATE_MACHINE_TYPE)
    (role,) = [
        logical_id
        for logical_id, resource in original_stack.of_type("AWS::IAM::Role").items()
        if credentials in json.dumps(resource)
    ]
    assert changed == {
        (policy, "Properties.Roles"),
        (role, "Properties.AssumeRolePolicyDocument"),
        (state_machine, "Properties.StateMachineName"),
    }
    assert edited["Resources"][policy]["Properties"]["Roles"] == [{"Ref": role}]
    trust = edited["Resources"][role]["Properties"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Condition"] == {
        "StringEquals": {"sts:ExternalId": STAND_IN_EXTERNAL_ID}
    }
    assert edited["Resources"][state_machine]["Properties"]["StateMachineName"] == state_machine
    assert edited["Outputs"] == {
        name: output
        for name, output in original["Outputs"].items()
        if not any(logical_id in json.dumps(output) for logical_id in removed)
    }
    assert len(edited["Outputs"]) < len(original["Outputs"])
    assert not any(logical_id in json.dumps(edited) for logical_id in removed)


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
            listed_as = listed_id(stack.artifact, logical_id, resource)
            if listed_as not in accounts.listed(resource.type, account):
                problems.append(f"{where} is missing from account {account}")
            if listed_as in accounts.listed(resource.type, other_account(account)):
                problems.append(f"{where} is also in account {other_account(account)}")
    assert not problems, "\n".join(problems)


def test_every_asset_is_published_to_its_accounts_bootstrap_bucket(
    deployed: list[DeployedStack], assembly: Path, accounts: Accounts
) -> None:
    """Templates byte for byte; Lambda code as zips holding the staged files byte for byte."""
    assets = assembly_file_assets(assembly)
    assert {asset.account for asset in assets} == {d.artifact.account for d in deployed}
    assert {asset.packaging for asset in assets} == {"file", "zip"}
    problems = []
    for asset in assets:
        where = f"s3://{asset.bucket}/{asset.key} ({asset.source.name})"
        if asset.bucket not in accounts.listed("AWS::S3::Bucket", asset.account):
            problems.append(f"{where}: the bucket is not in account {asset.account}")
            continue
        try:
            published = accounts.object_bytes(asset.account, asset.bucket, asset.key)
        except ClientError as error:
            problems.append(f"{where}: {error}")
            continue
        if asset.packaging == "file" and published != asset.source.read_bytes():
            problems.append(f"{where}: the published object differs from the source")
        if asset.packaging == "zip" and files_of_zip(published) != files_of_directory(asset.source):
            problems.append(f"{where}: the published zip differs from the staged directory")
    assert not problems, "\n".join(problems)


def test_the_lambda_code_is_published_to_the_compute_accounts_bootstrap_bucket(
    deployed: list[DeployedStack], assembly: Path, accounts: Accounts
) -> None:
    """The Platform handler zip (handler.py, client.py) and the Provider framework zip."""
    functions = compute_stack(assembly).of_type(LAMBDA_FUNCTION)
    zips = {
        asset.key: asset for asset in assembly_file_assets(assembly) if asset.packaging == "zip"
    }
    code: dict[str, set[str]] = {}
    for function in functions.values():
        location = function["Properties"]["Code"]
        code.setdefault(location["S3Key"], set()).add(function["Properties"]["Handler"])
        asset = zips[location["S3Key"]]
        assert (asset.account, asset.bucket) == (COMPUTE_ACCOUNT, location["S3Bucket"])
        assert asset.source == assembly / function["Metadata"]["aws:asset:path"]
    contents = {
        key: files_of_zip(accounts.object_bytes(COMPUTE_ACCOUNT, zips[key].bucket, key))
        for key in code
    }
    for key, files in contents.items():
        assert files == files_of_directory(zips[key].source), f"{key} differs from its asset"
    by_handlers = {frozenset(handlers): set(contents[key]) for key, handlers in code.items()}
    assert len(by_handlers) == 2, f"expected a handler zip and a framework zip: {code}"
    assert by_handlers.pop(frozenset(PLATFORM_HANDLERS)) == PLATFORM_CODE_FILES
    ((framework_handlers, framework_files),) = by_handlers.items()
    assert PROVIDER_CODE_FILE in framework_files
    assert all(handler.startswith("framework.") for handler in framework_handlers)
    storage_objects = {
        obj["Key"]
        for asset in assembly_file_assets(assembly)
        if asset.account == STORAGE_ACCOUNT
        for obj in accounts.client("s3", STORAGE_ACCOUNT)
        .list_objects_v2(Bucket=asset.bucket)
        .get("Contents", [])
    }
    assert not storage_objects & set(code), "Lambda code published to the storage account"


def test_the_lambda_functions_run_the_published_code_in_the_compute_account_only(
    deployed: list[DeployedStack], assembly: Path, accounts: Accounts
) -> None:
    (compute,) = [d for d in deployed if d.artifact.account == COMPUTE_ACCOUNT]
    functions = compute.artifact.of_type(LAMBDA_FUNCTION)
    assert functions, "the compute stack has no Lambda function"
    made = {}
    problems = []
    for logical_id, function in functions.items():
        properties = function["Properties"]
        name = compute.resources[logical_id].physical_id
        configuration = accounts.client("lambda", COMPUTE_ACCOUNT).get_function(FunctionName=name)[
            "Configuration"
        ]
        made[configuration["Handler"]] = configuration["Runtime"]
        expected = (properties["Runtime"], properties["Handler"])
        if (configuration["Runtime"], configuration["Handler"]) != expected:
            problems.append(
                f"{logical_id}: runs {configuration['Runtime']} {configuration['Handler']}, "
                f"synthesized {expected}"
            )
        published = accounts.object_bytes(
            COMPUTE_ACCOUNT, properties["Code"]["S3Bucket"], properties["Code"]["S3Key"]
        )
        digest = base64.b64encode(hashlib.sha256(published).digest()).decode()
        if configuration["CodeSha256"] != digest:
            problems.append(f"{logical_id}: the code is not the published {properties['Code']}")
        if f":iam::{COMPUTE_ACCOUNT}:role/" not in configuration["Role"]:
            problems.append(f"{logical_id}: runs as {configuration['Role']}")
        if name in accounts.listed(LAMBDA_FUNCTION, STORAGE_ACCOUNT):
            problems.append(f"{logical_id}: {name} is also in account {STORAGE_ACCOUNT}")
    assert not problems, "\n".join(problems)
    assert {handler: made[handler] for handler in PLATFORM_HANDLERS} == dict.fromkeys(
        PLATFORM_HANDLERS, RUNTIME.name
    )


def test_the_log_groups_keep_their_retention(
    deployed: list[DeployedStack], accounts: Accounts
) -> None:
    """Their KMS key is not read back: the emulator drops a log group's KmsKeyId from a
    template (it reads only the API's ``kmsKeyId``); the template tests check it."""
    (compute,) = [d for d in deployed if d.artifact.account == COMPUTE_ACCOUNT]
    groups = {
        group["logGroupName"]: group
        for group in accounts.client("logs", COMPUTE_ACCOUNT).describe_log_groups()["logGroups"]
    }
    log_groups = compute.artifact.of_type(LOG_GROUP)
    assert log_groups, "the compute stack has no log group"
    for logical_id, synthesized in log_groups.items():
        group = groups[compute.resources[logical_id].physical_id]
        assert group["retentionInDays"] == synthesized["Properties"]["RetentionInDays"]


def test_diff_is_clean_after_deploy(cdk: Cdk, deployed: list[DeployedStack], workdir: Path) -> None:
    """A second synthesis, edited as the deployed one was, matches what is deployed.

    The diff runs on an edited assembly (``--app DIR``), not on the app of cdk.json: the app's
    compute template necessarily differs from the deployed one by the edits of emulator_edits.py
    (it would add the custom resource and its outputs, and the policy's Roles, and drop the
    state machine's name), so ``--fail`` would fail. Synthesizing again first keeps what the
    diff proves: synthesis is repeatable, asset hashes included.
    """
    resynthesized = workdir / "resynthesized"
    cdk("synth", "--quiet", "--output", str(resynthesized))
    edited = workdir / "resynthesized-edited"
    edit_assembly(resynthesized, edited)
    output = cdk(
        "diff",
        "--method=template",
        "--fail",
        "--profile",
        profile_name(COMPUTE_ACCOUNT),
        "--app",
        str(edited),
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
