"""Custom-resource handlers for aws_cdk.custom_resources.Provider that keep Seqera Platform in
step with CloudFormation. One asset serves two resource types, told apart by the event's
ResourceType: ``Custom::SeqeraComputeEnvironment`` (here) and ``Custom::SeqeraCredentials``
(credentials.py).

For a compute environment (CE), ``on_event`` starts the change and returns at once;
``is_complete`` polls Platform until the change is done. The CE's physical id is its Platform
id.

A CE's allowed buckets cannot change after creation, so any change to its configuration needs
a new CE, made while the old one still exists. CE names are unique per workspace, so the CE is
named ``<name>-<first 8 hex of sha256 of its configuration and its owner>`` (the owner is the
stack and logical id: see shared.py). Create and Update adopt a live CE that already has that
name instead of making another, which makes retried creates and rolled-back updates safe:
they find the CE an earlier attempt made.

A role that CloudFormation has just made (or whose trust policy it has just changed) may not
be assumable for some seconds: Create retries Platform's "cannot assume role" answers for
ASSUME_ROLE_RETRY_SECONDS before it fails.

The access token is read from Secrets Manager on every invocation and is never logged,
returned or put in an exception.
"""

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import boto3
import credentials
from client import (
    AuthError,
    ConflictError,
    DeadlineError,
    JsonObject,
    NotFoundError,
    Pacing,
    PlatformClient,
    PlatformError,
    unlisted_403,
)
from shared import (
    GOING,
    HASH_LENGTH,
    PLATFORM_ID,
    Connection,
    Owner,
    check_base_name,
    hashed_name,
    load_json,
    owner_of,
    parse_connection,
    required,
    text,
)

LOGGER = logging.getLogger("seqera.platform")
LOGGER.setLevel(logging.INFO)
# At DEBUG botocore logs response bodies, and GetSecretValue's body is the token. Lambda's
# log-level setting can put the root logger at DEBUG, so botocore is held at INFO here.
logging.getLogger("botocore").setLevel(logging.INFO)

# Replaced by the tests with a virtual clock; the Lambda uses real time.
PACING = Pacing()

# Stop calling Platform this long before the Lambda times out (at most; a quarter of the
# remaining time when that is shorter), so a failure is still reported by the handler.
DEADLINE_MARGIN_SECONDS = 10.0
FAILED = frozenset({"ERRORED", "INVALID"})

COMPUTE_ENV_TYPE = "Custom::SeqeraComputeEnvironment"
CREDENTIALS_TYPE = credentials.RESOURCE_TYPE

# How long Create keeps retrying when Platform cannot assume the credentials' role (IAM is
# eventually consistent: a new role, or a new trust policy, can take seconds to be usable),
# and the waits between attempts (doubling from the first to the longest). The Lambda's own
# deadline (its remaining time less the margin) ends the retries earlier if it comes first.
ASSUME_ROLE_RETRY_SECONDS = 120.0
ASSUME_ROLE_FIRST_WAIT_SECONDS = 5.0
ASSUME_ROLE_LONGEST_WAIT_SECONDS = 20.0
# Platform relays AWS STS's refusal in its message (e.g. "User: arn:...:assumed-role/... is
# not authorized to perform: sts:AssumeRole on resource: arn:...:role/...", error code
# AccessDenied), sometimes after words of its own such as "Unable to assume role <arn>".
CANNOT_ASSUME_ROLE = re.compile(
    r"not authorized to perform:?\s*sts:AssumeRole"
    r"|(unable|cannot|can't|could not|couldn't|failed) to assume (the |IAM |AWS )?role"
    r"|AccessDenied.{0,300}AssumeRole|AssumeRole.{0,300}AccessDenied",
    re.IGNORECASE | re.DOTALL,
)

# Fields on_event returns for is_complete (the Provider passes them on).
WATCH_FIELD = "PlatformComputeEnvId"  # the CE to wait for; "" = nothing to wait for
CREATED_FIELD = "PlatformCreated"  # True when this event created the CE


class LambdaContext(Protocol):
    """The part of the Lambda context the handlers use."""

    def get_remaining_time_in_millis(self) -> int: ...


