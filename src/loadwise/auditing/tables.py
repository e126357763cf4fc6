"""The audit's tables: plain pandas aggregations of the in-grid telemetry.

By rate × budget (workflow rows): mean and p95 workflow latency, violation rate with its
95 % Wilson interval, mean cost ratio (latency / budget). By rate (role-step rows): mean
queue depth at dispatch, share of steps below the idle threshold, mean queue depth per
model. Model and strategy counts by rate × budget, from which every mix table and test
is derived.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from loadwise.auditing.stats import wilson


@dataclass
class Tables:
    cells: pd.DataFrame           # index (rate, budget)
    by_rate: pd.DataFrame         # index rate
    by_budget: pd.DataFrame       # index budget
    model_queue: pd.DataFrame     # rate × model, mean queue depth at dispatch
    model_counts: pd.DataFrame    # (rate, budget) × model, step counts
    strategy_counts: pd.DataFrame  # (rate, budget) × strategy, step counts

    def mix(self, which: str, by: str) -> pd.DataFrame:
        """Selection shares (rows sum to 1) of `which` ("model"/"strategy") by "rate" or "budget"."""
        counts = (self.model_counts if which == "model" else self.strategy_counts).groupby(level=by).sum()
        return counts.div(counts.sum(axis=1), axis=0)


def build_tables(steps: pd.DataFrame, workflows: pd.DataFrame, grid_rates: list[float],
                 grid_budgets: list[float], idle_below: float) -> Tables:
    cell_index = pd.MultiIndex.from_product([grid_rates, grid_budgets], names=["rate", "budget"])

    wf = workflows
    g = wf.groupby(["rate", "budget"], sort=True)
    cells = pd.DataFrame({
        "workflows": g.size(),
        "mean_latency": g["workflow_latency"].mean(),
        "p95_latency": g["workflow_latency"].quantile(0.95),
        "violations": g["violated"].sum(),
        "cost_ratio": g["cost_ratio"].mean(),
    }).reindex(cell_index)
    cells["workflows"] = cells["workflows"].fillna(0).astype("int64")
    cells["violations"] = cells["violations"].fillna(0).astype("int64")
    with np.errstate(invalid="ignore", divide="ignore"):
        cells["violation_rate"] = cells["violations"] / cells["workflows"].replace(0, np.nan)
    cells["violation_ci_low"], cells["violation_ci_high"] = wilson(cells["violations"], cells["workflows"])
    cells["steps"] = steps.groupby(["rate", "budget"]).size().reindex(cell_index).fillna(0).astype("int64")

    q = steps["queue_depth"].to_numpy()
    rate = steps["rate"]
    sg = steps.assign(_idle=q < idle_below).groupby("rate", sort=True)
    by_rate = pd.DataFrame({
        "steps": sg.size(),
        "mean_queue": sg["queue_depth"].mean(),
        "idle_share": sg["_idle"].mean(),
    }).reindex(grid_rates)
    by_rate["steps"] = by_rate["steps"].fillna(0).astype("int64")
    wr = wf.groupby("rate")
    by_rate["workflows"] = wr.size().reindex(grid_rates).fillna(0).astype("int64")
    by_rate["mean_latency"] = wr["workflow_latency"].mean().reindex(grid_rates)
    by_rate["violation_rate"] = wr["violated"].mean().reindex(grid_rates)
    by_rate.index.name = "rate"

    wb = wf.groupby("budget")
    by_budget = pd.DataFrame({
        "steps": steps.groupby("budget").size(),
        "workflows": wb.size(),
        "violations": wb["violated"].sum(),
        "cost_ratio": wb["cost_ratio"].mean(),
    }).reindex(grid_budgets)
    by_budget[["steps", "workflows", "violations"]] = by_budget[["steps", "workflows", "violations"]].fillna(0).astype("int64")
    with np.errstate(invalid="ignore", divide="ignore"):
        by_budget["violation_rate"] = by_budget["violations"] / by_budget["workflows"].replace(0, np.nan)
    by_budget["violation_ci_low"], by_budget["violation_ci_high"] = wilson(by_budget["violations"], by_budget["workflows"])
    by_budget.index.name = "budget"

    model_queue = steps.groupby([rate, steps["model"]], sort=True, observed=True)["queue_depth"].mean().unstack("model")
    model_queue = model_queue.reindex(grid_rates)
    model_counts = _counts(steps, "model", cell_index)
    strategy_counts = _counts(steps, "strategy", cell_index)
    return Tables(cells, by_rate, by_budget, model_queue, model_counts, strategy_counts)


def _counts(steps: pd.DataFrame, column: str, cell_index: pd.MultiIndex) -> pd.DataFrame:
    counts = steps.groupby(["rate", "budget", column], sort=True, observed=True).size().unstack(column, fill_value=0)
    counts = counts.reindex(cell_index, fill_value=0)
    counts.columns = [str(c) for c in counts.columns]
    return counts.astype("int64")
