"""Rule packs and their acknowledgments: the helpers, and every reason the library gives.

The construct turns on the packs of ``nag_packs`` (cdk-nag 3.x packs, and the AWS Control
Tower proactive controls as cfn-guard rules) as policy-validation plugins of its Stage. Each
acknowledgment is made on the narrowest construct that holds the finding, with one of the
reasons below, so that a security reviewer reads them all here.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import cdk_nag
import jsii
from cdklabs.cdk_validator_cfnguard import CfnGuardValidator
from constructs import IConstruct

from constructs_lib.errors import ConfigError

HIPAA = "HIPAA.Security"
NIST = "NIST.800.53.R5"
PCI = "PCI.DSS.321"
SERVERLESS = "Serverless"
CONTROL_TOWER = "ControlTower"
# The packs for regulated data, which share most rule names.
REGULATED = (HIPAA, NIST, PCI)


STACK_SET_TEMPLATES = "*.stackset.template.json"


@jsii.implements(cdk.IPolicyValidationContext)
class WithStackSetTemplates:
    """A validation context whose templates include the StackSet templates synthesized beside
    the stacks' (``cdk-stacksets`` writes them into the assembly as files, not stacks, so
    aws-cdk-lib hands a plugin only the stacks'). Their findings map to constructs as a
    stack's do: by the template's file name and the resource's logical id."""

    def __init__(self, context: cdk.IPolicyValidationContext) -> None:
        self._context = context
        folders = dict.fromkeys(Path(path).parent for path in context.template_paths)
        found = [str(p) for folder in folders for p in sorted(folder.glob(STACK_SET_TEMPLATES))]
        self._paths = [*context.template_paths, *found]

    @property
    def template_paths(self) -> list[str]:
        """The stacks' templates, then the StackSet templates beside them."""
        return self._paths

    @property
    def stack_templates(self) -> list[Any]:
        """The stacks' templates with where they deploy, as aws-cdk-lib gives them."""
        return list(self._context.stack_templates)

    @property
    def app_construct(self) -> Any:
        """The validated app or stage."""
        return self._context.app_construct

    @property
    def account_id(self) -> str | None:
        """The account every stack deploys to, if they share one."""
        return self._context.account_id

    @property
    def region(self) -> str | None:
        """The region every stack deploys to, if they share one."""
        return self._context.region


@jsii.implements(cdk.IPolicyValidationPlugin)
class ControlTowerRules:
    """The AWS Control Tower proactive controls: the cfn-guard rules of
    ``cdklabs-cdk-validator-cfnguard``, with every finding an error.

    That plugin leaves a finding's severity unset, and aws-cdk-lib counts the findings of a
    report in which any is acknowledged as passing unless they are errors: one acknowledgment
    would let every other finding through synth. Findings are acknowledged as
    ``ControlTower::<guard rule name>``.
    """

    def __init__(self) -> None:
        self._guard = CfnGuardValidator()

    @property
    def name(self) -> str:
        """The plugin's name, which acknowledgments of its findings start with."""
        return CONTROL_TOWER

    @property
    def version(self) -> str | None:
        """The version of the cfn-guard plugin and its rules."""
        return self._guard.version

    @property
    def rule_ids(self) -> list[str] | None:
        """The ids of the Control Tower rules it checks."""
        return self._guard.rule_ids

    def validate(self, context: cdk.IPolicyValidationContext) -> cdk.PolicyValidationPluginReport:
        """The cfn-guard report of the stage's templates (StackSet templates too), its
        findings marked as errors."""
        try:
            report = self._guard.validate(WithStackSetTemplates(context))
            violations = [
                cdk.PolicyViolation(
                    rule_name=violation.rule_name,
                    description=violation.description,
                    violating_resources=[
                        cdk.PolicyViolatingResource(
                            locations=resource.locations,
                            resource_logical_id=resource.resource_logical_id,
                            template_path=resource.template_path,
                        )
                        for resource in violation.violating_resources
                    ],
                    fix=violation.fix,
                    rule_metadata=violation.rule_metadata,
                    severity=violation.severity or "error",
                )
                for violation in report.violations
            ]
        except RuntimeError as error:
            return self._unreadable(context, error)
        return cdk.PolicyValidationPluginReport(
            success=report.success,
            violations=violations,
            metadata=report.metadata,
            plugin_version=report.plugin_version,
        )

    @staticmethod
    def _unreadable(
        context: cdk.IPolicyValidationContext, error: RuntimeError
    ) -> cdk.PolicyValidationPluginReport:
        """A failed report for findings jsii cannot carry: cfn-guard names no resource for a
        check that fails on a whole template (CT.KMS.PR.3 does, for a key policy whose
        grant-refusing statement is not the one the control asks for)."""
        return cdk.PolicyValidationPluginReport(
            success=False,
            violations=[
                cdk.PolicyViolation(
                    rule_name="unreadable-findings",
                    description=(
                        "A Control Tower rule failed on a whole template, so its findings name "
                        f"no resource and cannot be read ({str(error).splitlines()[0]}); add "
                        "CfnGuardValidator() of cdklabs-cdk-validator-cfnguard to the app's "
                        "validation plugins to see them."
                    ),
                    violating_resources=[
                        cdk.PolicyViolatingResource(locations=[], template_path=path)
                        for path in context.template_paths
                    ],
                    # Fatal: not suppressible, since one acknowledgment would hide them all.
                    severity="fatal",
                )
            ],
        )


