"""The custom resource in account A that makes Seqera Platform use the granted buckets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import custom_resources as cr
from constructs import Construct

from constructs_lib import policies
from constructs_lib.defaults import LOG_GROUP_PREFIX
from constructs_lib.nag import (
    BASIC_EXECUTION_FINDING,
    BASIC_EXECUTION_REASON,
    DLQ,
    DLQ_REASON,
    INLINE_POLICY,
    INLINE_POLICY_REASON,
    INVOKE_REASON,
    OUTSIDE_VPC,
    OUTSIDE_VPC_REASON,
    PROVIDER_MEMORY,
    PROVIDER_MEMORY_REASON,
    PROVIDER_RUNTIME_REASON,
    PROVIDER_TRACING,
    PROVIDER_TRACING_REASON,
    RESERVED_CONCURRENCY,
    RESERVED_CONCURRENCY_REASON,
    TRACING_FINDING,
    TRACING_REASON,
    VPC_ACCESS_FINDING,
    VPC_ACCESS_REASON,
    WAITER_ROLE_REASON,
    acknowledge,
    acknowledge_all,
)
from constructs_lib.plan import PlatformPlan
from constructs_lib.seqera.credentials import PlatformCredentials
from constructs_lib.seqera.settings import connection_properties

HANDLER_DIRECTORY = Path(__file__).resolve().parent / "asset"
RUNTIME = lambda_.Runtime.PYTHON_3_14
# Step Functions' convention for the log groups it delivers to.
VENDED_LOGS = "/aws/vendedlogs/states"
# What CloudWatch Logs does with the key of an encrypted log group, as AWS documents it.
LOGS_KEY_ACTIONS = [
    "kms:Encrypt*",
    "kms:Decrypt*",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
    "kms:Describe*",
]
# What a state machine needs to send X-Ray traces.
STATE_MACHINE_TRACING_ACTIONS = [
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
]
VPC_ACCESS_POLICY = "service-role/AWSLambdaVPCAccessExecutionRole"


class PlatformComputeEnvironmentResource(Construct):
    """A Batch Forge compute environment in Platform whose allowed buckets are the grants.

    Backed by ``custom_resources.Provider`` with an ``on_event`` and an ``is_complete``
    Lambda. Changing the environment's configuration replaces it (Platform cannot change
    allowed buckets in place); a name or description change updates it in place.

    Every log group it makes keeps ``log_retention_days`` and is encrypted with ``log_key``
    (created, or imported from ``log_key_arn``); ``handler_subnets``,
    ``handler_security_groups`` and ``handler_reserved_concurrency`` apply to every function
    of the custom resource, the Provider framework's included.
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
        self.settings = settings
        self.token_secret = self._import_secret(settings.token_secret)
        self.log_key = self._log_key(settings.log_key_arn)
        self._log_group_names: list[str] = []
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
                destination=self._log_group("WaiterLogs", under=VENDED_LOGS),
                level=sfn.LogLevel.ALL,
                include_execution_data=False,
            ),
        )
        self._trace_waiter(provider)
        self.framework_functions = tuple(
            child for child in provider.node.children if isinstance(child, lambda_.Function)
        )
        for function in (self.on_event_function, self.is_complete_function):
            self._configure(function)
            acknowledge_all(function, self._handler_findings())
        for function in self.framework_functions:
            self._configure(function)
        self._acknowledge_provider(provider)
        self._admit_logs_to_key()
        self.credentials: PlatformCredentials | None = None
        compute_env = platform.compute_env
        if platform.credentials is not None:
            self.credentials = PlatformCredentials(
                self,
                "Credentials",
                plan=platform.credentials,
                settings=settings,
                service_token=provider.service_token,
            )
            compute_env = {**compute_env, "credentialsId": self.credentials.credentials_id}
        self.resource = cdk.CustomResource(
            self,
            "Resource",
            service_token=provider.service_token,
            resource_type="Custom::SeqeraComputeEnvironment",
            properties={
                **connection_properties(settings),
                "ForgeRolePrefix": platform.forge_role_prefix,
                "DataLinks": json.dumps(list(platform.data_links)),
                "ComputeEnvironment": json.dumps(compute_env, sort_keys=True),
            },
        )
        if self.credentials is not None:
            # Batch Forge starts with the credentials' role: it must exist, with its
            # permissions and trust policy, before the environment is created.
            self.resource.node.add_dependency(self.credentials.role, self.credentials.permissions)
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

    def _log_key(self, key_arn: str | None) -> kms.IKey:
        """The given key, or a new one with rotation, retained with the logs it protects."""
        if key_arn is not None:
            return kms.Key.from_key_arn(self, "LogKey", key_arn)
        key = kms.Key(
            self,
            "LogKey",
            description="Encrypts the log groups of the Seqera Platform custom resource in "
            + cdk.Stack.of(self).stack_name,
            enable_key_rotation=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        key.add_to_resource_policy(
            iam.PolicyStatement.from_json(policies.deny_grants_outside_aws())
        )
        return key

    def _log_group(self, construct_id: str, under: str = "") -> logs.LogGroup:
        """A log group named after this stack, kept ``log_retention_days``, encrypted with the
        log key. Deleted with the stack: the key, which could decrypt exports, is retained."""
        name = f"{under}{LOG_GROUP_PREFIX}{cdk.Stack.of(self).stack_name}/{construct_id}"
        self._log_group_names.append(name)
        group = logs.LogGroup(
            self,
            construct_id,
            log_group_name=name,
            encryption_key=self.log_key,
            retention=logs.RetentionDays.INFINITE,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        # Any of CloudWatch Logs' periods is allowed; RetentionDays names them, not their days.
        cast(
            logs.CfnLogGroup, group.node.default_child
        ).retention_in_days = self.settings.log_retention_days
        return group

    def _admit_logs_to_key(self) -> None:
        """Let this region's CloudWatch Logs use the log key for these log groups only: the
        created key's policy gets the statement, an imported key's administrator an output."""
        stack = cdk.Stack.of(self)
        statement = iam.PolicyStatement(
            sid="CloudWatchLogsEncryptsTheseLogGroups",
            principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
            actions=LOGS_KEY_ACTIONS,
            resources=["*"],
            conditions={
                "ArnEquals": {
                    "kms:EncryptionContext:aws:logs:arn": [
                        stack.format_arn(
                            service="logs",
                            resource="log-group",
                            resource_name=name,
                            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                        )
                        for name in self._log_group_names
                    ]
                }
            },
        )
        if isinstance(self.log_key, kms.Key):
            self.log_key.add_to_resource_policy(statement)
            return
        cdk.CfnOutput(
            self,
            "LogKeyPolicyStatement",
            description=(
                f"Add this statement to the key policy of {self.settings.log_key_arn} so that "
                "CloudWatch Logs can encrypt the custom resource's log groups with it."
            ),
            value=stack.to_json_string(statement.to_statement_json()),
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
            tracing=lambda_.Tracing.ACTIVE,
        )
        self.token_secret.grant_read(function)
        return function

    def _configure(self, function: lambda_.Function) -> None:
        """Place one of the custom resource's functions in the handler subnets and reserve its
        concurrency, as the settings ask. Set on the function's CloudFormation resource, the
        same way for the framework's functions (made by aws-cdk-lib) as for the handlers,
        and without a VPC lookup."""
        settings = self.settings
        resource = cast(lambda_.CfnFunction, function.node.default_child)
        if settings.handler_subnets:
            resource.vpc_config = lambda_.CfnFunction.VpcConfigProperty(
                subnet_ids=list(settings.handler_subnets),
                security_group_ids=list(settings.handler_security_groups),
            )
            cast(iam.IRole, function.role).add_managed_policy(
                iam.ManagedPolicy.from_aws_managed_policy_name(VPC_ACCESS_POLICY)
            )
        if settings.handler_reserved_concurrency is not None:
            resource.reserved_concurrent_executions = settings.handler_reserved_concurrency

    def _function_findings(self) -> list[tuple[str, str]]:
        """What every function of the custom resource acknowledges, given the settings."""
        findings = [
            (BASIC_EXECUTION_FINDING, BASIC_EXECUTION_REASON),
            *((rule_id, DLQ_REASON) for rule_id in DLQ),
            *((rule_id, INLINE_POLICY_REASON) for rule_id in INLINE_POLICY),
        ]
        if self.settings.handler_subnets:
            findings.append((VPC_ACCESS_FINDING, VPC_ACCESS_REASON))
        else:
            findings += [(rule_id, OUTSIDE_VPC_REASON) for rule_id in OUTSIDE_VPC]
        if self.settings.handler_reserved_concurrency is None:
            findings += [(rule_id, RESERVED_CONCURRENCY_REASON) for rule_id in RESERVED_CONCURRENCY]
        return findings

    def _handler_findings(self) -> list[tuple[str, str]]:
        """A handler's findings: every function's, and X-Ray's Resource '*'."""
        return [*self._function_findings(), (TRACING_FINDING, TRACING_REASON)]

    @staticmethod
    def _trace_waiter(provider: cr.Provider) -> None:
        """Turn on X-Ray tracing of the Provider's waiter state machine (the AWS Control Tower
        control CT.STEPFUNCTIONS.PR.2 requires it), which the framework offers no option for."""
        waiter = provider.node.find_child("waiter-state-machine")
        machine = cast(sfn.CfnStateMachine, waiter.node.find_child("Resource"))
        machine.tracing_configuration = sfn.CfnStateMachine.TracingConfigurationProperty(
            enabled=True
        )
        cast(iam.Role, waiter.node.find_child("Role")).add_to_principal_policy(
            iam.PolicyStatement(actions=STATE_MACHINE_TRACING_ACTIONS, resources=["*"])
        )
        acknowledge(waiter, TRACING_FINDING, WAITER_ROLE_REASON)

    def _acknowledge_provider(self, provider: cr.Provider) -> None:
        """Acknowledge what the Provider framework itself creates, within the Provider only."""
        stack = cdk.Stack.of(self)
        invoked = [self.on_event_function, self.is_complete_function]
        invoked += [f for f in self.framework_functions if f.node.id != "framework-onEvent"]
        findings = [
            *self._function_findings(),
            ("AwsSolutions-L1", PROVIDER_RUNTIME_REASON),
            (PROVIDER_MEMORY, PROVIDER_MEMORY_REASON),
            (PROVIDER_TRACING, PROVIDER_TRACING_REASON),
        ]
        for function in invoked:
            logical_id = stack.get_logical_id(cast(cdk.CfnElement, function.node.default_child))
            findings.append((f"AwsSolutions-IAM5[Resource::<{logical_id}.Arn>:*]", INVOKE_REASON))
        acknowledge_all(provider, findings)