@dataclass(frozen=True)
class DataLinkSpec:
    """A Data Explorer data link to register with the CE's credentials."""

    name: str
    resource_ref: str
    description: str


@dataclass(frozen=True)
class Properties:
    """The custom resource's properties, parsed and checked (CloudFormation sends strings)."""

    connection: Connection
    forge_role_prefix: str
    data_links: tuple[DataLinkSpec, ...]
    compute_env: JsonObject
    owner: Owner

    @property
    def base_name(self) -> str:
        """The CE name the construct chose, before the configuration hash."""
        name: str = self.compute_env["name"]
        return name

    @property
    def config(self) -> JsonObject:
        """The CE without name and description: what cannot change in place (equal configs
        mean the CE can be changed in place)."""
        return {k: v for k, v in self.compute_env.items() if k not in ("name", "description")}

    @property
    def compute_env_name(self) -> str:
        """The CE's name in Platform: the base name and a hash of the configuration and the
        owner."""
        return hashed_name(self.base_name, self.config, self.owner)

    @property
    def description(self) -> str:
        """The CE's description; empty when there is none."""
        description = self.compute_env.get("description")
        return description if isinstance(description, str) else ""

    @property
    def credentials_id(self) -> str:
        """The Platform credentials the CE (and its data links) use."""
        credentials_id = self.compute_env.get("credentialsId")
        return credentials_id if isinstance(credentials_id, str) else ""


