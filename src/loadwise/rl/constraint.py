"""The budget constraint the router is trained under, and the per-workflow cost it implies.

Two forms (spec 04, "Training: PPO-Lagrangian"):

- `bust:ε` — P(latency > budget) ≤ ε. A workflow's cost is 1 if it ran over its budget,
  else 0, so the mean cost is the bust rate.
- `ratio:c` — E[latency / budget] ≤ c (the reference system's "cost ratio"). A
  workflow's cost is latency / budget.

The bust form bounds what users feel (how often a budget is broken); the ratio form is
what the reference used and lets a few huge overruns hide behind many early finishes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from loadwise.errors import ConfigError

KINDS = ("bust", "ratio")


@dataclass(frozen=True)
class Constraint:
    """`kind` is "bust" or "ratio"; `limit` is ε (bust) or c (ratio)."""

    kind: str
    limit: float

    @classmethod
    def parse(cls, text: str, field: str = "constraint") -> Constraint:
        """`bust:0.05` or `ratio:1`; anything else is a ConfigError naming `field`."""
        allowed = "bust:EPS with 0 <= EPS < 1 (e.g. bust:0.05) or ratio:C with C > 0 (e.g. ratio:1)"
        kind, sep, value = str(text).partition(":")
        if not sep or kind not in KINDS:
            raise ConfigError(field, f"{text!r} is not a constraint; allowed: {allowed}")
        try:
            limit = float(value)
        except ValueError:
            raise ConfigError(field, f"{text!r} has no numeric limit; allowed: {allowed}") from None
        if not np.isfinite(limit) or (kind == "bust" and not 0 <= limit < 1) or (kind == "ratio" and limit <= 0):
            raise ConfigError(field, f"{text!r} has a limit out of range; allowed: {allowed}")
        return cls(kind, limit)

    def cost(self, latency: np.ndarray, budget: np.ndarray) -> np.ndarray:
        """Per-workflow cost whose mean the constraint bounds by `limit`."""
        latency = np.asarray(latency, dtype=np.float64)
        budget = np.asarray(budget, dtype=np.float64)
        if self.kind == "bust":
            return (latency > budget).astype(np.float64)
        return latency / budget

    def __str__(self) -> str:
        return f"{self.kind}:{self.limit:g}"
