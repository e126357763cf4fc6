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
    for (router, rate, budget), solved_within in evaluation.outcomes.items():  # noqa: B007, PERF102 - read by query()
        row = evaluation.cells.query("router == @router and rate == @rate and budget == @budget")
        assert len(solved_within) == 200
        assert solved_within.mean() == pytest.approx(float(row["goodput"].iloc[0]), abs=1e-12)


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
