"""The organisation grant: its settings, its statements, its StackSet and where it lives.

Who the policies admit is proven by the access matrix (tests/access, the ``organization`` and
``whole-organization`` apps); here are the settings' checks, the plan, and the synthesized
StackSet, its template and the rule packs on both.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam

from app import CONSTRUCT_ID
from constructs_lib import (
    BucketGrant,
    CrossAccountBucketAccessStage,
    OrganizationGrant,
    PlatformComputeEnvironment,
)
from constructs_lib.config import NAG_PACKS, AccountRegion, ComputeAccount
from constructs_lib.context import options_from_context
from constructs_lib.errors import ConfigError
from constructs_lib.organization_stack import OrganizationStack
from constructs_lib.plan import AccessPlan, plan_access
from tests.conftest import (
    COMPUTE_ACCOUNT,
    GRANTED_OU,
    NESTED_OU,
    ORG_ID,
    ORG_ROOT,
    ORGANIZATION,
    OTHER_OU,
    REGION,
    STORAGE_ACCOUNT,
    THIRD_ACCOUNT,
    access_for,
    example_context,
    findings,
    options_for,
    plan_for,
    settings_for,
    synth_keeping_findings,
)
from tests.test_app import cfn_lint

DATA = BucketGrant("data-b")
ADMIN_ACCOUNT = "888888888888"
ORG_CONDITION_KEYS = ("aws:PrincipalOrgID", "aws:PrincipalOrgPaths")


def with_organization(**changes: Any) -> OrganizationGrant:
    return dataclasses.replace(ORGANIZATION, **changes)


def refused(grant: OrganizationGrant, **options: Any) -> ConfigError:
    with pytest.raises(ConfigError) as raised:
        settings_for(DATA, organization=grant, **options)
    return raised.value


def org_statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in document["Statement"] if s.get("Sid", "").startswith("Org")]


def test_an_organization_id_of_another_shape_names_the_setting() -> None:
    error = refused(with_organization(org_id="org-1234"))
    assert error.setting == "organization.org_id"
    assert "o-" in error.expected


def test_at_least_one_unit_path_is_needed() -> None:
    assert refused(with_organization(ou_paths=())).setting == "organization.ou_paths"


def test_a_unit_path_must_be_written_as_aws_organizations_writes_it() -> None:
    error = refused(with_organization(ou_paths=("ou-ab12-11111111",)))
    assert error.setting == "organization.ou_paths[0]"
    assert "'<org id>/<root id>/<ou id>/.../'" in error.expected


def test_a_unit_path_of_another_organization_is_refused() -> None:
    other = "o-zz9y8x7w6v/r-zz99/ou-zz99-44444444/"
    error = refused(with_organization(ou_paths=(GRANTED_OU, other)))
    assert (error.setting, error.given) == ("organization.ou_paths[1]", other)
    assert ORG_ID in error.expected


def test_a_unit_path_inside_another_given_one_is_refused() -> None:
    error = refused(with_organization(ou_paths=(GRANTED_OU, NESTED_OU)))
    assert error.setting == "organization.ou_paths[1]"
    assert "neither inside nor around" in error.expected


def test_a_unit_path_gets_its_trailing_slash() -> None:
    settings = settings_for(DATA, organization=with_organization(ou_paths=(OTHER_OU[:-1],)))
    assert settings.organization is not None
    assert settings.organization.ou_paths == (OTHER_OU,)


def test_two_regions_are_refused_since_iam_policies_are_global() -> None:
    error = refused(with_organization(regions=(REGION, "us-east-1")))
    assert error.setting == "organization.regions"
    assert "IAM policies are global" in error.expected


def test_the_stack_set_deploys_to_the_compute_region_by_default() -> None:
    settings = settings_for(DATA, organization=ORGANIZATION)
    assert settings.organization is not None
    assert settings.organization.region == REGION


def test_a_stack_set_region_of_another_partition_is_refused() -> None:
    error = refused(with_organization(regions=("cn-north-1",)))
    assert (error.setting, error.given) == ("organization.regions[0]", "cn-north-1")


def test_the_member_accounts_need_a_forge_prefix() -> None:
    error = refused(with_organization(forge_role_prefix=None))
    assert error.setting == "organization.forge_role_prefix"


def test_an_admin_account_of_another_shape_names_the_setting() -> None:
    error = refused(with_organization(admin_env=AccountRegion("12345", REGION)))
    assert (error.setting, error.given) == ("organization.admin_env.account", "12345")


def test_a_credentials_role_named_like_the_members_forge_roles_is_refused() -> None:
    platform = PlatformComputeEnvironment(
        name="genomics",
        token_secret="seqera/token",
        work_dir="s3://tower-work-a/work",
        credentials_role_name="MemberForge-platform",
    )
    error = refused(with_organization(forge_role_prefix="MemberForge"), platform=platform)
    assert error.setting == "platform.credentials_role_name"
    assert "MemberForge" in error.expected


def test_cdk_json_gives_the_grant_with_its_admin_account_and_region() -> None:
    context = {
        **example_context(),
        "tower:organization": {
            "orgId": ORG_ID,
            "ouPaths": [GRANTED_OU],
            "adminAccount": ADMIN_ACCOUNT,
            "adminRegion": "us-east-1",
            "delegatedAdmin": False,
        },
    }
    options = options_from_context(context.get, context)
    assert options.organization == OrganizationGrant(
        org_id=ORG_ID,
        ou_paths=[GRANTED_OU],
        admin_env=AccountRegion(ADMIN_ACCOUNT, "us-east-1"),
        delegated_admin=False,
    )


def test_cdk_json_refuses_an_admin_account_without_its_region() -> None:
    context = {
        **example_context(),
        "tower:organization": {"orgId": ORG_ID, "ouPaths": [GRANTED_OU], "adminAccount": "1"},
    }
    with pytest.raises(ConfigError) as raised:
        options_from_context(context.get, context)
    assert raised.value.setting == "tower:organization.adminRegion"


def test_the_organization_statements_name_every_principal_narrowed_to_the_units() -> None:
    plan = plan_for(DATA, organization=ORGANIZATION)
    statements = org_statements(plan.bucket_policies["data-b"])
    assert {s["Sid"] for s in statements} == {
        "OrgForgeBucket",
        "OrgForgeObjects",
        "OrgDenyOtherEncryption",
        "OrgDenyCustomerKeys",
    }
    for statement in statements:
        condition = statement["Condition"]
        assert statement["Principal"] == {"AWS": "*"}
        assert condition["StringEquals"]["aws:PrincipalOrgID"] == ORG_ID
        assert condition["ForAnyValue:StringLike"] == {"aws:PrincipalOrgPaths": f"{GRANTED_OU}*"}
        assert condition["StringNotEquals"]["aws:PrincipalAccount"] == STORAGE_ACCOUNT
        assert condition["ArnLike"] == {"aws:PrincipalArn": "arn:aws:iam::*:role/TowerForge*"}
        assert condition["ArnNotLike"] == {"aws:PrincipalArn": "arn:aws:iam::*:role/TowerForge*/*"}


def test_the_root_path_grants_the_whole_organization_by_its_id_alone() -> None:
    plan = plan_for(DATA, organization=with_organization(ou_paths=(ORG_ROOT,)))
    for statement in org_statements(plan.bucket_policies["data-b"]):
        assert "ForAnyValue:StringLike" not in statement["Condition"]
        assert statement["Condition"]["StringEquals"]["aws:PrincipalOrgID"] == ORG_ID


def test_key_policies_admit_the_organization_through_s3_only() -> None:
    grant = BucketGrant("data-b", create=True, create_kms_key=True)
    (statement,) = org_statements(
        {"Statement": plan_for(grant, organization=ORGANIZATION).key_statements["data-b"]}
    )
    assert statement["Sid"] == "OrgForgeRolesUseKeyThroughS3"
    assert statement["Condition"]["StringEquals"] == {
        "kms:ViaService": f"s3.{REGION}.amazonaws.com",
        "aws:PrincipalOrgID": ORG_ID,
    }


def test_the_organization_statements_name_no_account_so_members_cost_nothing() -> None:
    plan = plan_for(DATA, organization=ORGANIZATION)
    text = json.dumps(org_statements(plan.bucket_policies["data-b"]))
    assert set(re.findall(r"\d{12}", text)) == {STORAGE_ACCOUNT}


def test_the_member_policies_have_fixed_names_from_the_construct_id() -> None:
    plan = plan_access(options_for(DATA, organization=ORGANIZATION), "Genomics")
    assert plan.organization is not None
    assert plan.organization.policy_names == ("Genomics-S3Write",)
    assert plan.organization.policy_arns(THIRD_ACCOUNT) == (
        f"arn:aws:iam::{THIRD_ACCOUNT}:policy/Genomics-S3Write",
    )


def test_stages_granting_one_organization_name_their_stack_sets_and_policies_apart() -> None:
    app = cdk.App()
    names = {}
    for stage_id in ("Staging", "Production"):
        grant = BucketGrant(f"{stage_id.lower()}-data-b")
        options = options_for(grant, organization=ORGANIZATION)
        stage = CrossAccountBucketAccessStage(app, stage_id, options)
        organization = stage.access.plan.organization
        assert organization is not None
        names[stage_id] = (organization.stack_set_name, organization.policy_names)
    assert names == {
        "Staging": ("Staging-S3Write", ("Staging-S3Write",)),
        "Production": ("Production-S3Write", ("Production-S3Write",)),
    }


def test_an_admin_stack_of_its_own_is_named_for_the_construct_whatever_the_compute_stack_is() -> (
    None
):
    admin = with_organization(admin_env=AccountRegion(ADMIN_ACCOUNT, "us-east-1"))
    plan = plan_access(
        options_for(DATA, organization=admin, compute_stack_name="genomics-compute"), "Genomics"
    )
    assert plan.organization is not None
    assert plan.organization.stack_name == "Genomics-Organization"


def test_a_split_member_policy_numbers_its_further_parts() -> None:
    grants = [BucketGrant(f"lab-{n:03d}-b", prefixes=(f"runs/{n}",)) for n in range(60)]
    plan = plan_access(options_for(*grants, organization=ORGANIZATION), "Genomics")
    assert plan.organization is not None
    names = plan.organization.policy_names
    assert names[:2] == ("Genomics-S3Write", "Genomics-S3Write-2")
    assert len(names) == len(plan.organization.s3_write) > 1


def test_a_construct_id_iam_cannot_name_a_policy_with_is_refused() -> None:
    with pytest.raises(ConfigError) as raised:
        plan_access(options_for(DATA, organization=ORGANIZATION), "My Access")
    assert raised.value.setting == "construct_id"


def test_the_stack_set_lives_in_the_compute_stack_by_default() -> None:
    plan = plan_for(DATA, organization=ORGANIZATION)
    assert plan.organization is not None
    assert plan.organization.host == "Compute"


def test_the_stack_set_lives_in_the_stack_of_the_compute_account_the_admin_is() -> None:
    second = ComputeAccount("444444444444", "eu-central-1")
    admin = AccountRegion("444444444444", "eu-central-1")
    plan = plan_for(
        DATA, compute_accounts=[second], organization=with_organization(admin_env=admin)
    )
    assert plan.organization is not None
    assert plan.organization.host == "Compute444444444444"


@dataclasses.dataclass(frozen=True)
class Synthesized:
    plan: AccessPlan
    outdir: Path
    stacks: dict[str, dict[str, Any]]
    """Each stack's template by its construct path."""
    stack_set_template: dict[str, Any]


