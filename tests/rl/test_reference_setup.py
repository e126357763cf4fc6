"""The reference system's training setup (`config.REFERENCE_SETUP`) against ours.

Spec 04 names two failures: a collapse to the cheapest pair under the reward
`solved − max(0, L/B − 1)`, and budget-blindness (the same mix at budget 20 and 200).
The reference's router cannot see the budget (budget-blind planner, executor without
budget features), so with its most likely action it takes exactly the same decisions
at any budget; ours sees the budget and changes its mix with it. The collapse itself
is not reproduced on this simulator (see BENCHMARKS.md, router_training.py): every
collapsed policy earns less of the reference reward here than the mixes PPO finds.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from loadwise.app.train_router import train_router as train
from loadwise.rl.config import REFERENCE_SETUP, TrainConfig
from loadwise.rl.constraint import Constraint
from loadwise.rl.evaluate import evaluate_routers, mix_shift
from loadwise.rl.features import step_features
from loadwise.rl.router import load_router

CELLS = dict(rates=(20.0, 200.0), budgets=(20.0, 200.0))


def _trained(tmp_path, name, setup, workflows, epochs):
    config = TrainConfig(workflows=workflows, epochs=epochs, minibatch_size=256, telemetry=False, **CELLS, **setup)
    return train(config, tmp_path / name, progress=False).run_dir


def _evaluate(routers, workflows):
    return evaluate_routers(routers, workflows=workflows, seed=7, constraint=Constraint("bust", 0.05),
                            trained=next(iter(routers)), **CELLS)


def test_reference_observation_hides_the_budget_and_ours_shows_it():
    from loadwise.systems.agentserve import Cell, Lockstep

    batches = {}
    for budget in (20.0, 200.0):
        driver = Lockstep([Cell(rate=50.0, budget=budget, workflows=30)], 3)

        class Capture:
            name = "capture"

            def plan(self, batch):
                from loadwise.systems.agentserve.routers import reference_plan

                return reference_plan(batch)

            def route(self, batch):
                batches.setdefault(budget, batch)  # noqa: B023 - the router runs within this iteration
                return np.zeros(len(batch), dtype=np.int64)

        driver.run(Capture())
    a, b = batches[20.0], batches[200.0]
    np.testing.assert_array_equal(step_features(a, "reference"), step_features(b, "reference"))
    assert not np.array_equal(step_features(a, "full"), step_features(b, "full"))


def test_reference_setup_takes_the_same_decisions_at_every_budget_ours_does_not(tmp_path):
    torch.set_num_threads(1)
    routers = {}
    # ours: the defaults, with enough cloning passes for 30 workflows per cell to teach the warm start anything
    for name, setup in (("ours", {"imitation_passes": 40}), ("reference", REFERENCE_SETUP)):
        routers[name], _ = load_router(_trained(tmp_path, name, setup, workflows=30, epochs=2), greedy=True, name=name)
    ev = _evaluate(routers, workflows=60)
    assert mix_shift(ev, "reference", "budget", 20.0, 200.0) == 0.0
    assert mix_shift(ev, "reference", "rate", 20.0, 200.0) > 0.0  # it does see the load
    assert mix_shift(ev, "ours", "budget", 20.0, 200.0) > 0.05


@pytest.mark.slow
def test_under_the_same_training_budget_ours_follows_the_budget_and_earns_more_goodput(tmp_path):
    torch.set_num_threads(1)
    routers = {}
    for name, setup in (("ours", {}), ("reference", REFERENCE_SETUP)):
        routers[name], _ = load_router(_trained(tmp_path, name, setup, workflows=150, epochs=12), name=name)
    ev = _evaluate(routers, workflows=300)
    assert mix_shift(ev, "reference", "budget", 20.0, 200.0) < 0.05
    assert mix_shift(ev, "ours", "budget", 20.0, 200.0) > 0.1
    goodput = ev.cells.groupby("router")["goodput"].mean()
    assert goodput["ours"] > goodput["reference"] + 0.05
