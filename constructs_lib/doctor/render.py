"""The report, for people (a table per bucket, compute account and Platform, and a summary
line) and for machines (``--json``)."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence
from itertools import zip_longest

from constructs_lib.doctor.findings import Finding, counts, exit_code, summary_line

COLUMNS = ("check", "result", "why", "fix")
CHECK_WIDTH = 30
RESULT_WIDTH = 13
GAP = "  "
MIN_WIDTH = 100


def render_text(title: str, findings: Sequence[Finding], width: int) -> str:
    """The report as text tables of at most ``width`` characters (at least MIN_WIDTH)."""
    free = max(width, MIN_WIDTH) - CHECK_WIDTH - RESULT_WIDTH - 3 * len(GAP)
    widths = (CHECK_WIDTH, RESULT_WIDTH, free * 3 // 5, free - free * 3 // 5)
    lines = [title]
    for subject in dict.fromkeys(finding.subject for finding in findings):
        lines += ["", subject[:1].upper() + subject[1:]]
        lines.append(_row(widths, [name.upper() for name in COLUMNS]))
        for finding in findings:
            if finding.subject == subject:
                cells = [finding.label, finding.result.value.upper(), finding.why, finding.fix]
                lines.append(_row(widths, cells))
    lines += ["", summary_line(findings)]
    return "\n".join(lines)


def _row(widths: Sequence[int], cells: Sequence[str]) -> str:
    """One table row, each cell wrapped to its column."""
    wrapped = [
        textwrap.wrap(cell, width, break_on_hyphens=False) or [""]
        for cell, width in zip(cells, widths, strict=True)
    ]
    return "\n".join(
        GAP.join(part.ljust(width) for part, width in zip(parts, widths, strict=True)).rstrip()
        for parts in zip_longest(*wrapped, fillvalue="")
    )


def render_json(title: str, findings: Sequence[Finding]) -> str:
    """The report as one JSON object: the findings, the counts and the exit code."""
    return json.dumps(
        {
            "title": title,
            "exitCode": exit_code(findings),
            "summary": {result.name.lower(): count for result, count in counts(findings).items()},
            "findings": [
                {
                    "subject": finding.subject,
                    "check": finding.check,
                    "sid": finding.sid,
                    "result": finding.result.name.lower(),
                    "why": finding.why,
                    "fix": finding.fix,
                }
                for finding in findings
            ],
        },
        indent=2,
    )
