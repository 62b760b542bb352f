"""Conventions of the test suite that a reviewer should not have to catch by eye."""

import re
from pathlib import Path

TESTS = Path(__file__).parent
SLEEP = re.compile(r"\b(?:asyncio|time)\.sleep\(")


def test_every_sleep_in_the_tests_says_why_it_is_not_synchronisation():
    """A sleep that stands in for an event makes a test slow and flaky: await the event. The
    few sleeps that are the point (a client's pace, a poll to a deadline, an outage's length)
    carry `# noqa: sleep-ok <reason>` on their line."""
    unexplained = [
        f"{path.relative_to(TESTS.parent)}:{number}: {line.strip()}"
        for path in sorted(TESTS.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if SLEEP.search(line) and not re.search(r"# noqa: sleep-ok \S", line)
    ]
    assert unexplained == [], "\n".join(unexplained)
