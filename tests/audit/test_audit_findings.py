"""Regimes, tier redundancy, policy checks, recommendations and cost, on telemetry whose
answers are known."""

from __future__ import annotations

import math

import pandas as pd
import pytest

import loadwise
from loadwise.auditing.cost import grid_cost
from loadwise.auditing.pipeline import run_audit
from loadwise.auditing.synthetic import synthetic_telemetry
from loadwise.systems.agentserve.telemetry import Telemetry


def _tel(steps, workflows) -> Telemetry:
    return Telemetry(steps, workflows, source="synthetic")


def test_lowest_rate_at_queue_8_misses_idle_and_recommends_an_idle_rate(tiered_result):
    f = tiered_result.findings
    lowest = f["regimes"]["by_rate"][0]
    assert lowest["rate"] == 50 and lowest["mean_queue"] == pytest.approx(8, rel=0.05)
    assert lowest["regime"] == "moderate"
    assert f["regimes"]["missing"] == ["idle", "light"]
    assert f["summary"]["rates_sufficient"] is False
    assert f["summary"]["q1_rates"].startswith("No: the grid misses the idle and light regimes.")
    idle = next(r for r in f["recommendations"]["rates"] if r["regime"] == "idle")
    # queue is linear in rate (8 at 50): the idle target 1.5 sits near rate 9.4
    assert idle["rate"] == pytest.approx(9.4, rel=0.05)
    assert idle["predicted_queue"] < 3 and idle["extrapolation"].startswith("x5.")
    light = next(r for r in f["recommendations"]["rates"] if r["regime"] == "light")
    assert 3 <= light["predicted_queue"] < 6


def test_largest_jump_is_between_the_lowest_rates(tiered_result):
    j = tiered_result.findings["regimes"]["largest_jump"]
    assert (j["from"], j["to"]) == (50, 100)
    assert j["queue_ratio"] == pytest.approx(2.0, rel=0.05)


def test_identical_tiers_are_redundant_and_distinct_ones_are_not(tiered_result):
    pairs = {tuple(p["tiers"]): p for p in tiered_result.findings["tiers"]["pairs"]}
    assert pairs[(600, 1800)]["redundant"] is True
    for key in ((10, 50), (50, 200), (200, 600)):
        assert pairs[key]["redundant"] is False, key
    assert tiered_result.findings["recommendations"]["tiers"]["drop"] in ([600], [1800])
    assert tiered_result.findings["summary"]["tiers_redundant"] is True


def test_geometric_spacing_of_the_seed_tiers(tiered_result):
    sp = tiered_result.findings["tiers"]["spacing"]
    assert sp["relative_to_tightest"] == [1, 5, 20, 60, 180]
    assert sp["adjacent_ratios"] == [5, 4, 3, 3]
    assert sp["geometric_mean_ratio"] == pytest.approx(180 ** 0.25)


def test_load_and_budget_sensitivity_are_told_apart(known):
    tiered = known.tiered
    # mix changes with budget (MIX) but not with rate: budget-sensitive, load-blind
    steps, workflows = tiered(workflows_per_cell=200)
    f = run_audit(_tel(steps, workflows)).findings["policy"]
    assert f["budget"]["model"]["verdict"] == "sensitive" and f["budget"]["model"]["cramers_v"] >= 0.1
    assert f["load"]["model"]["verdict"] in ("no detectable change", "detectable but negligible")
    # a mix that shifts to the small model as load grows is load-sensitive
    shift = {50: [0.1, 0.2, 0.2, 0.2, 0.3], 100: [0.3, 0.2, 0.2, 0.2, 0.1], 150: [0.5, 0.2, 0.1, 0.1, 0.1],
             200: [0.7, 0.1, 0.1, 0.05, 0.05]}
    steps, workflows = tiered(model_mix=lambda r, b: shift[r], workflows_per_cell=100)
    f = run_audit(_tel(steps, workflows)).findings["policy"]
    assert f["load"]["model"]["verdict"] == "sensitive"
    assert f["load"]["model"]["largest_share_change"]["category"] == "Llama-3.2-3B-Instruct"


def test_constraint_binding_and_collapse(known):
    tiered = known.tiered
    steps, workflows = tiered(violation=lambda r, b: 0.05, workflows_per_cell=400,
                              model_mix=lambda r, b: [0.95, 0.02, 0.01, 0.01, 0.01])
    p = run_audit(_tel(steps, workflows)).findings["policy"]
    assert p["constraint"]["status"] == "binding"  # 5 % against a 5 % limit
    assert p["collapse"]["model"]["collapsed"] is True
    steps, workflows = tiered(workflows_per_cell=400)
    assert run_audit(_tel(steps, workflows)).findings["policy"]["constraint"]["status"] == "violated"  # 25 %


