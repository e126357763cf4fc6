"""Sim-to-real: the load test's cells beside the simulator's, workflow by workflow.

The simulator runs the same cells with the same seed, so both sides see the same
workflows (arrivals, items, each call's common random numbers) and differences come
from what the gateway, the emulator and the load test add, plus routing decisions that
diverge once the two runs' queues differ. Per cell, workflow i of one side is paired with
workflow i of the other; since workflows of one run share queues their outcomes are
autocorrelated, so intervals are batch means (Law & Kelton, "Simulation Modeling and
Analysis", §9.5): the cell's workflows in arrival order are cut into `CI_BATCHES`
consecutive batches and a Student t interval is taken over the batches' paired
differences. Goodput is compared as a difference (real − sim), mean workflow latency as a
relative difference (real / sim − 1, its interval the difference's divided by the
simulator's mean). The targets: |goodput difference| ≤ `GOODPUT_TOLERANCE` and
|relative latency difference| ≤ `LATENCY_TOLERANCE` per cell; `pooled` takes the same
intervals over every cell's batches together, for a check on fewer workflows per cell.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from loadwise.systems.agentserve.simulator import SimResult

CI_BATCHES = 10
CI_LEVEL = 0.95
GOODPUT_TOLERANCE = 0.05
LATENCY_TOLERANCE = 0.15


def _per_workflow(workflows: pd.DataFrame, budget: float) -> tuple[np.ndarray, np.ndarray]:
    w = workflows.sort_values("workflow_id")
    latency = w["workflow_latency"].to_numpy(dtype=float)
    good = (w["solved"].to_numpy(dtype=bool) & (latency <= budget)).astype(float)
    return good, latency


def _batch_differences(real: np.ndarray, sim: np.ndarray) -> np.ndarray:
    return np.array([a.mean() - b.mean() for a, b in zip(np.array_split(real, CI_BATCHES),
                                                          np.array_split(sim, CI_BATCHES))])


def _interval(batches: np.ndarray) -> tuple[float, float, float]:
    mean = float(batches.mean())
    if len(batches) < 2:
        return mean, np.nan, np.nan
    half = float(stats.t.ppf(0.5 + CI_LEVEL / 2, len(batches) - 1) * batches.std(ddof=1) / np.sqrt(len(batches)))
    return mean, mean - half, mean + half


def compare(real: Sequence[tuple[float, float, pd.DataFrame]], sim: Sequence[SimResult]) -> tuple[pd.DataFrame, dict]:
    """Per cell and pooled: (rate, budget, real workflow frame) beside the simulator's results of the same cells."""
    rows = []
    pooled_good, pooled_latency = [], []
    for (rate, budget, frame), result in zip(real, sim):
        if result.workflows is None:
            raise ValueError("the simulator's results must carry their telemetry (record=True)")
        g_real, l_real = _per_workflow(frame, budget)
        g_sim, l_sim = _per_workflow(result.workflows, budget)
        n = min(len(g_real), len(g_sim))
        g_real, l_real, g_sim, l_sim = g_real[:n], l_real[:n], g_sim[:n], l_sim[:n]
        good_batches = _batch_differences(g_real, g_sim)
        latency_batches = _batch_differences(l_real, l_sim) / l_sim.mean()
        pooled_good.append(good_batches)
        pooled_latency.append(latency_batches)
        g_diff, g_lo, g_hi = _interval(good_batches)
        l_diff, l_lo, l_hi = _interval(latency_batches)
        rows.append({
            "rate": rate, "budget": budget, "workflows": n,
            "goodput_sim": g_sim.mean(), "goodput_real": g_real.mean(), "goodput_difference": g_diff,
            "goodput_ci_low": g_lo, "goodput_ci_high": g_hi,
            "latency_sim": l_sim.mean(), "latency_real": l_real.mean(), "latency_relative_difference": l_diff,
            "latency_ci_low": l_lo, "latency_ci_high": l_hi,
            "violation_sim": float((l_sim > budget).mean()), "violation_real": float((l_real > budget).mean()),
            "agrees": bool(abs(g_diff) <= GOODPUT_TOLERANCE and abs(l_diff) <= LATENCY_TOLERANCE),
        })
    table = pd.DataFrame(rows)
    g = _interval(np.concatenate(pooled_good)) if pooled_good else (np.nan,) * 3
    lat = _interval(np.concatenate(pooled_latency)) if pooled_latency else (np.nan,) * 3
    pooled = {
        "goodput_difference": g[0], "goodput_ci": [g[1], g[2]],
        "latency_relative_difference": lat[0], "latency_ci": [lat[1], lat[2]],
        "cells_agreeing": int(table["agrees"].sum()) if len(table) else 0, "cells": len(table),
        "ci": f"{CI_LEVEL:.0%} paired batch-means interval ({CI_BATCHES} batches per cell)",
        "goodput_tolerance": GOODPUT_TOLERANCE, "latency_tolerance": LATENCY_TOLERANCE,
    }
    return table, pooled
