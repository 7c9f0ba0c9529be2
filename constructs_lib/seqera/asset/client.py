"""A small Seqera Platform (Tower) API client for the compute-environment and credentials
custom resources.

Standard library only, so the Lambda asset needs no packages. Requests follow the Seqera
OpenAPI spec; answers are read tolerantly, because the real service sends explicit nulls and
shapes the spec does not declare. Transient failures are retried until a deadline that the
handler derives from the Lambda's remaining time, so a retry never outlives the invocation.
"""

import http.client
import json
import logging
import random
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

JsonObject = dict[str, Any]

LOGGER = logging.getLogger("seqera.platform.client")

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
DATA_LINK_PAGE_SIZE = 100
USER_AGENT = "constructs-lib-platform-handler"


class PlatformError(Exception):
    """Platform refused a request, or could not be reached; carries the HTTP status and the
    message Platform gave, so callers can react to both."""

    def __init__(
        self,
        text: str,
        *,
        status: int | None = None,
        platform_message: str | None = None,
        answer: Any = None,
    ) -> None:
        super().__init__(text)
        self.status = status
        self.platform_message = platform_message
        # The parsed JSON body of the error answer (token blanked out), for bodies that say
        # more than a message, such as the conflicts of a refused credentials delete.
        self.answer = answer


class NotFoundError(PlatformError):
    """HTTP 404: Platform does not know the object."""


class AuthError(PlatformError):
    """HTTP 401 or 403: the token is wrong, or lacks permission in the workspace."""


class ConflictError(PlatformError):
    """HTTP 409: a name is taken, or something still uses the compute environment or the
    credentials."""


class DeadlineError(PlatformError):
    """Retries stopped because the next attempt would end after the deadline."""