def test_cost_four_rates_to_six_is_fifty_percent_more_role_steps():
    idx = pd.MultiIndex.from_product([[50.0, 100.0, 150.0, 200.0], [10.0, 50.0]], names=["rate", "budget"])
    cells = pd.DataFrame({"steps": 4550.0, "workflows": 1000.0}, index=idx)
    seconds = pd.Series({50.0: 1500.0, 100.0: 800.0, 150.0: 500.0, 200.0: 400.0})
    c = grid_cost(cells, seconds, [50.0, 100.0, 150.0, 200.0], [10.0, 50.0], [20.0, 30.0, 50.0, 100.0, 150.0, 200.0], [10.0, 50.0])
    assert c["steps_change"] == pytest.approx(0.5)
    assert c["new"]["steps_per_epoch"] == pytest.approx(6 * 2 * 4550)
    # measured drain: seconds minus the arrival span (2000 workflows * 60 / rate); median of 300, -400, 300, 400
    spans = {r: 2000 * 60 / r for r in (50, 100, 150, 200)}
    drains = sorted(seconds[r] - spans[r] for r in spans)
    drain = (drains[1] + drains[2]) / 2
    assert c["median_drain_seconds"] == pytest.approx(drain)
    new = {p["rate"]: p["seconds"] for p in c["seconds_by_rate"]}
    assert new[20.0] == pytest.approx(2000 * 60 / 20 + drain)
    assert new[50.0] == 1500.0
    assert c["seconds_change"] == pytest.approx(sum(new.values()) / 3200 - 1)


def test_cost_of_the_recommended_grid_in_a_full_audit(tiered_result):
    c = tiered_result.findings["cost"]
    assert c["old"]["rates"] == [50, 100, 150, 200] and len(c["new"]["rates"]) == 6
    # two rates added, one of two identical tiers dropped: 6/4 * 4/5
    assert c["steps_change"] == pytest.approx(6 / 4 * 4 / 5 - 1)
    assert c["wall_clock_source"] == "dispatch times" and c["seconds_change"] > 0


def test_out_of_grid_rows_are_counted_not_dropped_silently(known):
    steps, workflows = known.tiered(workflows_per_cell=100)
    stray_s, stray_w = synthetic_telemetry(rates=(75,), budgets=(10,), workflows_per_cell=4, steps_per_workflow=4, seed=1)
    steps = pd.concat([steps, stray_s], ignore_index=True)
    workflows = pd.concat([workflows, stray_w], ignore_index=True)
    r = run_audit(_tel(steps, workflows))
    oog = r.findings["grid"]["out_of_grid"]
    assert r.grid.rates == [50, 100, 150, 200]  # 16 of 8,016 steps: below the 1 % grid share
    assert (oog["steps"], oog["workflows"], oog["off_grid_rates"]) == (16, 4, {"75": 16})
    r = loadwise.audit(_tel(steps, workflows), rates_target=[50, 100])
    assert r.findings["grid"]["out_of_grid"]["steps"] == len(steps) - int(steps["rate"].isin([50, 100]).sum())
    assert r.grid.rates_from == "target"
    r = loadwise.audit(_tel(steps, workflows), rates_target=[50, 100, 300])
    assert r.findings["grid"]["out_of_grid"]["target_rates_without_data"] == [300]
    assert [x["rate"] for x in r.findings["regimes"]["by_rate"]] == [50, 100]
    assert r.findings["summary"]["q1_rates"].endswith("Target rate [300] has no telemetry.")


def test_reference_csv_gives_the_same_tables_as_parquet(tmp_path, tiered_result, tiered_folder):
    from loadwise.auditing.synthetic import write_reference_csv
    from loadwise.systems.agentserve import telemetry

    t = telemetry.load(tiered_folder)
    write_reference_csv(t.steps, t.workflows, tmp_path / "ref.csv")
    r = loadwise.audit(tmp_path / "ref.csv")
    assert r.findings["source"]["format"] == "reference-csv"
    pd.testing.assert_frame_equal(r.tables.cells, tiered_result.tables.cells)
    pd.testing.assert_frame_equal(r.tables.by_rate, tiered_result.tables.by_rate)
    assert r.findings["summary"]["q1_rates"] == tiered_result.findings["summary"]["q1_rates"]
    assert r.findings["cost"]["wall_clock_source"] is None  # the reference CSV has no dispatch times
    assert "no dispatch times" in r.findings["summary"]["q3_cost"]
    r = loadwise.audit(tmp_path / "ref.csv", epoch_seconds=3000.0)
    assert r.findings["cost"]["old"]["seconds_per_epoch"] == pytest.approx(3000.0)


