"""The deployed policies, read out of a synthesized cloud assembly with intrinsics resolved.

CloudFormation fills in ``Ref``, ``Fn::GetAtt`` and ``Fn::Join`` at deploy time;
here they are resolved for the stack's known account, region and partition, and stand-in
physical IDs for resources CloudFormation would name (a key ID, a generated bucket name).
Anything else raises, so an intrinsic this module does not know is never passed on as text.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from constructs_lib.seqera.credentials import PERMISSIONS_DESCRIPTION

Document = dict[str, Any]

_DNS_SUFFIX = {"aws": "amazonaws.com", "aws-cn": "amazonaws.com.cn"}
_KEY_ARN = re.compile(r"arn:[\w-]+:kms:[\w-]+:\d{12}:key/[\w-]+")


class UnresolvedIntrinsicError(ValueError):
    """The template uses an intrinsic function, or names a resource, this module cannot resolve."""


@dataclass(frozen=True)
class Stack:
    """One stack of the assembly: its name, where it deploys and its template, resolved on
    demand."""

    name: str
    account: str
    region: str
    partition: str
    template: Mapping[str, Any]

    def resources(self, resource_type: str) -> dict[str, Mapping[str, Any]]:
        """The resources of one type, by logical ID."""
        return {
            logical_id: resource
            for logical_id, resource in self.template.get("Resources", {}).items()
            if resource["Type"] == resource_type
        }

    def resolve(self, value: Any) -> Any:
        """``value`` with every intrinsic function replaced by its deployed value."""
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (name, argument), *_ = value.items()
            if name == "Ref":
                return self._ref(argument)
            if name == "Fn::GetAtt":
                return self._get_att(*argument)
            if name == "Fn::Join":
                separator, parts = argument
                return separator.join(self.resolve(parts))
            if name.startswith("Fn::"):
                raise UnresolvedIntrinsicError(f"{name} is not resolved here: {value}")
        return {key: self.resolve(item) for key, item in value.items()}

    def _ref(self, name: str) -> str:
        pseudo = {
            "AWS::Partition": self.partition,
            "AWS::AccountId": self.account,
            "AWS::Region": self.region,
            "AWS::URLSuffix": _DNS_SUFFIX[self.partition],
        }
        if name in pseudo:
            return pseudo[name]
        resource_type = self._type_of(name)
        if resource_type == "AWS::S3::Bucket":
            return self._bucket_name(name)
        if resource_type == "AWS::KMS::Key":
            return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.account}/{self.name}/{name}"))
        raise UnresolvedIntrinsicError(f"Ref {name} ({resource_type}) is not resolved here")

    def _get_att(self, name: str, attribute: str) -> str:
        resource_type = self._type_of(name)
        if resource_type == "AWS::S3::Bucket" and attribute == "Arn":
            return f"arn:{self.partition}:s3:::{self._bucket_name(name)}"
        if resource_type == "AWS::KMS::Key" and attribute == "Arn":
            return f"arn:{self.partition}:kms:{self.region}:{self.account}:key/{self._ref(name)}"
        if resource_type == "Custom::SeqeraCredentials" and attribute == "ExternalId":
            return external_id_of(name)
        raise UnresolvedIntrinsicError(f"Fn::GetAtt {name}.{attribute} is not resolved here")

    def _type_of(self, logical_id: str) -> str:
        resources = self.template.get("Resources", {})
        if logical_id not in resources:
            raise UnresolvedIntrinsicError(f"no resource {logical_id} in the template")
        return str(resources[logical_id]["Type"])

    def _bucket_name(self, logical_id: str) -> str:
        """The bucket's name: its BucketName, or a stand-in for the one CloudFormation makes
        (from the stack's name and the logical ID, as CloudFormation's is)."""
        properties = self.template["Resources"][logical_id].get("Properties", {})
        if "BucketName" in properties:
            return str(self.resolve(properties["BucketName"]))
        return f"{self.name}-{logical_id}".lower()[:52] + "-generated"


@dataclass(frozen=True)
class StackArtifact:
    """A stack of the cloud assembly: its name, where it deploys, and its template file."""

    name: str
    account: str
    region: str
    template_file: Path


def external_id_of(credentials: str) -> str:
    """The stand-in External ID Platform gives the credentials of logical id ``credentials``."""
    return f"external-id-of-{credentials}"


def stack_artifacts(outdir: Path) -> list[StackArtifact]:
    """The stacks of the cloud assembly in ``outdir``, in the manifest's order. An account may
    hold several: storage stacks the grants are spread over, or an app's other stacks."""
    manifest = json.loads((outdir / "manifest.json").read_text())
    found: list[StackArtifact] = []
    for artifact in manifest["artifacts"].values():
        if artifact["type"] != "aws:cloudformation:stack":
            continue
        _, _, account, region = artifact["environment"].split("/")
        properties = artifact["properties"]
        name = properties.get("stackName", artifact.get("displayName", ""))
        found.append(StackArtifact(name, account, region, outdir / properties["templateFile"]))
    return found


