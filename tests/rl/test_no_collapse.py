"""No collapse: a trained router's mix follows budget and load, and is not one pair.

The detectors (`mix_shift`, `collapsed`) are checked on routers whose behaviour is known
(a fixed pair is collapsed and blind to budget and load; the budget-aware greedy
heuristic is not); the slow test trains a router and applies the same detectors.
"""

from __future__ import annotations

import pytest

from loadwise.rl.constraint import Constraint
from loadwise.rl.evaluate import collapsed, evaluate_routers, mix_shift
from loadwise.systems.agentserve import make_router

CELLS = dict(rates=(20.0, 200.0), budgets=(20.0, 200.0))


def test_detectors_flag_a_fixed_pair_and_pass_the_budget_aware_heuristic():
    routers = {"fixed": make_router("fixed:3B:flash"), "greedy": make_router("greedy")}
    ev = evaluate_routers(routers, workflows=60, seed=5, constraint=Constraint("bust", 0.05), trained="greedy", **CELLS)
    assert collapsed(ev, "fixed")
    assert mix_shift(ev, "fixed", "budget", 20.0, 200.0) == 0.0
    assert mix_shift(ev, "fixed", "rate", 20.0, 200.0) == 0.0
    assert not collapsed(ev, "greedy")
    assert mix_shift(ev, "greedy", "budget", 20.0, 200.0) > 0.2
    assert mix_shift(ev, "greedy", "rate", 20.0, 200.0) > 0.05


@pytest.mark.slow
def test_trained_router_changes_its_mix_with_budget_and_with_load(tmp_path):
    from loadwise.app.train_router import train_router as train
    from loadwise.rl.config import TrainConfig
    from loadwise.rl.router import load_router

    # 12 epochs were too few to learn the load response (rate shift 0.05–0.07, 2026-11-22); 30 give 0.17
    config = TrainConfig(workflows=150, epochs=30, minibatch_size=512, learning_rate=3e-3, telemetry=False, **CELLS)
    trainer = train(config, tmp_path / "run", progress=False)
    router, _ = load_router(trainer.run_dir)
    ev = evaluate_routers({"ppo": router}, workflows=200, seed=7, constraint=Constraint("bust", 0.05),
                          trained="ppo", **CELLS)
    assert not collapsed(ev, "ppo", share=0.6)
    assert mix_shift(ev, "ppo", "budget", 20.0, 200.0) > 0.1
    assert mix_shift(ev, "ppo", "rate", 20.0, 200.0) > 0.1
