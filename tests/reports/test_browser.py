"""Every kind of report, opened in headless Chromium as a reader would open it.

Small real runs of each verb write their reports once per session; each page must load
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


@pytest.fixture(scope="session")
def reports(tmp_path_factory) -> dict[str, Path]:
    """One small real run of each verb; the HTML report each wrote."""
    from loadwise.app.audit import audit_run
    from loadwise.app.evaluate_router import evaluate_router
    from loadwise.app.mergequeue import mq_compare
    from loadwise.app.sweep import sweep
    from loadwise.app.train_router import train_router
    from loadwise.app.tune import tune
    from loadwise.app.validate import validate
    from loadwise.rl.config import TrainConfig

    root = tmp_path_factory.mktemp("reports")
    scenarios = root / "s.yaml"
    scenarios.write_text("name: small\nscenarios:\n"
                         "  - {name: calm, weight: 0.6, days: 0.5, prs_per_day: 60}\n"
                         "  - {name: busy, weight: 0.4, days: 0.5, prs_per_day: 160, p_flake: 0.1}\n")
    pages = {}
    tuned = tune("mergequeue:batch-bisect", scenarios, trials=4, out=root / "tune", backend="inline", progress=False,
                 validate_top=1, validate_replicates=2, slice_points=1)
    pages["tune"] = tuned.report["html"]
    pages["validate"] = validate(tuned.run_dir, top=1, replicates=2, backend="inline", progress=False).paths["html"]
    pages["serve sweep"] = sweep((20, 100), (10, 600), "greedy", workflows=40, out=root / "sweep",
                                 progress=False).report["html"]
    config = TrainConfig(rates=(20.0, 100.0), budgets=(10.0, 600.0), workflows=30, epochs=2, minibatch_size=256)
    trained = train_router(config, root / "train", progress=False)
    pages["router train"] = trained.run_dir / "report.html"
    pages["router eval"] = evaluate_router(trained.run_dir, workflows=40, baselines=("greedy",),
                                           out=root / "eval").report["html"]
    pages["audit"] = audit_run(trained.run_dir, root / "audit").paths["html"]
    pages["mq compare"] = mq_compare(scenarios, 2, strategies=["serial", "batch-bisect"], replicates=2,
                                     backend="inline", progress=False, out=root / "compare").report["html"]
    return pages


@pytest.fixture(scope="module")
def browser():
    chromium = Browser()
    yield chromium
    chromium.close()


KINDS = ["tune", "validate", "serve sweep", "router train", "router eval", "audit", "mq compare"]


@pytest.mark.parametrize("kind", KINDS)
def test_report_reads_well_in_a_browser(kind, reports, browser):
    page = browser.check(reports[kind])
    assert page.errors == [], page.errors
    assert page.requests == [], f"the page asked the network for {page.requests}"
    state = page.state
    assert state["first_heading"] == "Summary"
    assert state["summary_top"] is not None and state["summary_top"] < HEIGHT, "Summary below the first screen"
    assert state["figures"] == len(state["charts"]) > 0 or kind == "validate"
    for chart in state["charts"]:
        assert chart and max(chart) > 0, f"a chart of {kind} drew no data: {state['charts']}"
    assert state["scroll_width"] <= state["inner_width"] == WIDTH, "the page scrolls sideways"
    assert state["table_overflows"] == 0
