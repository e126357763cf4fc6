"""Every kind of report, opened in headless Chromium as a reader would open it.

Small real runs of each verb (conftest.py) write their reports once per session; each page must load
without console errors or network requests, show its Summary in the first screen
(1300 × 900), draw every chart with data, and keep every table inside the page width.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from browser import HEIGHT, MISSING, WIDTH, Browser

pytestmark = pytest.mark.skipif(bool(MISSING), reason=MISSING or "browser present")


@pytest.fixture(scope="module")
def browser():
    chromium = Browser()
    yield chromium
    chromium.close()


KINDS = ["tune", "validate", "serve sweep", "router train", "router eval", "audit", "mq compare", "router loadtest"]
TABLES_ONLY = {"validate", "router loadtest"}  # reports without figures


@pytest.mark.parametrize("kind", KINDS)
def test_report_reads_well_in_a_browser(kind, reports, browser):
    page = browser.check(reports[kind])
    assert page.errors == [], page.errors
    assert page.requests == [], f"the page asked the network for {page.requests}"
    state = page.state
    assert state["first_heading"] == "Summary"
    assert state["summary_top"] is not None and state["summary_top"] < HEIGHT, "Summary below the first screen"
    assert state["figures"] == len(state["charts"]) > 0 or kind in TABLES_ONLY
    for chart in state["charts"]:
        assert chart and max(chart) > 0, f"a chart of {kind} drew no data: {state['charts']}"
    assert state["scroll_width"] <= state["inner_width"] == WIDTH, "the page scrolls sideways"
    assert state["table_overflows"] == 0
