"""The custom resource in account A that makes Seqera Platform use the granted buckets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import custom_resources as cr
from constructs import Construct

from constructs_lib.nag import (
    BASIC_EXECUTION_FINDING,
    BASIC_EXECUTION_REASON,
    INVOKE_REASON,
    LOG_DELIVERY_REASON,
    PROVIDER_RUNTIME_REASON,
    WAITER_TRACING_REASON,
    acknowledge,
    acknowledge_all,
)
from constructs_lib.plan import PlatformPlan

HANDLER_DIRECTORY = Path(__file__).resolve().parent / "asset"
RUNTIME = lambda_.Runtime.PYTHON_3_14


class PlatformComputeEnvironmentResource(Construct):
    """A Batch Forge compute environment in Platform whose allowed buckets are the grants.

    Backed by ``custom_resources.Provider`` with an ``on_event`` and an ``is_complete``
    Lambda. Changing the environment's configuration replaces it (Platform cannot change
    allowed buckets in place); a name or description change updates it in place.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        platform: PlatformPlan,
    ) -> None:
        super().__init__(scope, construct_id)
        settings = platform.settings
        self.token_secret = self._import_secret(settings.token_secret)
        code = lambda_.Code.from_asset(str(HANDLER_DIRECTORY), exclude=["__pycache__", "*.pyc"])
        self.on_event_function = self._handler_function("OnEvent", "handler.on_event", code)
        self.is_complete_function = self._handler_function(
            "IsComplete", "handler.is_complete", code
        )
        provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=self.on_event_function,
            is_complete_handler=self.is_complete_function,
            query_interval=cdk.Duration.seconds(10),
            total_timeout=cdk.Duration.hours(1),
            log_group=self._log_group("ProviderLogs"),
            disable_waiter_state_machine_logging=False,
            waiter_state_machine_log_options=cr.LogOptions(
                destination=self._log_group("WaiterLogs"),
                level=sfn.LogLevel.ALL,
                include_execution_data=False,
            ),
        )
        self._acknowledge_provider(provider)
        self.resource = cdk.CustomResource(
            self,
            "Resource",
            service_token=provider.service_token,
            resource_type="Custom::SeqeraComputeEnvironment",
            properties={
                "ApiUrl": settings.api_url,
                "WorkspaceId": settings.workspace_id or "",
                "TokenSecret": settings.token_secret,
                "ForgeRolePrefix": platform.forge_role_prefix,
                "RetainOnDelete": "true" if settings.retain_on_delete else "false",
                "DataLinks": json.dumps(list(platform.data_links)),
                "ComputeEnvironment": json.dumps(platform.compute_env, sort_keys=True),
            },
        )
        self.compute_env_id = self.resource.get_att_string("ComputeEnvId")
        self.instance_role_name = self.resource.get_att_string("InstanceRoleName")
        self.fargate_role_name = self.resource.get_att_string("FargateRoleName")
        cdk.CfnOutput(
            self,
            "ComputeEnvId",
            description="The Seqera Platform compute environment that may use the buckets",
            value=self.compute_env_id,
        )
        cdk.CfnOutput(
            self,
            "InstanceRoleName",
            description="The Batch Forge instance role the s3-write policy is attached to",
            value=self.instance_role_name,
        )
        self.forge_roles: list[iam.IRole] = [
            iam.Role.from_role_name(self, "InstanceRole", self.instance_role_name)
        ]
        if settings.fargate_head_job:
            self.forge_roles.append(
                iam.Role.from_role_name(self, "FargateRole", self.fargate_role_name)
            )

    def _log_group(self, construct_id: str) -> logs.LogGroup:
        return logs.LogGroup(
            self,
            construct_id,
            retention=logs.RetentionDays.ONE_MONTH,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )

    def _import_secret(self, name_or_arn: str) -> secretsmanager.ISecret:
        if name_or_arn.startswith("arn:"):
            return secretsmanager.Secret.from_secret_partial_arn(self, "TokenSecret", name_or_arn)
        return secretsmanager.Secret.from_secret_name_v2(self, "TokenSecret", name_or_arn)

    def _handler_function(
        self, construct_id: str, handler: str, code: lambda_.Code
    ) -> lambda_.Function:
        function = lambda_.Function(
            self,
            construct_id,
            runtime=RUNTIME,
            code=code,
            handler=handler,
            timeout=cdk.Duration.minutes(5),
            memory_size=256,
            description="Seqera Platform compute environment custom resource",
            log_group=self._log_group(f"{construct_id}Logs"),
        )
        self.token_secret.grant_read(function)
        acknowledge(function, BASIC_EXECUTION_FINDING, BASIC_EXECUTION_REASON)
        return function

    def _acknowledge_provider(self, provider: cr.Provider) -> None:
        """Acknowledge what the Provider framework itself creates, within the Provider only."""
        stack = cdk.Stack.of(self)
        invoked = [self.on_event_function, self.is_complete_function]
        invoked += [
            child
            for child in provider.node.children
            if isinstance(child, lambda_.Function) and child.node.id != "framework-onEvent"
        ]
        findings = [
            (BASIC_EXECUTION_FINDING, BASIC_EXECUTION_REASON),
            ("AwsSolutions-L1", PROVIDER_RUNTIME_REASON),
            ("AwsSolutions-SF2", WAITER_TRACING_REASON),
        ]
        for function in invoked:
            logical_id = stack.get_logical_id(cast(cdk.CfnElement, function.node.default_child))
            findings.append((f"AwsSolutions-IAM5[Resource::<{logical_id}.Arn>:*]", INVOKE_REASON))
        acknowledge_all(provider, findings)
        acknowledge(
            provider.node.find_child("waiter-state-machine"),
            "AwsSolutions-IAM5[Resource::*]",
            LOG_DELIVERY_REASON,
        )
