"""Lagrange multipliers of the budget constraint, updated by projected gradient ascent.

PPO-Lagrangian turns "maximize reward subject to mean cost ≤ limit" into the saddle
problem max_π min_{λ≥0} E[reward] − λ (E[cost] − limit). The policy step is PPO on the
advantage A_reward − λ·A_cost; the multiplier step is gradient ascent on the dual,
λ ← max(0, λ + lr · (mean cost − limit)): λ grows while the constraint is violated and
shrinks (never below 0) while it is slack.

With one shared λ, tight budget tiers stay violated while loose ones are slack (the
seed's 23–28 % bust at 10 s with a shared multiplier); `per_tier=True` keeps one
multiplier per budget tier, each driven by its own tier's cost.

During the first `warmup_epochs` epochs the applied λ is 0 and nothing is updated, so
the policy first learns to solve problems at all.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class LagrangeMultipliers:
    """One λ per budget tier (`per_tier`) or one shared λ, starting at `init`."""

    def __init__(self, n_tiers: int, limit: float, init: float = 0.2, lr: float = 1.0,
                 warmup_epochs: int = 0, per_tier: bool = False) -> None:
        if n_tiers < 1:
            raise ValueError("need at least one budget tier")
        if init < 0 or lr < 0 or warmup_epochs < 0:
            raise ValueError("lambda_init, lambda_lr and warmup_epochs must be >= 0")
        self.n_tiers = n_tiers
        self.limit = float(limit)
        self.lr = float(lr)
        self.warmup_epochs = int(warmup_epochs)
        self.per_tier = bool(per_tier)
        self.values = np.full(n_tiers if per_tier else 1, float(init))

    def active(self, epoch: int) -> bool:
        return epoch >= self.warmup_epochs

    def applied(self, epoch: int) -> np.ndarray:
        """λ per tier as the policy update should use it in `epoch` (0 during warmup)."""
        if not self.active(epoch):
            return np.zeros(self.n_tiers)
        return np.broadcast_to(self.values, (self.n_tiers,)).copy()

    def update(self, epoch: int, tier: np.ndarray, cost: np.ndarray) -> np.ndarray:
        """One ascent step from this epoch's per-workflow costs (`tier[i]` = tier index).

        Shared: the gradient is the pooled mean cost − limit. Per tier: each tier's mean
        cost − limit; a tier without workflows this epoch keeps its λ. Returns the
        violation (mean cost − limit) per tier, NaN where a tier had no workflows.
        """
        tier = np.asarray(tier, dtype=np.int64)
        cost = np.asarray(cost, dtype=np.float64)
        counts = np.bincount(tier, minlength=self.n_tiers)
        sums = np.bincount(tier, weights=cost, minlength=self.n_tiers)
        with np.errstate(invalid="ignore", divide="ignore"):
            violation = np.where(counts > 0, sums / np.maximum(counts, 1) - self.limit, np.nan)
        if not self.active(epoch) or len(cost) == 0:
            return violation
        if self.per_tier:
            step = np.nan_to_num(violation, nan=0.0)
        else:
            step = np.array([cost.mean() - self.limit])
        self.values = np.maximum(0.0, self.values + self.lr * step)
        return violation

    def state_dict(self) -> dict[str, Any]:
        return {"values": self.values.tolist()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        values = np.asarray(state["values"], dtype=np.float64)
        if values.shape != self.values.shape:
            raise ValueError(f"checkpoint has {values.size} multipliers, this run expects {self.values.size}")
        self.values = values
