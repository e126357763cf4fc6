"""Which (rate, budget) grid the audit covers, and the rows that fall outside it.

The grid is the one the user names (`rates_target` / `budgets_target`) or, by default,
the one the data shows: every rate and budget that carries at least `min_share` of the
role steps (stray values from a debugging run would otherwise become grid points). Rows
outside the grid are left out of the tables and counted in the report, never dropped
silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from loadwise.errors import ConfigError
from loadwise.systems.agentserve.telemetry import Telemetry


@dataclass
class Grid:
    rates: list[float]
    budgets: list[float]
    rates_from: str  # "target" or "data"
    budgets_from: str
    out_of_grid: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"rates": self.rates, "budgets": self.budgets, "rates_from": self.rates_from,
                "budgets_from": self.budgets_from, "out_of_grid": self.out_of_grid}


def select_grid(telemetry: Telemetry, rates_target: list[float] | None = None,
                budgets_target: list[float] | None = None,
                min_share: float = 0.01) -> tuple[Grid, pd.DataFrame, pd.DataFrame]:
    """The grid, and the step and workflow rows inside it."""
    steps, workflows = telemetry.steps, telemetry.workflows
    if steps.empty:
        raise ConfigError("telemetry", "no role-step rows: the audit needs the queue depth at each dispatch")
    rates = _grid_values(steps["rate"], rates_target, min_share, "rates_target")
    budgets = _grid_values(steps["budget"], budgets_target, min_share, "budgets_target")

    step_in = steps["rate"].isin(rates).to_numpy() & steps["budget"].isin(budgets).to_numpy()
    wf_in = workflows["rate"].isin(rates).to_numpy() & workflows["budget"].isin(budgets).to_numpy()
    if not step_in.any():
        raise ConfigError("rates_target" if rates_target else "budgets_target",
                          f"no role steps at these grid points (rates in the data: {_values(steps['rate'])}; "
                          f"budgets: {_values(steps['budget'])})")
    out = {
        "steps": int((~step_in).sum()),
        "workflows": int((~wf_in).sum()),
        "steps_total": len(steps),
        "workflows_total": len(workflows),
        "off_grid_rates": _counts(steps.loc[~steps["rate"].isin(rates), "rate"]),
        "off_grid_budgets": _counts(steps.loc[~steps["budget"].isin(budgets), "budget"]),
    }
    grid = Grid(rates, budgets, "target" if rates_target else "data", "target" if budgets_target else "data", out)
    return grid, steps[step_in].reset_index(drop=True), workflows[wf_in].reset_index(drop=True)


def _grid_values(column: pd.Series, target: list[float] | None, min_share: float, name: str) -> list[float]:
    if target:
        values = sorted({float(v) for v in target})
        if any(not np.isfinite(v) or v <= 0 for v in values):
            raise ConfigError(name, "values must be positive numbers")
        return values
    shares = column.value_counts(normalize=True)
    values = sorted(float(v) for v, s in shares.items() if s >= min_share)
    if not values:
        raise ConfigError(name, f"no value carries {100 * min_share:g} % of the role steps ({column.nunique()} distinct "
                          "values), so the data show no grid; name it with this option")
    return values


def _counts(column: pd.Series) -> dict[str, int]:
    return {_fmt(v): int(n) for v, n in column.value_counts().sort_index().items()}


def _values(column: pd.Series) -> str:
    return ", ".join(_fmt(v) for v in sorted(column.unique())[:20])


def _fmt(v: float) -> str:
    return f"{v:g}"
