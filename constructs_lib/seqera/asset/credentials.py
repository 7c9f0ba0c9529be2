"""``Custom::SeqeraCredentials``: AWS role credentials in Seqera Platform whose External ID
Platform generates, kept in step with CloudFormation (handler.py dispatches here).

Seqera Cloud accepts role credentials only with a Platform-managed External ID, which the role's
trust policy must then require; so the credentials are made first (``POST /credentials?
useExternalId=true``), and their External ID (``keys.externalId`` of ``GET /credentials/{id}``)
is returned for the trust policy. Platform makes them at once: ``on_event`` does all the work
and ``is_complete`` has nothing to wait for. The physical id is the credentials' Platform id.

An External ID cannot be rotated in place, and nothing about role credentials needs changing
in place, so any change of the ``Credentials`` property, or of where they live, makes new
credentials (a new physical id; CloudFormation then deletes the old ones). Names are
``<name>-<8 hex>``, the hash covering the credentials and their owner (shared.py): a retried
Create and a rolled-back Update find and adopt what an earlier attempt made.

Properties (strings, as CloudFormation sends them): ``ApiUrl``, ``WorkspaceId``,
``TokenSecret``, ``RetainOnDelete`` as for the compute environment, and ``Credentials``: the
JSON of ``{"name": <base name>, "provider": "aws", "keys": {"mode": "role", "assumeRoleArn":
<role ARN>}}`` (``keys.discriminator`` "aws" and a ``description`` may be given too).
Data: ``CredentialsId``, ``CredentialsName``, ``ExternalId``.
"""

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from client import (
    AuthError,
    ConflictError,
    JsonObject,
    NotFoundError,
    PlatformClient,
    PlatformError,
    unlisted_403,
)
from shared import (
    GOING,
    PLATFORM_ID,
    Connection,
    Owner,
    check_base_name,
    hashed_name,
    load_json,
    parse_connection,
    text,
)

LOGGER = logging.getLogger("seqera.platform.credentials")

RESOURCE_TYPE = "Custom::SeqeraCredentials"
# Credentials names: 1 to 100 letters, digits, dashes and underscores (Platform's rule).
NAME_CHARACTERS = re.compile(r"[A-Za-z0-9_-]+")
ROLE_ARN = re.compile(r"arn:aws(-[a-z]+)*:iam::\d{12}:role/[\w+=,.@/-]{1,512}")
FIELDS = frozenset({"name", "provider", "keys", "description"})
KEYS = frozenset({"mode", "assumeRoleArn", "discriminator"})


@dataclass(frozen=True)
class CredentialsProperties:
    """The credentials resource's properties, parsed and checked."""

    connection: Connection
    credentials: JsonObject  # as the construct gave them, keys.discriminator set
    owner: Owner

    @property
    def location(self) -> tuple[str, str | None]:
        return self.connection.location

    @property
    def base_name(self) -> str:
        name: str = self.credentials["name"]
        return name

    @property
    def role_arn(self) -> str:
        arn: str = self.credentials["keys"]["assumeRoleArn"]
        return arn

    @property
    def name(self) -> str:
        """The credentials' name in Platform: the base name and a hash of everything else in
        them and of the owner."""
        content = {k: v for k, v in self.credentials.items() if k != "name"}
        return hashed_name(self.base_name, content, self.owner)

    def request(self) -> JsonObject:
        """The ``credentials`` object to create."""
        return {**self.credentials, "name": self.name}


