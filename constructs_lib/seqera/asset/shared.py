"""What the two custom resources (the compute environment and the credentials) share: the
properties that say where Platform is, the owner every deterministic name carries, and small
readers of CloudFormation's strings and Platform's answers.

Names are ``<base name>-<first 8 hex of a sha256>``; the hash covers what the resource holds
(so a change gives a new name, and a new object made beside the old one) and its owner: the
CloudFormation stack and logical id of the custom resource. Two stacks, or two resources of one
stack, that ask for the same base name and configuration in one workspace therefore get
different names, and never adopt (and later delete) each other's objects. A retried Create, an
Update and its rollback happen in the same stack under the same logical id, so they keep the
owner and find what an earlier attempt made.
"""

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

JsonObject = dict[str, Any]

NAME_MAX_LENGTH = 100  # ComputeEnv.name and Credentials.name maxLength in the OpenAPI spec
HASH_LENGTH = 8
BASE_NAME_MAX_LENGTH = NAME_MAX_LENGTH - HASH_LENGTH - 1
# Platform ids are short and alphanumeric; CloudFormation invents ids with dashes when a
# Create never reported back.
PLATFORM_ID = re.compile(r"[A-Za-z0-9]{1,22}")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# Compute-environment statuses of one that is going away.
GOING = frozenset({"DELETING", "DELETED"})


@dataclass(frozen=True)
class Owner:
    """The custom resource a Platform object belongs to: its stack and its logical id."""

    stack_id: str
    logical_id: str

    def __str__(self) -> str:
        return f"{self.logical_id} in {self.stack_id}"


def owner_of(event: Mapping[str, Any]) -> Owner:
    """The owner named by a CloudFormation event (the Provider framework passes both ids)."""
    stack_id = event.get("StackId")
    logical_id = event.get("LogicalResourceId")
    if not isinstance(stack_id, str) or not stack_id or not isinstance(logical_id, str):
        raise ValueError(
            "The event has no StackId or LogicalResourceId; the handler names what it makes "
            "after them, so it runs only behind CloudFormation's custom-resource events"
        )
    if not logical_id:
        raise ValueError("The event's LogicalResourceId is empty")
    return Owner(stack_id, logical_id)


def hashed_name(base_name: str, content: Any, owner: Owner) -> str:
    """``<base name>-<8 hex>``: the hash of the canonical JSON of ``content`` and ``owner``."""
    canonical = json.dumps(
        {"content": content, "owner": [owner.stack_id, owner.logical_id]},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return f"{base_name}-{hashlib.sha256(canonical.encode('utf-8')).hexdigest()[:HASH_LENGTH]}"


def check_base_name(name: Any, what: str) -> str:
    """A base name that leaves room for the hash; a ValueError otherwise."""
    if not isinstance(name, str) or not name or len(name) > BASE_NAME_MAX_LENGTH:
        raise ValueError(
            f"{what} name must be 1 to {BASE_NAME_MAX_LENGTH} characters (the handler appends "
            f"'-<{HASH_LENGTH} hex>' and Platform allows {NAME_MAX_LENGTH}), got {name!r}"
        )
    return name


@dataclass(frozen=True)
class Connection:
    """Where the resource lives and how to reach it: the properties both resources share."""

    api_url: str
    workspace_id: str | None
    token_secret: str
    retain_on_delete: bool

    @property
    def location(self) -> tuple[str, str | None]:
        """A change here means an object elsewhere."""
        return self.api_url, self.workspace_id


def parse_connection(raw: Mapping[str, Any]) -> Connection:
    """ApiUrl, WorkspaceId, TokenSecret and RetainOnDelete, checked; a ValueError names the
    property that is wrong."""
    api_url = required(raw, "ApiUrl").rstrip("/")
    parts = urlsplit(api_url)
    if not parts.hostname or not (
        parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS)
    ):
        raise ValueError(
            f"ApiUrl must be an https URL such as https://api.cloud.seqera.io or "
            f"https://<host>/api, got {api_url!r}"
        )
    workspace_id = str(raw.get("WorkspaceId") or "").strip()
    if workspace_id and not workspace_id.isdigit():
        raise ValueError(
            f"WorkspaceId must be a numeric workspace id or empty, got {workspace_id!r}"
        )
    retain = str(raw.get("RetainOnDelete") or "false").strip().lower()
    if retain not in ("true", "false"):
        raise ValueError(f"RetainOnDelete must be 'true' or 'false', got {retain!r}")
    return Connection(
        api_url=api_url,
        workspace_id=workspace_id or None,
        token_secret=required(raw, "TokenSecret"),
        retain_on_delete=retain == "true",
    )


def required(raw: Mapping[str, Any], key: str) -> str:
    """A property that must be a non-blank string."""
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"Property {key} is required")
    return value.strip()


def load_json(raw: Mapping[str, Any], key: str, default: str) -> Any:
    """A property that holds JSON; ``default`` when it is missing or blank."""
    text = raw.get(key)
    try:
        return json.loads(text if isinstance(text, str) and text.strip() else default)
    except ValueError as err:
        raise ValueError(f"Property {key} is not valid JSON: {err}") from None


def text(obj: Any, key: str) -> str:
    """A string field; empty when missing, null or not a string (or ``obj`` is no object)."""
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, str) else ""
