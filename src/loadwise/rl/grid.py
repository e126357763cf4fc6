"""The rate × budget grid the router trains on, and which cells each epoch visits.

Defaults are the seed's recommendation: rates 20, 30, 50, 100, 150, 200 requests per
minute (20 and 30 add the idle regime the reference missed) and budget tiers 10, 50,
200, 600, 1800 s. An epoch runs `workflows` workflows in each cell it visits:

- `uniform`: every cell once per epoch (the reference's "each rate gets uniform sampling").
- `weighted`: the epoch's workflows (cells × workflows) are spread over cells in
  proportion to user weights, each cell getting a whole number (largest remainders).
- curriculum (`curriculum_epochs` > 0): cells are ranked by difficulty (rate rank +
  tightness rank of the budget); epoch e of the first `curriculum_epochs` visits only the
  easiest (e + 1) / curriculum_epochs share of difficulty levels, so the policy learns to
  solve problems where budgets are loose and servers idle before it meets saturation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from loadwise.errors import ConfigError
from loadwise.systems.agentserve.simulator import Cell

DEFAULT_RATES = (20.0, 30.0, 50.0, 100.0, 150.0, 200.0)
DEFAULT_BUDGETS = (10.0, 50.0, 200.0, 600.0, 1800.0)
SAMPLING = ("uniform", "weighted")


def parse_numbers(text: str | None, field: str, default: tuple[float, ...]) -> tuple[float, ...]:
    """"20,30,50" -> (20.0, 30.0, 50.0); positive, distinct, finite; ConfigError otherwise."""
    if text is None or str(text).strip() == "":
        return default
    try:
        values = tuple(float(v) for v in str(text).split(","))
    except ValueError:
        raise ConfigError(field, f"{text!r} is not a comma-separated list of numbers (e.g. 20,50,200)") from None
    if not all(np.isfinite(v) and v > 0 for v in values):
        raise ConfigError(field, f"{text!r}: every value must be a positive number")
    if len(set(values)) != len(values):
        raise ConfigError(field, f"{text!r}: values must be distinct")
    return tuple(sorted(values))


def parse_weights(text: str, field: str = "--weights") -> tuple[float, ...]:
    """"1,1,2,0" -> (1.0, 1.0, 2.0, 0.0), in the given order (cells rate-major)."""
    try:
        return tuple(float(v) for v in str(text).split(","))
    except ValueError:
        raise ConfigError(field, f"{text!r} is not a comma-separated list of numbers (one weight per cell)") from None


@dataclass(frozen=True)
class Grid:
    """Rates (req/min) × budget tiers (s), and how an epoch samples its cells."""

    rates: tuple[float, ...] = DEFAULT_RATES
    budgets: tuple[float, ...] = DEFAULT_BUDGETS
    workflows: int = 350
    sampling: str = "uniform"
    weights: tuple[float, ...] | None = None  # one per cell, rate-major (rates outer)
    curriculum_epochs: int = 0

    def __post_init__(self) -> None:
        for name, values in (("--rates", self.rates), ("--budgets", self.budgets)):
            if not values or any(b <= a for a, b in zip(values, values[1:])):
                raise ConfigError(name, "must be increasing, distinct and not empty (e.g. 10,50,200)")
        if self.workflows < 1:
            raise ConfigError("--workflows", "must be at least 1 workflow per cell")
        if self.sampling not in SAMPLING:
            raise ConfigError("--sampling", f"{self.sampling!r}; allowed: {', '.join(SAMPLING)}")
        if self.sampling == "weighted":
            n = len(self.rates) * len(self.budgets)
            w = np.asarray(self.weights if self.weights is not None else (), dtype=float)
            if w.shape != (n,) or not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() <= 0:
                raise ConfigError("--weights", f"weighted sampling needs {n} non-negative weights, one per cell "
                                  "(rate-major), not all zero")
        if self.curriculum_epochs < 0:
            raise ConfigError("--curriculum-epochs", "must be >= 0")

    def tier(self, budget: float) -> int:
        return self.budgets.index(budget)

    def cells(self) -> list[tuple[float, float]]:
        return [(r, b) for r in self.rates for b in self.budgets]

    def epoch_cells(self, epoch: int) -> list[Cell]:
        """The cells epoch `epoch` runs, with their workflow counts (deterministic)."""
        cells = self.cells()
        if self.sampling == "weighted":
            w = np.asarray(self.weights, dtype=float)
            share = w / w.sum() * self.workflows * len(cells)
            counts = np.floor(share).astype(int)
            remainder = int(round(share.sum())) - counts.sum()
            counts[np.argsort(-(share - counts), kind="stable")[:remainder]] += 1
        else:
            counts = np.full(len(cells), self.workflows)
        if epoch < self.curriculum_epochs:
            difficulty = np.array([self.rates.index(r) + (len(self.budgets) - 1 - self.budgets.index(b))
                                   for r, b in cells])
            levels = difficulty.max() + 1
            admitted = max(1, int(np.ceil(levels * (epoch + 1) / self.curriculum_epochs)))
            counts = np.where(difficulty < admitted, counts, 0)
        return [Cell(rate=r, budget=b, workflows=int(n)) for (r, b), n in zip(cells, counts) if n > 0]
