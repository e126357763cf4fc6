"""PPO-Lagrangian on problems whose constrained optimum is known exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import linprog

from loadwise.rl.constraint import Constraint
from loadwise.rl.lagrange import LagrangeMultipliers
from loadwise.rl.policies import ExecutorPolicy, PlannerPolicy
from loadwise.rl.ppo import Decisions, PPOConfig, gae, lagrangian_advantage, ppo_update

# Two budget tiers (contexts), four actions: success probability and bust probability.
REWARD = np.array([[0.2, 0.5, 0.7, 0.9], [0.2, 0.5, 0.7, 0.9]])
COST = np.array([[0.0, 0.05, 0.3, 0.8], [0.0, 0.0, 0.02, 0.08]])
EPS = 0.1


def lp_optimum(reward: np.ndarray, cost: np.ndarray, eps: float) -> float:
    """max π·r  s.t.  π·c ≤ eps, Σπ = 1, π ≥ 0."""
    k = len(reward)
    res = linprog(-reward, A_ub=cost[None, :], b_ub=[eps], A_eq=np.ones((1, k)), b_eq=[1.0], bounds=[(0, 1)] * k)
    assert res.success
    return -res.fun


def train_bandit(per_tier: bool, epochs: int = 200, seed: int = 0):
    """PPO-Lagrangian on one-decision episodes; returns per-tier (reward, cost) of the
    average policy over the last 30 epochs, computed exactly from its probabilities."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    policy = ExecutorPolicy(obs_dim=2, n_actions=4, hidden=32)
    opt = torch.optim.Adam(policy.parameters(), lr=3e-3)
    # some entropy keeps the policy able to mix two actions, which the LP optimum needs
    cfg = PPOConfig(ppo_epochs=3, minibatch_size=512, entropy_coef=0.05)
    lam = LagrangeMultipliers(n_groups=2, limit=EPS, init=0.2, lr=0.2, separate=per_tier)
    eye = torch.eye(2)
    history = []
    for epoch in range(epochs):
        tier = np.repeat([0, 1], 1024)
        obs = eye[tier]
        actions, logp, v_r, v_c = policy.act(obs, gen)
        a = actions.numpy()
        reward = (rng.random(len(a)) < REWARD[tier, a]).astype(float)
        cost = (rng.random(len(a)) < COST[tier, a]).astype(float)
        mask = np.ones((len(a), 1), dtype=bool)
        adv_r, ret_r = gae(reward[:, None], v_r.numpy()[:, None], mask, 1.0, 0.95)
        adv_c, ret_c = gae(cost[:, None], v_c.numpy()[:, None], mask, 1.0, 0.95)
        applied = lam.applied(epoch)[tier]
        adv = lagrangian_advantage(adv_r[:, 0], adv_c[:, 0], applied)
        batch = Decisions(obs, actions, logp, torch.as_tensor(adv, dtype=torch.float32),
                          torch.as_tensor(ret_r[:, 0], dtype=torch.float32),
                          torch.as_tensor(ret_c[:, 0], dtype=torch.float32))
        ppo_update([(policy, batch)], opt, cfg, gen)
        lam.update(epoch, tier, cost)
        with torch.no_grad():
            probs = torch.softmax(policy.logits(eye), dim=-1).numpy()
        history.append(((probs * REWARD).sum(1), (probs * COST).sum(1)))
    tail = history[-30:]
    return np.mean([h[0] for h in tail], axis=0), np.mean([h[1] for h in tail], axis=0), lam


def test_per_tier_ppo_lagrangian_reaches_the_lp_optimum():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny networks: threads only add contention on a shared machine
    try:
        reward, cost, lam = train_bandit(per_tier=True)
    finally:
        torch.set_num_threads(threads)
    for tier in range(2):
        best = lp_optimum(REWARD[tier], COST[tier], EPS)
        assert cost[tier] <= EPS + 0.02, (tier, cost)
        assert reward[tier] >= best - 0.03, (tier, reward, best)
        assert reward[tier] <= best + 0.02  # cannot beat the LP without violating
    # the tight tier needs a positive price on cost; the loose one is slack
    assert lam.values[0] > lam.values[1]


