"""The report's form: the exit code the findings give, the tables, the summary, the JSON."""

from __future__ import annotations

import json

from constructs_lib.doctor.findings import (
    EXIT_FAULT,
    EXIT_HEALTHY,
    EXIT_NOT_CHECKED,
    Finding,
    Result,
    exit_code,
    summary_line,
)
from constructs_lib.doctor.render import render_json, render_text

OK = Finding("bucket data-b", "exists", Result.OK, "in storage account 222222222222")
BLOCKS = Finding(
    "bucket data-b", "bucket policy", Result.BLOCKS, "changed", "deploy again", "ForgeObjects"
)
UNREAD = Finding("bucket data-b", "Object Ownership", Result.NOT_CHECKED, "AccessDenied: no")
SKIPPED = Finding("compute account 111111111111", "AWS policy simulator", Result.SKIPPED, "n/a")


def test_only_passed_and_skipped_checks_exit_0() -> None:
    assert exit_code([OK, SKIPPED]) == EXIT_HEALTHY


def test_a_fault_exits_1_even_beside_checks_that_could_not_run() -> None:
    assert exit_code([OK, UNREAD, BLOCKS]) == EXIT_FAULT


def test_checks_that_could_not_run_without_a_fault_exit_2() -> None:
    assert exit_code([OK, UNREAD, SKIPPED]) == EXIT_NOT_CHECKED


def test_the_summary_counts_each_result_and_gives_the_exit_code() -> None:
    assert summary_line([OK, BLOCKS, UNREAD, SKIPPED]) == (
        "Summary: 1 blocks access, 1 not checked, 1 skipped, 1 ok (exit 1)"
    )


def test_each_subject_gets_a_table_in_the_order_first_seen() -> None:
    text = render_text("title", [OK, SKIPPED, BLOCKS], 120)
    assert text.index("\nBucket data-b\n") < text.index("\nCompute account 111111111111\n")
    assert "bucket policy: ForgeObjects" in text
    assert text.count("CHECK") == 2


def test_no_line_is_wider_than_asked() -> None:
    long = Finding("bucket data-b", "bucket policy", Result.WIDENS, "word " * 80, "fix " * 60)
    assert max(map(len, render_text("title", [long], 110).splitlines())) <= 110


def test_the_json_report_holds_every_finding_and_the_exit_code() -> None:
    report = json.loads(render_json("title", [OK, BLOCKS]))
    assert report["exitCode"] == EXIT_FAULT
    assert report["summary"]["blocks"] == 1
    assert report["findings"][1] == {
        "subject": "bucket data-b",
        "check": "bucket policy",
        "sid": "ForgeObjects",
        "result": "blocks",
        "why": "changed",
        "fix": "deploy again",
    }