@dataclass(frozen=True)
class Pacing:
    """How the client tells time and waits between retries; tests swap in a virtual clock."""

    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[float, float], float] = random.uniform


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """Report a redirect as an error instead of following it: urllib would send the bearer
    token on to wherever the redirect points."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class PlatformClient:
    """Calls the Seqera Platform API with a bearer token, in one workspace (or the personal
    one), retrying 429/502/503/504 and connection failures with exponential backoff and full
    jitter until ``deadline`` (a value of ``pacing.clock``)."""

    def __init__(
        self,
        api_url: str,
        token: str,
        workspace_id: str | None,
        deadline: float,
        *,
        pacing: Pacing | None = None,
        request_timeout: float = 30.0,
        base_delay: float = 1.0,
        max_delay: float = 20.0,
    ) -> None:
        self._base_url = api_url.rstrip("/")
        self._token = token
        self.workspace_id = workspace_id or None
        self.deadline = deadline
        self._pacing = pacing or Pacing()
        self._request_timeout = request_timeout
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._opener = urllib.request.build_opener(_RefuseRedirects())

    def __repr__(self) -> str:
        return f"PlatformClient(api_url={self._base_url!r}, workspace_id={self.workspace_id!r})"

    @property
    def workspace_label(self) -> str:
        """The workspace in words, for messages."""
        if self.workspace_id:
            return f"workspace {self.workspace_id}"
        return "the personal workspace (no WorkspaceId)"

    # Compute environments

    def validate_compute_env_name(self, name: str) -> None:
        """Raise unless ``name`` is a valid, free compute-environment name (409 = taken)."""
        self._call("GET", "/compute-envs/validate", query={"name": name})

    def list_compute_envs(self) -> list[JsonObject]:
        """Every compute environment of the workspace, as Platform lists them."""
        return _objects(_field(self._call("GET", "/compute-envs"), "computeEnvs"))

    def describe_compute_env(self, compute_env_id: str) -> JsonObject:
        """The ``computeEnv`` object of one compute environment."""
        answer = self._call("GET", f"/compute-envs/{_quote(compute_env_id)}")
        compute_env = _field(answer, "computeEnv")
        if not isinstance(compute_env, dict):
            raise PlatformError(
                f"Seqera Platform described compute environment {compute_env_id} without a "
                "computeEnv object"
            )
        return compute_env

    def create_compute_env(self, compute_env: Mapping[str, Any]) -> str:
        """Create a compute environment from a full ``computeEnv`` object; returns its id."""
        answer = self._call("POST", "/compute-envs", body={"computeEnv": dict(compute_env)})
        compute_env_id = _field(answer, "computeEnvId")
        if not isinstance(compute_env_id, str) or not compute_env_id:
            raise PlatformError("Seqera Platform created a compute environment but sent no id")
        return compute_env_id

    def update_compute_env(self, compute_env_id: str, *, name: str, description: str) -> None:
        """Rename a compute environment or change its description (all PUT can change)."""
        self._call(
            "PUT",
            f"/compute-envs/{_quote(compute_env_id)}",
            body={"name": name, "description": description},
        )

    def delete_compute_env(self, compute_env_id: str) -> None:
        """Ask Platform to delete a compute environment (it then goes DELETING)."""
        self._call("DELETE", f"/compute-envs/{_quote(compute_env_id)}")

    # Credentials

    def list_credentials(self) -> list[JsonObject]:
        """Every credentials entry of the workspace, as Platform lists them (without keys)."""
        return _objects(_field(self._call("GET", "/credentials"), "credentials"))

    def describe_credentials(self, credentials_id: str) -> JsonObject:
        """The ``credentials`` object of one credentials entry, keys included."""
        answer = self._call("GET", f"/credentials/{_quote(credentials_id)}")
        credentials = _field(answer, "credentials")
        if not isinstance(credentials, dict):
            raise PlatformError(
                f"Seqera Platform described credentials {credentials_id} without a "
                "credentials object"
            )
        return credentials

    def create_credentials(self, credentials: Mapping[str, Any], *, use_external_id: bool) -> str:
        """Create credentials from a full ``credentials`` object; returns their id. With
        ``use_external_id`` Platform generates an External ID for role credentials."""
        query = {"useExternalId": "true"} if use_external_id else {}
        answer = self._call(
            "POST", "/credentials", query=query, body={"credentials": dict(credentials)}
        )
        credentials_id = _field(answer, "credentialsId")
        if not isinstance(credentials_id, str) or not credentials_id:
            raise PlatformError("Seqera Platform created credentials but sent no id")
        return credentials_id

    def delete_credentials(self, credentials_id: str, *, checked: bool) -> None:
        """Delete credentials. With ``checked`` Platform refuses (409, naming the conflicts)
        while something depends on them."""
        query = {"checked": "true"} if checked else {}
        self._call("DELETE", f"/credentials/{_quote(credentials_id)}", query=query)

    # Data links

    def list_data_links(self, search: str | None = None) -> list[JsonObject]:
        """All data links of the workspace whose name matches ``search``, every page."""
        links: list[JsonObject] = []
        offset = 0
        while True:
            query = {"max": str(DATA_LINK_PAGE_SIZE), "offset": str(offset)}
            if search:
                query["search"] = search
            answer = self._call("GET", "/data-links", query=query, retry_accepted=True)
            page = _objects(_field(answer, "dataLinks"))
            links += page
            offset += len(page)
            total = _field(answer, "totalSize")
            if len(page) < DATA_LINK_PAGE_SIZE or (isinstance(total, int) and offset >= total):
                return links

    def create_data_link(
        self, *, name: str, resource_ref: str, description: str, credentials_id: str
    ) -> JsonObject:
        """Register an S3 bucket (or prefix) as a Data Explorer data link; returns the link."""
        body: JsonObject = {
            "name": name,
            "type": "bucket",
            "provider": "aws",
            "resourceRef": resource_ref,
            "publicAccessible": False,
            "credentialsId": credentials_id,
        }
        if description:
            body["description"] = description
        answer = self._call("POST", "/data-links", body=body)
        wrapped = _field(answer, "dataLink")
        link = wrapped if isinstance(wrapped, dict) else answer
        if not isinstance(link, dict) or not isinstance(link.get("id"), str):
            raise PlatformError(f"Seqera Platform created data link {name!r} but sent no id")
        return link

    def delete_data_link(self, data_link_id: str) -> None:
        """Remove a data link (the bucket itself is untouched)."""
        self._call("DELETE", f"/data-links/{_quote(data_link_id)}")

    # Transport

    def _call(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: JsonObject | None = None,
        retry_accepted: bool = False,
    ) -> Any:
        """One API call with retries; returns the parsed JSON answer, or None when empty.

        ``retry_accepted`` treats 202 as "not ready yet" (data-link listing answers 202 while
        Platform is still loading the links).
        """
        params = dict(query or {})
        if self.workspace_id:
            params["workspaceId"] = self.workspace_id
        url = self._base_url + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        data = None if body is None else json.dumps(body).encode("utf-8")
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        if data is not None:
            headers["Content-Type"] = "application/json"
        what = f"{method} {path}"
        attempt = 0
        while True:
            attempt += 1
            remaining = self.deadline - self._pacing.clock()
            if remaining <= 0:
                raise DeadlineError(f"No time left to call Seqera Platform ({what})")
            request = urllib.request.Request(url, data=data, headers=headers, method=method)
            retry_after: float | None = None
            try:
                with self._opener.open(
                    request, timeout=min(self._request_timeout, remaining)
                ) as response:
                    status = response.status
                    raw = response.read()
                if not (retry_accepted and status == 202):
                    return self._parse(raw, what)
                failure = "HTTP 202, Platform is still loading"
            except urllib.error.HTTPError as err:
                raw = _read_error_body(err)
                retry_after = _seconds(err.headers.get("Retry-After"))
                err.close()
                if err.code not in RETRYABLE_STATUSES:
                    raise self._error(err.code, raw, what) from None
                failure = f"HTTP {err.code}"
            except urllib.error.URLError as err:
                if isinstance(err.reason, ssl.SSLCertVerificationError):
                    raise PlatformError(
                        f"TLS certificate check failed for {self._base_url} ({what}): {err.reason}"
                    ) from None
                failure = f"connection failed: {err.reason}"
            except (OSError, http.client.HTTPException) as err:
                failure = f"connection failed: {type(err).__name__}: {err}"
            wait = retry_after
            if wait is None:
                ceiling = min(self._max_delay, self._base_delay * 2 ** (attempt - 1))
                wait = self._pacing.jitter(0.0, ceiling)
            if self._pacing.clock() + wait >= self.deadline:
                raise DeadlineError(
                    f"Gave up on {what} at {self._base_url} after {attempt} attempt(s): "
                    f"{self._redact(failure)}. Waiting {wait:.1f} s more would pass the "
                    "handler's deadline (the Lambda's remaining time, less a margin); "
                    "CloudFormation reports this as a failure, and a later attempt can "
                    "pick up where this one stopped."
                )
            LOGGER.warning("%s: %s; retry %d in %.1f s", what, failure, attempt, wait)
            self._pacing.sleep(wait)

    def _parse(self, raw: bytes, what: str) -> Any:
        """The JSON of a successful answer, or None for an empty one."""
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise PlatformError(
                f"Seqera Platform answered {what} with a body that is not JSON. Is ApiUrl "
                f"({self._base_url}) the API endpoint, such as https://api.cloud.seqera.io "
                "or https://<host>/api?"
            ) from None

    def _error(self, status: int, raw: bytes, what: str) -> PlatformError:
        """The exception for an HTTP error that is not worth retrying."""
        answer = self._redact_all(_json_or_none(raw.decode("utf-8", errors="replace")))
        found = _field(answer, "message")
        message = found if isinstance(found, str) and found else None
        said = f": {message}" if message else ""
        if status == 401:
            return AuthError(
                f"Seqera Platform rejected the access token (HTTP 401) on {what}: the token "
                "stored in the secret is wrong, expired or revoked. Store a valid Seqera "
                "Platform access token as the secret's value.",
                status=status,
                platform_message=message,
            )
        if status == 403:
            return AuthError(
                f"Seqera Platform refused {what} (HTTP 403{said}): the access token lacks "
                f"permission in {self.workspace_label}, or the workspace id is wrong. Check "
                "WorkspaceId and that the token's user may manage compute environments and "
                "credentials there.",
                status=status,
                platform_message=message,
                answer=answer,
            )
        text = f"Seqera Platform answered HTTP {status} to {what}{said or ' (no message)'}"
        error_class = {404: NotFoundError, 409: ConflictError}.get(status, PlatformError)
        return error_class(text, status=status, platform_message=message, answer=answer)

    def _redact(self, text: str) -> str:
        """``text`` with the token blanked out, in case Platform echoes it back."""
        return text.replace(self._token, "***") if self._token else text

    def _redact_all(self, value: Any) -> Any:
        """A parsed JSON value with the token blanked out of every string in it."""
        if isinstance(value, str):
            return self._redact(value)
        if isinstance(value, list):
            return [self._redact_all(item) for item in value]
        if isinstance(value, dict):
            return {self._redact(str(k)): self._redact_all(v) for k, v in value.items()}
        return value


def unlisted_403(
    err: PlatformError, object_id: str, listing: Callable[[], list[JsonObject]]
) -> bool:
    """Whether ``err`` means that ``object_id`` does not exist. Platform answers 403 rather
    than 404 for ids it does not know, so a 403 counts as "gone" when the workspace's list
    (``listing``, read with the same token) does not have the id; otherwise the 403 stands."""
    return err.status == 403 and not any(entry.get("id") == object_id for entry in listing())


def _field(answer: Any, name: str) -> Any:
    """A field of a JSON object answer, or None whatever the answer's shape."""
    return answer.get(name) if isinstance(answer, dict) else None


def _objects(value: Any) -> list[JsonObject]:
    """The objects of a JSON list that may be null or hold nulls."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _json_or_none(text: str) -> Any:
    """An error body's JSON (Platform's is ``{"message": ...}``); None when it is not JSON."""
    try:
        return json.loads(text) if text.strip() else None
    except ValueError:
        return None


def _read_error_body(err: urllib.error.HTTPError) -> bytes:
    """The body of an error answer; empty when the connection broke while reading it."""
    try:
        return err.read()
    except (OSError, http.client.HTTPException):
        return b""


def _seconds(value: str | None) -> float | None:
    """A Retry-After value in seconds; None when absent or not a number of seconds."""
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and 0 <= seconds < 3600 else None


def _quote(identifier: str) -> str:
    """An id made safe to put in a URL path."""
    return urllib.parse.quote(identifier, safe="")