def parse_properties(raw: Mapping[str, Any], owner: Owner) -> CredentialsProperties:
    """Check the properties; a ValueError names the one that is wrong."""
    connection = parse_connection(raw)
    given = load_json(raw, "Credentials", "{}")
    if not isinstance(given, dict) or not isinstance(given.get("keys"), dict):
        raise ValueError("Credentials must be a JSON object with a keys object")
    unknown = sorted(set(given) - FIELDS)
    if unknown:
        raise ValueError(f"Credentials has fields the handler does not send: {unknown}")
    name = check_base_name(given.get("name"), "Credentials")
    if not NAME_CHARACTERS.fullmatch(name):
        raise ValueError(
            f"Credentials name may hold only letters, digits, dashes and underscores, got {name!r}"
        )
    if given.get("provider") != "aws":
        raise ValueError(f"Credentials provider must be 'aws', got {given.get('provider')!r}")
    description = given.get("description")
    if description is not None and not isinstance(description, str):
        raise ValueError("Credentials description must be a string")
    keys = dict(given["keys"])
    unknown = sorted(set(keys) - KEYS)
    if unknown:
        raise ValueError(
            f"Credentials keys may hold only mode, assumeRoleArn and discriminator, got "
            f"{unknown}: access keys do not belong in a template, and Platform makes the "
            "External ID"
        )
    if keys.get("mode") != "role":
        raise ValueError(f"Credentials keys.mode must be 'role', got {keys.get('mode')!r}")
    arn = keys.get("assumeRoleArn")
    if not isinstance(arn, str) or not ROLE_ARN.fullmatch(arn):
        raise ValueError(
            "Credentials keys.assumeRoleArn must be an IAM role ARN such as "
            f"arn:aws:iam::123456789012:role/name, got {arn!r}"
        )
    if keys.setdefault("discriminator", "aws") != "aws":
        raise ValueError(
            f"Credentials keys.discriminator must be 'aws', got {keys['discriminator']!r}"
        )
    return CredentialsProperties(connection, {**given, "keys": keys}, owner)


def on_event(
    event: Mapping[str, Any], platform: PlatformClient, props: CredentialsProperties
) -> dict[str, Any]:
    """Create, replace or delete the credentials; returns the physical id and Data."""
    request_type = event["RequestType"]
    if request_type == "Create":
        return _ensure(platform, props)
    if request_type == "Update":
        old = parse_properties(event.get("OldResourceProperties") or {}, props.owner)
        return _update(platform, props, old, str(event["PhysicalResourceId"]))
    if request_type == "Delete":
        return _delete(platform, props, str(event["PhysicalResourceId"]))
    raise ValueError(f"Unknown RequestType {request_type!r}")


def is_complete() -> dict[str, Any]:
    """Nothing to wait for: Platform makes and deletes credentials at once."""
    return {"IsComplete": True}


# Create and Update


def _update(
    platform: PlatformClient,
    props: CredentialsProperties,
    old: CredentialsProperties,
    physical_id: str,
) -> dict[str, Any]:
    """Same place and same credentials: keep them. Anything else: new (or adopted)
    credentials, whose new id makes CloudFormation delete the old ones."""
    if props.location == old.location and props.name == old.name:
        current = _describe(platform, physical_id) if PLATFORM_ID.fullmatch(physical_id) else None
        if current is not None:
            LOGGER.info("Credentials %s (%s) need no change", props.name, physical_id)
            return _result(platform, props, physical_id, current, created=False)
        LOGGER.warning("Credentials %s are gone from Platform; making them again", physical_id)
    result = _ensure(platform, props)
    if result["PhysicalResourceId"] != physical_id:
        LOGGER.info(
            "Replacing credentials %s with %s; CloudFormation deletes the old ones",
            physical_id,
            result["PhysicalResourceId"],
        )
    return result


def _ensure(platform: PlatformClient, props: CredentialsProperties) -> dict[str, Any]:
    """The live credentials named for ``props``, adopted or newly created."""
    found = _find_adoptable(platform, props)
    if found is not None:
        LOGGER.info("Adopting credentials %s (%s), which already exist", props.name, found[0])
        return _result(platform, props, *found, created=False)
    try:
        credentials_id = platform.create_credentials(props.request(), use_external_id=True)
    except PlatformError as err:
        if isinstance(err, AuthError) or err.status not in (400, 409):
            raise
        # A retried request whose first answer was lost finds the name taken: adopt.
        found = _find_adoptable(platform, props)
        if found is not None:
            LOGGER.info("Create answered %s, but %s exist: adopting them", err.status, props.name)
            return _result(platform, props, *found, created=False)
        if err.status != 400:
            raise
        raise PlatformError(
            f"Seqera Platform refused to create role credentials {props.name} in "
            f"{platform.workspace_label} (HTTP 400: {err.platform_message or 'no message'}). "
            "The handler asks Platform to generate an External ID for them "
            "(POST /credentials?useExternalId=true); a Platform that requires an External ID "
            "for role credentials (as Seqera Cloud does) but does not generate one for this "
            "request refuses them. Check that ApiUrl points at a Platform release that "
            f"supports useExternalId and that the role ARN {props.role_arn} is right; or "
            "create the credentials by hand in Platform and give their id as credentials_id.",
            status=err.status,
            platform_message=err.platform_message,
        ) from err
    LOGGER.info("Created credentials %s (%s)", props.name, credentials_id)
    current = platform.describe_credentials(credentials_id)
    return _result(platform, props, credentials_id, current, created=True)


