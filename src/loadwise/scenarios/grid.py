"""A rate × budget grid: the load cells a serving system must hold up in, as a scenario set.

Every part of loadwise that reasons about a serving grid uses this one concept: a
sweep simulates its cells, the router trains and is evaluated on them, the audit asks
whether they cover idle to saturated load, and the tuner optimizes over them as it
would over any weighted scenario set (`scenario_set`), each cell one scenario with the
serving system's parameters `rate` (requests/min), `budget` (s), `pattern` and
`workflows`.

The InfraMind training run (the router analysis this grid concept comes from) trained
on rates 50, 100, 150, 200 × budget tiers 10, 50, 200, 600, 1800 s
(`INFRAMIND_GRID`); its analysis recommended adding 20 and 30 req/min to reach the
idle and light regimes (`RECOMMENDED_GRID`, loadwise's default training grid).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from loadwise.errors import ConfigError
from loadwise.scenarios.scenario import Scenario, ScenarioSet


def cell_label(rate: float, budget: float) -> str:
    """The scenario name of a cell, e.g. 'rate20-budget600'."""
    return f"rate{rate:g}-budget{budget:g}"


@dataclass(frozen=True)
class RateBudgetGrid:
    """Arrival rates (requests/min) × latency budgets (s); cells are rate-major."""

    rates: tuple[float, ...]
    budgets: tuple[float, ...]

    def __post_init__(self) -> None:
        for name, values in (("rates", self.rates), ("budgets", self.budgets)):
            if not values or not all(isinstance(v, (int, float)) and math.isfinite(v) and v > 0 for v in values):
                raise ConfigError(name, f"must be positive numbers, at least one, got {list(values)}")
            if any(b <= a for a, b in itertools.pairwise(values)):
                raise ConfigError(name, f"must be increasing and distinct, got {list(values)}")
        object.__setattr__(self, "rates", tuple(float(r) for r in self.rates))
        object.__setattr__(self, "budgets", tuple(float(b) for b in self.budgets))

    @classmethod
    def of(cls, rates: Sequence[float], budgets: Sequence[float]) -> RateBudgetGrid:
        """A grid from values in any order (sorted; duplicates are an error)."""
        for name, values in (("rates", rates), ("budgets", budgets)):
            if len(set(values)) != len(values):
                raise ConfigError(name, f"values must be distinct, got {list(values)}")
        return cls(tuple(sorted(rates)), tuple(sorted(budgets)))

    @classmethod
    def from_scenario_set(cls, scenario_set: ScenarioSet) -> RateBudgetGrid:
        """The grid a scenario set of serving cells spans (every cell must be present)."""
        try:
            cells = {(float(s.params["rate"]), float(s.params["budget"])) for s in scenario_set.scenarios}
        except (KeyError, TypeError, ValueError):
            raise ConfigError("scenarios", f"{scenario_set.name} is not a rate × budget grid: every scenario "
                              "needs numeric rate and budget") from None
        grid = cls(tuple(sorted({r for r, _ in cells})), tuple(sorted({b for _, b in cells})))
        if len(cells) != len(grid.cells()):
            raise ConfigError("scenarios", f"{scenario_set.name} is not a full rate × budget grid "
                              f"({len(cells)} cells for {len(grid.rates)} rates × {len(grid.budgets)} budgets)")
        return grid

    def cells(self) -> list[tuple[float, float]]:
        return [(r, b) for r in self.rates for b in self.budgets]

    def tier(self, budget: float) -> int:
        """The index of a budget tier."""
        return self.budgets.index(float(budget))

    def scenario_set(self, workflows: int, pattern: str = "poisson", weights: Sequence[float] | None = None,
                     name: str = "grid") -> ScenarioSet:
        """The cells as weighted scenarios (equal weights unless given, rate-major)."""
        cells = self.cells()
        if weights is None:
            weights = [1.0] * len(cells)
        if len(weights) != len(cells):
            raise ConfigError("weights", f"expected {len(cells)} weights (one per cell, rate-major), got {len(weights)}")
        scenarios = tuple(
            Scenario(cell_label(r, b), float(w), {"rate": r, "budget": b, "pattern": pattern, "workflows": int(workflows)})
            for (r, b), w in zip(cells, weights)
        )
        return ScenarioSet(scenarios, name=name)


INFRAMIND_GRID = RateBudgetGrid((50.0, 100.0, 150.0, 200.0), (10.0, 50.0, 200.0, 600.0, 1800.0))
RECOMMENDED_GRID = RateBudgetGrid((20.0, 30.0, 50.0, 100.0, 150.0, 200.0), INFRAMIND_GRID.budgets)


def inframind_grid(workflows: int = 200) -> ScenarioSet:
    """The InfraMind training grid as a scenario set: 20 equally weighted cells."""
    return INFRAMIND_GRID.scenario_set(workflows, name="inframind-grid")
