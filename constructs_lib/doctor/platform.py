"""Seqera Platform read live and compared with the plan: the compute environment the
construct makes exists, is AVAILABLE, allows every granted bucket, and uses the credentials
expected; the credentials role the construct makes trusts Platform as the plan says.

The client is the one the custom resource's Lambda uses (``seqera/asset/client.py``,
standard library only): it retries what Platform asks to be retried and blanks the token out
of every message. The token is read from Secrets Manager in the first compute account and
goes nowhere else.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from constructs_lib.doctor.aws import AccountAccess, ReadError, call
from constructs_lib.doctor.compare import policy_findings
from constructs_lib.doctor.findings import Finding, Result
from constructs_lib.plan import AccessPlan, PlatformPlan

if TYPE_CHECKING:
    import client as platform_api
    import shared as asset_shared
else:
    # The Lambda asset is a plain directory, which Python imports as a namespace package.
    platform_api = importlib.import_module("constructs_lib.seqera.asset.client")
    asset_shared = importlib.import_module("constructs_lib.seqera.asset.shared")

PLATFORM_SUBJECT = "Seqera Platform"
# How long Platform's answers (and its retries) may take in all.
DEADLINE_SECONDS = 60.0


@dataclass(frozen=True)
class LiveComputeEnv:
    """A compute environment of the construct as Platform describes it."""

    id: str
    name: str
    allow_buckets: frozenset[str]


def api_url_problem(url: str) -> str | None:
    """Why ``url`` may not carry the token (None when it may): https, or http to this
    machine only (an emulator)."""
    parts = urlsplit(url)
    if parts.hostname and (
        parts.scheme == "https"
        or (parts.scheme == "http" and parts.hostname in asset_shared.LOOPBACK_HOSTS)
    ):
        return None
    return f"the Platform API URL must be https (or http on this machine), got {url!r}"


def check_platform(
    plan: AccessPlan, access: AccountAccess, token_secret: str, api_url: str
) -> tuple[list[Finding], list[LiveComputeEnv]]:
    """Platform's checks, and the construct's live compute environments."""
    platform = plan.platform
    assert platform is not None
    try:
        token = _token(access, token_secret)
    except ReadError as error:
        why = f"the token secret {token_secret} could not be read in {access.role}: {error.reason}"
        return [Finding(PLATFORM_SUBJECT, "access token", Result.NOT_CHECKED, why)], []
    client = platform_api.PlatformClient(
        api_url, token, platform.settings.workspace_id, time.monotonic() + DEADLINE_SECONDS
    )
    doctor = _PlatformDoctor(plan, platform, access, client)
    try:
        live = doctor.compute_envs()
    except platform_api.PlatformError as error:
        return [
            Finding(PLATFORM_SUBJECT, "compute environment", Result.NOT_CHECKED, str(error))
        ], []
    for compute_env in live:
        doctor.credentials(compute_env)
    return doctor.findings, [_live(compute_env) for compute_env in live]


def check_allowed_buckets(
    plan: AccessPlan, bucket: str, subject: str, live: list[LiveComputeEnv]
) -> list[Finding]:
    """Each live compute environment allows every path the plan grants in ``bucket``."""
    assert plan.platform is not None
    paths = [
        path
        for path in plan.platform.compute_env["config"]["forge"]["allowBuckets"]
        if path == f"s3://{bucket}" or path.startswith(f"s3://{bucket}/")
    ]
    findings = []
    for compute_env in live:
        missing = [path for path in paths if path not in compute_env.allow_buckets]
        if not missing:
            why = f"{compute_env.name} allows {', '.join(paths)}"
            findings.append(Finding(subject, "Platform allowed buckets", Result.OK, why))
            continue
        findings.append(
            Finding(
                subject,
                "Platform allowed buckets",
                Result.BLOCKS,
                f"{compute_env.name} ({compute_env.id}) does not allow {', '.join(missing)}: "
                "its pipelines may not use it, and Batch Forge grants its roles only the "
                "allowed buckets",
                "allowed buckets cannot change in place: deploy the compute stack "
                f"{plan.computes[0].stack_name} again, which replaces the environment with one "
                "that allows every grant",
            )
        )
    return findings


class _PlatformDoctor:
    """The Platform checks of one plan."""

    def __init__(
        self,
        plan: AccessPlan,
        platform: PlatformPlan,
        access: AccountAccess,
        client: platform_api.PlatformClient,
    ) -> None:
        self.plan = plan
        self.platform = platform
        self.access = access
        self.client = client
        self.redeploy = f"deploy the compute stack {plan.computes[0].stack_name} again"
        self.findings: list[Finding] = []

    def add(
        self, check: str, result: Result, why: str, fix: str = "", sid: str | None = None
    ) -> None:
        self.findings.append(Finding(PLATFORM_SUBJECT, check, result, why, fix, sid))

    def compute_envs(self) -> list[dict[str, Any]]:
        """The construct's compute environments (named ``<name>-<hash>``), described."""
        base = self.platform.settings.name
        entries = [
            entry
            for entry in self.client.list_compute_envs()
            if str(entry.get("name", "")).startswith(f"{base}-")
            and entry.get("status") not in asset_shared.GOING
        ]
        if not entries:
            self.add(
                "compute environment",
                Result.BLOCKS,
                f"no compute environment named {base}-... in {self.client.workspace_label}",
                f"{self.redeploy}: it creates the compute environment",
            )
            return []
        described = [self.client.describe_compute_env(str(entry["id"])) for entry in entries]
        for compute_env in described:
            status = compute_env.get("status")
            label = f"{compute_env.get('name')} ({compute_env.get('id')})"
            if status == "AVAILABLE":
                self.add("compute environment", Result.OK, f"{label} is AVAILABLE")
                continue
            self.add(
                "compute environment",
                Result.BLOCKS,
                f"{label} is {status}: {compute_env.get('message') or 'Platform gave no message'}",
                "read Platform's message (usually the credentials' IAM permissions in the "
                f"compute account); {self.redeploy} to replace the environment",
            )
        return described

    def credentials(self, compute_env: dict[str, Any]) -> None:
        """The environment uses the credentials expected, whose role trusts Platform."""
        label = str(compute_env.get("name"))
        credentials_id = compute_env.get("credentialsId")
        given = self.platform.settings.credentials_id
        if given is not None:
            if credentials_id == given:
                self.add("credentials", Result.OK, f"{label} uses credentials {given}, as set")
            else:
                self.add(
                    "credentials",
                    Result.DRIFTED,
                    f"{label} uses credentials {credentials_id}; the settings name {given}",
                    self.redeploy,
                )
            return
        planned = self.platform.credentials
        assert planned is not None
        try:
            keys = self.client.describe_credentials(str(credentials_id)).get("keys") or {}
        except platform_api.PlatformError as error:
            self.add("credentials", Result.NOT_CHECKED, str(error))
            return
        role = keys.get("assumeRoleArn")
        if role != planned.role_arn:
            self.add(
                "credentials",
                Result.DRIFTED,
                f"{label} uses credentials {credentials_id} for role {role}; the construct's "
                f"role is {planned.role_arn}",
                self.redeploy,
            )
            return
        self.add("credentials", Result.OK, f"{label} uses credentials {credentials_id} for {role}")
        external_id = keys.get("externalId")
        if isinstance(external_id, str):
            self.trust_policy(planned.role_name, planned.trust_policy(external_id))

    def trust_policy(self, role_name: str, planned: dict[str, Any]) -> None:
        """The credentials role lets Platform assume it with the credentials' External ID."""
        check = "credentials role trust policy"
        try:
            live = self.access.read("iam", "get_role", RoleName=role_name)["Role"][
                "AssumeRolePolicyDocument"
            ]
        except ReadError as error:
            if error.code != "NoSuchEntity":
                self.add(check, Result.NOT_CHECKED, error.reason)
            return
        self.findings += policy_findings(
            PLATFORM_SUBJECT,
            check,
            planned["Statement"],
            live,
            self.plan.settings.partition,
            extras="risky",
            owner_account=self.access.account,
            fix=lambda _: self.redeploy,
            holds=f"{role_name} trusts Platform with the credentials' External ID",
        )


def _token(access: AccountAccess, secret: str) -> str:
    """The access token, the secret's SecretString; it is never printed or logged, nor kept
    with the access's other reads."""
    answer = call(access.client("secretsmanager"), "get_secret_value", SecretId=secret)
    token = answer.get("SecretString")
    if not isinstance(token, str) or not token.strip():
        raise ReadError("it has no SecretString: store the access token as its plain-text value")
    return token.strip()


def _live(compute_env: dict[str, Any]) -> LiveComputeEnv:
    config = compute_env.get("config")
    forge = config.get("forge") if isinstance(config, dict) else None
    allowed = forge.get("allowBuckets") if isinstance(forge, dict) else None
    return LiveComputeEnv(
        id=str(compute_env.get("id")),
        name=str(compute_env.get("name")),
        allow_buckets=frozenset(allowed if isinstance(allowed, list) else ()),
    )
