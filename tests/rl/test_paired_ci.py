"""The paired batch-means interval of goodput differences that the per-cell target checks report."""

from __future__ import annotations

import numpy as np
import pytest

from loadwise.rl.constraint import Constraint
from loadwise.rl.evaluate import evaluate_routers
from loadwise.systems.agentserve import make_router


@pytest.fixture(scope="module")
def evaluation():
    routers = {name: make_router(name) for name in ("greedy", "quality-first", "fixed:3B:flash", "clairvoyant")}
    return evaluate_routers(routers, rates=(20.0, 200.0), budgets=(20.0, 600.0), workflows=200, seed=5,
                            constraint=Constraint("bust", 0.05), trained="greedy")


def test_kept_outcomes_are_the_cells_goodput(evaluation):
    for (router, rate, budget), per_seed in evaluation.outcomes.items():  # noqa: B007, PERF102 - read by query()
        row = evaluation.cells.query("router == @router and rate == @rate and budget == @budget")
        (solved_within,) = per_seed
        assert len(solved_within) == 200
        assert solved_within.mean() == pytest.approx(float(row["goodput"].iloc[0]), abs=1e-12)


def test_several_seeds_average_the_cells_and_pool_the_interval(evaluation):
    routers = {name: make_router(name) for name in ("quality-first", "fixed:3B:flash")}
    pooled = evaluate_routers(routers, rates=(20.0,), budgets=(600.0,), workflows=200, seed=(5, 6),
                              constraint=Constraint("bust", 0.05), trained="quality-first")
    alone = evaluate_routers(routers, rates=(20.0,), budgets=(600.0,), workflows=200, seed=6,
                             constraint=Constraint("bust", 0.05), trained="quality-first")
    first = evaluation.cells.set_index(["router", "rate", "budget"]).loc[("quality-first", 20.0, 600.0), "goodput"]
    second = alone.cells.set_index("router").loc["quality-first", "goodput"]
    both = pooled.cells.set_index("router").loc["quality-first"]
    assert both["goodput"] == pytest.approx((first + second) / 2, abs=1e-12)
    assert both["seeds"] == 2 and len(pooled.outcomes[("quality-first", 20.0, 600.0)]) == 2
    one = evaluation.paired_goodput_difference("quality-first", "fixed:3B:flash", 20.0, 600.0)
    two = pooled.paired_goodput_difference("quality-first", "fixed:3B:flash", 20.0, 600.0)
    assert two[2] - two[1] < one[2] - one[1]  # twice the batches: a narrower interval


def test_interval_is_zero_for_a_router_against_itself_and_excludes_zero_for_a_clear_gap(evaluation):
    assert evaluation.paired_goodput_difference("greedy", "greedy", 20.0, 600.0) == (0.0, 0.0, 0.0)
    # at a loose budget and low load the 32B DeepThink pick solves far more than 3B Flash
    diff, low, high = evaluation.paired_goodput_difference("quality-first", "fixed:3B:flash", 20.0, 600.0)
    assert 0 < low < diff < high
    assert diff > 0.4


def test_target_checks_report_the_interval_and_whether_a_miss_is_significant(evaluation):
    checks = evaluation.target_checks().set_index(["rate", "budget"])
    row = checks.loc[(20.0, 600.0)]
    assert row["difference_ci_low"] <= row["goodput_difference"] <= row["difference_ci_high"]
    assert row["goodput_difference"] == pytest.approx(row["trained_goodput"] - row["best_baseline_goodput"])
    missed = checks["oracle_meets"] & checks["trained_meets"] & (checks["trained_goodput"] < checks["best_baseline_goodput"])
    assert (checks["miss_significant"] == (missed & (checks["difference_ci_high"] < 0))).all()
    assert not np.isnan(checks["goodput_difference"]).all()
