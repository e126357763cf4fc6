"""Credit assignment: decisions of a workflow become one episode, in time order."""

from __future__ import annotations

import numpy as np

from loadwise.rl.episodes import Outcomes, build_decisions
from loadwise.rl.ppo import PPOConfig


def log(sim, wf, order, v_r, v_c, obs_dim=2, action_width=1):
    n = len(sim)
    return {
        "obs": np.arange(n * obs_dim, dtype=np.float32).reshape(n, obs_dim),
        "actions": np.arange(n).reshape(n, 1).repeat(action_width, 1) if action_width > 1 else np.arange(n),
        "logp": np.zeros(n, dtype=np.float32),
        "value_reward": np.asarray(v_r, dtype=np.float32),
        "value_cost": np.asarray(v_c, dtype=np.float32),
        "sim_index": np.asarray(sim), "workflow_id": np.asarray(wf), "order": np.asarray(order),
    }


def test_rewards_reach_every_decision_of_their_workflow_only():
    # sim 0 wf 7: plan (order 0), steps at orders 2, 5; sim 1 wf 7: plan (1), step (3);
    # sim 0 wf 9 never finishes (its plan at order 4 is dropped)
    plans = log([0, 1, 0], [7, 7, 9], [0, 1, 4], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], action_width=3)
    steps = log([0, 1, 0], [7, 7, 7], [5, 3, 2], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0])
    outcomes = Outcomes(np.array([1, 0]), np.array([7, 7]), reward=np.array([0.0, 1.0]),
                        cost=np.array([1.0, 0.0]), tier=np.array([0, 1]))
    cfg = PPOConfig(gamma=1.0, gae_lambda=1.0)
    planner, executor = build_decisions(plans, steps, outcomes, np.array([0.0, 0.0]), cfg)
    assert len(planner) == 2 and len(executor) == 3
    # zero values, no discount: every decision's return is its workflow's final reward / cost
    np.testing.assert_allclose(planner.return_reward.numpy(), [1.0, 0.0])
    np.testing.assert_allclose(executor.return_reward.numpy(), [1.0, 0.0, 1.0])
    np.testing.assert_allclose(executor.return_cost.numpy(), [0.0, 1.0, 0.0])
    assert planner.actions.shape == (2, 3)


def test_lambda_of_the_workflows_tier_prices_its_cost():
    plans = log([0, 0], [1, 2], [0, 1], [0.0, 0.0], [0.0, 0.0], action_width=3)
    steps = log([0, 0], [1, 2], [2, 3], [0.0, 0.0], [0.0, 0.0])
    outcomes = Outcomes(np.array([0, 0]), np.array([1, 2]), reward=np.array([1.0, 1.0]),
                        cost=np.array([1.0, 1.0]), tier=np.array([0, 1]))
    _, executor = build_decisions(plans, steps, outcomes, np.array([0.0, 3.0]), PPOConfig(gae_lambda=1.0))
    # (A_r - λ A_c) / (1 + λ): tier 0 -> 1, tier 1 -> (1 - 3) / 4
    np.testing.assert_allclose(executor.advantage.numpy(), [1.0, -0.5])


def test_per_tier_normalization_gives_each_tier_unit_scale():
    n = 200
    rng = np.random.default_rng(0)
    tier = np.repeat([0, 1], n // 2)
    plans = log(np.zeros(n, int), np.arange(n), np.arange(n), np.zeros(n), np.zeros(n), action_width=3)
    steps = log(np.zeros(n, int), np.arange(n), np.arange(n, 2 * n), np.zeros(n), np.zeros(n))
    # tier 0: rewards 0/1; tier 1: rewards differ by a few hundredths only
    reward = np.where(tier == 0, rng.integers(0, 2, n), 0.9 + 0.02 * rng.integers(0, 2, n)).astype(float)
    outcomes = Outcomes(np.zeros(n, int), np.arange(n), reward, np.zeros(n), tier)
    both = np.concatenate([tier, tier])  # planner decisions, then executor decisions

    def advantages(**kw):
        planner, executor = build_decisions(plans, steps, outcomes, np.zeros(2), PPOConfig(), **kw)
        return np.concatenate([planner.advantage.numpy(), executor.advantage.numpy()])

    plain, scaled = advantages(), advantages(normalize_per_tier=True)
    assert plain[both == 1].std() < 0.1 * plain[both == 0].std()
    for t in (0, 1):
        assert abs(scaled[both == t].mean()) < 1e-5
        assert abs(scaled[both == t].std() - 1) < 1e-3
