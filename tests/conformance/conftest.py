"""Print the conformance suite's per-case table at the end of the session."""

from __future__ import annotations

import suite


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if not suite.RESULTS:
        return
    terminalreporter.section("engine conformance (../shared/conformance)")
    for line in suite.table(dict(sorted(suite.RESULTS.items()))):
        terminalreporter.write_line(line)
