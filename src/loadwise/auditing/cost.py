"""What a changed grid costs per training epoch, scaled from what the telemetry measured.

Role steps: each (rate, budget) cell keeps its measured steps per epoch; a new cell
gets the mean of the measured cells at the same budget (new rate) or the same rate (new
budget), or of all cells (both new). With equal cells, 4 rates → 6 rates is +50 %.

Wall-clock: with Poisson arrivals at λ per minute, N workflows take N·60/λ seconds to
arrive, so the time spent at one rate is its arrival span plus a drain (the last
workflows finishing). Measured rates use the time their role steps span in each
(run, epoch, rate) segment (first dispatch to last completion), adjusted by 60/λ per
workflow added or removed by a tier change; new rates use their arrival span plus the
median drain of the measured rates. Low rates cost more wall-clock per workflow than
high ones. Without dispatch times in the telemetry, a per-epoch time given by the user
(`epoch_seconds`) is shared among the measured rates in proportion to their arrival
spans; without either, no wall-clock figure is given.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def measure(steps: pd.DataFrame, workflows: pd.DataFrame, has_times: bool) -> tuple[pd.DataFrame, pd.Series | None, int]:
    """Mean role steps and workflows per epoch per (rate, budget) cell, seconds per epoch
    per rate (None without dispatch times), and the number of epochs. Separate runs
    (run ids) of the same epoch, such as the cells of a sweep, add up within the epoch."""
    run = steps["run_id"].fillna("")
    n_epochs = max(int(steps["epoch"].nunique()), 1)
    cells = pd.DataFrame({
        "steps": steps.groupby(["rate", "budget"]).size(),
        "workflows": workflows.groupby(["rate", "budget"]).size(),
    }).fillna(0) / n_epochs
    seconds = None
    if has_times:
        keys = [run, steps["epoch"], steps["rate"]]
        end = (steps["dispatch_time"] + steps["step_latency"].fillna(0.0)).groupby(keys).max()
        start = steps["dispatch_time"].groupby(keys).min()
        seconds = (end - start).groupby(level=2).sum() / n_epochs
    return cells, seconds, n_epochs


def grid_cost(cells: pd.DataFrame, seconds: pd.Series | None, old_rates: list[float], old_budgets: list[float],
              new_rates: list[float], new_budgets: list[float], epoch_seconds: float | None = None) -> dict:
    """Steps and seconds per epoch of the old and the new grid."""
    cells = cells.reindex(pd.MultiIndex.from_product([old_rates, old_budgets], names=["rate", "budget"])).fillna(0.0)
    old_wf = cells["workflows"].groupby(level="rate").sum()
    span = old_wf * 60.0 / old_wf.index.to_numpy()
    source = None
    if seconds is not None:
        seconds = seconds.reindex(old_rates)
        source = "dispatch times"
    elif epoch_seconds:
        seconds = span / span.sum() * epoch_seconds
        source = "given epoch seconds shared by arrival span"
    drain = float(np.nanmedian((seconds - span).to_numpy())) if seconds is not None else None

    rows = []
    for r in sorted(set(new_rates)):
        for b in sorted(set(new_budgets)):
            if (r, b) in cells.index:
                st, wf, how = float(cells.loc[(r, b), "steps"]), float(cells.loc[(r, b), "workflows"]), "measured"
            else:
                like = (cells.xs(r, level="rate") if r in old_rates else
                        cells.xs(b, level="budget") if b in old_budgets else cells)
                st, wf, how = float(like["steps"].mean()), float(like["workflows"].mean()), "scaled"
            rows.append({"rate": r, "budget": b, "steps": st, "workflows": wf, "source": how})
    new = pd.DataFrame(rows)
    old_steps, new_steps = float(cells["steps"].sum()), float(new["steps"].sum())
    out = {
        "old": {"rates": list(old_rates), "budgets": list(old_budgets), "steps_per_epoch": old_steps},
        "new": {"rates": sorted(set(new_rates)), "budgets": sorted(set(new_budgets)), "steps_per_epoch": new_steps},
        "steps_change": new_steps / old_steps - 1 if old_steps else float("nan"),
        "wall_clock_source": source,
        "cells": new.to_dict(orient="records"),
    }
    if seconds is not None:
        new_wf = new.groupby("rate")["workflows"].sum()
        per_rate = []
        for r, wf in new_wf.items():
            if r in old_rates:
                sec = float(seconds.loc[r]) + (wf - float(old_wf.loc[r])) * 60.0 / r
            else:
                sec = wf * 60.0 / r + drain
            per_rate.append({"rate": float(r), "seconds": sec, "source": "measured" if r in old_rates else "scaled"})
        old_sec, new_sec = float(seconds.sum()), float(sum(p["seconds"] for p in per_rate))
        out["old"]["seconds_per_epoch"] = old_sec
        out["new"]["seconds_per_epoch"] = new_sec
        out["seconds_change"] = new_sec / old_sec - 1 if old_sec else float("nan")
        out["median_drain_seconds"] = drain
        out["seconds_by_rate"] = per_rate
    return out
