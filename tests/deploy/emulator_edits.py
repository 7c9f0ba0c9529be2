"""The template edits the emulator needs to deploy the example with its Platform Lambdas.

1. The emulator cannot run a Lambda-backed custom resource, so each
   ``Custom::SeqeraComputeEnvironment`` and ``Custom::SeqeraCredentials`` is removed, with
   every reference to it: the ``DependsOn`` entries naming it, the outputs reading it, and its
   entries in the attachment lists of IAM policies (the s3-write policy's ``Roles`` holds the
   Forge instance role the custom resource returns). The External ID that the credentials
   return, which the trust policy of their role requires, is replaced by a stand-in value, so
   that the role is deployed with the trust policy's shape. Any other reference fails with
   TemplateEditError: dropping a reference from, say, an ``Fn::Join`` or a policy statement
   would deploy a different meaning instead of a smaller template.
2. The emulator names a state machine without a name ``<stack>-<logical id>-<suffix>`` and does
   not shorten it as CloudFormation does, so the Provider's waiter state machine gets a name
   over the 80 characters allowed. Each unnamed state machine is named after its logical id.

``edit_assembly`` copies a cloud assembly and makes these edits in its stack templates; every
other file, the asset manifests included, keeps its synthesized bytes. A template is rewritten
only if the CDK's own formatting (one-space indent, no trailing newline) reproduces the
synthesized bytes, so the rewritten template differs from the synthesized one in the edits only.
Its template asset keeps its synthesized hash and object key: the CLI publishes a file asset
under the key the manifest gives and does not check the hash against the content.
"""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

CUSTOM_RESOURCE_TYPE = "Custom::SeqeraComputeEnvironment"
CREDENTIALS_TYPE = "Custom::SeqeraCredentials"
# Stands in for the External ID Platform gives the credentials, in their role's trust policy.
STAND_IN_EXTERNAL_ID = "emulator-stand-in-external-id"
STATE_MACHINE_TYPE = "AWS::StepFunctions::StateMachine"
STATE_MACHINE_NAME_LIMIT = 80
# Lists of principals a policy is attached to: dropping one entry detaches the policy from one
# principal and changes nothing else.
ATTACHMENT_LISTS = {
    "AWS::IAM::ManagedPolicy": ("Roles", "Users", "Groups"),
    "AWS::IAM::Policy": ("Roles", "Users", "Groups"),
}

Template = dict[str, Any]


class TemplateEditError(Exception):
    """A template holds something the edits do not know how to change safely."""


def _is_reference_to(value: object, logical_ids: set[str]) -> bool:
    """Whether ``value`` is exactly a Ref or Fn::GetAtt of one of ``logical_ids``."""
    if not isinstance(value, dict) or len(value) != 1:
        return False
    ((function, argument),) = value.items()
    if function == "Ref":
        return argument in logical_ids
    if function == "Fn::GetAtt":
        if isinstance(argument, str):
            return argument.split(".", 1)[0] in logical_ids
        return isinstance(argument, list) and bool(argument) and argument[0] in logical_ids
    return False