def on_event(event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Start a Create, Update or Delete; returns the physical id for is_complete."""
    request_type = event["RequestType"]
    if _resource_type(event) == CREDENTIALS_TYPE:
        creds = credentials.parse_properties(event.get("ResourceProperties") or {}, owner_of(event))
        LOGGER.info("%s of %s (%s)", request_type, event.get("LogicalResourceId"), creds.location)
        return credentials.on_event(event, _connect(creds.connection, context), creds)
    props = parse_properties(event.get("ResourceProperties") or {}, owner_of(event))
    LOGGER.info(
        "%s of %s (%s)", request_type, event.get("LogicalResourceId"), props.connection.location
    )
    platform = _connect(props.connection, context)
    if request_type == "Create":
        return _create(platform, props)
    if request_type == "Update":
        old = parse_properties(event.get("OldResourceProperties") or {}, props.owner)
        return _update(platform, props, old, event["PhysicalResourceId"])
    if request_type == "Delete":
        return _delete(platform, props, event["PhysicalResourceId"])
    raise ValueError(f"Unknown RequestType {request_type!r}")


def is_complete(event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Poll: done when the CE is AVAILABLE (Create, Update) or gone (Delete). Credentials
    are complete when on_event returns."""
    if _resource_type(event) == CREDENTIALS_TYPE:
        return credentials.is_complete()
    request_type = event["RequestType"]
    compute_env_id = str(event.get(WATCH_FIELD, event["PhysicalResourceId"]))
    if request_type == "Delete" and not compute_env_id:
        return {"IsComplete": True}
    props = parse_properties(event.get("ResourceProperties") or {}, owner_of(event))
    platform = _connect(props.connection, context)
    try:
        if request_type == "Delete":
            return {"IsComplete": _is_gone(platform, compute_env_id)}
        return _await_available(platform, props, event, compute_env_id)
    except DeadlineError as err:
        LOGGER.warning("Platform did not answer in time, polling again later: %s", err)
        return {"IsComplete": False}


def _resource_type(event: Mapping[str, Any]) -> str:
    """The custom resource's type; the two this asset serves, and no other."""
    resource_type = event.get("ResourceType")
    if resource_type not in (COMPUTE_ENV_TYPE, CREDENTIALS_TYPE):
        raise ValueError(
            f"Unknown ResourceType {resource_type!r}: this handler serves {COMPUTE_ENV_TYPE} "
            f"and {CREDENTIALS_TYPE}"
        )
    return str(resource_type)


def parse_properties(raw: Mapping[str, Any], owner: Owner) -> Properties:
    """Check the resource properties; a ValueError names the property that is wrong."""
    connection = parse_connection(raw)
    compute_env = load_json(raw, "ComputeEnvironment", "{}")
    if not isinstance(compute_env, dict) or not isinstance(compute_env.get("config"), dict):
        raise ValueError("ComputeEnvironment must be a JSON object with a config object")
    check_base_name(compute_env.get("name"), "ComputeEnvironment")
    props = Properties(
        connection=connection,
        forge_role_prefix=required(raw, "ForgeRolePrefix"),
        data_links=_data_links(load_json(raw, "DataLinks", "[]")),
        compute_env=compute_env,
        owner=owner,
    )
    if props.data_links and not props.credentials_id:
        raise ValueError("DataLinks need ComputeEnvironment credentialsId to register them with")
    return props


def _data_links(value: Any) -> tuple[DataLinkSpec, ...]:
    if not isinstance(value, list):
        raise ValueError("DataLinks must be a JSON list")
    links = []
    for item in value:
        name = item.get("name") if isinstance(item, dict) else None
        ref = item.get("resourceRef") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name or not isinstance(ref, str):
            raise ValueError(f"Each DataLinks entry needs a name and a resourceRef, got {item!r}")
        if not ref.startswith("s3://") or len(ref) <= len("s3://"):
            raise ValueError(f"DataLinks resourceRef must be s3://bucket[/prefix], got {ref!r}")
        description = item.get("description")
        links.append(DataLinkSpec(name, ref, description if isinstance(description, str) else ""))
    if len({link.name for link in links}) != len(links):
        raise ValueError("DataLinks names must be unique")
    return tuple(links)


def _connect(connection: Connection, context: LambdaContext) -> PlatformClient:
    """A client whose retries end a margin before the Lambda would time out."""
    remaining = context.get_remaining_time_in_millis() / 1000
    deadline = PACING.clock() + remaining - min(DEADLINE_MARGIN_SECONDS, remaining / 4)
    token = _read_token(connection.token_secret)
    return PlatformClient(
        connection.api_url, token, connection.workspace_id, deadline, pacing=PACING
    )


def _read_token(secret_id: str) -> str:
    """The access token: the secret's SecretString, as is."""
    answer = boto3.client("secretsmanager").get_secret_value(SecretId=secret_id)
    token = answer.get("SecretString")
    if not isinstance(token, str) or not token.strip():
        raise ValueError(
            f"Secret {secret_id} has no SecretString; store the Seqera Platform access token "
            "as the secret's plain-text value"
        )
    return token.strip()


# Create and Update


def _create(platform: PlatformClient, props: Properties) -> dict[str, Any]:
    compute_env_id, created = _ensure_compute_env(platform, props)
    return _started(compute_env_id, created=created)


def _started(compute_env_id: str, *, created: bool) -> dict[str, Any]:
    """What on_event returns for a CE: its id, and what is_complete needs to wait for it."""
    return {
        "PhysicalResourceId": compute_env_id,
        WATCH_FIELD: compute_env_id,
        CREATED_FIELD: created,
    }


def _update(
    platform: PlatformClient, props: Properties, old: Properties, physical_id: str
) -> dict[str, Any]:
    """Same place and configuration: rename in place. Otherwise a (new or adopted) CE named
    for the new configuration; a different id makes CloudFormation delete the old CE."""
    if props.connection.location == old.connection.location and props.config == old.config:
        current = _describe(platform, physical_id)
        if current is not None and _status(current) not in GOING:
            _rename(platform, physical_id, current, props)
            return _started(physical_id, created=False)
        LOGGER.warning("Compute environment %s is gone from Platform; replacing it", physical_id)
    compute_env_id, created = _ensure_compute_env(platform, props)
    if compute_env_id != physical_id:
        LOGGER.info(
            "Replacing %s with %s; CloudFormation deletes the old one", physical_id, compute_env_id
        )
    return _started(compute_env_id, created=created)


def _rename(
    platform: PlatformClient, compute_env_id: str, current: JsonObject, props: Properties
) -> None:
    """PUT the new name and description when they differ from Platform's."""
    wanted = (props.compute_env_name, props.description)
    if (text(current, "name"), text(current, "description")) == wanted:
        LOGGER.info("Compute environment %s needs no change", compute_env_id)
        return
    LOGGER.info("Renaming compute environment %s to %s", compute_env_id, wanted[0])
    platform.update_compute_env(compute_env_id, name=wanted[0], description=wanted[1])


def _ensure_compute_env(platform: PlatformClient, props: Properties) -> tuple[str, bool]:
    """The id of the live CE named for ``props``, adopted or newly created; and whether it
    was created now."""
    name = props.compute_env_name
    found = _find_adoptable(platform, props)
    if found is not None:
        LOGGER.info("Adopting compute environment %s (%s), which already exists", name, found)
        return found, False
    try:
        platform.validate_compute_env_name(name)
    except ConflictError as err:
        raise PlatformError(
            f"The compute environment name {name} is taken in {platform.workspace_label} by a "
            f"compute environment that is not live (Platform says: {err.platform_message}). "
            "If it is being deleted, retry once it is gone.",
            status=err.status,
            platform_message=err.platform_message,
        ) from err
    body = {**props.compute_env, "name": name}
    started = PACING.clock()
    wait = ASSUME_ROLE_FIRST_WAIT_SECONDS
    attempts = 0
    while True:
        attempts += 1
        try:
            compute_env_id = platform.create_compute_env(body)
            break
        except PlatformError as err:
            if not _cannot_assume_role(err):
                found = _find_adoptable(platform, props) if err.status in (400, 409) else None
                if found is None:
                    raise
                LOGGER.info(
                    "Create answered %s, but %s exists: adopting %s", err.status, name, found
                )
                return found, False
            waited = PACING.clock() - started
            if (
                waited + wait > ASSUME_ROLE_RETRY_SECONDS
                or PACING.clock() + wait >= platform.deadline
            ):
                raise _assume_role_failure(platform, props, err, attempts, waited) from err
            LOGGER.warning(
                "Seqera Platform cannot assume the role of credentials %s yet (attempt %d, "
                "HTTP %s: %s); retrying in %.0f s",
                props.credentials_id,
                attempts,
                err.status,
                err.platform_message,
                wait,
            )
            PACING.sleep(wait)
            wait = min(2 * wait, ASSUME_ROLE_LONGEST_WAIT_SECONDS)
    LOGGER.info("Created compute environment %s (%s)", name, compute_env_id)
    return compute_env_id, True


def _cannot_assume_role(err: PlatformError) -> bool:
    """Whether Platform refused because it could not assume the credentials' role: a 4xx
    answer (not 401/403, which are about the token) whose message says so."""
    return (
        not isinstance(err, AuthError)
        and err.status is not None
        and 400 <= err.status < 500
        and CANNOT_ASSUME_ROLE.search(err.platform_message or "") is not None
    )


def _assume_role_failure(
    platform: PlatformClient, props: Properties, err: PlatformError, attempts: int, waited: float
) -> PlatformError:
    """The error for a role that stayed unassumable: Platform's words and what to check."""
    return PlatformError(
        f"Seqera Platform could not assume the role of credentials {props.credentials_id} to "
        f"create compute environment {props.compute_env_name} in {platform.workspace_label} "
        f"(HTTP {err.status}: {err.platform_message}). Tried {attempts} times over "
        f"{waited:.0f} s (a new role or trust policy can take a while to be usable; the "
        f"handler retries for up to {ASSUME_ROLE_RETRY_SECONDS:.0f} s within the Lambda's "
        "time). Check the role's trust policy: it must let Platform's principal (Seqera "
        "Cloud: arn:aws:iam::161471496260:role/SeqeraPlatformCloudAccessRole; Enterprise: the "
        "role the installation assumes roles with) call sts:AssumeRole with the condition "
        "sts:ExternalId equal to the credentials' External ID, and sts:TagSession; and check "
        "that the credentials name this role's ARN.",
        status=err.status,
        platform_message=err.platform_message,
    )


def _await_available(
    platform: PlatformClient, props: Properties, event: Mapping[str, Any], compute_env_id: str
) -> dict[str, Any]:
    """Complete once the CE is AVAILABLE and its data links are in place. A CE this event
    created is deleted if the event fails: CloudFormation would never delete it."""
    try:
        compute_env = _describe(platform, compute_env_id)
        if compute_env is None:
            raise PlatformError(
                f"Compute environment {compute_env_id} no longer exists in "
                f"{platform.workspace_label}; it was deleted while CloudFormation waited for it"
            )
        status = _status(compute_env)
        if status in FAILED or status in GOING:
            message = text(compute_env, "message") or "Platform gave no message"
            raise PlatformError(
                f"Seqera Platform reports compute environment {text(compute_env, 'name')} "
                f"({compute_env_id}) as {status}: {message}",
                platform_message=text(compute_env, "message") or None,
            )
        if status != "AVAILABLE":
            LOGGER.info("Compute environment %s is %s", compute_env_id, status or "without status")
            return {"IsComplete": False}
        instance_role, fargate_role = _role_names(
            compute_env, compute_env_id, props.forge_role_prefix
        )
        old_raw = event.get("OldResourceProperties")
        old = parse_properties(old_raw, props.owner) if old_raw else None
        link_ids = _sync_data_links(platform, props, old)
    except DeadlineError:
        raise
    except Exception:
        if event.get(CREATED_FIELD):
            _discard(platform, compute_env_id)
        raise
    return {
        "IsComplete": True,
        "Data": {
            "ComputeEnvId": compute_env_id,
            "ComputeEnvName": text(compute_env, "name") or props.compute_env_name,
            "InstanceRoleName": instance_role,
            "FargateRoleName": fargate_role,
            "DataLinkIds": ",".join(link_ids),
        },
    }


def _discard(platform: PlatformClient, compute_env_id: str) -> None:
    """Best effort: delete a CE this event created, so a retry can reuse its name."""
    try:
        platform.delete_compute_env(compute_env_id)
        LOGGER.warning(
            "Deleted compute environment %s, which this failed event created", compute_env_id
        )
    except PlatformError as err:
        LOGGER.error("Could not delete compute environment %s: %s", compute_env_id, err)


def _role_names(compute_env: JsonObject, compute_env_id: str, prefix: str) -> tuple[str, str]:
    """Names of the Forge instance and Fargate roles: from forgedResources when Platform lists
    them (one-key maps such as {"IamRole": "arn:...:role/<name>"}), else by Forge's naming.

    The construct attaches the s3-write policy to them, and the bucket policies admit only
    roles whose name starts with the Forge prefix: a role named otherwise is refused here
    rather than given a policy it could not use.
    """
    names = {
        "InstanceRole": f"{prefix}-{compute_env_id}-InstanceRole",
        "FargateRole": f"{prefix}-{compute_env_id}-FargateRole",
    }
    config = compute_env.get("config")
    forged = config.get("forgedResources") if isinstance(config, dict) else None
    found: dict[str, str] = {}
    # The instance role often appears only as its instance profile, which Forge names alike.
    for kind in ("IamInstanceProfile", "IamRole"):
        for entry in forged if isinstance(forged, list) else []:
            value = entry.get(kind) if isinstance(entry, dict) else None
            if not isinstance(value, str):
                continue
            name = value.rsplit("/", 1)[-1]
            for role in names:
                if name.endswith(f"-{compute_env_id}-{role}"):
                    found[role] = name
    for name in found.values():
        if not name.startswith(prefix):
            raise ValueError(
                f"Platform reports the Forge role {name}, whose name does not start with the "
                f"Forge role prefix {prefix!r} that the bucket policies admit; set "
                "forge_role_prefix to the prefix this Platform's Batch Forge uses"
            )
    merged = {**names, **found}
    return merged["InstanceRole"], merged["FargateRole"]


# Delete


def _delete(platform: PlatformClient, props: Properties, physical_id: str) -> dict[str, Any]:
    """Delete the CE and the data links it registered. A CE with running jobs (409) is
    retained when RetainOnDelete is true; otherwise the Delete fails and says why."""
    done = {"PhysicalResourceId": physical_id, WATCH_FIELD: ""}
    target = physical_id
    if not PLATFORM_ID.fullmatch(physical_id):
        # CloudFormation invented this id because a Create never reported back; the CE
        # that Create started, if any, carries the deterministic name.
        entry = _find_live_entry(platform, props.compute_env_name)
        if entry is None:
            LOGGER.info("Physical id %s is not a Platform id and no CE has its name", physical_id)
            return done
        differences = _differences(entry, props)
        if differences:
            LOGGER.warning(
                "Leaving compute environment %s (%s): it has this resource's name, but Platform "
                "lists it with %s, so this resource did not make it",
                props.compute_env_name,
                entry["id"],
                differences,
            )
            return done
        target = str(entry["id"])
        LOGGER.info("Physical id %s is not a Platform id; by name it is %s", physical_id, target)
    compute_env = _describe(platform, target)
    if compute_env is None or _status(compute_env) == "DELETED":
        LOGGER.info("Compute environment %s is already gone", target)
        _remove_data_links(platform, props, target)
        return done
    if _status(compute_env) != "DELETING":
        try:
            platform.delete_compute_env(target)
        except NotFoundError:
            LOGGER.info("Compute environment %s is already gone", target)
        except ConflictError as err:
            again = _describe(platform, target)
            if again is not None and _status(again) not in GOING:
                if not props.connection.retain_on_delete:
                    raise PlatformError(
                        f"Seqera Platform refused to delete compute environment "
                        f"{text(compute_env, 'name')} ({target}) in {platform.workspace_label} "
                        f"because jobs are still running (HTTP 409: {err.platform_message}). "
                        "Let the jobs finish or cancel them, then retry; or set RetainOnDelete "
                        "to true to leave the compute environment in Platform when "
                        "CloudFormation deletes it.",
                        status=err.status,
                        platform_message=err.platform_message,
                    ) from err
                LOGGER.warning(
                    "Retained compute environment %s (%s): jobs are running (%s) and "
                    "RetainOnDelete is true; delete it in Platform when they are done",
                    text(compute_env, "name"),
                    target,
                    err.platform_message,
                )
                return done
    LOGGER.info("Deleting compute environment %s", target)
    _remove_data_links(platform, props, target)
    return {**done, WATCH_FIELD: target}


def _is_gone(platform: PlatformClient, compute_env_id: str) -> bool:
    compute_env = _describe(platform, compute_env_id)
    if compute_env is None or _status(compute_env) == "DELETED":
        return True
    LOGGER.info("Compute environment %s is %s", compute_env_id, _status(compute_env))
    return False


# Data links


def _sync_data_links(
    platform: PlatformClient, props: Properties, old: Properties | None
) -> list[str]:
    """Remove the links an update dropped, then create or adopt the wanted ones; their ids."""
    if old is not None and old.connection.location == props.connection.location:
        wanted = {(link.name, link.resource_ref) for link in props.data_links}
        for link in old.data_links:
            if (link.name, link.resource_ref) not in wanted:
                _delete_links(platform, link)
    return [_ensure_link(platform, props, link) for link in props.data_links]


def _ensure_link(platform: PlatformClient, props: Properties, link: DataLinkSpec) -> str:
    same, other = _find_links(platform, link)
    if same:
        LOGGER.info("Adopting data link %s (%s)", link.name, same[0])
        return same[0]
    if other:
        raise PlatformError(
            f"A data link named {link.name} already exists in {platform.workspace_label} for "
            f"another location than {link.resource_ref}; rename the data link or remove that one"
        )
    try:
        created = platform.create_data_link(
            name=link.name,
            resource_ref=link.resource_ref,
            description=link.description,
            credentials_id=props.credentials_id,
        )
    except PlatformError as err:
        same = _find_links(platform, link)[0] if err.status in (400, 409) else []
        if not same:
            raise
        return same[0]
    link_id = str(created["id"])
    LOGGER.info("Created data link %s (%s)", link.name, link_id)
    return link_id


def _remove_data_links(
    platform: PlatformClient, props: Properties, compute_env_id: str | None
) -> None:
    """Delete the resource's data links, unless another live CE of the same base name (the
    one that replaced this CE, or that a rollback returned to) still uses them."""
    if not props.data_links:
        return
    family = re.compile(re.escape(props.base_name) + f"-[0-9a-f]{{{HASH_LENGTH}}}")
    heirs = [
        text(compute_env, "name")
        for compute_env in platform.list_compute_envs()
        if family.fullmatch(text(compute_env, "name"))
        and compute_env.get("id") != compute_env_id
        and _status(compute_env) not in GOING
    ]
    if heirs:
        LOGGER.info("Keeping data links: %s uses them now", ", ".join(heirs))
        return
    for link in props.data_links:
        _delete_links(platform, link)


def _delete_links(platform: PlatformClient, link: DataLinkSpec) -> None:
    for link_id in _find_links(platform, link)[0]:
        try:
            platform.delete_data_link(link_id)
            LOGGER.info("Deleted data link %s (%s)", link.name, link_id)
        except NotFoundError:
            LOGGER.info("Data link %s (%s) is already gone", link.name, link_id)


def _find_links(platform: PlatformClient, link: DataLinkSpec) -> tuple[list[str], list[str]]:
    """Ids of the data links named like ``link``: those with its resourceRef, and others."""
    same: list[str] = []
    other: list[str] = []
    for found in platform.list_data_links(search=link.name):
        link_id = found.get("id")
        if text(found, "name") != link.name or not isinstance(link_id, str):
            continue
        matches = text(found, "resourceRef").rstrip("/") == link.resource_ref.rstrip("/")
        (same if matches else other).append(link_id)
    return same, other


# Reading Platform's answers


def _describe(platform: PlatformClient, compute_env_id: str) -> JsonObject | None:
    """The CE, or None when it does not exist (a 404, or a 403 for an id the workspace does
    not list: see client.unlisted_403)."""
    try:
        return platform.describe_compute_env(compute_env_id)
    except NotFoundError:
        return None
    except AuthError as err:
        if not unlisted_403(err, compute_env_id, platform.list_compute_envs):
            raise
        LOGGER.info("Platform answered 403 for %s, which it does not list: gone", compute_env_id)
        return None


def _find_live_entry(platform: PlatformClient, name: str) -> JsonObject | None:
    """The list entry of the CE called ``name`` that is not being deleted, if there is one."""
    for compute_env in platform.list_compute_envs():
        if (
            text(compute_env, "name") == name
            and _status(compute_env) not in GOING
            and isinstance(compute_env.get("id"), str)
        ):
            return compute_env
    return None


def _find_adoptable(platform: PlatformClient, props: Properties) -> str | None:
    """The id of the live CE with this resource's name, to adopt; None when there is none.
    Refuses one that Platform lists with other credentials, platform or region: the name's
    hash covers the configuration and the owner, so such a CE was not made by this resource
    (it was made or changed by hand)."""
    entry = _find_live_entry(platform, props.compute_env_name)
    if entry is None:
        return None
    differences = _differences(entry, props)
    if differences:
        raise PlatformError(
            f"A compute environment named {props.compute_env_name} ({entry['id']}) exists in "
            f"{platform.workspace_label}, but it is not the one this resource makes: Platform "
            f"lists it with {differences}. The name carries a hash of this resource's "
            f"configuration and owner ({props.owner}), so that compute environment was made "
            "or changed outside CloudFormation; rename or delete it in Platform, then retry."
        )
    return str(entry["id"])


def _differences(entry: JsonObject, props: Properties) -> str:
    """What a listed CE holds that this resource would not have made (fields the list
    leaves out or sends as null are not compared); empty when nothing disagrees."""
    config = props.compute_env.get("config")
    wanted = {
        "credentialsId": props.credentials_id,
        "platform": props.compute_env.get("platform"),
        "region": config.get("region") if isinstance(config, dict) else None,
    }
    found = []
    for key, value in wanted.items():
        listed = text(entry, key)
        if listed and isinstance(value, str) and value and listed != value:
            found.append(f"{key} {listed!r} instead of {value!r}")
    return "; ".join(found)


def _status(compute_env: JsonObject) -> str:
    return text(compute_env, "status").upper()