_PLUGINS: dict[str, Callable[[], cdk.IPolicyValidationPlugin]] = {
    "AwsSolutions": cdk_nag.AwsSolutionsChecks,
    HIPAA: cdk_nag.HIPAASecurityChecks,
    NIST: cdk_nag.NIST80053R5Checks,
    PCI: cdk_nag.PCIDSS321Checks,
    SERVERLESS: cdk_nag.ServerlessChecks,
    CONTROL_TOWER: ControlTowerRules,
}
# The packs already added to each Stage (an App is one). Keyed by the Stage object, not its
# node address: every App's root has the same address.
_ADDED: weakref.WeakKeyDictionary[cdk.Stage, set[str]] = weakref.WeakKeyDictionary()


def add_packs(scope: IConstruct, packs: Sequence[str]) -> None:
    """Check the stacks of ``scope``'s Stage with ``packs`` at synth, each pack once per stage
    however many constructs ask for it. cdk-nag's packs walk the whole app, the Control Tower
    rules read the stage's templates."""
    if not packs:
        return
    stage = cdk.Stage.of(scope)
    if stage is None:
        raise ConfigError("nag_packs", list(packs), "a construct inside an App or a Stage")
    added = _ADDED.setdefault(stage, set())
    new = [pack for pack in packs if pack not in added]
    if new:
        cdk.Validations.of(stage).add_plugins(*(_PLUGINS[pack]() for pack in new))
        added.update(new)


def rule_ids(rule: str, packs: Iterable[str] = REGULATED) -> list[str]:
    """A cdk-nag rule's id in each of ``packs``: ``LambdaDLQ`` -> ``HIPAA.Security-LambdaDLQ``."""
    return [f"{pack}-{rule}" for pack in packs]


def control_tower_id(rule: str) -> str:
    """The acknowledgment id of a Control Tower control, by its cfn-guard rule name."""
    return f"{CONTROL_TOWER}::{rule}"


