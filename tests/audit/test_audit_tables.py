"""The audit's tables equal a plain pandas computation of the same quantities."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from loadwise.report.format import number
from loadwise.systems.agentserve import telemetry


def test_rate_budget_tables_equal_pandas(tiered_folder, tiered_result):
    w = telemetry.load(tiered_folder).workflows
    g = w.groupby(["rate", "budget"])
    cells = tiered_result.tables.cells
    pd.testing.assert_series_equal(cells["mean_latency"], g["workflow_latency"].mean(), check_names=False)
    pd.testing.assert_series_equal(cells["p95_latency"], g["workflow_latency"].quantile(0.95), check_names=False)
    pd.testing.assert_series_equal(cells["violation_rate"], g["violated"].mean(), check_names=False)
    pd.testing.assert_series_equal(cells["cost_ratio"], (w["workflow_latency"] / w["budget"]).groupby([w["rate"], w["budget"]]).mean(),
                                   check_names=False)
    # Wilson interval, by its formula
    n, k = g.size().to_numpy(), g["violated"].sum().to_numpy()
    z = 1.959963984540054
    p = k / n
    centre, half = (p + z * z / (2 * n)) / (1 + z * z / n), z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    np.testing.assert_allclose(cells["violation_ci_low"], centre - half, atol=1e-12)
    np.testing.assert_allclose(cells["violation_ci_high"], centre + half, atol=1e-12)
    assert (cells["violation_ci_low"] <= cells["violation_rate"]).all() and (cells["violation_rate"] <= cells["violation_ci_high"]).all()


def test_load_and_mix_tables_equal_pandas(tiered_folder, tiered_result):
    s = telemetry.load(tiered_folder).steps
    t = tiered_result.tables
    np.testing.assert_allclose(t.by_rate["mean_queue"], s.groupby("rate")["queue_depth"].mean())
    np.testing.assert_allclose(t.by_rate["idle_share"], (s["queue_depth"] < 3).groupby(s["rate"]).mean())
    per_model = s.pivot_table(index="rate", columns="model", values="queue_depth", aggfunc="mean")
    np.testing.assert_allclose(t.model_queue[per_model.columns].to_numpy(), per_model.to_numpy())
    for which in ("model", "strategy"):
        for by in ("rate", "budget"):
            expected = pd.crosstab(s[by], s[which], normalize="index")
            got = t.mix(which, by)[expected.columns]
            np.testing.assert_allclose(got.to_numpy(), expected.to_numpy())


def test_json_holds_the_table_numbers(tiered_folder, tmp_path):
    import loadwise

    result = loadwise.audit(tiered_folder, tmp_path / "out")
    data = json.loads((tmp_path / "out" / "audit.json").read_text())
    cells = {(c["rate"], c["budget"]): c for c in data["tables"]["by_rate_budget"]}
    for (rate, budget), row in result.tables.cells.iterrows():
        assert cells[(rate, budget)]["violation_rate"] == pytest.approx(row["violation_rate"])
        assert cells[(rate, budget)]["p95_latency"] == pytest.approx(row["p95_latency"])
    assert data["summary"]["q1_rates"] == result.findings["summary"]["q1_rates"]
    # the report carries the same numbers and embeds its four figures
    md = (tmp_path / "out" / "report.md").read_text()
    assert number(result.tables.by_rate["mean_queue"].iloc[0]) in md
    html = (tmp_path / "out" / "report.html").read_text()
    assert html.count('<figure class="chart"') == 4  # interactive twins of the four PNGs
    for name in ("queue_vs_rate", "violation_heatmap", "model_mix_by_rate", "strategy_mix_by_rate"):
        assert (tmp_path / "out" / f"{name}.png").stat().st_size > 1000
