"""A local Seqera Platform emulator for the custom-resource tests.

A real HTTP server on 127.0.0.1 that models the parts of Platform the handler uses: compute
environments (CREATING -> AVAILABLE, or ERRORED/INVALID; DELETE -> DELETING -> DELETED -> gone;
409 while jobs run; unique names per workspace; 400 "cannot assume role" while the role of
their credentials is not assumable yet), credentials (role credentials with a generated
External ID, as Seqera Cloud makes them, or as older or stricter installs do: see
``external_ids``; a checked DELETE answers 409 with the compute environments that use them),
data links, bearer-token auth, and injected faults (429 with Retry-After, 502/503/504,
connection resets, hangs).

Every request and every response is checked against the Seqera OpenAPI spec with openapi-core;
requests are also checked against a closed copy of the spec that rejects fields the spec does
not declare. Problems are collected in ``violations``. Answers the emulator sends outside the
spec on purpose (401, which the spec never declares; injected faults; 404 for unknown
compute-environment or credentials ids when asked) are not checked but listed in
``off_spec``, with the reason. In ``realistic`` mode answers carry the explicit nulls and
string-valued ``forgedResources`` that the real service sends, and lists of compute
environments leave out credentialsId and region, as the real lists in the fixtures do; the
spec rejects the nulls, and the findings go to ``realistic_findings``, kept apart on purpose.
"""

import copy
import json
import random
import re
import socket
import string
import struct
import threading
import urllib.parse
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse

JsonObject = dict[str, Any]

NAME_RULE = re.compile(r"[A-Za-z0-9_-]{1,100}")
ACCOUNT = "123456789012"
# The principal Seqera Cloud assumes customer roles with (design brief, Platform credentials).
CLOUD_PRINCIPAL = "arn:aws:iam::161471496260:role/SeqeraPlatformCloudAccessRole"
EXTERNAL_ID_MODES = ("cloud", "unsupported", "refused")


class SpecChecker:
    """The Seqera OpenAPI spec, loaded once (it is large), plus a closed copy of it."""

    def __init__(self, spec_path: Path) -> None:
        self.spec = OpenAPI.from_file_path(str(spec_path))
        closed = copy.deepcopy(self.spec.spec.read_value())
        for schema in closed["components"]["schemas"].values():
            composed = any(k in schema for k in ("oneOf", "anyOf", "allOf", "discriminator"))
            if schema.get("type") == "object" and "properties" in schema and not composed:
                schema.setdefault("additionalProperties", False)
        self.closed = OpenAPI.from_dict(closed, config=Config(spec_validator_cls=None))

    def request_errors(self, request: MockRequest) -> list[str]:
        """What the spec, and the closed copy, find wrong with a request."""
        found = [_explain(error) for error in self.spec.iter_request_errors(request)]
        if not found:
            found = [
                f"undeclared field: {_explain(error)}"
                for error in self.closed.iter_request_errors(request)
            ]
        return found

    def response_errors(self, request: MockRequest, response: MockResponse) -> list[str]:
        """What the spec finds wrong with a response to ``request``."""
        return [_explain(error) for error in self.spec.iter_response_errors(request, response)]


def _explain(error: Exception) -> str:
    """An openapi-core error with its schema errors and their JSON paths."""
    parts = [type(error).__name__, str(error)]
    cause = error.__cause__
    if cause is not None:
        parts.append(repr(cause) if not hasattr(cause, "schema_errors") else type(cause).__name__)
        for schema_error in getattr(cause, "schema_errors", ()):
            where = "/".join(str(step) for step in schema_error.absolute_path)
            parts.append(f"/{where}: {schema_error.message}")
    return " ".join(part for part in parts if part)


