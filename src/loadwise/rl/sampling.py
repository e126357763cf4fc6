"""Which cells of the rate × budget grid each training epoch visits, with how many workflows.

An epoch runs `workflows` workflows in each cell it visits:

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
from loadwise.scenarios.grid import RateBudgetGrid
from loadwise.systems.agentserve.simulator import Cell

SAMPLING = ("uniform", "weighted")


@dataclass(frozen=True)
class CellSampling:
    """A grid and how an epoch samples its cells."""

    grid: RateBudgetGrid
    workflows: int = 350
    sampling: str = "uniform"
    weights: tuple[float, ...] | None = None  # one per cell, rate-major (rates outer)
    curriculum_epochs: int = 0

    def __post_init__(self) -> None:
        if self.workflows < 1:
            raise ConfigError("workflows", "must be at least 1 workflow per cell")
        if self.sampling not in SAMPLING:
            raise ConfigError("sampling", f"{self.sampling!r}; allowed: {', '.join(SAMPLING)}")
        if self.sampling == "weighted":
            n = len(self.grid.cells())
            w = np.asarray(self.weights if self.weights is not None else (), dtype=float)
            if w.shape != (n,) or not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() <= 0:
                raise ConfigError("weights", f"weighted sampling needs {n} non-negative weights, one per cell "
                                  "(rate-major), not all zero")
        if self.curriculum_epochs < 0:
            raise ConfigError("curriculum_epochs", "must be >= 0")

    def epoch_cells(self, epoch: int) -> list[Cell]:
        """The cells epoch `epoch` runs, with their workflow counts (deterministic)."""
        grid = self.grid
        cells = grid.cells()
        if self.sampling == "weighted":
            w = np.asarray(self.weights, dtype=float)
            share = w / w.sum() * self.workflows * len(cells)
            counts = np.floor(share).astype(int)
            remainder = round(share.sum()) - counts.sum()
            counts[np.argsort(-(share - counts), kind="stable")[:remainder]] += 1
        else:
            counts = np.full(len(cells), self.workflows)
        if epoch < self.curriculum_epochs:
            difficulty = np.array([grid.rates.index(r) + (len(grid.budgets) - 1 - grid.tier(b)) for r, b in cells])
            levels = difficulty.max() + 1
            admitted = max(1, int(np.ceil(levels * (epoch + 1) / self.curriculum_epochs)))
            counts = np.where(difficulty < admitted, counts, 0)
        return [Cell(rate=r, budget=b, workflows=int(n)) for (r, b), n in zip(cells, counts) if n > 0]