def _result(
    platform: PlatformClient,
    props: CredentialsProperties,
    credentials_id: str,
    current: JsonObject,
    *,
    created: bool,
) -> dict[str, Any]:
    """What on_event returns; fails when the credentials have no External ID (deleting them
    again when this event made them)."""
    external_id = text(current.get("keys"), "externalId")
    if not external_id:
        fate = "were left in Platform (this event did not make them)"
        if created:
            fate = _discard(platform, credentials_id)
        raise PlatformError(
            f"Seqera Platform made credentials {props.name} ({credentials_id}) in "
            f"{platform.workspace_label} without an External ID, although the handler asked "
            "for one (useExternalId=true): this Platform (an older Enterprise release) does not "
            "generate External IDs, so the role's trust policy cannot require one. The "
            f"credentials {fate}. Create AWS role credentials for {props.role_arn} by hand in "
            "Platform and give their id as credentials_id instead."
        )
    return {
        "PhysicalResourceId": credentials_id,
        "Data": {
            "CredentialsId": credentials_id,
            "CredentialsName": text(current, "name") or props.name,
            "ExternalId": external_id,
        },
    }


def _discard(platform: PlatformClient, credentials_id: str) -> str:
    """Best effort: delete credentials this event made; says how that went."""
    try:
        platform.delete_credentials(credentials_id, checked=True)
    except PlatformError as err:
        LOGGER.error("Could not delete credentials %s: %s", credentials_id, err)
        return f"could not be deleted again ({err}); delete them in Platform"
    return "were deleted again"


def _find_adoptable(
    platform: PlatformClient, props: CredentialsProperties
) -> tuple[str, JsonObject] | None:
    """The id and description of the live credentials with this resource's name; None when
    there are none. Refuses credentials of that name that are not what this resource makes
    (another provider or role): the name's hash covers the credentials and the owner, so
    those were made or changed by hand."""
    found = _find_named(platform, props)
    if found is None:
        return None
    credentials_id, current = found
    differences = _differences(current, props)
    if differences:
        raise PlatformError(
            f"Credentials named {props.name} ({credentials_id}) exist in "
            f"{platform.workspace_label}, but they are not the ones this resource makes: "
            f"they have {differences}. The name carries a hash of this resource's credentials "
            f"and owner ({props.owner}), so they were made or changed outside CloudFormation; "
            "rename or delete them in Platform, then retry."
        )
    return found


def _find_named(
    platform: PlatformClient, props: CredentialsProperties
) -> tuple[str, JsonObject] | None:
    """The id and description of the live credentials called ``props.name``, if any."""
    for entry in platform.list_credentials():
        credentials_id = entry.get("id")
        if (
            text(entry, "name") != props.name
            or entry.get("deleted") is True
            or not isinstance(credentials_id, str)
        ):
            continue
        current = _describe(platform, credentials_id)
        if current is not None:
            return credentials_id, current
    return None


def _differences(current: JsonObject, props: CredentialsProperties) -> str:
    """What described credentials hold that this resource would not have made (fields
    Platform leaves out are not compared); empty when nothing disagrees."""
    found = []
    provider = text(current, "provider") or text(current, "discriminator")
    if provider and provider != "aws":
        found.append(f"provider {provider!r}")
    keys = current.get("keys")
    mode = text(keys, "mode")
    if mode and mode != "role":
        found.append(f"mode {mode!r}")
    arn = text(keys, "assumeRoleArn")
    if arn and arn != props.role_arn:
        found.append(f"role {arn} instead of {props.role_arn}")
    return "; ".join(found)


def _describe(platform: PlatformClient, credentials_id: str) -> JsonObject | None:
    """The credentials, or None when they do not exist (a 404, or a 403 for an id the
    workspace does not list: see client.unlisted_403)."""
    try:
        return platform.describe_credentials(credentials_id)
    except NotFoundError:
        return None
    except AuthError as err:
        if not unlisted_403(err, credentials_id, platform.list_credentials):
            raise
        LOGGER.info("Platform answered 403 for %s, which it does not list: gone", credentials_id)
        return None


