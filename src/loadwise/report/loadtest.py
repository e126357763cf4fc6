"""The report of `loadwise router loadtest`: live traffic scored with `router eval`'s tables.

Summary first (goodput and violation over the grid; with `--compare-sim`, whether the
live path agrees with the simulator, with the pooled 95 % intervals, and what to run
next), then the InfraMind analysis' tables (latency, violation, model and strategy mix),
goodput per cell, errors, and the side-by-side comparison.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from loadwise.gateway.loadtest import LAG_WARNING_S
from loadwise.report.document import Report
from loadwise.report.format import number, percent, signed, signed_percent
from loadwise.report.router import mix_by_rate, rate_budget_matrix
from loadwise.systems.agentserve.routing import MODELS, STRATEGIES


def build_report(cells: pd.DataFrame, settings: dict[str, Any], comparison: pd.DataFrame | None = None,
                 pooled: dict[str, Any] | None = None) -> Report:
    rep = Report(f"Load test through {settings['gateway']} — router {settings.get('router') or 'unknown'}")
    goodput = cells["goodput"].mean()
    errors = int(cells["errors"].sum())
    text = (f"{len(cells)} cells, {settings['workflows']} workflows each, {settings['pattern']} arrivals, servers "
            f"{number(settings['speedup'], 6)}x faster than their profiles (times below are profile seconds). ")
    if pd.notna(goodput):
        text += f"Goodput over the grid {number(goodput, 4)} (each cell weighs the same), "
    else:
        text += "The backends do not grade answers, so goodput and accuracy are unknown; "
    text += f"violation rate {number(cells['violation_rate'].mean(), 4)}; {errors} calls failed."
    answer = [text]
    lagging = cells[cells["arrival_lag_p95"] > LAG_WARNING_S]
    if len(lagging):
        worst = lagging.sort_values("arrival_lag_p95").iloc[-1]
        answer.append(
            f"Warning: the load generator fell behind its schedule in {len(lagging)} cell(s), one workflow in "
            f"twenty starting {number(worst['arrival_lag_p95'])} s of profile time or more late (rate "
            f"{number(worst['rate'], 6)}, budget {number(worst['budget'], 6)}): the machine could not drive this load at this speedup, so those cells were offered less load than "
            "their rate; rerun them with a lower --speedup on the emulator and the gateway.")
    if comparison is not None and pooled is not None:
        g_lo, g_hi = pooled["goodput_ci"]
        l_lo, l_hi = pooled["latency_ci"]
        answer.append(
            f"Against the simulator on the same workflows: {pooled['cells_agreeing']} of {pooled['cells']} cells "
            f"agree (|goodput difference| ≤ {number(pooled['goodput_tolerance'], 6)} and |mean latency difference| ≤ "
            f"{percent(pooled['latency_tolerance'])}). Pooled over the cells, goodput live − simulated "
            f"{signed(pooled['goodput_difference'], 3)} (95 % CI {signed(g_lo, 3)} to {signed(g_hi, 3)}), mean workflow latency "
            f"{signed_percent(pooled['latency_relative_difference'])} (95 % CI {signed_percent(l_lo)} to {signed_percent(l_hi)}); {pooled['ci']}.")
    folder = settings.get("run_dir", "RUN_DIR")
    disagree = comparison is not None and not bool(comparison["agrees"].all())
    next_step = (f"`loadwise serve calibrate {folder}` to fit the profiles to what the servers did, then train "
                 "again" if disagree else f"`loadwise audit {folder}` to check the grid's load regimes")
    by_rate = cells.groupby("rate", as_index=False)[["goodput", "violation_rate", "mean_latency", "errors"]].agg(
        {"goodput": "mean", "violation_rate": "mean", "mean_latency": "mean", "errors": "sum"})
    rep.summarize(" ".join(answer), by_rate.rename(columns={
        "rate": "rate (req/min)", "violation_rate": "violation rate", "mean_latency": "mean latency (profile s)",
        "errors": "failed calls"}), next_step=next_step,
        key={"answer": f"goodput {number(goodput)}" if pd.notna(goodput) else "goodput not graded",
             **({"live − simulated goodput": f"{signed(pooled['goodput_difference'], 3)} (95 % CI {signed(g_lo, 3)} to "
                                            f"{signed(g_hi, 3)})"} if pooled is not None and comparison is not None else {})})

    rep.heading("The InfraMind analysis' tables, live")
    rep.table(rate_budget_matrix(cells, "mean_latency"), caption="Mean workflow latency (s) by rate and budget",
              index=True)
    rep.table(rate_budget_matrix(cells, "violation_rate") * 100, caption="Budget violation rate (%) by rate and "
              "budget", index=True)
    rep.table(rate_budget_matrix(cells, "goodput"), caption="Goodput (solved within budget) by rate and budget",
              index=True)
    rep.table(mix_by_rate(cells, "model", MODELS), caption="Model selection (%) by rate", index=True,
             )
    rep.table(mix_by_rate(cells, "strategy", STRATEGIES), caption="Strategy selection (%) by rate", index=True,
             )
    shown = ["rate", "budget", "workflows", "steps", "goodput", "accuracy", "violation_rate", "mean_latency",
             "p95_latency", "mean_step_latency", "mean_queue", "errors", "retried", "arrival_lag_p95", "seconds"]
    rep.table(cells[shown], caption="Every cell (arrival_lag_p95: how late workflows started against their "
              "schedule, 95th percentile, profile s; seconds: wall-clock time of the cell)")
    if comparison is not None:
        rep.heading("Live vs simulated, per cell")
        rep.table(comparison, caption="Paired by workflow (same arrivals, items and draws); intervals are 95 % "
                  "batch means")
    return rep


__all__ = ["build_report"]