def test_full_grid_needs_no_new_rates(known):
    steps, workflows = synthetic_telemetry(rates=(5, 20, 50, 100, 175), queue=lambda r: r / 5.0, workflows_per_cell=60,
                                           model_mix=lambda r, b: known.MIX[b], seed=3)
    f = loadwise.audit(_tel(steps, workflows)).findings
    assert [x["regime"] for x in f["regimes"]["by_rate"]] == ["idle", "light", "moderate", "heavy", "saturated"]
    assert f["regimes"]["missing"] == [] and f["recommendations"]["rates"] == []
    assert f["summary"]["q1_rates"].startswith("Yes")
    assert not math.isnan(f["cost"]["steps_change"])


def test_seed_000_queue_figures_give_the_seed_findings_with_numbers():
    """Seed 000 measured mean queue 8.15 / 19.41 / 27.48 / 34.78 at rates 50-200; the audit
    must find the idle and light regimes missing, the 50 -> 100 jump the largest (x2.38),
    and recommend rates below 50 for both (the seed guessed 20 and 30)."""
    seed_queue = {50: 8.15, 100: 19.41, 150: 27.48, 200: 34.78}
    steps, workflows = synthetic_telemetry(queue=lambda r: seed_queue[r], workflows_per_cell=400, seed=5)
    f = run_audit(_tel(steps, workflows)).findings
    assert [x["regime"] for x in f["regimes"]["by_rate"]] == ["moderate", "heavy", "heavy", "saturated"]
    assert f["regimes"]["missing"] == ["idle", "light"]
    j = f["regimes"]["largest_jump"]
    assert (j["from"], j["to"]) == (50, 100) and j["queue_ratio"] == pytest.approx(19.41 / 8.15, rel=0.02)
    rates = {r["regime"]: r["rate"] for r in f["recommendations"]["rates"]}
    assert 5 < rates["idle"] < 20 < rates["light"] < 50


def test_a_flat_queue_curve_gives_a_probe_rate_not_a_wild_extrapolation():
    """A router that overloads one server keeps the queue high at every rate (seen with
    `greedy` in the simulator): inverting the fit would put idle at a tiny rate, so the
    audit proposes a rate to measure first instead of a grid change."""
    flat = {50: 90.0, 100: 105.0, 150: 115.0, 200: 120.0}
    steps, workflows = synthetic_telemetry(queue=lambda r: flat[r], workflows_per_cell=100, seed=2)
    f = loadwise.audit(_tel(steps, workflows)).findings
    assert f["recommendations"]["rates"] == []
    (probe,) = f["recommendations"]["probes"]
    assert probe["rate"] == 5.0 and probe["regimes"] == ["idle", "light", "moderate", "heavy"]
    assert all(r < 50 / 10 for r in probe["fitted_rates"])
    assert f["cost"]["new"]["rates"] == f["cost"]["old"]["rates"]
    assert "measure rate 5 first" in f["summary"]["q1_rates"]


def test_tiers_with_one_and_the_same_outcome_are_redundant_not_untestable():
    """Two loose tiers where the router always picks the same pair and never violates:
    the tests have nothing to compare, and that is identical behaviour."""
    one = [0, 0, 0, 0, 1.0]
    steps, workflows = synthetic_telemetry(
        budgets=(10, 600, 1800), violation=lambda r, b: 0.3 if b == 10 else 0.0, workflows_per_cell=100, seed=4,
        model_mix=lambda r, b: [0.5, 0.5, 0, 0, 0] if b == 10 else one,
        strategy_mix=lambda r, b: [1.0, 0, 0] if b == 10 else [0, 0, 1.0])
    pairs = {tuple(p["tiers"]): p for p in run_audit(_tel(steps, workflows)).findings["tiers"]["pairs"]}
    assert pairs[(600, 1800)]["redundant"] is True
    assert pairs[(600, 1800)]["tests"]["violation"]["test"].endswith("(one outcome in both tiers)")
    assert pairs[(10, 600)]["redundant"] is False


def test_training_telemetry_one_folder_per_epoch_gives_per_epoch_costs(tmp_path):
    from loadwise.systems.agentserve import telemetry

    for epoch in range(3):
        steps, workflows = synthetic_telemetry(workflows_per_cell=20, steps_per_workflow=4, seed=epoch)
        telemetry.write(tmp_path / "train" / "telemetry" / f"epoch-{epoch:04d}",
                        steps.assign(epoch=epoch), workflows.assign(epoch=epoch))
    f = loadwise.audit(tmp_path / "train").findings
    assert f["source"]["steps"] == 3 * 4 * 5 * 20 * 4
    assert f["cost"]["epochs_in_telemetry"] == 3
    assert f["cost"]["old"]["steps_per_epoch"] == pytest.approx(4 * 5 * 20 * 4)
