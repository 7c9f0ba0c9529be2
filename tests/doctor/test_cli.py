"""``cdk-tower-doctor`` run as a user runs it: ``python -m constructs_lib.doctor`` in the app's
folder (its cdk.json), with AWS_ENDPOINT_URL and one profile per account pointing at the
emulator, and Platform's API at the Platform emulator."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import COMPUTE_ACCOUNT, STORAGE_ACCOUNT
from tests.deploy.harness import profile_name
from tests.doctor.deployment import DATA_BUCKET, REFERENCE_BUCKET, RESULTS_BUCKET, TOKEN, Deployed

pytestmark = pytest.mark.slow

CLI_TIMEOUT = 120


def doctor(
    deployed: Deployed, folder: Path, env: Mapping[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    """Run the doctor in ``folder`` (an app folder with the setup's cdk.json) with the
    profiles of both accounts and the Platform emulator, plus ``args``."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "constructs_lib.doctor",
            "--compute-profile",
            profile_name(COMPUTE_ACCOUNT),
            "--storage-profile",
            profile_name(STORAGE_ACCOUNT),
            "--api-url",
            deployed.emulator.url,
            *args,
        ],
        cwd=deployed.cdk_json(folder),
        env={**os.environ, **env, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"},
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )


def test_a_healthy_setup_exits_0_with_a_table_per_bucket_and_a_summary(
    deployed: Deployed, tmp_path: Path, aws_env: dict[str, str]
) -> None:
    result = doctor(deployed, tmp_path, aws_env)
    assert result.returncode == 0, result.stdout + result.stderr
    for bucket in (DATA_BUCKET, RESULTS_BUCKET, REFERENCE_BUCKET):
        assert f"\nBucket {bucket}\nCHECK" in result.stdout
    assert re.fullmatch(r"Summary: 1 skipped, \d+ ok \(exit 0\)", result.stdout.splitlines()[-1])


def test_the_token_is_never_printed(
    deployed: Deployed, tmp_path: Path, aws_env: dict[str, str]
) -> None:
    result = doctor(deployed, tmp_path, aws_env, "--json")
    assert "Seqera Platform" in result.stdout
    assert TOKEN not in result.stdout + result.stderr


def test_a_fault_exits_1_and_the_json_report_names_it(
    deployed: Deployed, tmp_path: Path, aws_env: dict[str, str]
) -> None:
    deployed.storage("s3").delete_bucket_policy(Bucket=DATA_BUCKET)
    result = doctor(deployed, tmp_path, aws_env, "--json")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["exitCode"] == 1
    assert [f for f in report["findings"] if f["result"] == "blocks"] == [
        {
            "subject": f"bucket {DATA_BUCKET}",
            "check": "bucket policy",
            "sid": None,
            "result": "blocks",
            "why": "the bucket has no policy: no principal of the compute accounts is admitted",
            "fix": "deploy the storage stack TowerCrossAccount-Storage again: it writes the "
            "planned policy",
        }
    ]


def test_an_unknown_profile_exits_2_with_one_line_and_no_traceback(
    deployed: Deployed, tmp_path: Path, aws_env: dict[str, str]
) -> None:
    result = doctor(deployed, tmp_path, aws_env, "--storage-profile", "no-such-profile")
    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("cdk-tower-doctor: could not check: --storage-profile no-such-profile")


def test_a_bad_setting_exits_2_naming_the_key_as_typed(
    deployed: Deployed, tmp_path: Path, aws_env: dict[str, str]
) -> None:
    result = doctor(deployed, tmp_path, aws_env, "-c", "tower:storageAccount=12345")
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert "Invalid setting 'tower:storageAccount': got '12345'" in line


@contextmanager
def iam_enforced(endpoint: str) -> Iterator[None]:
    """The AWS emulator checks every request against the caller's IAM policies."""

    def set_count(count: bytes) -> None:
        request = urllib.request.Request(
            f"{endpoint}/moto-api/reset-auth",
            data=count,
            method="POST",
            headers={"Content-Type": "text/plain"},
        )
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=10):
            pass

    set_count(b"0")
    try:
        yield
    finally:
        set_count(b"inf")


def user_profile(deployed: Deployed, account: str, name: str, actions: str) -> str:
    """A profile section for a new IAM user of ``account`` allowed ``actions``."""
    iam = deployed.accounts.client("iam", account)
    iam.create_user(UserName=name)
    iam.put_user_policy(
        UserName=name,
        PolicyName="only",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
            }
        ),
    )
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return (
        f"[{name}]\naws_access_key_id = {key['AccessKeyId']}\n"
        f"aws_secret_access_key = {key['SecretAccessKey']}\n"
    )


def test_no_permission_to_read_the_storage_account_exits_2_saying_why(
    deployed: Deployed, tmp_path: Path, aws_env: dict[str, str], aws_endpoint: str
) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text(
        user_profile(deployed, STORAGE_ACCOUNT, "identity-only", "sts:GetCallerIdentity")
        + user_profile(deployed, COMPUTE_ACCOUNT, "reads-everything", "*")
    )
    env = {**aws_env, "AWS_SHARED_CREDENTIALS_FILE": str(credentials)}
    with iam_enforced(aws_endpoint):
        result = doctor(
            deployed,
            tmp_path,
            env,
            "--storage-profile",
            "identity-only",
            "--compute-profile",
            "reads-everything",
            "--json",
        )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    findings = json.loads(result.stdout)["findings"]
    storage = [
        f
        for f in findings
        if f["subject"].startswith("bucket ") and f["check"] != "Platform allowed buckets"
    ]
    assert storage and all(f["result"] == "not_checked" for f in storage)
    assert all("AccessDenied" in f["why"] for f in storage)
