"""The app as users run it: valid CloudFormation, clear errors from the CLI, the Stage form."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from pathlib import Path

import aws_cdk as cdk
import pytest

from constructs_lib import AccessOptions, BucketGrant, ConfigError, CrossAccountBucketAccessStage
from constructs_lib.config import NAG_PACKS
from tests.conftest import (
    COMPUTE_ENV,
    PROJECT_ROOT,
    STORAGE_ENV,
    Synthesized,
    findings,
    synth_keeping_findings,
)

CDK_CLI = PROJECT_ROOT / "node_modules" / ".bin" / "cdk"


def run_cdk(*args: str, outdir: Path) -> subprocess.CompletedProcess[str]:
    """Run the pinned CDK CLI in the project, as `make synth` does."""
    return subprocess.run(
        [str(CDK_CLI), "synth", "--no-notices", "--quiet", "--output", str(outdir), *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PATH": f"{PROJECT_ROOT / '.venv' / 'bin'}:{os.environ['PATH']}"},
        check=False,
    )


@pytest.fixture(scope="module")
def cli_outdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example synthesized by the real CLI, with one setting overridden with -c."""
    outdir = tmp_path_factory.mktemp("cdk.out")
    result = run_cdk("-c", "tower:storageAccount=333333333333", outdir=outdir)
    assert result.returncode == 0, result.stderr
    return outdir


def stack_templates(outdir: Path) -> dict[str, tuple[str, Path]]:
    """Each stack of the cloud assembly: its account and template file, by stack name."""
    manifest = json.loads((outdir / "manifest.json").read_text())
    templates: dict[str, tuple[str, Path]] = {}
    for artifact in manifest["artifacts"].values():
        if artifact["type"] == "aws:cloudformation:stack":
            account = artifact["environment"].split("/")[2]
            name = artifact["properties"].get("stackName", artifact["displayName"])
            templates[name] = (account, outdir / artifact["properties"]["templateFile"])
    return templates


@pytest.mark.slow
def test_cli_synth_writes_one_template_per_account(cli_outdir: Path) -> None:
    templates = stack_templates(cli_outdir)
    assert {name: account for name, (account, _) in templates.items()} == {
        "TowerCrossAccount-Compute": "111111111111",
        "TowerCrossAccount-Storage": "333333333333",
    }


@pytest.mark.slow
def test_cli_context_override_reaches_the_bucket_policy(cli_outdir: Path) -> None:
    _, compute_template = stack_templates(cli_outdir)["TowerCrossAccount-Compute"]
    assert "333333333333" in compute_template.read_text()


def cfn_lint(files: list[Path]) -> subprocess.CompletedProcess[str]:
    """cfn-lint on templates. W3005 (a DependsOn that a GetAtt already implies) is how CDK
    orders a Lambda after its role's policy; every other error and warning fails."""
    return subprocess.run(
        [
            str(PROJECT_ROOT / ".venv" / "bin" / "cfn-lint"),
            *map(str, files),
            "--ignore-checks",
            "W3005",
        ],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.slow
def test_the_example_templates_pass_cfn_lint(cli_outdir: Path) -> None:
    result = cfn_lint([path for _, path in stack_templates(cli_outdir).values()])
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_maximal_templates_pass_cfn_lint(maximal: Synthesized) -> None:
    result = cfn_lint([path for _, path in stack_templates(maximal.outdir).values()])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_cli_reports_bad_input_in_one_clear_line(tmp_path: Path) -> None:
    result = run_cdk("-c", "tower:computeAccount=12345", outdir=tmp_path)
    assert result.returncode != 0
    assert (
        "Configuration error: Invalid setting 'tower:computeAccount': got '12345'; "
        "expected a 12-digit AWS account ID" in result.stderr
    )
    assert "Traceback" not in result.stderr


def test_stage_form_passes_every_pack_and_deploys_both_accounts(tmp_path: Path) -> None:
    app = cdk.App(outdir=str(tmp_path))
    stage = CrossAccountBucketAccessStage(
        app,
        "Production",
        AccessOptions(
            compute_env=COMPUTE_ENV,
            storage_env=STORAGE_ENV,
            buckets=[BucketGrant("genomics-data-b", create=True, create_kms_key=True)],
            nag_packs=NAG_PACKS,
        ),
    )
    synth_keeping_findings(app)
    assert findings(tmp_path) == []
    assembly = stage.synth()
    assert {(stack.stack_name, stack.environment.account) for stack in assembly.stacks} == {
        ("Production-Compute", "111111111111"),
        ("Production-Storage", "222222222222"),
    }


def test_stage_form_checks_options_before_building() -> None:
    app = cdk.App()
    with pytest.raises(ConfigError):
        CrossAccountBucketAccessStage(
            app,
            "Production",
            AccessOptions(compute_env=COMPUTE_ENV, storage_env=COMPUTE_ENV, buckets=[]),
        )
    assert app.node.children == []


def test_pipeline_example_synthesizes_the_stage_in_both_accounts(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location(
        "pipeline_app", PROJECT_ROOT / "examples" / "pipeline_app.py"
    )
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    assembly = example.build_pipeline_app(str(tmp_path)).synth()
    (stage,) = [
        a for a in assembly.nested_assemblies if "Production" in a.nested_assembly.directory
    ]
    pipeline = json.loads((tmp_path / "TowerCrossAccountPipeline.template.json").read_text())
    assert "AWS::CodePipeline::Pipeline" in {r["Type"] for r in pipeline["Resources"].values()}
    assert {stack.environment.account for stack in stage.nested_assembly.stacks} == {
        "111111111111",
        "222222222222",
    }


@pytest.mark.slow
def test_readme_diagram_names_every_resource_type_the_example_deploys(cli_outdir: Path) -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    diagram = readme.split("```mermaid", 1)[1].split("```", 1)[0]
    types = {
        resource["Type"]
        for _, template in stack_templates(cli_outdir).values()
        for resource in json.loads(template.read_text())["Resources"].values()
    } - {"AWS::CDK::Metadata"}
    assert types
    for resource_type in sorted(types):
        words = resource_type.split("::")[1:]
        assert " ".join(words) in diagram or resource_type in diagram, resource_type
