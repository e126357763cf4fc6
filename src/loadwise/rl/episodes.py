"""From logged decisions and finished workflows to PPO's advantages and returns.

A workflow is one episode. Its timesteps are its decisions in the order they were taken:
the plan at arrival, then one executor decision per role step (the final decision step
included). The reward and the cost arrive with the last decision, when the workflow's
outcome is known; earlier decisions get credit through GAE and the value heads.
With a planner congestion price, the plan is also charged, at its own timestep,
price × Σ over the workflow's calls of the waiting line each call joined
(`router.dispatch_congestion`). A workflow's reward is its own outcome, so a plan is
otherwise never charged for the queueing its calls cause the other workflows; the charge
sits before the executor's first decision, so GAE gives it to the plan's advantage alone
and the executor, which still sees the queue, is not pushed off the busy server.
Decisions of workflows that did not finish within the rollout are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from loadwise.rl.ppo import Decisions, PPOConfig, gae, lagrangian_advantage

_KEY = np.int64(1) << np.int64(32)


@dataclass
class Outcomes:
    """One row per finished workflow: who it was, and what it earned and cost."""

    sim_index: np.ndarray
    workflow_id: np.ndarray
    reward: np.ndarray
    cost: np.ndarray
    tier: np.ndarray  # budget tier index (advantages are normalized per tier)
    group: np.ndarray | None = None  # index of the workflow's λ (tier or cell); None: the tier


def _keys(sim_index: np.ndarray, workflow_id: np.ndarray) -> np.ndarray:
    return np.asarray(sim_index, dtype=np.int64) * _KEY + np.asarray(workflow_id, dtype=np.int64)


def match_decisions(log: dict[str, np.ndarray], outcomes_sim: np.ndarray,
                    outcomes_workflow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows of `log` whose workflow finished, the index of that workflow in the outcomes)."""
    ep_keys = _keys(outcomes_sim, outcomes_workflow)
    if len(ep_keys) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    sorter = np.argsort(ep_keys)
    sorted_keys = ep_keys[sorter]
    keys = _keys(log["sim_index"], log["workflow_id"])
    pos = np.searchsorted(sorted_keys, keys).clip(max=len(sorted_keys) - 1)
    rows = np.flatnonzero(sorted_keys[pos] == keys)
    return rows, sorter[pos[rows]]


def build_decisions(plan_log: dict[str, np.ndarray], step_log: dict[str, np.ndarray], outcomes: Outcomes,
                    lam_per_group: np.ndarray, cfg: PPOConfig,
                    normalize_per_tier: bool = False,
                    planner_congestion_price: float = 0.0) -> tuple[Decisions | None, Decisions | None]:
    """(planner decisions, executor decisions) with Lagrangian advantages and both returns.

    `normalize_per_tier` standardizes advantages within each budget tier: where budgets
    are loose, pairs differ by a few points of success probability, and against the
    large advantages of tight tiers those differences would be lost in a batch-wide
    normalization; per tier, every tier's decisions get a comparable step size.
    `planner_congestion_price` charges each plan price × the summed `congestion` of its
    workflow's executor decisions (module docstring); 0: rewards are the outcomes alone.
    """
    logs = [plan_log, step_log]
    parts = []
    for g, log in enumerate(logs):
        if not log or len(outcomes.sim_index) == 0:
            continue
        rows, episode_of = match_decisions(log, outcomes.sim_index, outcomes.workflow_id)
        parts.append((g, rows, episode_of, log["order"][rows], log["value_reward"][rows], log["value_cost"][rows]))
    if not parts:
        return None, None
    group = np.concatenate([np.full(len(p[1]), p[0]) for p in parts])
    row = np.concatenate([p[1] for p in parts])
    episode = np.concatenate([p[2] for p in parts])
    order = np.concatenate([p[3] for p in parts])
    v_r = np.concatenate([p[4] for p in parts]).astype(np.float64)
    v_c = np.concatenate([p[5] for p in parts]).astype(np.float64)

    # lay the decisions out as (episode, position) in time order
    idx = np.lexsort((order, episode))
    episode_sorted = episode[idx]
    starts = np.searchsorted(episode_sorted, episode_sorted, side="left")
    position = np.arange(len(idx)) - starts
    n_episodes, length = len(outcomes.sim_index), int(position.max()) + 1
    mask = np.zeros((n_episodes, length), dtype=bool)
    values_r = np.zeros((n_episodes, length))
    values_c = np.zeros((n_episodes, length))
    mask[episode_sorted, position] = True
    values_r[episode_sorted, position] = v_r[idx]
    values_c[episode_sorted, position] = v_c[idx]
    last = mask.sum(axis=1) - 1
    has = last >= 0
    rewards = np.zeros((n_episodes, length))
    costs = np.zeros((n_episodes, length))
    rewards[np.flatnonzero(has), last[has]] = outcomes.reward[has]
    costs[np.flatnonzero(has), last[has]] = outcomes.cost[has]
    inverse = np.empty(len(idx), dtype=np.int64)  # decision -> its place in the time-ordered layout
    inverse[idx] = np.arange(len(idx))
    if planner_congestion_price and plan_log and step_log:
        calls = np.flatnonzero(group == 1)
        queued = np.bincount(episode[calls], weights=step_log["congestion"][row[calls]], minlength=n_episodes)
        plans = np.flatnonzero(group == 0)
        rewards[episode[plans], position[inverse[plans]]] -= planner_congestion_price * queued[episode[plans]]

    adv_r, ret_r = gae(rewards, values_r, mask, cfg.gamma, cfg.gae_lambda)
    adv_c, ret_c = gae(costs, values_c, mask, cfg.gamma, cfg.gae_lambda)
    lam_group = outcomes.tier if outcomes.group is None else outcomes.group
    lam = np.asarray(lam_per_group, dtype=np.float64)[lam_group][:, None]
    adv = lagrangian_advantage(adv_r, adv_c, lam)
    if normalize_per_tier:
        adv = _standardize_per_tier(adv, mask, outcomes.tier)

    out: list[Decisions | None] = [None, None]
    for g, log in enumerate(logs):
        sel = np.flatnonzero(group == g)
        if len(sel) == 0:
            continue
        e, p, r = episode[sel], position[inverse[sel]], row[sel]
        out[g] = Decisions(
            obs=torch.from_numpy(np.ascontiguousarray(log["obs"][r])),
            actions=torch.from_numpy(np.ascontiguousarray(log["actions"][r])).long(),
            logp=torch.from_numpy(log["logp"][r]).float(),
            advantage=torch.from_numpy(adv[e, p]).float(),
            return_reward=torch.from_numpy(ret_r[e, p]).float(),
            return_cost=torch.from_numpy(ret_c[e, p]).float(),
        )
    return out[0], out[1]


def _standardize_per_tier(adv: np.ndarray, mask: np.ndarray, tier: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance of the valid advantages of each tier's episodes."""
    out = adv.copy()
    for t in np.unique(tier):
        rows = tier == t
        valid = adv[rows][mask[rows]]
        if len(valid) > 1:
            out[rows] = np.where(mask[rows], (adv[rows] - valid.mean()) / (valid.std() + 1e-8), 0.0)
    return out
