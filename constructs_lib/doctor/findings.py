"""What the doctor says: one finding per check, its result, why, and how to fix it.

Results are ordered by how much they matter; the exit code follows from the worst of them:
anything that blocks, widens or drifted is a fault (1), a check that could not run without
a fault elsewhere is 2, and a skipped check (AWS's simulator where it is not offered) never
decides the exit code.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

EXIT_HEALTHY = 0
EXIT_FAULT = 1
EXIT_NOT_CHECKED = 2


class Result(enum.Enum):
    """The outcome of one check, worst first."""

    BLOCKS = "blocks access"
    WIDENS = "widens access"
    DRIFTED = "drifted"
    NOT_CHECKED = "not checked"
    SKIPPED = "skipped"
    OK = "ok"

    @property
    def is_fault(self) -> bool:
        """Whether the live setup is wrong here (as opposed to unread or fine)."""
        return self in (Result.BLOCKS, Result.WIDENS, Result.DRIFTED)


@dataclass(frozen=True)
class Finding:
    """One row of the report: what was checked where, the result, and in plain words why and
    what to do. ``sid`` names the policy statement the finding is about, when there is one."""

    subject: str
    check: str
    result: Result
    why: str
    fix: str = ""
    sid: str | None = None

    @property
    def label(self) -> str:
        """The check as the table shows it: with the statement's Sid when there is one."""
        return self.check if self.sid is None else f"{self.check}: {self.sid}"


def exit_code(findings: Iterable[Finding]) -> int:
    """0 when every check passed or was skipped, 1 when any found a fault, else 2 when any
    could not run."""
    results = {finding.result for finding in findings}
    if any(result.is_fault for result in results):
        return EXIT_FAULT
    if Result.NOT_CHECKED in results:
        return EXIT_NOT_CHECKED
    return EXIT_HEALTHY


def counts(findings: Iterable[Finding]) -> dict[Result, int]:
    """How many findings have each result, in the order of ``Result``."""
    counted = Counter(finding.result for finding in findings)
    return {result: counted[result] for result in Result}


def summary_line(findings: Iterable[Finding]) -> str:
    """One line for the end of the report: the counts and the exit code they give."""
    listed = list(findings)
    parts = [f"{count} {result.value}" for result, count in counts(listed).items() if count]
    return f"Summary: {', '.join(parts) or 'nothing checked'} (exit {exit_code(listed)})"
