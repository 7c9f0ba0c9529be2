"""Reading one AWS account: boto3 clients made from a profile, and AWS's errors as reasons.

Every call the doctor makes is a read. The endpoints come from the standard AWS settings
(``AWS_ENDPOINT_URL`` and the profile), so the same command runs against an emulator. An
error from AWS (no permission, an expired token, an endpoint that cannot be reached) becomes
``ReadError``, whose reason the report prints; a code such as ``NoSuchBucketPolicy`` tells
the checks that the thing is absent rather than unreadable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

# Short waits and few retries: a doctor that hangs helps no one.
READ_CONFIG = Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 3})
# AWS's messages are short; an answer from something else (a proxy's page) is cut here.
MESSAGE_LENGTH = 300
ACCESS_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})


class ReadError(Exception):
    """AWS refused or failed a read; ``code`` is AWS's error code when it gave one."""

    def __init__(self, reason: str, code: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code

    @property
    def denied(self) -> bool:
        """Whether the caller lacks permission for the read."""
        return self.code in ACCESS_DENIED_CODES


def call(client: Any, operation: str, **parameters: Any) -> Any:
    """One AWS call; ``ReadError`` instead of botocore's exceptions."""
    try:
        return getattr(client, operation)(**parameters)
    except ClientError as error:
        details = error.response.get("Error", {})
        code = str(details.get("Code") or "")
        message = " ".join(str(details.get("Message") or error).split())[:MESSAGE_LENGTH]
        raise ReadError(f"{code}: {message}" if code else message, code or None) from None
    except BotoCoreError as error:
        raise ReadError(str(error)) from None
    except ResponseParserError:
        raise ReadError("the endpoint answered with something that is not an AWS answer") from None


def pages(read: Callable[..., Any], *args: Any, **parameters: Any) -> Iterator[Any]:
    """Every page of a paged answer (``IsTruncated`` and ``Marker``), each asked as
    ``read(*args, **parameters)`` with the marker of the page before."""
    marker: dict[str, str] = {}
    while True:
        page = read(*args, **parameters, **marker)
        yield page
        if not page.get("IsTruncated"):
            return
        marker = {"Marker": page["Marker"]}


@dataclass
class AccountAccess:
    """boto3 clients acting in one account, as the profile (or default credentials) given for
    it, in the region of the session; one run's reads of the account, each asked once."""

    role: str
    """What the account is to the setup, for messages: "storage account 222222222222"."""
    account: str
    session: boto3.Session
    _clients: dict[tuple[str, Config], Any] = field(default_factory=dict, repr=False)
    _answers: dict[tuple[str, str, tuple[tuple[str, str], ...]], Any] = field(
        default_factory=dict, repr=False
    )

    @classmethod
    def open(cls, role: str, account: str, region: str, profile: str | None) -> AccountAccess:
        """Clients for ``account`` in ``region`` from ``profile``; botocore's ProfileNotFound
        when the profile is not configured."""
        return cls(role, account, boto3.Session(profile_name=profile, region_name=region))

    def client(self, service: str, config: Config = READ_CONFIG) -> Any:
        """A client of ``service`` with ``config``, made once, when first asked for."""
        if (service, config) not in self._clients:
            self._clients[service, config] = self.session.client(service, config=config)
        return self._clients[service, config]

    def read(self, service: str, operation: str, **parameters: str) -> Any:
        """``call`` of a read of the account, asked of AWS once: its answer, or its
        ``ReadError``, is kept for the life of this access (one run) and given to every
        check that asks again, to read and not to change."""
        key = (service, operation, tuple(sorted(parameters.items())))
        if key not in self._answers:
            try:
                self._answers[key] = call(self.client(service), operation, **parameters)
            except ReadError as error:
                self._answers[key] = error
        answer = self._answers[key]
        if isinstance(answer, ReadError):
            raise answer
        return answer

    def identity_problem(self) -> str | None:
        """Why the credentials cannot stand for this account, or None when they can."""
        try:
            found = self.read("sts", "get_caller_identity")["Account"]
        except ReadError as error:
            return f"its credentials could not be used: {error.reason}"
        if found != self.account:
            return (
                f"the credentials given for it act in account {found}; give the profile of "
                f"{self.account}"
            )
        return None
