"""The AWS credentials Platform uses in account A, made by the construct: a role, and their
registration in Platform (``Custom::SeqeraCredentials``)."""

from __future__ import annotations

import json
from typing import cast

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct

from constructs_lib.nag import acknowledge_all, credentials_wildcard_reason, wildcard_findings
from constructs_lib.plan import CredentialsPlan
from constructs_lib.seqera.settings import PlatformComputeEnvironment, connection_properties

PERMISSIONS_DESCRIPTION = "Seqera Platform's Batch Forge and launch permissions in this account"


class PlatformCredentials(Construct):
    """A role in account A with Batch Forge's and launch permissions, and the AWS credentials
    Platform registers for it.

    The two depend on each other: Platform gives role credentials an External ID, which the
    role's trust policy must then require. So the credentials are registered first (the role's
    ARN is known from its name), and the role's trust policy takes the External ID from the
    custom resource's ``ExternalId`` attribute. The role's name does not start with the Forge
    prefix, so the bucket policies do not admit it as a Forge role.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        plan: CredentialsPlan,
        settings: PlatformComputeEnvironment,
        service_token: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.resource = cdk.CustomResource(
            self,
            "Resource",
            service_token=service_token,
            resource_type="Custom::SeqeraCredentials",
            properties={
                **connection_properties(settings),
                "Credentials": json.dumps(plan.request, sort_keys=True),
            },
        )
        self.credentials_id = self.resource.get_att_string("CredentialsId")
        self.external_id = self.resource.get_att_string("ExternalId")
        self.permissions = iam.ManagedPolicy(
            self,
            "Permissions",
            description=PERMISSIONS_DESCRIPTION,
            document=iam.PolicyDocument.from_json(plan.permissions),
        )
        self.role = iam.Role(
            self,
            "Role",
            role_name=plan.role_name,
            description="The AWS credentials of Seqera Platform, assumed with their External ID",
            assumed_by=iam.ArnPrincipal(plan.principal_arn),
        )
        self.permissions.attach_to_role(self.role)
        cast(
            iam.CfnRole, self.role.node.default_child
        ).assume_role_policy_document = plan.trust_policy(self.external_id)
        # A resource named by several statements is acknowledged once, with the first reason.
        wildcards: dict[str, str] = {}
        for finding, reason in wildcard_findings(plan.permissions, credentials_wildcard_reason):
            wildcards.setdefault(finding, reason)
        acknowledge_all(self.permissions, wildcards.items())
        cdk.CfnOutput(
            self,
            "CredentialsId",
            description="The AWS credentials the construct registered in Seqera Platform",
            value=self.credentials_id,
        )
