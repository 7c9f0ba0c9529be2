"""The template edits of the deploy rehearsal, on small hand-written templates and assemblies.

No emulator and no CLI: these run in well under a second.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.emulator_edits import (
    CUSTOM_RESOURCE_TYPE,
    STATE_MACHINE_TYPE,
    TemplateEditError,
    edit_assembly,
    edit_template_for_emulator,
    name_state_machines,
    remove_resources_of_type,
    template_text,
)
from tests.deploy.harness import files_of_directory

CUSTOM = "PlatformCustom1234ABCD"
PROVIDER = "ProviderFunction5678EF01"
WAITER = "ProviderWaiter9ABC2345"


def instance_role(attribute: str = "InstanceRoleName") -> dict[str, Any]:
    return {"Fn::GetAtt": [CUSTOM, attribute]}


def template(**extra_resources: Any) -> dict[str, Any]:
    """A compute template shaped like the example's: a custom resource, its Provider function,
    a policy attached to the role it returns, a waiter, outputs."""
    return {
        "Description": "compute",
        "Resources": {
            "WritePolicy": {
                "Type": "AWS::IAM::ManagedPolicy",
                "Properties": {
                    "PolicyDocument": {"Statement": [], "Version": "2012-10-17"},
                    "Roles": [instance_role()],
                },
            },
            PROVIDER: {"Type": "AWS::Lambda::Function", "Properties": {"Handler": "x.y"}},
            WAITER: {
                "Type": STATE_MACHINE_TYPE,
                "Properties": {"RoleArn": {"Fn::GetAtt": ["WaiterRole", "Arn"]}},
                "DependsOn": ["WaiterRole"],
            },
            CUSTOM: {
                "Type": CUSTOM_RESOURCE_TYPE,
                "Properties": {"ServiceToken": {"Fn::GetAtt": [PROVIDER, "Arn"]}},
                "DeletionPolicy": "Delete",
            },
            **extra_resources,
        },
        "Outputs": {
            "PolicyArn": {"Value": {"Ref": "WritePolicy"}},
            "ComputeEnvId": {"Value": instance_role("ComputeEnvId")},
            "RoleName": {"Value": {"Fn::Join": ["", ["role/", instance_role()]]}},
        },
    }


def test_removes_the_custom_resource_and_each_known_reference_only() -> None:
    original = template(
        Later={"Type": "AWS::SNS::Topic", "DependsOn": CUSTOM},
        Both={"Type": "AWS::SNS::Topic", "DependsOn": [CUSTOM, PROVIDER]},
        Attached={
            "Type": "AWS::IAM::Policy",
            "Properties": {
                "PolicyName": "attached",
                "Roles": [{"Ref": "OtherRole"}, {"Fn::GetAtt": f"{CUSTOM}.InstanceRoleName"}],
                "Users": [{"Ref": CUSTOM}],
            },
        },
    )
    kept = copy.deepcopy(original)

    edited, edits = remove_resources_of_type(original, CUSTOM_RESOURCE_TYPE)

    assert original == kept, "the input template was changed"
    expected = copy.deepcopy(original)
    del expected["Resources"][CUSTOM]
    del expected["Resources"]["WritePolicy"]["Properties"]["Roles"]
    del expected["Resources"]["Later"]["DependsOn"]
    expected["Resources"]["Both"]["DependsOn"] = [PROVIDER]
    expected["Resources"]["Attached"]["Properties"]["Roles"] = [{"Ref": "OtherRole"}]
    del expected["Resources"]["Attached"]["Properties"]["Users"]
    expected["Outputs"] = {"PolicyArn": {"Value": {"Ref": "WritePolicy"}}}
    assert edited == expected
    assert list(edited["Resources"]) == [name for name in original["Resources"] if name != CUSTOM]
    assert len(edits) == 8, edits
    assert CUSTOM not in json.dumps(edited)


def test_a_template_without_the_custom_resource_is_left_as_it_is() -> None:
    original = template()
    del original["Resources"][CUSTOM]
    original["Outputs"] = {"PolicyArn": {"Value": {"Ref": "WritePolicy"}}}
    original["Resources"]["WritePolicy"]["Properties"]["Roles"] = [{"Ref": "Other"}]

    assert remove_resources_of_type(original, CUSTOM_RESOURCE_TYPE) == (original, [])


@pytest.mark.parametrize(
    ("where", "resource"),
    [
        (
            "a property value",
            {"Type": "AWS::IAM::InstanceProfile", "Properties": {"Roles": [instance_role()]}},
        ),
        (
            "a policy statement",
            {
                "Type": "AWS::IAM::ManagedPolicy",
                "Properties": {"PolicyDocument": {"Statement": [{"Resource": [instance_role()]}]}},
            },
        ),
        (
            "an Fn::Join in an attachment list",
            {
                "Type": "AWS::IAM::ManagedPolicy",
                "Properties": {"Roles": [{"Fn::Join": ["", [instance_role(), "-x"]]}]},
            },
        ),
        (
            "an Fn::Sub string",
            {
                "Type": "AWS::SSM::Parameter",
                "Properties": {"Value": {"Fn::Sub": f"${{{CUSTOM}.InstanceRoleName}}"}},
            },
        ),
        ("any other place", {"Type": "AWS::SNS::Topic", "Metadata": {"after": CUSTOM}}),
    ],
)
def test_a_reference_it_cannot_remove_fails_loudly(where: str, resource: dict[str, Any]) -> None:
    with pytest.raises(TemplateEditError, match="cannot remove the references"):
        remove_resources_of_type(template(Referrer=resource), CUSTOM_RESOURCE_TYPE)


def test_an_exported_output_of_the_custom_resource_fails_loudly() -> None:
    exported = template()
    exported["Outputs"]["ComputeEnvId"]["Export"] = {"Name": "compute-env-id"}
    with pytest.raises(TemplateEditError, match="exported"):
        remove_resources_of_type(exported, CUSTOM_RESOURCE_TYPE)


def test_names_each_unnamed_state_machine_after_its_logical_id() -> None:
    named = {"Type": STATE_MACHINE_TYPE, "Properties": {"StateMachineName": "given"}}
    original = template(Named=named)

    edited, edits = name_state_machines(original)

    assert edited["Resources"][WAITER]["Properties"] == {
        **original["Resources"][WAITER]["Properties"],
        "StateMachineName": WAITER,
    }
    assert list(edited["Resources"][WAITER]["Properties"])[-1] == "StateMachineName"
    assert edited["Resources"]["Named"] == named
    assert len(edits) == 1
    assert "StateMachineName" not in original["Resources"][WAITER]["Properties"]


def test_a_logical_id_too_long_for_a_state_machine_name_fails_loudly() -> None:
    long_id = "Waiter" + "x" * 80
    with pytest.raises(TemplateEditError, match="too long"):
        name_state_machines({"Resources": {long_id: {"Type": STATE_MACHINE_TYPE}}})


def write_assembly(directory: Path, templates: dict[str, str]) -> None:
    """A minimal cloud assembly: a manifest naming the stack templates, an asset, a tree."""
    directory.mkdir()
    artifacts: dict[str, Any] = {
        name.removesuffix(".template.json"): {
            "type": "aws:cloudformation:stack",
            "properties": {"templateFile": name},
        }
        for name in templates
    }
    artifacts["Tree"] = {"type": "cdk:tree", "properties": {"file": "tree.json"}}
    (directory / "manifest.json").write_text(json.dumps({"artifacts": artifacts}, indent=1))
    for name, text in templates.items():
        (directory / name).write_text(text)
    (directory / "tree.json").write_text('{"tree": {}}')
    (directory / "asset.abc").mkdir()
    (directory / "asset.abc" / "handler.py").write_bytes(b"def on_event(): ...\n")


def test_edit_assembly_rewrites_the_edited_templates_only(tmp_path: Path) -> None:
    compute = template()
    storage = {"Resources": {"Bucket": {"Type": "AWS::S3::Bucket"}}}
    source, target = tmp_path / "source", tmp_path / "target"
    write_assembly(
        source,
        {
            "Compute.template.json": template_text(compute),
            # Needs no edit, so its own formatting does not matter and is kept.
            "Storage.template.json": json.dumps(storage, indent=4),
        },
    )

    edits = edit_assembly(source, target)

    expected, made = edit_template_for_emulator(compute)
    assert edits == {"Compute.template.json": made}
    before, after = files_of_directory(source), files_of_directory(target)
    assert {name for name in before if before[name] != after[name]} == {"Compute.template.json"}
    assert set(after) == set(before)
    assert after["Compute.template.json"] == template_text(expected).encode()


def test_edit_assembly_refuses_a_template_it_would_reformat(tmp_path: Path) -> None:
    source, target = tmp_path / "source", tmp_path / "target"
    write_assembly(source, {"Compute.template.json": json.dumps(template(), indent=2)})

    with pytest.raises(TemplateEditError, match="not formatted"):
        edit_assembly(source, target)
    assert not target.exists()


def test_edit_assembly_writes_nothing_when_an_edit_is_unsafe(tmp_path: Path) -> None:
    unsafe = template(Referrer={"Type": "AWS::SNS::Topic", "Properties": {"Name": instance_role()}})
    source, target = tmp_path / "source", tmp_path / "target"
    write_assembly(source, {"Compute.template.json": template_text(unsafe)})

    with pytest.raises(TemplateEditError, match="Resources/Referrer"):
        edit_assembly(source, target)
    assert not target.exists()