def _mentions(value: object, logical_ids: set[str], path: str) -> Iterator[str]:
    """The paths in ``value`` of every key or string that contains one of ``logical_ids``.

    A plain substring search: it also finds the ids inside Fn::Sub strings and DependsOn.
    """
    if isinstance(value, dict):
        for key, item in value.items():
            if any(logical_id in key for logical_id in logical_ids):
                yield f"{path}/{key}"
            yield from _mentions(item, logical_ids, f"{path}/{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _mentions(item, logical_ids, f"{path}[{index}]")
    elif isinstance(value, str) and any(logical_id in value for logical_id in logical_ids):
        yield path


def remove_resources_of_type(template: Template, resource_type: str) -> tuple[Template, list[str]]:
    """A copy of ``template`` without the resources of ``resource_type`` and the references to
    them; and the edits made, one line each.

    Removes DependsOn entries naming them, outputs mentioning them (unless exported: another
    stack may import the value), and Ref or Fn::GetAtt entries of them in ATTACHMENT_LISTS
    (a list left empty is removed). Raises TemplateEditError if any mention is left.
    """
    edited = copy.deepcopy(template)
    resources: dict[str, Any] = edited["Resources"]
    removed = {
        logical_id
        for logical_id, resource in resources.items()
        if resource["Type"] == resource_type
    }
    edits = []
    for logical_id in sorted(removed):
        del resources[logical_id]
        edits.append(f"removed Resources/{logical_id} ({resource_type})")
    if not removed:
        return edited, edits

    for logical_id, resource in resources.items():
        where = f"Resources/{logical_id}"
        depends_on = resource.get("DependsOn")
        if depends_on is not None:
            names = [depends_on] if isinstance(depends_on, str) else depends_on
            kept = [name for name in names if name not in removed]
            if len(kept) != len(names):
                edits.append(f"removed {where}/DependsOn entries {sorted(set(names) - set(kept))}")
                if kept:
                    resource["DependsOn"] = kept if isinstance(depends_on, list) else kept[0]
                else:
                    del resource["DependsOn"]
        properties = resource.get("Properties", {})
        for name in ATTACHMENT_LISTS.get(resource["Type"], ()):
            entries = properties.get(name)
            if not isinstance(entries, list):
                continue
            kept = [entry for entry in entries if not _is_reference_to(entry, removed)]
            if len(kept) == len(entries):
                continue
            edits.append(
                f"removed {len(entries) - len(kept)} of {len(entries)} "
                f"{where}/Properties/{name} entries"
            )
            if kept:
                properties[name] = kept
            else:
                del properties[name]

    outputs: dict[str, Any] = edited.get("Outputs", {})
    for name, output in list(outputs.items()):
        if next(_mentions(output, removed, ""), None) is None:
            continue
        if "Export" in output:
            raise TemplateEditError(
                f"Outputs/{name} is exported and reads {sorted(removed)}: another stack may "
                "import it"
            )
        del outputs[name]
        edits.append(f"removed Outputs/{name}")
    if "Outputs" in edited and not outputs:
        del edited["Outputs"]

    left = list(_mentions(edited, removed, ""))
    if left:
        raise TemplateEditError(
            f"cannot remove the references to {sorted(removed)} ({resource_type}) at {left}"
        )
    return edited, edits


def name_state_machines(template: Template) -> tuple[Template, list[str]]:
    """A copy of ``template`` in which each unnamed state machine is named after its logical
    id; and the edits made, one line each."""
    edited = copy.deepcopy(template)
    edits = []
    for logical_id, resource in edited["Resources"].items():
        if resource["Type"] != STATE_MACHINE_TYPE:
            continue
        properties = resource.setdefault("Properties", {})
        if "StateMachineName" in properties:
            continue
        if len(logical_id) > STATE_MACHINE_NAME_LIMIT:
            raise TemplateEditError(
                f"Resources/{logical_id}: the logical id is too long for a state machine name"
            )
        properties["StateMachineName"] = logical_id
        edits.append(f"set Resources/{logical_id}/Properties/StateMachineName = {logical_id}")
    return edited, edits


def stand_in_external_ids(template: Template) -> tuple[Template, list[str]]:
    """A copy of ``template`` in which each trust policy's reference to the External ID of
    a ``Custom::SeqeraCredentials`` is ``STAND_IN_EXTERNAL_ID``; and the edits made."""
    edited = copy.deepcopy(template)
    credentials = {
        logical_id
        for logical_id, resource in edited["Resources"].items()
        if resource["Type"] == CREDENTIALS_TYPE
    }
    edits: list[str] = []

    def replace(value: Any, where: str) -> Any:
        if value in ({"Fn::GetAtt": [logical_id, "ExternalId"]} for logical_id in credentials):
            edits.append(f"set {where} = {STAND_IN_EXTERNAL_ID}")
            return STAND_IN_EXTERNAL_ID
        if isinstance(value, dict):
            return {key: replace(item, f"{where}/{key}") for key, item in value.items()}
        if isinstance(value, list):
            return [replace(item, f"{where}[{index}]") for index, item in enumerate(value)]
        return value

    for logical_id, resource in edited["Resources"].items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Role" and "AssumeRolePolicyDocument" in properties:
            where = f"Resources/{logical_id}/Properties/AssumeRolePolicyDocument"
            properties["AssumeRolePolicyDocument"] = replace(
                properties["AssumeRolePolicyDocument"], where
            )
    return edited, edits


def edit_template_for_emulator(template: Template) -> tuple[Template, list[str]]:
    """Every edit: the custom resources removed (the compute environment first, whose
    configuration reads the credentials; their External ID stood in for), the state machines
    named."""
    without_custom, removals = remove_resources_of_type(template, CUSTOM_RESOURCE_TYPE)
    stood_in, stand_ins = stand_in_external_ids(without_custom)
    without_credentials, credentials = remove_resources_of_type(stood_in, CREDENTIALS_TYPE)
    named, names = name_state_machines(without_credentials)
    return named, removals + stand_ins + credentials + names


def template_text(template: Mapping[str, Any]) -> str:
    """A template as the CDK writes it: JSON.stringify with a one-space indent."""
    return json.dumps(template, indent=1, ensure_ascii=False)


def stack_template_files(assembly: Path) -> list[str]:
    """The template file of each stack of a cloud assembly, in manifest order."""
    manifest = json.loads((assembly / "manifest.json").read_text())
    return [
        artifact["properties"]["templateFile"]
        for artifact in manifest["artifacts"].values()
        if artifact["type"] == "aws:cloudformation:stack"
    ]


def edit_assembly(source: Path, target: Path) -> dict[str, list[str]]:
    """Copy the cloud assembly ``source`` to the new directory ``target`` with each stack
    template edited for the emulator; return the edits made, by template file.

    Raises TemplateEditError, before anything is written, if a template that needs an edit
    would not keep its other bytes, or if an edit is not safe.
    """
    rewritten = {}
    edits = {}
    for name in stack_template_files(source):
        text = (source / name).read_text(encoding="utf-8")
        template = json.loads(text)
        edited, made = edit_template_for_emulator(template)
        if not made:
            continue
        if template_text(template) != text:
            raise TemplateEditError(
                f"{name} is not formatted as template_text writes it: rewriting it would "
                "change more than the edits"
            )
        rewritten[name] = template_text(edited)
        edits[name] = made
    shutil.copytree(source, target)
    for name, text in rewritten.items():
        (target / name).write_text(text, encoding="utf-8")
    return edits
