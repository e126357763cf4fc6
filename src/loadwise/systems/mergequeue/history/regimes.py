"""Scenarios from a history: normal, peak, flaky storm and bad week, weighted by how often
the history was in each (`shared/spec/06-merge-queues.md`, "From history to settings").

- normal: the fitted world.
- peak: the busiest day's arrivals over the mean day's, as a traffic multiplier; its
  weight is the share of days busier than halfway between the mean and that peak.
- flaky storm / bad week: p_flake and p_bad fitted week by week (the same likelihood as
  the whole history, on each calendar week's runs); the worst week's value; the weight
  is the share of weeks whose interval lies wholly above the whole history's value.

Every regime keeps a weight of at least `MIN_WEIGHT`, so a month without a storm still
prepares for one; normal takes the rest. The result is a plain scenario-set mapping,
written as an editable file.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from loadwise.errors import ConfigError
from loadwise.systems.mergequeue.history.fit import DAY, Estimate, HistoryFit, fit_failures
from loadwise.systems.mergequeue.history.github import WorkflowRuns

MIN_WEIGHT = 0.05


def _subset(runs: WorkflowRuns, keep: np.ndarray) -> WorkflowRuns:
    """The runs in `keep`, parents outside it cut (their runs become roots)."""
    rows = np.flatnonzero(keep)
    new_row = np.full(len(runs), -1, np.int64)
    new_row[rows] = np.arange(rows.size)
    parent = runs.parent[rows]
    parent = np.where(parent >= 0, new_row[np.maximum(parent, 0)], -1)
    return WorkflowRuns(runs.id[rows], runs.name[rows], runs.created[rows], runs.started[rows], runs.updated[rows],
                        runs.attempt[rows], runs.conclusion[rows], runs.pr[rows], parent, runs.group_size[rows], 0)


def weekly_failures(runs: WorkflowRuns) -> list[tuple[Estimate, Estimate]]:
    """(p_bad, p_flake) of each full calendar week of runs with enough of them to fit."""
    week = ((runs.created - runs.created[0]) // (7 * DAY)).astype(np.int64)
    out = []
    for w in np.unique(week):
        part = _subset(runs, week == w)
        try:
            out.append(fit_failures(part))
        except ConfigError:
            continue
    return out


def history_scenarios(fit: HistoryFit, runs: WorkflowRuns | None, arrivals: np.ndarray,
                      name: str = "history") -> dict[str, Any]:
    """The scenario-set mapping (`scenarios.files` format) of the four regimes."""
    world = fit.world()
    days = np.bincount(((arrivals - arrivals[0]) // DAY).astype(np.int64))
    days = days[:max(1, int(fit.days))]
    mean_day = max(float(days.mean()), 1e-9)
    peak = max(1.0, float(days.max()) / mean_day)
    weights = {"peak": float(np.mean(days > mean_day * (1 + peak) / 2)) if peak > 1 else 0.0}
    regimes: dict[str, dict[str, Any]] = {"peak": {"traffic": round(peak, 3)}}
    p_bad, p_flake = fit.estimates.get("p_bad"), fit.estimates.get("p_flake")
    weekly = weekly_failures(runs) if runs is not None else []
    if weekly and p_flake is not None and p_bad is not None:
        regimes["flaky-storm"] = {"p_flake": round(max(*(w[1].value for w in weekly), p_flake.value), 5)}
        regimes["bad-week"] = {"p_bad": round(max(*(w[0].value for w in weekly), p_bad.value), 5)}
        weights["flaky-storm"] = float(np.mean([w[1].ci_low > p_flake.value for w in weekly]))
        weights["bad-week"] = float(np.mean([w[0].ci_low > p_bad.value for w in weekly]))
    else:  # no runs to fit week by week: twice the history's rates, at the minimum weight
        regimes["flaky-storm"] = {"p_flake": round(min(1.0, 2 * world.get("p_flake", 0.03)), 5)}
        regimes["bad-week"] = {"p_bad": round(min(1.0, 2 * world.get("p_bad", 0.05)), 5)}
    weights = {k: max(MIN_WEIGHT, weights.get(k, 0.0)) for k in regimes}
    scenarios = [{"name": "normal", "weight": round(max(MIN_WEIGHT, 1 - sum(weights.values())), 4), **world}]
    scenarios += [{"name": k, "weight": round(weights[k], 4), **world, **regimes[k]} for k in regimes]
    return {"name": name, "mode": "deterministic", "scenarios": scenarios}
