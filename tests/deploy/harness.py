"""The parts of the deploy rehearsal: the AWS emulator, a trap for outside connections, the
pinned CDK CLI with a throwaway AWS configuration, the cloud assembly, and boto3 clients that
act in one emulated account.

Everything is bounded: the emulator must answer within EMULATOR_START_TIMEOUT, each CLI run
within CLI_TIMEOUT, each AWS call within the botocore timeouts below.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import socketserver
import subprocess
import threading
import time
import urllib.request
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config

from tests.conftest import PROJECT_ROOT

CDK_CLI = PROJECT_ROOT / "node_modules" / ".bin" / "cdk"
MOTO_SERVER = PROJECT_ROOT / ".venv" / "bin" / "moto_server"
EMULATOR_START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
CLI_TIMEOUT = 240.0
OUTPUT_TAIL_LINES = 40
DUMMY_KEY = "testing"
BOOTSTRAP_STACK = "CDKToolkit"
BOTO_CONFIG = Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 2})
_PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "ALL_PROXY")


def _tail(text: str, lines: int = OUTPUT_TAIL_LINES) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def running_emulator(log: Path) -> Iterator[str]:
    """Run ``moto_server`` on 127.0.0.1 until the block ends; yield its endpoint URL."""
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with log.open("wb") as output:
        server = subprocess.Popen(
            [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + EMULATOR_START_TIMEOUT
        while True:
            if server.poll() is not None:
                raise AssertionError(
                    f"moto_server exited with {server.returncode}:\n{_tail(log.read_text())}"
                )
            try:
                with no_proxy.open(f"{endpoint}/moto-api/", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"moto_server did not answer on {endpoint} within "
                        f"{EMULATOR_START_TIMEOUT:.0f} s:\n{_tail(log.read_text())}"
                    ) from None
                time.sleep(0.2)
        yield endpoint
    finally:
        server.terminate()
        try:
            server.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(STOP_TIMEOUT)


class OutsideTrap:
    """A local HTTP(S) proxy that forwards nothing and remembers each request line it got.

    Pointing the proxy variables here (with 127.0.0.1 and localhost exempt) makes any outside
    connection of a proxy-aware client, as the CLI's AWS SDK, notices and telemetry clients
    are, land here instead of on the network.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[str] = []
        trap = self

        class Handler(socketserver.StreamRequestHandler):
            timeout = 5

            def handle(self) -> None:
                try:
                    line = self.rfile.readline(1024).decode("latin-1").strip()
                except OSError:
                    line = "(no request line)"
                with trap._lock:
                    trap._requests.append(line)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def requests(self) -> list[str]:
        with self._lock:
            return list(self._requests)

    @contextmanager
    def serving(self) -> Iterator[OutsideTrap]:
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join(STOP_TIMEOUT)


def profile_name(account: str) -> str:
    """The throwaway AWS profile that acts in ``account``."""
    return f"account-{account}"


def write_aws_files(directory: Path, accounts: list[str], region: str) -> dict[str, str]:
    """Dummy keys and one profile per account; the variables that point the SDKs at them.

    Each profile assumes ``arn:aws:iam::<account>:role/any`` from the default profile: the
    emulator answers AssumeRole with credentials of the account named in the role ARN.
    """
    credentials = directory / "credentials"
    credentials.write_text(
        f"[default]\naws_access_key_id = {DUMMY_KEY}\naws_secret_access_key = {DUMMY_KEY}\n"
    )
    config = directory / "config"
    config.write_text(
        f"[default]\nregion = {region}\n"
        + "".join(
            f"\n[profile {profile_name(account)}]\nregion = {region}\n"
            f"role_arn = arn:aws:iam::{account}:role/any\nsource_profile = default\n"
            for account in accounts
        )
    )
    return {"AWS_CONFIG_FILE": str(config), "AWS_SHARED_CREDENTIALS_FILE": str(credentials)}


