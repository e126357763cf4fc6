"""Lagrange multipliers of the budget constraint, updated by projected gradient ascent.

PPO-Lagrangian turns "maximize reward subject to mean cost ≤ limit" into the saddle
problem max_π min_{λ≥0} E[reward] − λ (E[cost] − limit). The policy step is PPO on the
advantage A_reward − λ·A_cost; the multiplier step is gradient ascent on the dual,
λ ← max(0, λ + lr · (mean cost − limit)): λ grows while the constraint is violated and
shrinks (never below 0) while it is slack.

With one shared λ, tight budget tiers stay violated while loose ones are slack (the
InfraMind run's 23–28 % bust at 10 s with a shared multiplier). `separate=True` keeps one
multiplier per group — per budget tier, or per (rate, budget) cell — each driven by its
own group's cost. (A tier's λ is driven by the tier's mean over all rates, so a tier can
still be violated at high load while slack at low load; one λ per cell prices each
load condition separately.)

During the first `warmup_epochs` epochs the applied λ is 0 and nothing is updated, so
the policy first learns to solve problems at all.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class LagrangeMultipliers:
    """One λ per group (`separate`: per tier or per cell) or one shared λ, starting at `init`."""

    def __init__(self, n_groups: int, limit: float, init: float = 0.2, lr: float = 1.0,
                 warmup_epochs: int = 0, separate: bool = False) -> None:
        if n_groups < 1:
            raise ValueError("need at least one group")
        if init < 0 or lr < 0 or warmup_epochs < 0:
            raise ValueError("lambda_init, lambda_lr and warmup_epochs must be >= 0")
        self.n_groups = n_groups
        self.limit = float(limit)
        self.lr = float(lr)
        self.warmup_epochs = int(warmup_epochs)
        self.separate = bool(separate)
        self.values = np.full(n_groups if separate else 1, float(init))

    def active(self, epoch: int) -> bool:
        return epoch >= self.warmup_epochs

    def applied(self, epoch: int) -> np.ndarray:
        """λ per group as the policy update should use it in `epoch` (0 during warmup)."""
        if not self.active(epoch):
            return np.zeros(self.n_groups)
        return np.broadcast_to(self.values, (self.n_groups,)).copy()

    def update(self, epoch: int, group: np.ndarray, cost: np.ndarray) -> np.ndarray:
        """One ascent step from this epoch's per-workflow costs (`group[i]` = group index).

        Shared: the gradient is the pooled mean cost − limit. Separate: each group's mean
        cost − limit; a group without workflows this epoch keeps its λ. Returns the
        violation (mean cost − limit) per group, NaN where a group had no workflows.
        """
        group = np.asarray(group, dtype=np.int64)
        cost = np.asarray(cost, dtype=np.float64)
        counts = np.bincount(group, minlength=self.n_groups)
        sums = np.bincount(group, weights=cost, minlength=self.n_groups)
        with np.errstate(invalid="ignore", divide="ignore"):
            violation = np.where(counts > 0, sums / np.maximum(counts, 1) - self.limit, np.nan)
        if not self.active(epoch) or len(cost) == 0:
            return violation
        if self.separate:
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