@dataclass
class ComputeEnv:
    """A compute environment as the emulator keeps it."""

    id: str
    workspace: str | None
    name: str
    description: str | None
    platform: str
    credentials_id: str | None
    config: JsonObject
    status: str = "CREATING"
    message: str | None = None
    polls_left: int = 0
    outcome: tuple[str, str | None] = ("AVAILABLE", None)
    jobs_running: bool = False


@dataclass
class Credentials:
    """Credentials as the emulator keeps them. ``assume_failures`` is how many more times a
    compute-environment create with them answers that the role cannot be assumed;
    ``in_use_by`` lists conflicts besides compute environments (such as running workflows,
    the spec's reason for a 409) that block a checked delete."""

    id: str
    workspace: str | None
    name: str
    description: str | None
    provider: str
    keys: JsonObject
    assume_failures: int = 0
    in_use_by: list[JsonObject] = field(default_factory=list)


@dataclass
class DataLink:
    """A data link as the emulator keeps it."""

    id: str
    workspace: str | None
    name: str
    description: str | None
    resource_ref: str
    credentials_id: str


@dataclass
class Fault:
    """What to do instead of answering: an HTTP status (see ``_fault_answer``); "html" (a web
    page); "reset" (a TCP reset); "hang" (no answer for ``seconds``, then a reset); or "lost"
    (do the work, then reset instead of answering). ``on`` limits it to requests starting
    with e.g. "POST /compute-envs"."""

    kind: int | str
    retry_after: str | None = None
    seconds: float = 5.0
    on: str = ""

    def applies_to(self, method: str, path: str) -> bool:
        """Whether this fault hits a request."""
        return f"{method} {path}".startswith(self.on)