@dataclass(frozen=True)
class Cdk:
    """The pinned CDK CLI, run in the project with only the emulator and the trap to talk to."""

    env: Mapping[str, str]
    trap: OutsideTrap

    @classmethod
    def for_emulator(
        cls, endpoint: str, aws_files: Mapping[str, str], home: Path, trap: OutsideTrap
    ) -> Cdk:
        inherited = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("AWS_", "CDK_")) and name.upper() not in _PROXY_VARIABLES
        }
        proxies = {name: trap.url for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY")}
        proxies["NO_PROXY"] = "127.0.0.1,localhost"
        # The emulator finds a template's bucket in the URL path only for "localhost".
        template_endpoint = f"http://localhost:{urlsplit(endpoint).port}"
        return cls(
            env={
                **inherited,
                **aws_files,
                **proxies,
                **{name.lower(): value for name, value in proxies.items()},
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_ENDPOINT_URL_S3_FOR_CLOUDFORMATION": template_endpoint,
                "AWS_EC2_METADATA_DISABLED": "true",
                "CDK_DISABLE_CLI_TELEMETRY": "true",
                "CDK_DISABLE_VERSION_CHECK": "true",
                "CDK_HOME": str(home),
                "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
            },
            trap=trap,
        )

    def __call__(self, *args: str, timeout: float = CLI_TIMEOUT) -> str:
        """Run ``cdk ARGS``; return its output, or fail with the tail of that output.

        stderr and stdout are read as one stream: the CLI logs to stdout instead of stderr
        when the CI variable is set.
        """
        shown = "cdk " + " ".join(args)
        cli = subprocess.Popen(
            [str(CDK_CLI), *args, "--no-notices", "--no-color"],
            cwd=PROJECT_ROOT,
            env=dict(self.env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            output, _ = cli.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(cli.pid, signal.SIGKILL)
            output, _ = cli.communicate()
            raise AssertionError(
                f"{shown} did not finish within {timeout:.0f} s; output tail:\n{_tail(output)}"
            ) from None
        assert cli.returncode == 0, (
            f"{shown} exited with {cli.returncode}; output tail:\n{_tail(output)}"
        )
        assert not self.trap.requests, (
            f"{shown} tried to leave the machine: {self.trap.requests}; "
            f"output tail:\n{_tail(output)}"
        )
        return output


@dataclass(frozen=True)
class StackArtifact:
    """One stack of the cloud assembly: where it deploys and what its template holds."""

    name: str
    account: str
    region: str
    template_file: str
    template: Mapping[str, Any]

    @property
    def resources(self) -> Mapping[str, Mapping[str, Any]]:
        resources: Mapping[str, Mapping[str, Any]] = self.template["Resources"]
        return resources

    def of_type(self, resource_type: str) -> dict[str, Mapping[str, Any]]:
        """The resources of one type, by logical id."""
        return {
            logical_id: resource
            for logical_id, resource in self.resources.items()
            if resource["Type"] == resource_type
        }


@dataclass(frozen=True)
class FileAsset:
    """One destination of one file asset: the source, and the object it must become."""

    source: Path
    packaging: str
    account: str
    bucket: str
    key: str


def assembly_stacks(assembly: Path) -> list[StackArtifact]:
    """The stacks of a cloud assembly directory, in manifest order."""
    manifest = json.loads((assembly / "manifest.json").read_text())
    stacks = []
    for artifact in manifest["artifacts"].values():
        if artifact["type"] == "aws:cloudformation:stack":
            _, _, account, region = artifact["environment"].split("/")
            template_file = artifact["properties"]["templateFile"]
            stacks.append(
                StackArtifact(
                    artifact["properties"]["stackName"],
                    account,
                    region,
                    template_file,
                    json.loads((assembly / template_file).read_text()),
                )
            )
    return stacks


def files_of_directory(directory: Path) -> dict[str, bytes]:
    """The bytes of each file under ``directory``, by path relative to it."""
    return {
        path.relative_to(directory).as_posix(): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def files_of_zip(archive: bytes) -> dict[str, bytes]:
    """The bytes of each file in a zip archive, by its path in the archive."""
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        return {info.filename: opened.read(info) for info in opened.infolist() if not info.is_dir()}


def _account_of(role_arn: str) -> str:
    """The account of a role ARN that may still hold CDK placeholders such as the partition."""
    found = re.search(r":iam::(\d{12}):role/", role_arn)
    assert found, f"no account in asset publishing role {role_arn}"
    return found.group(1)


def assembly_file_assets(assembly: Path) -> list[FileAsset]:
    """Every destination of every file asset (templates, Lambda code) of a cloud assembly."""
    manifest = json.loads((assembly / "manifest.json").read_text())
    assets = []
    for artifact in manifest["artifacts"].values():
        if artifact["type"] != "cdk:asset-manifest":
            continue
        files = json.loads((assembly / artifact["properties"]["file"]).read_text())["files"]
        for asset in files.values():
            for destination in asset["destinations"].values():
                assets.append(
                    FileAsset(
                        source=assembly / asset["source"]["path"],
                        packaging=asset["source"].get("packaging", "file"),
                        account=_account_of(destination["assumeRoleArn"]),
                        bucket=destination["bucketName"],
                        key=destination["objectKey"],
                    )
                )
    return assets


@dataclass(frozen=True)
class StackResource:
    """One resource of a deployed stack as CloudFormation reports it."""

    type: str
    physical_id: str
    status: str


class Accounts:
    """boto3 clients against the emulator, each acting in one account through AssumeRole."""

    def __init__(self, endpoint: str, region: str) -> None:
        self.endpoint = endpoint
        self.region = region
        self._credentials: dict[str, dict[str, str]] = {}
        self._clients: dict[tuple[str, str], Any] = {}

    def _sts(self) -> Any:
        return boto3.client(
            "sts",
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=DUMMY_KEY,
            aws_secret_access_key=DUMMY_KEY,
            config=BOTO_CONFIG,
        )

    def default_account(self) -> str:
        """The account the emulator gives to plain dummy keys."""
        account: str = self._sts().get_caller_identity()["Account"]
        return account

    def client(self, service: str, account: str) -> Any:
        """A client of ``service`` acting in ``account``, made once and reused."""
        if account not in self._credentials:
            self._credentials[account] = self._sts().assume_role(
                RoleArn=f"arn:aws:iam::{account}:role/any", RoleSessionName="deploy-rehearsal"
            )["Credentials"]
        if (service, account) not in self._clients:
            credentials = self._credentials[account]
            self._clients[service, account] = boto3.client(
                service,
                endpoint_url=self.endpoint,
                region_name=self.region,
                aws_access_key_id=credentials["AccessKeyId"],
                aws_secret_access_key=credentials["SecretAccessKey"],
                aws_session_token=credentials["SessionToken"],
                config=BOTO_CONFIG,
            )
        return self._clients[service, account]

    def object_bytes(self, account: str, bucket: str, key: str) -> bytes:
        """The content of an S3 object, read as ``account``."""
        body: bytes = self.client("s3", account).get_object(Bucket=bucket, Key=key)["Body"].read()
        return body

    def stack_statuses(self, account: str) -> dict[str, str]:
        """The status of each live stack in ``account``, by name, bootstrap stack aside."""
        stacks = self.client("cloudformation", account).describe_stacks()["Stacks"]
        return {
            s["StackName"]: s["StackStatus"] for s in stacks if s["StackName"] != BOOTSTRAP_STACK
        }

    def deleted_stacks(self, account: str) -> set[str]:
        """The names of the stacks deleted in ``account``."""
        summaries = self.client("cloudformation", account).list_stacks(
            StackStatusFilter=["DELETE_COMPLETE"]
        )["StackSummaries"]
        return {summary["StackName"] for summary in summaries}

    def stack_resources(self, account: str, stack: str) -> dict[str, StackResource]:
        """What the emulator made of each resource of a stack, by logical id.

        Resources the emulator skipped show up without a logical id and are left out.
        """
        summaries = self.client("cloudformation", account).list_stack_resources(StackName=stack)[
            "StackResourceSummaries"
        ]
        return {
            summary["LogicalResourceId"]: StackResource(
                summary["ResourceType"], summary["PhysicalResourceId"], summary["ResourceStatus"]
            )
            for summary in summaries
            if summary["LogicalResourceId"]
        }

    def listed(self, resource_type: str, account: str) -> set[str]:
        """The physical ids of ``resource_type`` that ``account``'s own listing shows."""
        if resource_type == "AWS::IAM::ManagedPolicy":
            policies = self.client("iam", account).list_policies(Scope="Local")["Policies"]
            return {policy["Arn"] for policy in policies}
        if resource_type == "AWS::S3::Bucket":
            return {
                bucket["Name"] for bucket in self.client("s3", account).list_buckets()["Buckets"]
            }
        if resource_type == "AWS::KMS::Key":
            return {key["KeyId"] for key in self.client("kms", account).list_keys()["Keys"]}
        if resource_type == "AWS::KMS::Alias":
            aliases = self.client("kms", account).list_aliases()["Aliases"]
            return {alias["AliasName"] for alias in aliases}
        if resource_type == "AWS::IAM::Role":
            return {role["RoleName"] for role in self.client("iam", account).list_roles()["Roles"]}
        if resource_type == "AWS::IAM::Policy":
            iam = self.client("iam", account)
            return {
                policy
                for role in self.listed("AWS::IAM::Role", account)
                for policy in iam.list_role_policies(RoleName=role)["PolicyNames"]
            }
        if resource_type == "AWS::Logs::LogGroup":
            groups = self.client("logs", account).describe_log_groups()["logGroups"]
            return {group["logGroupName"] for group in groups}
        if resource_type == "AWS::Lambda::Function":
            functions = self.client("lambda", account).list_functions()["Functions"]
            return {function["FunctionName"] for function in functions}
        if resource_type == "AWS::StepFunctions::StateMachine":
            machines = self.client("stepfunctions", account).list_state_machines()["stateMachines"]
            return {machine["stateMachineArn"] for machine in machines}
        raise AssertionError(f"no read-back for {resource_type}: add one to Accounts.listed")
