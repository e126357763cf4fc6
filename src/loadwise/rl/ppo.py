"""PPO-Lagrangian, one update at a time, readable top to bottom (in the spirit of CleanRL).

An epoch of experience is a set of episodes (here: workflows). Each episode is a short
sequence of decisions, possibly taken by different policies (the planner decides once at
arrival, the executor at every role step), with a reward and a cost at the end. The
update:

1. `gae` — generalized advantage estimation (Schulman et al. 2016) on padded episodes,
   once with the reward and its value head, once with the cost and its value head.
2. `lagrangian_advantage` — A = (A_reward − λ·A_cost) / (1 + λ), λ from the episode's
   budget tier; dividing by 1 + λ keeps the step size comparable as λ grows.
3. `ppo_update` — `ppo_epochs` passes over shuffled minibatches of every policy's
   decisions; loss = clipped surrogate (Schulman et al. 2017) + value losses of both heads
   − entropy bonus; one optimizer over all parameters, gradient norm clipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch


@dataclass(frozen=True)
class PPOConfig:
    """Hyperparameters of the policy step (the multiplier step is in `lagrange`)."""

    ppo_epochs: int = 3
    minibatch_size: int = 4096
    learning_rate: float = 1e-3
    clip: float = 0.2
    gamma: float = 1.0          # workflows are short and end with their reward: no discount
    gae_lambda: float = 0.95
    entropy_coef: float = 0.01
    value_coef: float = 0.5
    max_grad_norm: float = 0.5
    normalize_advantages: bool = True  # standardize each policy's advantages over the epoch


class ActorCritic(Protocol):
    """What PPO needs from a policy: log-probability, entropy and both values of decisions."""

    def evaluate(self, obs: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(logp, entropy, value_reward, value_cost), each of shape (N,)."""


@dataclass
class Decisions:
    """All decisions one policy took in an epoch, with their advantages and returns."""

    obs: torch.Tensor
    actions: torch.Tensor
    logp: torch.Tensor        # log-probability under the policy that acted
    advantage: torch.Tensor   # Lagrangian advantage (see `lagrangian_advantage`)
    return_reward: torch.Tensor
    return_cost: torch.Tensor

    def __len__(self) -> int:
        return int(self.obs.shape[0])


@dataclass
class UpdateStats:
    policy_loss: float = 0.0
    value_loss_reward: float = 0.0
    value_loss_cost: float = 0.0
    entropy: float = 0.0
    approx_kl: float = 0.0
    clip_fraction: float = 0.0
    minibatches: int = field(default=0, repr=False)


def gae(rewards: np.ndarray, values: np.ndarray, mask: np.ndarray,
        gamma: float, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """Advantages and returns of padded episodes.

    rewards, values, mask: (episodes, max_len); mask[e, t] is true for the decisions that
    exist (a prefix of each row). The value after an episode's last decision is 0 (the
    episode ends). Returns (advantage, return = advantage + value), 0 where masked.
    """
    episodes, length = rewards.shape
    advantage = np.zeros((episodes, length))
    running = np.zeros(episodes)
    for t in reversed(range(length)):
        if t + 1 < length:
            has_next = mask[:, t + 1]
            next_value = np.where(has_next, values[:, t + 1], 0.0)
        else:
            has_next = np.zeros(episodes, dtype=bool)
            next_value = np.zeros(episodes)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = delta + gamma * lam * has_next * running
        advantage[:, t] = np.where(mask[:, t], running, 0.0)
    returns = np.where(mask, advantage + values, 0.0)
    return advantage, returns


def lagrangian_advantage(adv_reward: np.ndarray, adv_cost: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """(A_r − λ A_c) / (1 + λ), elementwise; λ per decision (from its workflow's tier)."""
    return (adv_reward - lam * adv_cost) / (1.0 + lam)


def ppo_update(groups: list[tuple[torch.nn.Module, Decisions]], optimizer: torch.optim.Optimizer,
               cfg: PPOConfig, generator: torch.Generator) -> UpdateStats:
    """`cfg.ppo_epochs` passes of clipped-surrogate PPO over every group's decisions.

    Each pass shuffles every group and cuts it into the same number of minibatches, so a
    gradient step sees planner and executor decisions in their epoch proportions.
    Advantages are standardized per group over the whole epoch (`cfg.normalize_advantages`).
    """
    total = sum(len(d) for _, d in groups)
    if total == 0:
        return UpdateStats()
    n_minibatches = max(1, -(-total // cfg.minibatch_size))
    normalized = []
    for policy, d in groups:
        adv = d.advantage
        if cfg.normalize_advantages and len(d) > 1:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        normalized.append((policy, d, adv))
    stats = UpdateStats()
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for _ in range(cfg.ppo_epochs):
        chunks = [
            torch.randperm(len(d), generator=generator).tensor_split(n_minibatches) for _, d, _ in normalized
        ]
        for mb in range(n_minibatches):
            loss = torch.zeros(())
            for (policy, d, adv), group_chunks in zip(normalized, chunks):
                idx = group_chunks[mb]
                if len(idx) == 0:
                    continue
                logp, entropy, v_r, v_c = policy.evaluate(d.obs[idx], d.actions[idx])
                log_ratio = logp - d.logp[idx]
                ratio = log_ratio.exp()
                a = adv[idx]
                surrogate = torch.max(-a * ratio, -a * ratio.clamp(1 - cfg.clip, 1 + cfg.clip)).mean()
                vl_r = 0.5 * ((v_r - d.return_reward[idx]) ** 2).mean()
                vl_c = 0.5 * ((v_c - d.return_cost[idx]) ** 2).mean()
                ent = entropy.mean()
                share = len(idx) / max(1, sum(len(c[mb]) for c in chunks))
                loss = loss + share * (surrogate + cfg.value_coef * (vl_r + vl_c) - cfg.entropy_coef * ent)
                with torch.no_grad():
                    stats.policy_loss += share * float(surrogate)
                    stats.value_loss_reward += share * float(vl_r)
                    stats.value_loss_cost += share * float(vl_c)
                    stats.entropy += share * float(ent)
                    stats.approx_kl += share * float(((ratio - 1) - log_ratio).mean())
                    stats.clip_fraction += share * float(((ratio - 1).abs() > cfg.clip).float().mean())
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
            optimizer.step()
            stats.minibatches += 1
    for name in ("policy_loss", "value_loss_reward", "value_loss_cost", "entropy", "approx_kl", "clip_fraction"):
        setattr(stats, name, getattr(stats, name) / stats.minibatches)
    return stats