@dataclass
class Recorded:
    """One request as the emulator received it."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int | None = None


@dataclass
class PlatformEmulator:
    """The emulated service; ``start`` it, point the handler at ``url``, ``stop`` it.

    ``external_ids`` says how role credentials (AWS, mode "role") are made: "cloud" generates
    an External ID when asked (``useExternalId=true``) and refuses them (400) otherwise, as
    Seqera Cloud does; "unsupported" ignores the parameter and makes them without one (an
    older Enterprise); "refused" ignores the parameter and refuses them (400).
    ``assume_role_failures`` is how many compute-environment creates with each new role
    credentials answer that the role cannot be assumed before one succeeds.
    """

    checker: SpecChecker
    token: str
    base_path: str = ""
    realistic: bool = False
    unknown_id_status: int = 403
    creating_polls: int = 2
    deleting_polls: int = 1
    forge_prefix: str = "TowerForge"
    echo_token: bool = False
    external_ids: str = "cloud"
    assume_role_failures: int = 0
    forbidden_workspaces: set[str] = field(default_factory=set)
    compute_envs: dict[str, ComputeEnv] = field(default_factory=dict)
    credentials: dict[str, Credentials] = field(default_factory=dict)
    data_links: dict[str, DataLink] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    off_spec: list[str] = field(default_factory=list)
    realistic_findings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        assert self.external_ids in EXTERNAL_ID_MODES, self.external_ids
        self._lock = threading.RLock()
        self._faults: list[Fault] = []
        self._outcomes: dict[str, tuple[str, str | None]] = {}
        self._random = random.Random(7)
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    # Lifecycle and set-up

    def start(self) -> "PlatformEmulator":
        """Listen on a free port of 127.0.0.1, in a background thread."""
        emulator = self

        class Handler(_RequestHandler):
            owner = emulator

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        """Stop listening; hung requests are released at once."""
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        """The API URL to give the handler (with ``base_path``, like https://host/api)."""
        assert self._server is not None, "start() the emulator first"
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.base_path}"

    def inject(self, *faults: Fault) -> None:
        """Answer the next requests with these faults, one each, in order."""
        with self._lock:
            self._faults.extend(faults)

    def outcome(self, base_name: str, status: str, message: str | None) -> None:
        """Compute environments named ``base_name`` or ``base_name-...`` end up ``status``."""
        self._outcomes[base_name] = (status, message)

    def add_compute_env(
        self,
        name: str,
        workspace: str | None,
        status: str = "AVAILABLE",
        credentials_id: str = "preexisting",
    ) -> ComputeEnv:
        """A compute environment that exists before the test acts."""
        with self._lock:
            compute_env = ComputeEnv(
                id=self._new_id(),
                workspace=workspace,
                name=name,
                description=None,
                platform="aws-batch",
                credentials_id=credentials_id,
                config={"discriminator": "aws-batch", "region": "eu-west-1"},
                status=status,
            )
            self.compute_envs[compute_env.id] = compute_env
            return compute_env

    def add_credentials(
        self,
        name: str,
        workspace: str | None,
        role_arn: str,
        external_id: str | None = "made-by-hand",
    ) -> Credentials:
        """AWS role credentials that exist before the test acts."""
        with self._lock:
            keys: JsonObject = {"discriminator": "aws", "mode": "role", "assumeRoleArn": role_arn}
            if external_id is not None:
                keys["externalId"] = external_id
            credentials = Credentials(self._new_id(), workspace, name, None, "aws", keys)
            self.credentials[credentials.id] = credentials
            return credentials

    def live_credentials(self, workspace: str | None) -> list[Credentials]:
        """The credentials of a workspace."""
        return [c for c in self.credentials.values() if c.workspace == workspace]

    def add_data_link(
        self, name: str, resource_ref: str, workspace: str | None, credentials_id: str = "c1"
    ) -> DataLink:
        """A data link that exists before the test acts."""
        with self._lock:
            link = DataLink(
                self._new_link_id(), workspace, name, None, resource_ref, credentials_id
            )
            self.data_links[link.id] = link
            return link

    def live(self, workspace: str | None) -> list[ComputeEnv]:
        """The compute environments of a workspace that are not deleted."""
        return [
            ce
            for ce in self.compute_envs.values()
            if ce.workspace == workspace and ce.status != "DELETED"
        ]

    def calls(self, method: str, path_prefix: str = "") -> list[Recorded]:
        """The recorded requests with this method whose path starts with ``path_prefix``."""
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    def writes(self) -> list[Recorded]:
        """The recorded requests that are not GETs: those that may change something."""
        return [r for r in self.requests if r.method != "GET"]

    # Serving (called from the server threads)

    def serve(self, handler: "_RequestHandler") -> None:
        """Answer one HTTP request, checking it and the answer against the spec."""
        parsed = urllib.parse.urlsplit(handler.path)
        query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        path = parsed.path
        api_path = path[len(self.base_path) :]
        with self._lock:
            fault = next((f for f in self._faults if f.applies_to(handler.command, api_path)), None)
            if fault is not None:
                self._faults.remove(fault)
            recorded = Recorded(handler.command, path, query, _json_or_raw(raw))
            self.requests.append(recorded)
            if not path.startswith(self.base_path):
                self.violations.append(f"{handler.command} {path}: outside {self.base_path!r}")
        headers = {name: value for name, value in handler.headers.items()}
        request = MockRequest(
            "http://127.0.0.1",
            handler.command,
            api_path,
            args=query,
            headers=headers,
            data=raw,
            content_type=handler.headers.get_content_type() if raw else "application/json",
        )
        what = f"{handler.command} {api_path}"
        errors = self.checker.request_errors(request)
        with self._lock:
            self.violations += [f"{what} request: {error}" for error in errors]
        if fault is not None and fault.kind in ("reset", "hang"):
            if fault.kind == "hang":
                self._release.wait(fault.seconds)
            _reset(handler)
            return
        lost = fault is not None and fault.kind == "lost"
        with self._lock:
            answer = self._answer(
                handler.command, api_path, query, raw, headers, None if lost else fault
            )
            recorded.status = answer.status
            self._check_response(request, answer, what)
        if lost:
            _reset(handler)
        else:
            handler.send(answer)

    def _check_response(self, request: MockRequest, answer: "Answer", what: str) -> None:
        if answer.off_spec is not None:
            self.off_spec.append(f"{what} -> {answer.status} ({answer.off_spec})")
            return
        response = MockResponse(
            answer.body,
            status_code=answer.status,
            headers=answer.headers,
            content_type=answer.content_type,
        )
        errors = self.checker.response_errors(request, response)
        found = [f"{what} response {answer.status}: {e}" for e in errors]
        if self.realistic:
            self.realistic_findings += found
        else:
            self.violations += found

    def _answer(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        raw: bytes,
        headers: dict[str, str],
        fault: Fault | None,
    ) -> "Answer":
        if fault is not None:
            return _fault_answer(fault, f"{self.url}/elsewhere")
        if headers.get("Authorization") != f"Bearer {self.token}":
            return Answer(401, b"", off_spec="bad or missing bearer token")
        workspace = query.get("workspaceId") or None
        if workspace in self.forbidden_workspaces:
            return Answer(403, b"")
        # Some servers quote the request in errors; echo_token makes the emulator one of them.
        echo = f" (request sent with {headers['Authorization']})" if self.echo_token else ""
        body = _json_or_raw(raw)
        parts = [part for part in path.split("/") if part]
        if parts == ["compute-envs"] and method == "GET":
            return self._list_compute_envs(workspace)
        if parts == ["compute-envs"] and method == "POST":
            return self._create_compute_env(workspace, body, echo)
        if parts == ["compute-envs", "validate"] and method == "GET":
            return self._validate_name(workspace, query.get("name", ""), echo)
        if len(parts) == 2 and parts[0] == "compute-envs":
            return self._one_compute_env(method, workspace, parts[1], body)
        if parts == ["credentials"] and method == "GET":
            return self._list_credentials(workspace)
        if parts == ["credentials"] and method == "POST":
            return self._create_credentials(workspace, body, query)
        if len(parts) == 2 and parts[0] == "credentials" and method in ("GET", "DELETE"):
            return self._one_credentials(method, workspace, parts[1], query)
        if parts == ["data-links"] and method == "GET":
            return self._list_data_links(workspace, query)
        if parts == ["data-links"] and method == "POST":
            return self._create_data_link(workspace, body)
        if len(parts) == 2 and parts[0] == "data-links" and method == "DELETE":
            return self._delete_data_link(workspace, parts[1])
        return _error(404, f"No route {method} {path}", off_spec="unknown route")

    # Compute environments

    def _list_compute_envs(self, workspace: str | None) -> "Answer":
        entries = []
        for ce in self.live(workspace):
            entry: JsonObject = {
                "id": ce.id,
                "name": ce.name,
                "platform": ce.platform,
                "status": ce.status,
                "message": ce.message,
                "lastUsed": None,
                "primary": None,
                "workspaceName": f"ws-{workspace}" if workspace else None,
                "visibility": "PRIVATE",
            }
            if self.realistic:
                # As the lists in the real answers: no credentialsId, no region.
                entries.append(entry)
                continue
            entry["credentialsId"] = ce.credentials_id
            entry["region"] = ce.config.get("region")
            entries.append(_without_nulls(entry))
        return _ok({"computeEnvs": entries})

    def _validate_name(self, workspace: str | None, name: str, echo: str) -> "Answer":
        if not NAME_RULE.fullmatch(name):
            return _error(400, f"Invalid compute environment name '{name}'{echo}")
        if any(ce.name == name for ce in self.live(workspace)):
            return _error(409, f"A compute environment named '{name}' already exists")
        return Answer(204, b"")

    def _create_compute_env(self, workspace: str | None, body: Any, echo: str) -> "Answer":
        spec = body.get("computeEnv") if isinstance(body, dict) else None
        if not isinstance(spec, dict):
            return _error(400, "Missing computeEnv")
        name = str(spec.get("name", ""))
        if not NAME_RULE.fullmatch(name):
            return _error(400, f"Invalid compute environment name '{name}'{echo}")
        if any(ce.name == name for ce in self.live(workspace)):
            return _error(400, f"A compute environment named '{name}' already exists")
        credentials = self.credentials.get(str(spec.get("credentialsId")))
        if credentials is not None and credentials.assume_failures > 0:
            credentials.assume_failures -= 1
            return _error(400, self._cannot_assume(credentials))
        outcome = next(
            (
                result
                for base, result in self._outcomes.items()
                if name == base or name.startswith(f"{base}-")
            ),
            ("AVAILABLE", None),
        )
        ce = ComputeEnv(
            id=self._new_id(),
            workspace=workspace,
            name=name,
            description=spec.get("description"),
            platform=str(spec.get("platform")),
            credentials_id=spec.get("credentialsId"),
            config=copy.deepcopy(spec["config"]),
            polls_left=self.creating_polls,
            outcome=outcome,
        )
        self.compute_envs[ce.id] = ce
        return _ok({"computeEnvId": ce.id})

    def _one_compute_env(
        self, method: str, workspace: str | None, compute_env_id: str, body: Any
    ) -> "Answer":
        ce = self.compute_envs.get(compute_env_id)
        if ce is None or ce.workspace != workspace:
            return self._unknown("Compute environment", compute_env_id)
        if method == "GET":
            return self._describe(ce)
        if method == "PUT":
            name = body.get("name", ce.name) if isinstance(body, dict) else ce.name
            if any(other.name == name and other.id != ce.id for other in self.live(workspace)):
                return _error(409, f"A compute environment named '{name}' already exists")
            ce.name = name
            if isinstance(body, dict):
                ce.description = body.get("description", ce.description)
            return Answer(204, b"")
        if method == "DELETE":
            if ce.jobs_running:
                return _error(409, "Compute environment has running jobs")
            if ce.status not in ("DELETING", "DELETED"):
                ce.status, ce.polls_left = "DELETING", self.deleting_polls
            return Answer(204, b"")
        return _error(404, f"No route {method}", off_spec="unknown route")

    def _describe(self, ce: ComputeEnv) -> "Answer":
        if ce.status == "DELETED":
            del self.compute_envs[ce.id]
            return self._unknown("Compute environment", ce.id)
        if ce.status in ("CREATING", "DELETING"):
            if ce.polls_left > 0:
                ce.polls_left -= 1
            elif ce.status == "CREATING":
                ce.status, ce.message = ce.outcome
            else:
                ce.status = "DELETED"
        return _ok({"computeEnv": self._render(ce)})

    def _unknown(self, kind: str, object_id: str) -> "Answer":
        if self.unknown_id_status == 404:
            return _error(
                404,
                f"{kind} '{object_id}' not found",
                off_spec="unknown id; the spec declares no 404 here",
            )
        return Answer(403, b"")

    def _render(self, ce: ComputeEnv) -> JsonObject:
        config = copy.deepcopy(ce.config)
        forge = config.get("forge")
        if ce.status != "CREATING":
            config.setdefault("computeQueue", f"{self.forge_prefix}-{ce.id}-work")
            config.setdefault("headQueue", f"{self.forge_prefix}-{ce.id}-head")
        rendered: JsonObject = {
            "id": ce.id,
            "name": ce.name,
            "description": ce.description,
            "platform": ce.platform,
            "config": config,
            "dateCreated": "2024-05-01T10:00:00Z",
            "lastUpdated": "2024-05-01T10:01:00Z",
            "lastUsed": None,
            "deleted": None,
            "status": ce.status,
            "message": ce.message,
            "primary": None,
            "credentialsId": ce.credentials_id,
            "workspaceId": int(ce.workspace) if ce.workspace else None,
            "labels": None,
        }
        if not self.realistic:
            return _without_nulls(rendered)
        for key in ("computeJobRole", "headJobRole", "preRunScript", "postRunScript"):
            config.setdefault(key, None)
        if isinstance(forge, dict):
            for key in ("allowBuckets", "instanceTypes", "subnets", "securityGroups", "imageId"):
                forge[key] = forge.get(key) or None
        if ce.status == "AVAILABLE":
            config["forgedResources"] = self._forged_resources(ce)
        return rendered

    def _forged_resources(self, ce: ComputeEnv) -> list[dict[str, str]]:
        """What Forge made, as the real service lists it: one-key maps with string values."""
        name = f"{self.forge_prefix}-{ce.id}"
        arn = f"arn:aws:iam::{ACCOUNT}"
        batch = f"arn:aws:batch:eu-west-1:{ACCOUNT}"
        forged = [
            {"IamRole": f"{arn}:role/{name}-ServiceRole"},
            {"IamRole": f"{arn}:role/{name}-FleetRole"},
            {"IamInstanceProfile": f"{arn}:instance-profile/{name}-InstanceRole"},
            {"Ec2LaunchTemplate": name},
            {"BatchEnv": f"{batch}:compute-environment/{name}-head"},
            {"BatchQueue": f"{batch}:job-queue/{name}-head"},
        ]
        forge = ce.config.get("forge")
        if isinstance(forge, dict) and forge.get("fargateHeadEnabled"):
            forged.append({"IamRole": f"{arn}:role/{name}-FargateRole"})
        return forged

    # Credentials

    def _list_credentials(self, workspace: str | None) -> "Answer":
        """Entries without keys, as the real lists are."""
        entries = [
            self._render_credentials(c, keys=False) for c in self.live_credentials(workspace)
        ]
        return _ok({"credentials": entries})

    def _create_credentials(
        self, workspace: str | None, body: Any, query: dict[str, str]
    ) -> "Answer":
        spec = body.get("credentials") if isinstance(body, dict) else None
        if not isinstance(spec, dict):
            return _error(400, "Missing credentials")
        name = str(spec.get("name", ""))
        if not NAME_RULE.fullmatch(name):
            return _error(400, f"Invalid credentials name '{name}'")
        if any(c.name == name for c in self.live_credentials(workspace)):
            return _error(400, f"Credentials with name '{name}' already exist")
        keys = spec.get("keys")
        keys = dict(keys) if isinstance(keys, dict) else {}
        provider = str(spec.get("provider"))
        if provider == "aws" and keys.get("mode") == "role":
            if not str(keys.get("assumeRoleArn", "")).startswith("arn:"):
                return _error(400, "AWS credentials in role mode need an IAM role ARN")
            asked = query.get("useExternalId") == "true"
            if self.external_ids == "cloud" and asked:
                keys["externalId"] = self._new_external_id()
            elif self.external_ids != "unsupported":
                return _error(
                    400, "AWS credentials in role mode require a Platform-managed External ID"
                )
        credentials = Credentials(
            id=self._new_id(),
            workspace=workspace,
            name=name,
            description=spec.get("description"),
            provider=provider,
            keys={k: v for k, v in keys.items() if k != "secretKey"},
            assume_failures=self.assume_role_failures if keys.get("mode") == "role" else 0,
        )
        self.credentials[credentials.id] = credentials
        return _ok({"credentialsId": credentials.id})

    def _one_credentials(
        self, method: str, workspace: str | None, credentials_id: str, query: dict[str, str]
    ) -> "Answer":
        credentials = self.credentials.get(credentials_id)
        if credentials is None or credentials.workspace != workspace:
            return self._unknown("Credentials", credentials_id)
        if method == "GET":
            external_id = credentials.keys.get("externalId")
            snippet = self._setup_snippet(credentials) if external_id else None
            described: JsonObject = {
                "credentials": self._render_credentials(credentials, keys=True),
                "setupSnippet": snippet,
            }
            return _ok(described if self.realistic else _without_nulls(described))
        # A checked delete is refused (409, DeleteCredentialsConflictResponse) while anything
        # depends on the credentials: the compute environments that use them (not those
        # being deleted) and whatever else the test put in ``in_use_by``.
        conflicts = [
            {"id": ce.id, "name": ce.name, "type": "compute-env", "url": f"/compute-envs/{ce.id}"}
            for ce in self.live(workspace)
            if ce.credentials_id == credentials_id and ce.status != "DELETING"
        ] + copy.deepcopy(credentials.in_use_by)
        if query.get("checked") == "true" and conflicts:
            body = {"credentialsId": credentials_id, "conflicts": conflicts}
            return Answer(409, json.dumps(body).encode())
        del self.credentials[credentials_id]
        return Answer(204, b"")

    def _render_credentials(self, credentials: Credentials, *, keys: bool) -> JsonObject:
        rendered: JsonObject = {
            "id": credentials.id,
            "name": credentials.name,
            "description": credentials.description,
            "provider": credentials.provider,
            "baseUrl": None,
            "category": None,
            "deleted": None,
            "lastUsed": None,
            "dateCreated": "2024-05-01T09:00:00Z",
            "lastUpdated": "2024-05-01T09:00:00Z",
        }
        if keys:
            rendered["keys"] = copy.deepcopy(credentials.keys)
        return rendered if self.realistic else _without_nulls(rendered)

    def _setup_snippet(self, credentials: Credentials) -> str:
        """The trust policy Platform suggests for role credentials with an External ID."""
        principal = {"AWS": CLOUD_PRINCIPAL}
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": principal,
                    "Action": "sts:AssumeRole",
                    "Condition": {
                        "StringEquals": {"sts:ExternalId": credentials.keys["externalId"]}
                    },
                },
                {"Effect": "Allow", "Principal": principal, "Action": "sts:TagSession"},
            ],
        }
        return json.dumps(policy, indent=2)

    def _cannot_assume(self, credentials: Credentials) -> str:
        """Platform's answer when the role is not assumable (yet): AWS STS's refusal, relayed.
        The wording is the emulator's, after STS's AccessDenied message for AssumeRole."""
        role = credentials.keys.get("assumeRoleArn", "")
        request_id = "".join(self._random.choices("0123456789abcdef", k=8))
        return (
            f"Unable to assume role {role}: User: arn:aws:sts::161471496260:assumed-role/"
            f"SeqeraPlatformCloudAccessRole/seqera-platform is not authorized to perform: "
            f"sts:AssumeRole on resource: {role} (Service: Sts, Status Code: 403, "
            f"Request ID: {request_id})"
        )

    def _new_external_id(self) -> str:
        digits = "".join(self._random.choices("0123456789abcdef", k=32))
        return "-".join(digits[a:b] for a, b in ((0, 8), (8, 12), (12, 16), (16, 20), (20, 32)))

    # Data links

    def _list_data_links(self, workspace: str | None, query: dict[str, str]) -> "Answer":
        search = query.get("search", "").lower()
        found = [
            link
            for link in self.data_links.values()
            if link.workspace == workspace and search in link.name.lower()
        ]
        offset = int(query.get("offset", "0"))
        page = found[offset : offset + int(query.get("max", "50"))]
        return _ok(
            {"dataLinks": [self._render_link(link) for link in page], "totalSize": len(found)}
        )

    def _create_data_link(self, workspace: str | None, body: Any) -> "Answer":
        if not isinstance(body, dict) or not body.get("name") or not body.get("credentialsId"):
            return _error(400, "A data link needs a name and credentials")
        if not str(body.get("resourceRef", "")).startswith("s3://"):
            return _error(400, "Invalid resource reference")
        if any(
            link.name == body["name"] and link.workspace == workspace
            for link in self.data_links.values()
        ):
            return _error(400, f"A data link named '{body['name']}' already exists")
        link = DataLink(
            self._new_link_id(),
            workspace,
            body["name"],
            body.get("description"),
            body["resourceRef"],
            body["credentialsId"],
        )
        self.data_links[link.id] = link
        return _ok(self._render_link(link))

    def _delete_data_link(self, workspace: str | None, link_id: str) -> "Answer":
        link = self.data_links.get(link_id)
        if link is None or link.workspace != workspace:
            return _error(404, f"Data-link '{link_id}' not found")
        del self.data_links[link_id]
        return Answer(204, b"")

    def _render_link(self, link: DataLink) -> JsonObject:
        rendered: JsonObject = {
            "id": link.id,
            "name": link.name,
            "description": link.description,
            "resourceRef": link.resource_ref,
            "type": "bucket",
            "provider": "aws",
            "region": "eu-west-1",
            "credentials": [{"id": link.credentials_id, "name": "aws", "provider": "aws"}],
            "publicAccessible": False,
            "hidden": False,
            "status": None if self.realistic else "VALID",
            "message": None,
        }
        return rendered if self.realistic else _without_nulls(rendered)

    def _new_id(self) -> str:
        return "".join(self._random.choices(string.ascii_letters + string.digits, k=22))

    def _new_link_id(self) -> str:
        return "v1-user-" + "".join(self._random.choices("0123456789abcdef", k=32))


