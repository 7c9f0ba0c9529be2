"""Rehearse the organisation grant's StackSet in an emulator: its template reaches the member
accounts of the granted unit, and no other.

What runs, once per module: ``moto_server`` on 127.0.0.1 holding an AWS organisation (the
emulator's default account is its management account) with a granted unit, a unit below it,
and another unit, each holding member accounts. The app is synthesized for that organisation's
real IDs, with the StackSet in a stack of the management account. Then, acting as the
management account, the StackSet is made through the emulator's StackSets API exactly as the
synthesized ``AWS::CloudFormation::StackSet`` resource says (name, permission model, automatic
deployment, capabilities, call-as, operation preferences, targets, regions), from the template
the stack publishes as its asset.

The emulator's CloudFormation does not create ``AWS::CloudFormation::StackSet`` resources (it
skips them, as it skips bucket policies), which is why the StackSet is made through the API
here rather than by deploying its stack; nor does it deploy to accounts that join a unit later
(automatic deployment): that the StackSet asks for it is checked on the template
(tests/test_organization.py). Who the bucket and key policies admit is proven by the IAM
evaluator (tests/access), not here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app import CONSTRUCT_ID, build_app
from constructs_lib import CrossAccountBucketAccess
from constructs_lib.plan import OrganizationPlan
from tests.access.configs import organization_context
from tests.conftest import REGION
from tests.deploy.harness import Accounts

pytestmark = pytest.mark.slow

MEMBERS_PER_UNIT = 2


@dataclass(frozen=True)
class Organization:
    """The emulated organisation: its ID, the granted unit's path, and its member accounts by
    unit (granted, below it, other)."""

    management: str
    org_id: str
    granted_path: str
    members: dict[str, list[str]]


def _member(organizations: Any, root: str, parent: str, name: str) -> str:
    created = organizations.create_account(AccountName=name, Email=f"{name}@example.com")
    account: str = created["CreateAccountStatus"]["AccountId"]
    organizations.move_account(AccountId=account, SourceParentId=root, DestinationParentId=parent)
    return account


@pytest.fixture(scope="module")
def organization(accounts: Accounts) -> Organization:
    management = accounts.default_account()
    organizations = accounts.client("organizations", management)
    org_id = organizations.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    root = organizations.list_roots()["Roots"][0]["Id"]
    units: dict[str, str] = {}
    for name, parent in (("granted", root), ("below", "granted"), ("other", root)):
        made = organizations.create_organizational_unit(
            ParentId=units.get(parent, parent), Name=name
        )
        units[name] = made["OrganizationalUnit"]["Id"]
    members = {
        name: [_member(organizations, root, unit, f"{name}-{n}") for n in range(MEMBERS_PER_UNIT)]
        for name, unit in units.items()
    }
    return Organization(management, org_id, f"{org_id}/{root}/{units['granted']}/", members)


@dataclass(frozen=True)
class Synthesized:
    outdir: Path
    plan: OrganizationPlan
    stack_set: dict[str, Any]
    """The synthesized AWS::CloudFormation::StackSet resource's properties."""
    template_bucket: str
    template: Path
    """The bucket and the file of the asset the StackSet's template URL names."""


