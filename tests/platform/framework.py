"""What CloudFormation and the CDK Provider framework do around the handlers, for the tests:
events, the Lambda context, a virtual clock, and the onEvent/isComplete loop with the
framework's merge rules. Also a transcript of everything the handlers returned or raised, so
the tests can prove the token never leaks."""

import hashlib
import json
import traceback
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import client
import handler

TOKEN = "eyJ0aWQiOiA5OTF9.c2VxZXJhLXRlc3QtdG9rZW4tdmFsdWU"
SECRET_NAME = "seqera/platform-token"
WORKSPACE = "40230138858677"
CREDENTIALS_ID = "4g09tT4pW4JFUvXTHdB6zP"
BASE_NAME = "cross-account"
STACK_ID = "arn:aws:cloudformation:eu-west-1:111111111111:stack/compute/0a1b2c3d"
OTHER_STACK_ID = "arn:aws:cloudformation:eu-west-1:111111111111:stack/compute-copy/4e5f6a7b"
SERVICE_TOKEN = "arn:aws:lambda:eu-west-1:111111111111:function:compute-PlatformProvider"
COMPUTE_ENV_TYPE = "Custom::SeqeraComputeEnvironment"
COMPUTE_ENV_LOGICAL_ID = "PlatformComputeEnv"
CREDENTIALS_TYPE = "Custom::SeqeraCredentials"
CREDENTIALS_LOGICAL_ID = "PlatformCredentials"
ROLE_ARN = "arn:aws:iam::111111111111:role/tower-cross-account-platform-access"


@dataclass
class FakeContext:
    """The Lambda context, as far as the handlers use it."""

    remaining_ms: int = 60_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@dataclass
class VirtualTime:
    """A clock that only moves when the client sleeps, so retries cost no real time."""

    now: float = 1_000.0
    sleeps: list[float] = field(default_factory=list)
    ceilings: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def jitter(self, low: float, high: float) -> float:
        """Records the backoff ceiling; returns its middle, so tests know the wait."""
        self.ceilings.append(high)
        return (low + high) / 2

    def pacing(self) -> client.Pacing:
        return client.Pacing(clock=self.clock, sleep=self.sleep, jitter=self.jitter)


@dataclass
class Transcript:
    """Everything the handlers returned or raised, as text."""

    texts: list[str] = field(default_factory=list)

    def record(self, value: object) -> None:
        self.texts.append(json.dumps(value, default=repr))

    @contextmanager
    def watch(self) -> Iterator[None]:
        """Record the text of any exception raised inside, then let it through."""
        try:
            yield
        except BaseException as err:
            self.texts += [str(err), repr(err), "".join(traceback.format_exception(err))]
            raise


@dataclass
class Result:
    """How a resource operation ended, as CloudFormation would see it."""

    physical_id: str
    data: dict[str, Any]
    polls: int


@dataclass
class Provider:
    """Runs on_event, then is_complete until done, merging events and Data like the CDK
    Provider framework; fails on what the framework would reject."""

    transcript: Transcript
    context: FakeContext = field(default_factory=FakeContext)
    max_polls: int = 10

    def on_event(self, event: dict[str, Any]) -> dict[str, Any]:
        with self.transcript.watch():
            result = handler.on_event(event, self.context)
        self.transcript.record(result)
        return result

    def is_complete(self, event: dict[str, Any]) -> dict[str, Any]:
        with self.transcript.watch():
            answer = handler.is_complete(event, self.context)
        self.transcript.record(answer)
        return answer

    def run(self, event: dict[str, Any]) -> Result:
        result = self.on_event(event)
        physical_id = result.get("PhysicalResourceId") or event.get(
            "PhysicalResourceId", event["RequestId"]
        )
        if event["RequestType"] == "Delete":
            assert physical_id == event["PhysicalResourceId"], "Delete changed the physical id"
        merged = {**event, **result, "PhysicalResourceId": physical_id}
        for polls in range(1, self.max_polls + 1):
            answer = self.is_complete(merged)
            if answer["IsComplete"]:
                data = {**merged.get("Data", {}), **answer.get("Data", {})}
                return Result(answer.get("PhysicalResourceId", physical_id), data, polls)
            assert not answer.get("Data"), '"Data" is not allowed if "IsComplete" is "False"'
        raise AssertionError(f"not complete after {self.max_polls} polls")


def compute_env(
    name: str = BASE_NAME,
    description: str = "Cross-account S3 access",
    buckets: Sequence[str] = ("s3://data-bucket-b",),
    **forge: Any,
) -> dict[str, Any]:
    """A computeEnv object as the construct builds it."""
    return {
        "name": name,
        "description": description,
        "platform": "aws-batch",
        "credentialsId": CREDENTIALS_ID,
        "config": {
            "discriminator": "aws-batch",
            "region": "eu-west-1",
            "workDir": "s3://tower-work-a/work",
            "fusion2Enabled": False,
            "waveEnabled": False,
            "forge": {
                "type": "SPOT",
                "minCpus": 0,
                "maxCpus": 256,
                "allowBuckets": list(buckets),
                "ebsAutoScale": True,
                "disposeOnDeletion": True,
                "fargateHeadEnabled": False,
                **forge,
            },
        },
    }


