"""--verify: the recommended rates, simulated, land in the regimes they were chosen for."""

from __future__ import annotations

import pandas as pd

import loadwise
from loadwise.systems.agentserve import Cell, make_router, run_cells, telemetry


def _sweep(folder, rates, budgets=(10, 50, 200, 600, 1800), workflows=100, seed=11):
    sims = run_cells([Cell(r, b, workflows) for r in rates for b in budgets], make_router("static-mix"), seeds=seed)
    telemetry.write(folder, pd.concat([s.steps for s in sims]), pd.concat([s.workflows for s in sims]))


def test_grid_at_queue_8_misses_idle_and_the_recommended_rate_simulates_idle(tmp_path):
    _sweep(tmp_path / "sweep", (70, 100, 150, 200))
    result = loadwise.audit(tmp_path / "sweep", tmp_path / "audit", verify=True, router="static-mix", verify_workflows=100)
    f = result.findings
    lowest = f["regimes"]["by_rate"][0]
    assert 6 <= lowest["mean_queue"] < 11 and lowest["regime"] == "moderate"  # queue depth ~8 at the lowest rate
    assert "idle" in f["regimes"]["missing"]
    points = {p["regime"]: p for p in f["verification"]["points"]}
    assert points["idle"]["simulated_queue"] < 3 and points["idle"]["simulated_regime"] == "idle"
    assert abs(sum(points["idle"]["model_mix"].values()) - 1) < 1e-9
    md = (tmp_path / "audit" / "report.md").read_text()
    assert "Predicted (fitted) vs simulated at the recommended rates" in md and "router 'static-mix'" in md


def test_verify_with_nothing_to_add_simulates_nothing(tmp_path, known):
    steps, workflows = known.tiered(rates=(5, 20, 50, 100, 175), queue=lambda r: r / 5.0, workflows_per_cell=40)
    telemetry.write(tmp_path, steps, workflows)
    v = loadwise.audit(tmp_path, verify=True).findings["verification"]
    assert v["points"] == [] and "nothing was simulated" in v["description"]
