"""Aggregates of per-scenario means into one objective: mean, worst case, CVaR, mean − κ·std.

All take scenario means and weights and the objective's direction, so "worst" is the
lowest value when maximizing and the highest when minimizing. CVaR at level α is the
weighted mean of the worst α share of the weight (α = 1: the mean; α → 0: the worst
case). "mean − κ·std" penalizes spread across scenarios: mean − κ·std when maximizing,
mean + κ·std when minimizing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from loadwise.errors import ConfigError


@dataclass(frozen=True)
class Aggregate:
    kind: str  # mean | worst | cvar | meanstd
    level: float = 0.0  # α for cvar, κ for meanstd

    @classmethod
    def parse(cls, text: str | Aggregate) -> Aggregate:
        if isinstance(text, Aggregate):
            return text
        allowed = "mean, worst, cvar:ALPHA (0 < ALPHA <= 1), meanstd:KAPPA (KAPPA >= 0)"
        kind, _, arg = str(text).partition(":")
        if kind in ("mean", "worst") and not arg:
            return cls(kind)
        if kind in ("cvar", "meanstd") and arg:
            try:
                level = float(arg)
            except ValueError:
                raise ConfigError("aggregate", f"{text!r} is not allowed ({allowed})") from None
            if (kind == "cvar" and 0 < level <= 1) or (kind == "meanstd" and 0 <= level < math.inf):
                return cls(kind, level)
        raise ConfigError("aggregate", f"{text!r} is not allowed ({allowed})")

    @property
    def linear(self) -> bool:
        """True for the weighted mean, the only aggregate paired racing is valid for."""
        return self.kind == "mean"

    def __str__(self) -> str:
        return self.kind if self.kind in ("mean", "worst") else f"{self.kind}:{self.level:g}"

    def __call__(self, means: Mapping[str, float], weights: Mapping[str, float], direction: str) -> float:
        names = list(weights)
        m = np.array([means[s] for s in names], dtype=float)
        w = np.array([weights[s] for s in names], dtype=float)
        w = w / w.sum()
        sign = 1.0 if direction == "minimize" else -1.0  # loss = sign * value: higher loss is worse
        mean = float(w @ m)
        if self.kind == "mean":
            return mean
        if self.kind == "worst":
            return float(sign * np.max(sign * m))
        if self.kind == "meanstd":
            std = math.sqrt(float(w @ (m - mean) ** 2))
            return mean + sign * self.level * std
        order = np.argsort(-sign * m, kind="stable")  # worst first
        remaining, total = self.level, 0.0
        for i in order:
            take = min(w[i], remaining)
            total += take * m[i]
            remaining -= take
            if remaining <= 1e-15:
                break
        return total / self.level

    def gradient(self, means: Mapping[str, float], weights: Mapping[str, float], direction: str) -> dict[str, float]:
        """∂aggregate/∂meanᵢ (central differences), for the delta-method variance of any aggregate."""
        out = {}
        for s in weights:
            h = 1e-6 * max(1.0, abs(means[s]))
            up, down = dict(means), dict(means)
            up[s] += h
            down[s] -= h
            out[s] = (self(up, weights, direction) - self(down, weights, direction)) / (2 * h)
        return out
