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


def test_planner_congestion_charge_lands_on_the_plan_only():
    # two workflows with the same outcome; wf 1's two calls met waiting lines of 0.5 and 1.5
    # × max_num_seqs, wf 2's call found a free batch slot
    plans = log([0, 0], [1, 2], [0, 1], [0.0, 0.0], [0.0, 0.0], action_width=3)
    steps = log([0, 0, 0], [1, 2, 1], [2, 3, 4], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0])
    steps["congestion"] = np.array([0.5, 0.0, 1.5])
    outcomes = Outcomes(np.array([0, 0]), np.array([1, 2]), reward=np.array([1.0, 1.0]),
                        cost=np.zeros(2), tier=np.array([0, 0]))
    cfg = PPOConfig(gamma=1.0, gae_lambda=1.0)
    planner, executor = build_decisions(plans, steps, outcomes, np.zeros(1), cfg, planner_congestion_price=0.1)
    unpriced_planner, unpriced_executor = build_decisions(plans, steps, outcomes, np.zeros(1), cfg)
    # the plan of wf 1 pays 0.1 × (0.5 + 1.5); wf 2's plan, whose call waited for nothing, pays 0
    np.testing.assert_allclose(planner.return_reward.numpy(), [0.8, 1.0], rtol=1e-6)
    np.testing.assert_allclose(planner.advantage.numpy(), [0.8, 1.0], rtol=1e-6)
    np.testing.assert_allclose(unpriced_planner.return_reward.numpy(), [1.0, 1.0])
    # the executor's advantages and returns, and every cost, are untouched
    for priced, plain in ((executor, unpriced_executor), (planner, unpriced_planner)):
        np.testing.assert_array_equal(priced.return_cost.numpy(), plain.return_cost.numpy())
    np.testing.assert_array_equal(executor.advantage.numpy(), unpriced_executor.advantage.numpy())
    np.testing.assert_array_equal(executor.return_reward.numpy(), unpriced_executor.return_reward.numpy())


def test_dispatch_congestion_is_the_chosen_servers_waiting_line():
    from types import SimpleNamespace

    from loadwise.rl.router import dispatch_congestion
    from loadwise.systems.agentserve.routing import N_MODELS, N_STRATEGIES, ServerLoad

    running = np.zeros((2, N_MODELS), dtype=np.int64)
    waiting = np.zeros((2, N_MODELS), dtype=np.int64)
    running[:, 4] = 32                         # 32B server's batch full ...
    waiting[:, 4] = 64                         # ... and 2 × max_num_seqs calls waiting
    running[:, 0] = 8                          # 3B server a quarter busy, nobody waiting
    servers = ServerLoad(running, waiting, np.zeros((2, N_MODELS)), np.ones((2, N_MODELS)),
                         np.full(N_MODELS, 32))
    actions = np.array([4 * N_STRATEGIES + 2, 0 * N_STRATEGIES + 1])  # 32B DeepThink, 3B Concise
    np.testing.assert_allclose(dispatch_congestion(SimpleNamespace(servers=servers), actions), [2.0, 0.0])