@pytest.fixture(scope="module")
def synthesized(
    organization: Organization, tmp_path_factory: pytest.TempPathFactory
) -> Synthesized:
    """The organisation app, for the emulated organisation, its StackSet in a stack of the
    management account."""
    outdir = tmp_path_factory.mktemp("assembly")
    context = {
        **organization_context(),
        "tower:organization": {
            "orgId": organization.org_id,
            "ouPaths": [organization.granted_path],
            "adminAccount": organization.management,
            "adminRegion": REGION,
            "delegatedAdmin": False,
        },
    }
    app = build_app(context, str(outdir))
    app.synth()
    access = app.node.find_child(CONSTRUCT_ID)
    assert isinstance(access, CrossAccountBucketAccess)
    assert access.plan.organization is not None and access.organization_stack is not None
    template = json.loads((outdir / access.organization_stack.template_file).read_text())
    (stack_set,) = [
        resource["Properties"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::CloudFormation::StackSet"
    ]
    bucket, stack_set_template = published_template(outdir, stack_set["TemplateURL"])
    return Synthesized(outdir, access.plan.organization, stack_set, bucket, stack_set_template)


def published_template(outdir: Path, template_url: Any) -> tuple[str, Path]:
    """The bucket and the file of the asset whose object the StackSet's template URL names."""
    object_key = json.dumps(template_url).rsplit("/", 1)[1].split('"', 1)[0]
    for manifest in outdir.glob("*.assets.json"):
        for asset in json.loads(manifest.read_text())["files"].values():
            for place in asset["destinations"].values():
                if place["objectKey"] == object_key:
                    return place["bucketName"], outdir / asset["source"]["path"]
    raise AssertionError(f"no asset is published as {object_key}")


@pytest.fixture(scope="module")
def deployed(
    accounts: Accounts, organization: Organization, synthesized: Synthesized
) -> dict[str, str]:
    """The StackSet made and deployed as its resource says; its stack instances' statuses by
    account."""
    properties = synthesized.stack_set
    cloudformation = accounts.client("cloudformation", organization.management)
    call_as = properties["CallAs"]
    cloudformation.create_stack_set(
        StackSetName=properties["StackSetName"],
        Description=properties["Description"],
        TemplateBody=synthesized.template.read_text(),
        Capabilities=properties["Capabilities"],
        PermissionModel=properties["PermissionModel"],
        AutoDeployment=properties["AutoDeployment"],
        ManagedExecution=properties["ManagedExecution"],
        CallAs=call_as,
    )
    for group in properties["StackInstancesGroup"]:
        cloudformation.create_stack_instances(
            StackSetName=properties["StackSetName"],
            DeploymentTargets=group["DeploymentTargets"],
            Regions=group["Regions"],
            OperationPreferences=properties["OperationPreferences"],
            CallAs=call_as,
        )
    summaries = cloudformation.list_stack_instances(
        StackSetName=properties["StackSetName"], CallAs=call_as
    )["Summaries"]
    return {
        summary["Account"]: summary["StackInstanceStatus"]["DetailedStatus"]
        for summary in summaries
    }


def test_the_stack_set_template_is_an_asset_of_the_management_accounts_stack(
    organization: Organization, synthesized: Synthesized
) -> None:
    assert synthesized.template_bucket == f"cdk-hnb659fds-assets-{organization.management}-{REGION}"
    assert synthesized.template.name.endswith(".stackset.template.json")


def test_every_account_in_or_below_the_granted_unit_gets_the_stack(
    organization: Organization, deployed: dict[str, str]
) -> None:
    granted = organization.members["granted"] + organization.members["below"]
    assert {account: deployed.get(account) for account in granted} == dict.fromkeys(
        granted, "SUCCEEDED"
    )


def test_no_account_outside_the_granted_unit_gets_it(
    organization: Organization, deployed: dict[str, str]
) -> None:
    assert not set(organization.members["other"]) & set(deployed)
    assert organization.management not in deployed


def local_policies(accounts: Accounts, account: str) -> dict[str, dict[str, Any]]:
    """The customer managed policies of ``account``, by name, with their documents."""
    iam = accounts.client("iam", account)
    found: dict[str, dict[str, Any]] = {}
    for policy in iam.list_policies(Scope="Local")["Policies"]:
        version = iam.get_policy_version(
            PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"]
        )["PolicyVersion"]
        document = version["Document"]
        found[policy["PolicyName"]] = (
            json.loads(document) if isinstance(document, str) else document
        )
    return found


def test_each_member_account_holds_the_planned_policies_under_their_fixed_names(
    accounts: Accounts,
    organization: Organization,
    synthesized: Synthesized,
    deployed: dict[str, str],
) -> None:
    planned = dict(zip(synthesized.plan.policy_names, synthesized.plan.s3_write, strict=True))
    for account in organization.members["granted"] + organization.members["below"]:
        assert local_policies(accounts, account) == planned, account


def test_accounts_outside_the_unit_hold_no_such_policy(
    accounts: Accounts, organization: Organization, deployed: dict[str, str]
) -> None:
    for account in organization.members["other"]:
        assert local_policies(accounts, account) == {}, account
