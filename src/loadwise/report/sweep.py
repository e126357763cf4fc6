"""The report of `loadwise serve sweep`: one router over a rate × budget grid."""

from __future__ import annotations

from typing import Any

import pandas as pd

from loadwise.report.document import Report
from loadwise.report.format import number, percent


def build_report(table: pd.DataFrame, config: dict[str, Any]) -> Report:
    """The sweep's report: configuration, per-cell table, goodput / violation grids, load figure."""
    import matplotlib.pyplot as plt

    rep = Report(f"agentserve sweep — router {config['router']}")
    rep.paragraph(
        f"{len(table)} cells (rates {', '.join(f'{number(r, 6)}' for r in config['rates'])} req/min x budgets "
        f"{', '.join(f'{number(b, 6)}' for b in config['budgets'])} s), {config['workflows']} workflows each, "
        f"{config['pattern']} arrivals, {config['discipline'].upper()} queues, seed {config['seed']}, "
        f"profiles {config['profiles']}. Goodput is the share of workflows solved within their budget; "
        "latencies include the final decision step unless marked 'excl_decision'; queue depth is the "
        "chosen server's running + waiting requests at dispatch; idle share is the share of dispatches "
        "with queue depth < 3."
    )
    worst = table.loc[table["goodput"].idxmin()]
    best = table.loc[table["goodput"].idxmax()]
    rep.summarize(
        f"Router {config['router']} keeps a mean goodput of {number(table['goodput'].mean())} over the "
        f"{len(table)} cells; it is best at rate {number(best['rate'])} req/min and budget {number(best['budget'])} s "
        f"({number(best['goodput'])}) and worst at rate {number(worst['rate'])} req/min and budget "
        f"{number(worst['budget'])} s ({number(worst['goodput'])}, violation rate {percent(worst['violation_rate'])}).",
        table.groupby("rate", as_index=False)[["goodput", "violation_rate", "mean_latency"]].mean().rename(
            columns={"rate": "rate (req/min)", "violation_rate": "violation rate", "mean_latency": "mean latency (s)"}),
        next_step="telemetry.parquet is what `loadwise audit RUN_DIR` reads to check the grid covers every load regime",
        key={"answer": f"mean goodput {number(table['goodput'].mean())}"})
    for metric, caption in (("goodput", "Goodput by rate (rows) and budget (columns)"),
                            ("violation_rate", "Budget violation rate"),
                            ("mean_latency", "Mean workflow latency, s")):
        grid = table.pivot(index="rate", columns="budget", values=metric)
        grid.columns = [f"budget {number(b, 6)}" for b in grid.columns]
        rep.table(grid, caption=caption, index=True)
    rep.table(table, caption="All figures per cell (mix: share of role steps per model / strategy)")
    by_rate = table.groupby("rate")[["mean_queue", "idle_share", "mean_latency"]].mean()
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
    ax[0].plot(by_rate.index, by_rate["mean_queue"], marker="o")
    ax[0].set_xlabel("arrival rate, req/min")
    ax[0].set_ylabel("mean queue depth at dispatch")
    for b, part in table.groupby("budget"):
        ax[1].plot(part["rate"], part["goodput"], marker="o", label=f"{number(b, 6)} s")
    ax[1].set_xlabel("arrival rate, req/min")
    ax[1].set_ylabel("goodput")
    ax[1].legend(title="budget", fontsize=7)
    fig.tight_layout()
    rep.figure(fig, "load", caption="Queue depth and goodput against arrival rate")
    return rep

