"""The rule packs: the construct turns them on, and the example and maximal apps pass them all."""

from __future__ import annotations

import re
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3

from constructs_lib import BucketGrant, nag
from constructs_lib.config import NAG_PACKS
from tests.conftest import PROJECT_ROOT, Synthesized, access_for, findings, synth_keeping_findings

# A rule each pack reports on an unencrypted log group that never expires, or on a bucket
# without access logs: what a deliberate violation must bring up when the pack is on.
CAUGHT_BY = {
    "AwsSolutions": "AwsSolutions-S1",
    "HIPAA.Security": "HIPAA.Security-CloudWatchLogGroupEncrypted",
    "NIST.800.53.R5": "NIST.800.53.R5-CloudWatchLogGroupEncrypted",
    "PCI.DSS.321": "PCI.DSS.321-CloudWatchLogGroupEncrypted",
    "Serverless": "Serverless-CloudWatchLogGroupRetentionPeriod",
    "ControlTower": "cloudwatch_log_group_encrypted_check",
}
ACKNOWLEDGED_RULES = "aws:cdk:acknowledged-rules"


def app_with_violations(outdir: Path, *pack_lists: tuple[str, ...]) -> cdk.App:
    """An app with one construct per entry of ``pack_lists`` (each asking for those packs and
    creating a bucket, whose findings it acknowledges), and a stack holding an unencrypted log
    group that never expires and a bucket without access logs."""
    app = cdk.App(outdir=str(outdir))
    for index, packs in enumerate(pack_lists):
        access_for(
            BucketGrant(f"data-{index}-b", create=True),
            app=app,
            construct_id=f"Access{index}",
            nag_packs=packs,
        )
    unsafe = cdk.Stack(app, "Unsafe")
    logs.CfnLogGroup(unsafe, "PlainLogs")
    s3.CfnBucket(unsafe, "PlainBucket")
    return app


def test_the_example_app_has_no_unacknowledged_finding_in_any_pack(example: Synthesized) -> None:
    assert example.access.settings.nag_packs == NAG_PACKS
    assert findings(example.outdir) == []


def test_the_maximal_app_has_no_unacknowledged_finding_in_any_pack(maximal: Synthesized) -> None:
    assert maximal.access.settings.nag_packs == NAG_PACKS
    assert findings(maximal.outdir) == []


@pytest.mark.parametrize("pack", NAG_PACKS)
def test_each_pack_fails_synth_on_a_deliberate_violation(pack: str, tmp_path: Path) -> None:
    app = app_with_violations(tmp_path, (pack,))
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    assert CAUGHT_BY[pack] in {rule for _, rule, _ in findings(tmp_path)}


def test_without_packs_a_violation_does_not_stop_synth(tmp_path: Path) -> None:
    app_with_violations(tmp_path, ()).synth()
    assert findings(tmp_path) == []


def test_a_control_tower_finding_that_names_no_resource_still_fails_synth(
    tmp_path: Path,
) -> None:
    app = app_with_violations(tmp_path, ("ControlTower",))
    key = kms.Key(cdk.Stack(app, "Keys"), "Key", enable_key_rotation=True)
    key.add_to_resource_policy(
        iam.PolicyStatement(
            effect=iam.Effect.DENY,
            principals=[iam.AccountRootPrincipal()],
            actions=["kms:CreateGrant"],
            resources=["*"],
            conditions={"Bool": {"kms:GrantIsForAWSResource": "false"}},
        )
    )
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    assert ("ControlTower", "unreadable-findings") in {
        (plugin, rule) for plugin, rule, _ in findings(tmp_path)
    }


def test_a_pack_asked_for_by_two_constructs_runs_once_per_stage(tmp_path: Path) -> None:
    synth_keeping_findings(app_with_violations(tmp_path, ("AwsSolutions",), ("AwsSolutions",)))
    s1 = [path for _, rule, path in findings(tmp_path) if rule == "AwsSolutions-S1"]
    assert s1 == ["Unsafe/PlainBucket"]


def test_each_construct_adds_the_packs_it_asks_for(tmp_path: Path) -> None:
    synth_keeping_findings(
        app_with_violations(tmp_path, ("AwsSolutions",), ("AwsSolutions", "Serverless"))
    )
    assert {plugin for plugin, _, _ in findings(tmp_path)} == {"AwsSolutions", "Serverless"}


def acknowledgments(synthesized: Synthesized) -> dict[str, set[str]]:
    """Every acknowledgment the construct made: its reasons, by rule id."""
    found: dict[str, set[str]] = {}
    for construct in synthesized.access.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == ACKNOWLEDGED_RULES:
                for rule_id, reason in entry.data.items():
                    found.setdefault(rule_id.removeprefix("Annotation::"), set()).add(reason)
    return found


def test_every_acknowledgment_gives_a_reason_written_in_nag_py(
    example: Synthesized, maximal: Synthesized
) -> None:
    reasons = {value for name, value in vars(nag).items() if name.endswith("_REASON")}
    reasons |= {
        reason
        for name, value in vars(nag).items()
        if name.endswith("_REASONS")
        for reason in value.values()
    }
    for synthesized in (example, maximal):
        for rule_id, given in acknowledgments(synthesized).items():
            assert given <= reasons, rule_id


def test_the_readme_lists_every_control_tower_rule_the_construct_acknowledges(
    example: Synthesized, maximal: Synthesized
) -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    section = readme.split("## Compliance packs", 1)[1].split("\n## ", 1)[0]
    acknowledged = {
        rule_id.removeprefix(f"{nag.CONTROL_TOWER}::")
        for synthesized in (example, maximal)
        for rule_id in acknowledgments(synthesized)
        if rule_id.startswith(nag.CONTROL_TOWER)
    }
    assert acknowledged
    for rule in acknowledged:
        assert re.search(rf"`CT\.[A-Z0-9]+\.PR\.\d+` \(`{rule}`\)", section), rule