# Delete


def _delete(
    platform: PlatformClient, props: CredentialsProperties, physical_id: str
) -> dict[str, Any]:
    """Delete the credentials unless something uses them: then fail and say what uses them,
    or with RetainOnDelete leave them and succeed. Credentials already gone are done."""
    done = {"PhysicalResourceId": physical_id}
    target = physical_id
    if not PLATFORM_ID.fullmatch(physical_id):
        # CloudFormation invented this id because a Create never reported back; what that
        # Create made, if anything, carries the deterministic name.
        found = _find_named(platform, props)
        if found is None:
            LOGGER.info(
                "Physical id %s is not a Platform id; no credentials have its name", physical_id
            )
            return done
        differences = _differences(found[1], props)
        if differences:
            LOGGER.warning(
                "Leaving credentials %s (%s): they have this resource's name but %s, so this "
                "resource did not make them",
                props.name,
                found[0],
                differences,
            )
            return done
        target = found[0]
    users = _compute_envs_using(platform, target)
    if users:
        many = len(users) > 1
        reason = (
            f"compute environment{'s' if many else ''} {', '.join(users)} still "
            f"use{'' if many else 's'} them"
        )
        return _in_use(platform, props, target, reason)
    try:
        platform.delete_credentials(target, checked=True)
    except NotFoundError:
        LOGGER.info("Credentials %s are already gone", target)
    except AuthError as err:
        if not unlisted_403(err, target, platform.list_credentials):
            raise
        LOGGER.info("Credentials %s are already gone (Platform answered 403)", target)
    except ConflictError as err:
        what = _conflicts(err.answer) or "something (Platform did not say what)"
        said = f"; Platform says: {err.platform_message}" if err.platform_message else ""
        return _in_use(
            platform, props, target, f"Platform answered HTTP 409: {what} depends on them{said}"
        )
    else:
        LOGGER.info("Deleted credentials %s (%s)", props.name, target)
    return done


def _in_use(
    platform: PlatformClient, props: CredentialsProperties, credentials_id: str, reason: str
) -> dict[str, Any]:
    """Credentials that cannot go: retained when RetainOnDelete is true, else a failure."""
    if props.connection.retain_on_delete:
        LOGGER.warning(
            "Retained credentials %s (%s): %s, and RetainOnDelete is true; delete them in "
            "Platform when nothing uses them",
            props.name,
            credentials_id,
            reason,
        )
        return {"PhysicalResourceId": credentials_id}
    raise PlatformError(
        f"Cannot delete Seqera Platform credentials {props.name} ({credentials_id}) in "
        f"{platform.workspace_label}: {reason}. Remove what uses them (delete those compute "
        "environments or give them other credentials; let running jobs finish), then retry; "
        "or set RetainOnDelete to true to leave the credentials in Platform when "
        "CloudFormation deletes this resource.",
        status=409,
    )


def _compute_envs_using(platform: PlatformClient, credentials_id: str) -> list[str]:
    """'name (id)' of every live compute environment of the workspace that uses the
    credentials. Lists do not always carry credentialsId; then the CE is described."""
    users = []
    for entry in platform.list_compute_envs():
        compute_env_id = entry.get("id")
        if not isinstance(compute_env_id, str) or text(entry, "status").upper() in GOING:
            continue
        uses = entry.get("credentialsId")
        if not isinstance(uses, str):
            try:
                uses = text(platform.describe_compute_env(compute_env_id), "credentialsId")
            except (NotFoundError, AuthError):
                continue
        if uses == credentials_id:
            users.append(f"{text(entry, 'name')} ({compute_env_id})")
    return users


def _conflicts(answer: Any) -> str:
    """The conflicts of Platform's 409 answer (DeleteCredentialsConflictResponse), in words."""
    conflicts = answer.get("conflicts") if isinstance(answer, dict) else None
    named = []
    for conflict in conflicts if isinstance(conflicts, list) else []:
        words = [text(conflict, "type"), text(conflict, "name")]
        conflict_id = text(conflict, "id")
        named.append(" ".join(w for w in words if w) + (f" ({conflict_id})" if conflict_id else ""))
    return ", ".join(n for n in named if n)