def acknowledge(construct: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge one finding on ``construct`` (and only below it), with a reason."""
    acknowledge_all(construct, [(rule_id, reason)])


def acknowledge_each(construct: IConstruct, rule_ids: Iterable[str], reason: str) -> None:
    """Acknowledge the findings ``rule_ids`` (one concern, in several packs) with one reason."""
    acknowledge_all(construct, [(rule_id, reason) for rule_id in rule_ids])


def acknowledge_all(construct: IConstruct, findings: Iterable[tuple[str, str]]) -> None:
    """Acknowledge several (rule id, reason) findings on ``construct`` in one call."""
    rules = [cdk.Acknowledgment(id=rule_id, reason=reason) for rule_id, reason in findings]
    if rules:
        cdk.Validations.of(construct).acknowledge(*rules)


# --- Storage account: the buckets the storage stack creates -------------------------------

ACCESS_LOG_LOOP_REASON = (
    "This bucket is the target of the data buckets' server access logs; logging it into "
    "itself would create a feedback loop. It holds only S3 log records, is private, "
    "encrypted, TLS-only and retained."
)
ACCESS_LOG_LOOP = ["AwsSolutions-S1", control_tower_id("s3_bucket_logging_enabled_check")]

LOG_BUCKET_ENCRYPTION_REASON = (
    "S3 server access log delivery writes only to a destination bucket whose default "
    "encryption is SSE-S3 (AES-256, S3-managed keys); SSE-KMS is not supported there. The "
    "records are encrypted at rest, and the bucket is private and TLS-only."
)
CHOSEN_SSE_S3_REASON = (
    "This bucket was asked for with S3-managed encryption (create=True without "
    "create_kms_key or kms_key_arn): S3 encrypts every object at rest with AES-256. Set "
    "create_kms_key=True where a customer managed key (key-policy control and a CloudTrail "
    "record of each use) is required."
)
SSE_S3 = [
    *rule_ids("S3DefaultEncryptionKMS"),
    control_tower_id("s3_bucket_default_encryption_kms_check"),
]

REPLICATION_REASON = (
    "Replication needs a destination bucket in another region or account, its key and a "
    "role: where copies of the data may live is the data owner's decision, made outside this "
    "construct. The bucket is versioned and retained, so deleted or overwritten objects can "
    "be restored for noncurrent_versions_expire_days."
)
REPLICATION = rule_ids("S3BucketReplicationEnabled")

EVENT_NOTIFICATIONS_REASON = (
    "Nothing consumes this bucket's events: Nextflow reads and writes objects directly. "
    "Event notifications need a receiver (an EventBridge rule, queue, topic or function) "
    "that the data owner adds when one exists; object-level activity is auditable with "
    "server access logs and CloudTrail data events."
)
EVENT_NOTIFICATIONS = [control_tower_id("s3_event_notifications_enabled_check")]

OBJECT_LOCK_REASON = (
    "Object Lock would forbid the deletions this bucket is for: Nextflow deletes and "
    "overwrites objects in its work and output paths, and the lifecycle rules expire "
    "noncurrent versions and old log records; once on, Object Lock cannot be turned off. "
    "Versioning keeps deleted and overwritten objects for noncurrent_versions_expire_days, "
    "and the bucket policy denies the admitted roles s3:DeleteObjectVersion."
)
OBJECT_LOCK = [control_tower_id("s3_bucket_object_lock_enabled_check")]

# --- Compute account: the s3-write policy ---------------------------------------------------

OBJECT_WILDCARD_REASON = (
    "Object-level S3 actions can only be scoped with an object ARN pattern; '/*' is the "
    "granted bucket or key prefix the storage account chose to share, and the bucket policy "
    "in the storage account applies the same limit."
)
KEY_WILDCARD_REASON = (
    "The KMS key is created in the storage account, so its ARN is unknown here at synth time. "
    "The statement is limited to that account's keys carrying the construct's alias "
    "(kms:ResourceAliases) and to use through S3 (kms:ViaService); the key policy, which "
    "names this account's Forge roles, is the second gate."
)
IAM_USER_REASON = (
    "attach_to names an IAM user, such as the user whose access keys are Seqera Platform's "
    "credentials: Platform checks the buckets with them, so the user needs the s3-write "
    "policy. The construct attaches it only where asked; attach it to a group or role "
    "instead where the credentials allow."
)
IAM_USER = [*rule_ids("IAMUserNoPolicies"), control_tower_id("iam_user_no_policies_check")]

# --- Compute account: the Platform custom resource's functions ------------------------------

BASIC_EXECUTION_REASON = (
    "AWSLambdaBasicExecutionRole only lets the function write its own CloudWatch Logs; it is "
    "the AWS-maintained minimum for a Lambda function and grants no data access."
)
BASIC_EXECUTION_FINDING = (
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
    "AWSLambdaBasicExecutionRole]"
)
VPC_ACCESS_REASON = (
    "AWSLambdaVPCAccessExecutionRole is the AWS-maintained minimum for a function in a VPC: "
    "it creates, describes and deletes the function's network interfaces and writes its "
    "logs; it grants no data access."
)
VPC_ACCESS_FINDING = (
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
    "AWSLambdaVPCAccessExecutionRole]"
)
TRACING_REASON = (
    "X-Ray's trace actions (xray:PutTraceSegments, xray:PutTelemetryRecords and, for a state "
    "machine, the sampling reads) support no resource-level permissions, so AWS requires "
    "Resource '*' to send traces."
)
TRACING_FINDING = "AwsSolutions-IAM5[Resource::*]"
OUTSIDE_VPC_REASON = (
    "The custom resource's functions reach nothing inside a VPC: they call Seqera "
    "Platform's API over HTTPS on the internet and AWS service APIs (Secrets Manager, Lambda, "
    "Step Functions), and answer CloudFormation. Give handler_subnets to run them in a VPC "
    "(an Enterprise install behind a private endpoint, or an account that enforces "
    "CT.LAMBDA.PR.3)."
)
OUTSIDE_VPC = [*rule_ids("LambdaInsideVPC"), control_tower_id("lambda_inside_vpc_check")]
RESERVED_CONCURRENCY_REASON = (
    "No concurrency is reserved by default: Lambda keeps at least 10 of an account's "
    "concurrency unreserved and new accounts can start with a low quota, so a default "
    "reservation can fail a new account's deployment. The functions run a few times per "
    "deployment; set handler_reserved_concurrency to reserve some."
)
RESERVED_CONCURRENCY = rule_ids("LambdaConcurrency", (HIPAA, NIST))
DLQ_REASON = (
    "A custom resource reports every failure to CloudFormation, which fails and rolls back "
    "the deployment: that is the failure path. The handlers are invoked synchronously (by "
    "the Provider framework and its waiter), where a dead-letter queue never receives "
    "anything, and an event parked in a queue could no longer be answered to CloudFormation."
)
DLQ = rule_ids("LambdaDLQ", (HIPAA, NIST, SERVERLESS))
INLINE_POLICY_REASON = (
    "Each inline policy belongs to exactly one function's or state machine's role, made and "
    "deleted with it by aws-cdk-lib's grants; AWS recommends inline policies for such strict "
    "one-to-one relationships, where a managed policy could also be attached elsewhere."
)
INLINE_POLICY = rule_ids("IAMNoInlinePolicy")

# --- The Provider framework (aws-cdk-lib's own functions and waiter) ------------------------

INVOKE_REASON = (
    "The Provider framework invokes this custom resource's own functions and their versions "
    "(ARN:*); each statement names exactly one function of this construct."
)
WAITER_ROLE_REASON = (
    "The waiter state machine's role needs Resource '*' for Step Functions log delivery "
    "(logs:CreateLogDelivery and related actions) and for X-Ray tracing: neither supports "
    "resource-level permissions."
)
PROVIDER_RUNTIME_REASON = (
    "The Provider framework's own function runtime is chosen and updated by aws-cdk-lib, "
    "not by this library; the handlers themselves use the newest Python runtime."
)
PROVIDER_MEMORY = f"{SERVERLESS}-LambdaDefaultMemorySize"
PROVIDER_MEMORY_REASON = (
    "The Provider framework's functions only relay events between CloudFormation, the "
    "handlers and the waiter; aws-cdk-lib sizes them (128 MB), and the handlers, which do "
    "the work, have 256 MB."
)
PROVIDER_TRACING = f"{SERVERLESS}-LambdaTracing"
PROVIDER_TRACING_REASON = (
    "aws-cdk-lib's Provider framework offers no tracing for its relay functions; the "
    "handlers, which call Platform, and the waiter state machine are traced with X-Ray."
)
# The wildcard resources of the Platform credentials role's permissions, by statement: each
# names the narrowest resource the service allows for what Platform does with it.
CREDENTIALS_WILDCARD_REASONS = {
    "ForgeBatchEnvironments": (
        "Batch Forge creates, updates and deletes Batch compute environments and job queues "
        "whose names it makes (<Forge prefix>-<id>-...); the resource is limited to those "
        "names in this account and region."
    ),
    "LaunchBatchJobs": (
        "Platform submits, tags and cancels jobs of any pipeline run, under job definitions "
        "it registers per run, on the Forge job queues only; Batch job and job definition "
        "names are made at run time, so they are limited to this account and region."
    ),
    "DescribeBatchEc2AndEcs": (
        "These Describe and List actions of Batch, EC2 and ECS support no resource-level "
        "permissions, so AWS requires Resource '*'; they read, and change nothing."
    ),
    "ForgeLaunchTemplates": (
        "Batch Forge creates and deletes the launch template of each environment, named at "
        "run time; the resource is limited to launch templates of this account and region."
    ),
    "ForgeInstanceConsoleOutput": (
        "Platform reads a Forge instance's console output to report a failed start; the "
        "instances are made by Batch, so the resource is limited to this account and region."
    ),
    "ForgeRolesAndInstanceProfiles": (
        "Batch Forge creates and deletes the roles and instance profiles of each environment, "
        "named <Forge prefix>-<id>-...; the resource is limited to those names."
    ),
    "PassForgeRolesToBatchAndEc2": (
        "Batch Forge passes only the roles it made (<Forge prefix>-...), and only to Batch and "
        "EC2 (iam:PassedToService)."
    ),
    "EcsOptimizedAmis": (
        "Batch Forge reads the public parameters of the ECS-optimized AMIs, which sit under "
        "/aws/service/ecs/ in this region; they hold no data of the account."
    ),
    "JobLogs": (
        "Platform reads the logs of the pipeline's jobs, whose log streams Batch makes per job "
        "in the /aws/batch/job log group; the resource is that log group."
    ),
    "JobLogQueries": (
        "Listing log groups and reading or stopping a log query support no resource-level "
        "permissions, so AWS requires Resource '*'."
    ),
    "PipelineSecretsListing": (
        "Listing secrets supports no resource-level permissions, so AWS requires Resource "
        "'*'; it returns names and metadata, never a secret's value."
    ),
    "PipelineSecrets": (
        "Platform creates and deletes the secrets of pipeline runs, named tower-...; the "
        "resource is limited to those names in this account and region, and no action "
        "reads a secret's value."
    ),
    "WorkDirectoryObjects": (
        "Platform reads and writes objects of the compute environment's work directory; the "
        "resource is that bucket, while this account owns it (s3:ResourceAccount)."
    ),
}


def _s3_write_wildcard_reason(statement: dict[str, Any], resource: str) -> str | None:
    """The s3-write policy's object patterns and created-key patterns."""
    if resource.endswith("/*") and ":s3:::" in resource:
        return OBJECT_WILDCARD_REASON
    if resource.endswith(":key/*"):
        return KEY_WILDCARD_REASON
    return None


def credentials_wildcard_reason(statement: dict[str, Any], resource: str) -> str | None:
    """Any wildcard of the Platform credentials role's permissions, by its statement's Sid."""
    return CREDENTIALS_WILDCARD_REASONS[str(statement["Sid"])] if "*" in resource else None


def wildcard_findings(
    document: dict[str, Any], reason: Callable[[dict[str, Any], str], str | None]
) -> Iterator[tuple[str, str]]:
    """The IAM5 finding of each resource of a policy ``document`` that ``reason`` gives a
    reason for (given the statement and the resource; None for no finding), with that
    reason, statement by statement."""
    for statement in document["Statement"]:
        resources = statement["Resource"]
        for resource in resources if isinstance(resources, list) else [resources]:
            why = reason(statement, resource)
            if why is not None:
                yield f"AwsSolutions-IAM5[Resource::{resource}]", why


def acknowledge_wildcards(policy: IConstruct, document: dict[str, Any]) -> None:
    """Acknowledge IAM5 on an s3-write managed policy for each object pattern and created-key
    pattern of its ``document``, one by one."""
    acknowledge_all(policy, wildcard_findings(document, _s3_write_wildcard_reason))