def properties(
    api_url: str,
    *,
    workspace_id: str = WORKSPACE,
    environment: dict[str, Any] | None = None,
    data_links: Sequence[dict[str, str]] = (),
    retain: bool = False,
    secret: str = SECRET_NAME,
    forge_prefix: str = "TowerForge",
) -> dict[str, str]:
    """ResourceProperties as CloudFormation sends them: every value a string."""
    return {
        "ServiceToken": SERVICE_TOKEN,
        "ApiUrl": api_url,
        "WorkspaceId": workspace_id,
        "TokenSecret": secret,
        "ForgeRolePrefix": forge_prefix,
        "RetainOnDelete": "true" if retain else "false",
        "DataLinks": json.dumps(list(data_links)),
        "ComputeEnvironment": json.dumps(environment or compute_env()),
    }


def _hashed(base_name: str, content: Any, stack_id: str, logical_id: str) -> str:
    """Base name, dash, the first 8 hex of the sha256 of the content and its owner."""
    canonical = json.dumps(
        {"content": content, "owner": [stack_id, logical_id]}, sort_keys=True, separators=(",", ":")
    )
    return f"{base_name}-{hashlib.sha256(canonical.encode()).hexdigest()[:8]}"


def expected_name(
    environment: dict[str, Any],
    stack_id: str = STACK_ID,
    logical_id: str = COMPUTE_ENV_LOGICAL_ID,
) -> str:
    """The name the handler must give a computeEnv: base name, dash, a hash of the
    configuration and of the owner (stack and logical id)."""
    config = {k: v for k, v in environment.items() if k not in ("name", "description")}
    return _hashed(environment["name"], config, stack_id, logical_id)


def credentials_spec(name: str = BASE_NAME, role_arn: str = ROLE_ARN) -> dict[str, Any]:
    """A credentials object as the construct builds it."""
    return {"name": name, "provider": "aws", "keys": {"mode": "role", "assumeRoleArn": role_arn}}


def credentials_properties(
    api_url: str,
    *,
    workspace_id: str = WORKSPACE,
    credentials: dict[str, Any] | None = None,
    retain: bool = False,
    secret: str = SECRET_NAME,
) -> dict[str, str]:
    """Custom::SeqeraCredentials ResourceProperties as CloudFormation sends them."""
    return {
        "ServiceToken": SERVICE_TOKEN,
        "ApiUrl": api_url,
        "WorkspaceId": workspace_id,
        "TokenSecret": secret,
        "RetainOnDelete": "true" if retain else "false",
        "Credentials": json.dumps(credentials or credentials_spec()),
    }


def expected_credentials_name(
    credentials: dict[str, Any],
    stack_id: str = STACK_ID,
    logical_id: str = CREDENTIALS_LOGICAL_ID,
) -> str:
    """The name the handler must give credentials: a hash of all but the name (keys with
    their discriminator) and of the owner."""
    content = {k: v for k, v in credentials.items() if k != "name"}
    content["keys"] = {"discriminator": "aws", **credentials["keys"]}
    return _hashed(credentials["name"], content, stack_id, logical_id)


def _event(
    request_type: str,
    props: dict[str, str],
    *,
    resource_type: str,
    logical_id: str,
    stack_id: str,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "RequestType": request_type,
        "ServiceToken": SERVICE_TOKEN,
        "ResponseURL": "https://cloudformation-custom-resource-response-euwest1.s3.amazonaws.com/x",
        "StackId": stack_id,
        "RequestId": str(uuid.uuid4()),
        "LogicalResourceId": logical_id,
        "ResourceType": resource_type,
        "ResourceProperties": props,
        **extra,
    }


def _owner(
    props: dict[str, str], resource_type: str | None, stack_id: str, logical_id: str | None
) -> dict[str, str]:
    """The event's resource type (by default the one ``props`` are for: credentials
    properties carry Credentials) and its owner."""
    if resource_type is None:
        resource_type = CREDENTIALS_TYPE if "Credentials" in props else COMPUTE_ENV_TYPE
    default = (
        CREDENTIALS_LOGICAL_ID if resource_type == CREDENTIALS_TYPE else COMPUTE_ENV_LOGICAL_ID
    )
    return {
        "resource_type": resource_type,
        "stack_id": stack_id,
        "logical_id": logical_id or default,
    }


def create_event(
    props: dict[str, str],
    *,
    resource_type: str | None = None,
    stack_id: str = STACK_ID,
    logical_id: str | None = None,
) -> dict[str, Any]:
    return _event("Create", props, **_owner(props, resource_type, stack_id, logical_id))


def update_event(
    physical_id: str,
    props: dict[str, str],
    old: dict[str, str],
    *,
    resource_type: str | None = None,
    stack_id: str = STACK_ID,
    logical_id: str | None = None,
) -> dict[str, Any]:
    return _event(
        "Update",
        props,
        PhysicalResourceId=physical_id,
        OldResourceProperties=old,
        **_owner(props, resource_type, stack_id, logical_id),
    )


def delete_event(
    physical_id: str,
    props: dict[str, str],
    *,
    resource_type: str | None = None,
    stack_id: str = STACK_ID,
    logical_id: str | None = None,
) -> dict[str, Any]:
    return _event(
        "Delete",
        props,
        PhysicalResourceId=physical_id,
        **_owner(props, resource_type, stack_id, logical_id),
    )