@dataclass
class Answer:
    """An HTTP answer; ``off_spec`` says why it is deliberately outside the spec."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    off_spec: str | None = None


class _RequestHandler(BaseHTTPRequestHandler):
    owner: PlatformEmulator

    def do_GET(self) -> None:
        self.owner.serve(self)

    do_POST = do_PUT = do_DELETE = do_GET  # noqa: N815

    def send(self, answer: Answer) -> None:
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        if answer.body:
            self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read ``requests`` instead."""


def _fault_answer(fault: Fault, location: str) -> Answer:
    """The answer for an injected status: 429 in Platform's error shape; 5xx as a gateway's
    HTML page; 3xx pointing at ``location``; 202 as data links that are still loading;
    "html" as a web page where the API should be; others without a body."""
    why = "injected fault"
    if fault.kind == "html":
        page = b"<!doctype html><html><body>Seqera</body></html>"
        return Answer(200, page, content_type="text/html", off_spec=why)
    status = int(fault.kind)
    headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
    if status == 429:
        body = json.dumps({"message": "Too many requests"}).encode()
        return Answer(status, body, headers, off_spec=why)
    if status >= 500:
        html = f"<html><body><h1>{status} {HTTPStatus(status).phrase}</h1></body></html>"
        return Answer(status, html.encode(), headers, "text/html", off_spec=why)
    if 300 <= status < 400:
        return Answer(status, b"", {"Location": location}, off_spec=why)
    if status == 202:
        return Answer(status, json.dumps({"dataLinks": [], "totalSize": 0}).encode())
    return Answer(status, b"", headers, off_spec=why)


def _reset(handler: BaseHTTPRequestHandler) -> None:
    """Drop the connection with a TCP reset instead of answering."""
    handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    handler.close_connection = True
    handler.connection.close()


def _ok(body: JsonObject) -> Answer:
    return Answer(200, json.dumps(body).encode())


def _error(status: int, message: str, off_spec: str | None = None) -> Answer:
    return Answer(status, json.dumps({"message": message}).encode(), off_spec=off_spec)


def _json_or_raw(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _without_nulls(obj: JsonObject) -> JsonObject:
    """``obj`` with every null-valued field left out, at any depth, as the spec wants it."""
    return {key: _strip_nulls(value) for key, value in obj.items() if value is not None}


def _strip_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return _without_nulls(value)
    if isinstance(value, list):
        return [_strip_nulls(item) for item in value]
    return value
