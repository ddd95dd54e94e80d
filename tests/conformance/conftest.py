"""Print the conformance suite's per-case table at the end of the session.

Each case's test records its outcome as a user property of its report, so the table is
assembled where the reports arrive (the controller, when pytest-xdist runs the cases).
"""

from __future__ import annotations

import pytest
import suite


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "call":
        return
    for key, value in report.user_properties:
        if key == "conformance":
            name = report.nodeid.rsplit("[", 1)[-1].rstrip("]")
            suite.RESULTS[name] = suite.EngineOutcome(name, *value)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if not suite.RESULTS:
        return
    terminalreporter.section("engine conformance (../shared/conformance)")
    for line in suite.table(dict(sorted(suite.RESULTS.items()))):
        terminalreporter.write_line(line)
