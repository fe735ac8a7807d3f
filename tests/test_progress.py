"""aet.progress: milestones reach the log whether or not a bar is drawn."""

from __future__ import annotations

import logging

import pytest

from aet.progress import LOG, progress_bar


@pytest.mark.parametrize("enabled", [True, False])
def test_every_tenth_is_logged(enabled, caplog) -> None:
    with caplog.at_level(logging.INFO, logger=LOG.name), progress_bar(25, "work", enabled) as advance:
        for i in range(25):
            advance(R1=1.0 / (i + 1))
    lines = [r.getMessage() for r in caplog.records if r.name == LOG.name]
    assert len(lines) == 10 and lines[-1].startswith("work: 25/25 after ") and "R1=0.04" in lines[-1]