def stacks(outdir: Path, partition: str) -> list[Stack]:
    """Every stack of the cloud assembly in ``outdir``, in the manifest's order."""
    return [
        Stack(
            artifact.name,
            artifact.account,
            artifact.region,
            partition,
            json.loads(artifact.template_file.read_text()),
        )
        for artifact in stack_artifacts(outdir)
    ]


def stack_set_templates(outdir: Path) -> list[Path]:
    """The StackSet templates of the cloud assembly (files beside the stacks' templates, each
    published as an asset of the stack that holds its StackSet)."""
    return sorted(outdir.glob("*.stackset.template.json"))


def stack_set_policies(
    template_file: Path, account: str, region: str, partition: str
) -> dict[str, Document]:
    """The managed policies a StackSet template makes in member account ``account``, by their
    fixed name (``ManagedPolicyName``)."""
    stack = Stack(
        template_file.name, account, region, partition, json.loads(template_file.read_text())
    )
    return {
        str(stack.resolve(policy["Properties"]["ManagedPolicyName"])): stack.resolve(
            policy["Properties"]["PolicyDocument"]
        )
        for policy in stack.resources("AWS::IAM::ManagedPolicy").values()
    }


def in_account(found: list[Stack], account: str) -> list[Stack]:
    """The stacks that deploy to ``account``."""
    return [stack for stack in found if stack.account == account]


def managed_policies(compute: Stack) -> dict[str, Document]:
    """The managed policies the stack makes (the s3-write policy, in as many parts as IAM's
    size limit needs), by the output the stack names each policy's ARN in (``<id>Arn`` for
    the construct ids ``S3WritePolicy``, ``S3WritePolicy-2``, ..., as a logical id:
    ``S3WritePolicyArn``, ``S3WritePolicy2Arn``), less its ``Arn``. The permissions of the
    Platform credentials role (known by their description) are no part of it."""
    documents = {
        logical_id: compute.resolve(policy["Properties"]["PolicyDocument"])
        for logical_id, policy in compute.resources("AWS::IAM::ManagedPolicy").items()
    }
    by_id: dict[str, Document] = {}
    named: set[str] = set()
    for output_id, output in compute.template.get("Outputs", {}).items():
        value = output["Value"]
        if isinstance(value, dict) and value.get("Ref") in documents and output_id.endswith("Arn"):
            by_id[output_id.removesuffix("Arn")] = documents[value["Ref"]]
            named.add(value["Ref"])
    credentials = {
        logical_id
        for logical_id, policy in compute.resources("AWS::IAM::ManagedPolicy").items()
        if policy["Properties"].get("Description") == PERMISSIONS_DESCRIPTION
    }
    if named | credentials != set(documents):
        unnamed = sorted(set(documents) - named - credentials)
        raise ValueError(f"managed policies without an ARN output in {compute.name}: {unnamed}")
    return by_id


def bucket_policies(storage: Stack) -> dict[str, Document]:
    """Each bucket policy of the stack, by the name of the bucket it is on."""
    return {
        str(storage.resolve(policy["Properties"]["Bucket"])): storage.resolve(
            policy["Properties"]["PolicyDocument"]
        )
        for policy in storage.resources("AWS::S3::BucketPolicy").values()
    }


@dataclass(frozen=True)
class Key:
    """A KMS key as deployed: its ARN, its aliases and its key policy."""

    arn: str
    aliases: tuple[str, ...]
    policy: Document


def created_keys(storage: Stack) -> dict[str, Key]:
    """The KMS keys the stack creates, by ARN, with the aliases the stack gives them."""
    aliases: dict[str, list[str]] = {}
    for alias in storage.resources("AWS::KMS::Alias").values():
        target = storage.resolve(alias["Properties"]["TargetKeyId"])
        aliases.setdefault(target, []).append(alias["Properties"]["AliasName"])
    keys: dict[str, Key] = {}
    for logical_id, key in storage.resources("AWS::KMS::Key").items():
        arn = storage.resolve({"Fn::GetAtt": [logical_id, "Arn"]})
        keys[arn] = Key(
            arn, tuple(aliases.get(arn, ())), storage.resolve(key["Properties"]["KeyPolicy"])
        )
    return keys


def requested_key_statements(storage: Stack) -> dict[str, list[Document]]:
    """Statements the stack asks an administrator to add to existing keys, by key ARN.

    The storage stack prints them as a JSON list in an output whose description names the
    key; storage stacks whose buckets share a key ask for the same statements, added once.
    """
    requested: dict[str, list[Document]] = {}
    for output in storage.template.get("Outputs", {}).values():
        value = output["Value"]
        if not (isinstance(value, str) and value.startswith("[")):
            continue
        key_arns = _KEY_ARN.findall(output.get("Description", ""))
        if len(key_arns) != 1:
            raise ValueError(f"a policy statement output names no single key: {output}")
        statements = requested.setdefault(key_arns[0], [])
        statements += [s for s in json.loads(value) if s not in statements]
    return requested


def existing_key_policy(key_arn: str, statements: list[Document]) -> Document:
    """The policy of an existing key once its administrator added ``statements``: the default
    key policy (the key's account may use IAM policies) plus the statements."""
    partition, account = key_arn.split(":")[1], key_arn.split(":")[4]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "EnableIamPolicies",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            *statements,
        ],
    }