def synthesized(outdir: Path, grant: OrganizationGrant) -> Synthesized:
    app = cdk.App(outdir=str(outdir))
    access = access_for(
        BucketGrant("data-b", kms_key_arn="arn:aws:kms:eu-west-1:222222222222:key/abc"),
        BucketGrant("results-b", prefixes=("runs",), create=True, create_kms_key=True),
        app=app,
        construct_id=CONSTRUCT_ID,
        organization=grant,
        nag_packs=NAG_PACKS,
    )
    synth_keeping_findings(app)
    stacks = {
        stack.node.path: json.loads((outdir / stack.template_file).read_text())
        for stack in app.node.find_all()
        if isinstance(stack, cdk.Stack) and (outdir / stack.template_file).is_file()
    }
    (template_file,) = outdir.glob("*.stackset.template.json")
    return Synthesized(access.plan, outdir, stacks, json.loads(template_file.read_text()))


@pytest.fixture(scope="module")
def in_compute_stack(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """Every rule pack on, the StackSet in the compute account's stack."""
    return synthesized(tmp_path_factory.mktemp("in-compute"), ORGANIZATION)


@pytest.fixture(scope="module")
def in_admin_stack(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """Every rule pack on, the StackSet in the management account's own stack."""
    grant = with_organization(
        ou_paths=(GRANTED_OU, OTHER_OU),
        admin_env=AccountRegion(ADMIN_ACCOUNT, "us-east-1"),
        delegated_admin=False,
    )
    return synthesized(tmp_path_factory.mktemp("in-admin"), grant)


def stack_set_of(template: dict[str, Any]) -> dict[str, Any]:
    stack_set: dict[str, Any]
    (stack_set,) = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::CloudFormation::StackSet"
    ]
    return stack_set


def test_the_stack_set_is_service_managed_and_deploys_to_accounts_that_join(
    in_compute_stack: Synthesized,
) -> None:
    stack_set = stack_set_of(in_compute_stack.stacks[f"{CONSTRUCT_ID}/Compute"])
    assert stack_set["PermissionModel"] == "SERVICE_MANAGED"
    assert stack_set["AutoDeployment"] == {"Enabled": True, "RetainStacksOnAccountRemoval": True}
    assert stack_set["CallAs"] == "DELEGATED_ADMIN"
    assert stack_set["Capabilities"] == ["CAPABILITY_NAMED_IAM"]
    assert stack_set["StackSetName"] == f"{CONSTRUCT_ID}-S3Write"
    assert stack_set["StackInstancesGroup"] == [
        {
            "DeploymentTargets": {
                "AccountFilterType": "NONE",
                "OrganizationalUnitIds": ["ou-ab12-11111111"],
            },
            "Regions": [REGION],
        }
    ]


def test_the_stack_set_template_makes_the_planned_policies_under_their_names(
    in_compute_stack: Synthesized,
) -> None:
    organization = in_compute_stack.plan.organization
    assert organization is not None
    policies = {
        r["Properties"]["ManagedPolicyName"]: r["Properties"]["PolicyDocument"]
        for r in in_compute_stack.stack_set_template["Resources"].values()
        if r["Type"] == "AWS::IAM::ManagedPolicy"
    }
    assert policies == dict(zip(organization.policy_names, organization.s3_write, strict=True))


def test_the_stack_set_template_is_published_as_an_asset_of_its_stack(
    in_compute_stack: Synthesized,
) -> None:
    url = stack_set_of(in_compute_stack.stacks[f"{CONSTRUCT_ID}/Compute"])["TemplateURL"]
    assert f"cdk-hnb659fds-assets-{COMPUTE_ACCOUNT}-{REGION}" in json.dumps(url)


def test_an_admin_account_of_its_own_gets_a_stack_of_its_own(
    in_admin_stack: Synthesized,
) -> None:
    path = f"{CONSTRUCT_ID}/Organization"
    assert path in in_admin_stack.stacks
    stack_set = stack_set_of(in_admin_stack.stacks[path])
    assert stack_set["CallAs"] == "SELF"
    targets = stack_set["StackInstancesGroup"][0]["DeploymentTargets"]
    assert targets["OrganizationalUnitIds"] == ["ou-ab12-11111111", "ou-ab12-33333333"]
    assert not any(
        r["Type"] == "AWS::CloudFormation::StackSet"
        for r in in_admin_stack.stacks[f"{CONSTRUCT_ID}/Compute"]["Resources"].values()
    )


def test_the_admin_stack_deploys_to_the_admin_account(tmp_path: Path) -> None:
    admin = with_organization(admin_env=AccountRegion(ADMIN_ACCOUNT, "us-east-1"))
    access = access_for(DATA, organization=admin)
    stack = access.organization_stack
    assert isinstance(stack, OrganizationStack)
    assert (stack.account, stack.region) == (ADMIN_ACCOUNT, "us-east-1")
    assert stack.stack_name == "Access-Organization"
    assert access.organization is stack.stack_set


@pytest.mark.parametrize("placement", ["in_compute_stack", "in_admin_stack"])
def test_every_rule_pack_is_clean_with_the_stack_set(
    placement: str, request: pytest.FixtureRequest
) -> None:
    app: Synthesized = request.getfixturevalue(placement)
    assert findings(app.outdir) == []


@pytest.mark.parametrize("placement", ["in_compute_stack", "in_admin_stack"])
def test_the_templates_and_the_stack_set_template_pass_cfn_lint(
    placement: str, request: pytest.FixtureRequest
) -> None:
    app: Synthesized = request.getfixturevalue(placement)
    result = cfn_lint(sorted(app.outdir.glob("*.template.json")))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_control_tower_rules_read_the_stack_set_template(tmp_path: Path) -> None:
    app = cdk.App(outdir=str(tmp_path))
    access = access_for(DATA, app=app, organization=ORGANIZATION, nag_packs=["ControlTower"])
    assert access.organization is not None
    iam.ManagedPolicy(
        access.organization.template,
        "Admin",
        document=iam.PolicyDocument.from_json(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            }
        ),
    )
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    assert (
        "ControlTower",
        "iam_managed_policy_no_statements_with_admin_access_check",
        "Access/Compute/Organization/Template/Admin/Resource",
    ) in findings(tmp_path)