def test_gae_with_no_discount_gives_final_reward_minus_value():
    rewards = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    values = np.array([[0.2, 0.4, 0.6], [0.5, 0.5, 0.0]])
    mask = np.array([[True, True, True], [True, True, False]])
    adv, ret = gae(rewards, values, mask, gamma=1.0, lam=1.0)
    np.testing.assert_allclose(ret[mask], [1, 1, 1, 1, 1])
    np.testing.assert_allclose(adv[0], [0.8, 0.6, 0.4])
    assert adv[1, 2] == 0 and ret[1, 2] == 0
    # lam = 0: one-step TD errors
    adv0, _ = gae(rewards, values, mask, gamma=1.0, lam=0.0)
    np.testing.assert_allclose(adv0[0], [0.2, 0.2, 0.4])


def test_lambda_rises_when_violated_and_never_goes_below_zero():
    lam = LagrangeMultipliers(n_groups=2, limit=0.05, init=0.2, lr=1.0, separate=True)
    lam.update(0, np.array([0, 0, 1, 1]), np.array([1.0, 0.0, 0.0, 0.0]))  # tier 0 busts 50 %
    assert lam.values[0] == pytest.approx(0.2 + 0.45)
    assert lam.values[1] == pytest.approx(0.15)  # slack by 0.05
    for _ in range(20):
        lam.update(1, np.array([0, 1]), np.array([0.0, 0.0]))
    assert (lam.values >= 0).all() and lam.values[0] == 0.0


def test_shared_lambda_uses_the_pooled_cost_and_warmup_holds_it_at_zero():
    lam = LagrangeMultipliers(n_groups=3, limit=0.1, init=0.2, lr=0.5, warmup_epochs=2)
    tiers, costs = np.array([0, 1, 2, 2]), np.array([1.0, 0.0, 0.0, 0.0])
    for epoch in range(2):
        lam.update(epoch, tiers, costs)
        np.testing.assert_array_equal(lam.applied(epoch), 0.0)
    assert lam.values[0] == 0.2
    violation = lam.update(2, tiers, costs)
    np.testing.assert_allclose(violation, [0.9, -0.1, -0.1])
    np.testing.assert_allclose(lam.applied(2), [0.2 + 0.5 * 0.15] * 3)


def test_constraint_parsing_and_costs():
    assert Constraint.parse("bust:0.05") == Constraint("bust", 0.05)
    assert str(Constraint.parse("ratio:1")) == "ratio:1"
    np.testing.assert_array_equal(Constraint("bust", 0.05).cost([5, 12], [10, 10]), [0, 1])
    np.testing.assert_allclose(Constraint("ratio", 1).cost([5, 12], [10, 10]), [0.5, 1.2])
    from loadwise.errors import ConfigError

    for bad in ("bust", "bust:x", "bust:1.5", "ratio:0", "p95:3"):
        with pytest.raises(ConfigError, match="^constraint: .*allowed: bust:EPS"):
            Constraint.parse(bad)


def test_planner_log_probability_counts_only_used_agents_and_respects_allowed_counts():
    torch.manual_seed(0)
    allowed = torch.ones(3, 4, dtype=torch.bool)
    allowed[0, 1:] = False  # topology 0 takes exactly one agent
    planner = PlannerPolicy(obs_dim=5, n_topologies=3, max_agents=4, n_roles=6, agents_allowed=allowed)
    obs = torch.randn(500, 5)
    actions, logp, _, _ = planner.act(obs, torch.Generator().manual_seed(1))
    assert ((actions[:, 0] != 0) | (actions[:, 1] == 0)).all()
    unused = torch.arange(4)[None, :] > actions[:, 1:2]
    assert (actions[:, 2:][unused] == 0).all()
    logp2, entropy, _, _ = planner.evaluate(obs, actions)
    torch.testing.assert_close(logp, logp2)
    # changing an unused role slot does not change the probability
    changed = actions.clone()
    changed[:, 2:][unused] = 5
    torch.testing.assert_close(planner.evaluate(obs, changed)[0], logp2)
    assert (entropy > 0).all()
