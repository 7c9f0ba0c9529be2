"""The distribution: what the wheel and sdist carry, and a consumer app using the wheel alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest

import constructs_lib
from tests.conftest import PROJECT_ROOT

# Builds and deploys for real: left out of `make test-fast`.
pytestmark = pytest.mark.slow

CONSUMER_APP = textwrap.dedent(
    """
    import sys
    import aws_cdk as cdk
    import constructs_lib
    from constructs_lib import BucketGrant, CrossAccountBucketAccess, PlatformComputeEnvironment

    app = cdk.App(outdir=sys.argv[1])
    CrossAccountBucketAccess(app, "Consumer",
        compute_env=cdk.Environment(account="111111111111", region="eu-west-1"),
        storage_env=cdk.Environment(account="222222222222", region="eu-west-1"),
        buckets=[BucketGrant("consumer-data-b", prefixes=["in"])],
        platform=PlatformComputeEnvironment(name="consumer", credentials_id="abc123",
            token_secret="seqera/token", work_dir="s3://consumer-work-a/work"),
    )
    app.synth()
    print(constructs_lib.__file__)
    """
)


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel and an sdist built with `python -m build` from the working tree."""
    outdir = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--no-isolation",
            "--outdir",
            str(outdir),
            str(PROJECT_ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return outdir


def wheel_names(dist: Path) -> list[str]:
    (wheel,) = dist.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def test_wheel_carries_the_lambda_handler_and_type_marker(dist: Path) -> None:
    names = wheel_names(dist)
    for required in (
        "constructs_lib/py.typed",
        "constructs_lib/seqera/asset/handler.py",
        "constructs_lib/seqera/asset/client.py",
    ):
        assert required in names


def test_wheel_installs_the_doctor_command(dist: Path) -> None:
    (wheel,) = dist.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        (entry_points,) = [n for n in archive.namelist() if n.endswith("/entry_points.txt")]
        declared = archive.read(entry_points).decode()
    assert "cdk-tower-doctor = constructs_lib.doctor.cli:main" in declared
    assert "constructs_lib/doctor/cli.py" in wheel_names(dist)


def test_wheel_carries_nothing_test_only(dist: Path) -> None:
    names = wheel_names(dist)
    assert all(name.startswith(("constructs_lib/", "cdk_tower_cross_account-")) for name in names)
    (wheel,) = dist.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        code = "".join(
            archive.read(name).decode() for name in names if name.startswith("constructs_lib/")
        )
    assert "iam-simulate" not in code
    assert "import moto" not in code and "from moto" not in code


def test_sdist_carries_sources_but_no_installed_tools(dist: Path) -> None:
    (sdist,) = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
    assert any(name.endswith("constructs_lib/seqera/asset/handler.py") for name in names)
    assert not any("node_modules" in name or "/.venv/" in name for name in names)


def test_consumer_app_synthesizes_with_the_installed_wheel_only(dist: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    site_packages = Path(
        sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)})
    )
    # Dependencies (aws-cdk-lib and friends) come from the project's environment; the package
    # itself only from the wheel: the project's own tree is not on the consumer's path.
    (site_packages / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    (wheel,) = dist.glob("*.whl")
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
        check=True,
        timeout=120,
    )
    consumer = tmp_path / "consumer"
    consumer.mkdir()
    (consumer / "app.py").write_text(CONSUMER_APP)
    outdir = tmp_path / "cdk.out"
    result = subprocess.run(
        [str(python), "app.py", str(outdir)],
        cwd=consumer,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": ""},
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().startswith(str(site_packages))
    manifest = json.loads((outdir / "manifest.json").read_text())
    stacks = [a for a in manifest["artifacts"].values() if a["type"] == "aws:cloudformation:stack"]
    assert len(stacks) == 2
    assets = list(outdir.glob("asset.*/handler.py"))
    assert assets, "the Lambda asset was not staged from the installed package"


def test_wheel_version_is_the_package_version_and_has_a_changelog_entry(dist: Path) -> None:
    (wheel,) = dist.glob("*.whl")
    version = wheel.name.split("-")[1]
    assert version == constructs_lib.__version__
    assert f"## {version}" in (PROJECT_ROOT / "CHANGELOG.md").read_text()
