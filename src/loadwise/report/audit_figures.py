"""The audit report's four figures (matplotlib, drawn off-screen)."""

from __future__ import annotations

import math

import numpy as np

from loadwise.auditing.pipeline import AuditResult
from loadwise.report.format import number

_REGIME_COLOURS = ["#d9f0d3", "#fff7bc", "#fee391", "#fdae6b", "#fc9272", "#de2d26"]


def queue_vs_rate(result: AuditResult):
    """Mean queue depth by rate with the regime bands, the fitted curve, recommended and
    verified points."""
    import matplotlib.pyplot as plt

    f = result.findings
    rates = np.asarray(result.grid.rates)
    queues = result.tables.by_rate["mean_queue"].to_numpy()
    recs = f["recommendations"]["rates"]
    verified = (f.get("verification") or {}).get("points", [])
    all_rates = np.concatenate([rates, [r["rate"] for r in recs], [v["rate"] for v in verified]])
    x_max = float(all_rates.max()) * 1.1
    shown = np.concatenate([queues, [v["simulated_queue"] for v in verified]])
    y_top = max(float(np.nanmax(shown)) * 1.2, result.regimes[-1].lower * 1.3)
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for i, g in enumerate(result.regimes):
        top = min(g.upper, y_top)
        ax.axhspan(g.lower, top, color=_REGIME_COLOURS[i % len(_REGIME_COLOURS)], alpha=0.6, lw=0)
        ax.text(x_max * 0.99, (g.lower + top) / 2, g.name, ha="right", va="center", fontsize=8, color="#444")
    if result.fit is not None:
        xs = np.linspace(x_max / 400, x_max, 300)
        if result.fit.kind == "mm1":
            xs = xs[xs < result.fit.b * 0.999]
        ax.plot(xs, result.fit.predict(xs), color="#333", lw=1.2, label=f"fit {result.fit.describe()}")
    ax.plot(rates, queues, "o", color="#1f4e9c", ms=7, label="measured (grid)")
    if recs:
        ax.plot([r["rate"] for r in recs], [r["predicted_queue"] for r in recs], "D", mfc="none", mec="#b30000",
                ms=8, label="recommended (fitted)")
    if verified:
        ax.plot([v["rate"] for v in verified], [v["simulated_queue"] for v in verified], "x", color="#b30000",
                ms=9, mew=2, label="simulated (--verify)")
    ax.set_xlim(0, x_max)
    ax.set_ylim(0, y_top)
    ax.set_xlabel("arrival rate (requests/min)")
    ax.set_ylabel("mean queue depth at dispatch")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title("Queue depth vs rate, with load regimes")
    return fig


def violation_heatmap(result: AuditResult):
    import matplotlib.pyplot as plt

    cells = result.tables.cells["violation_rate"].unstack("budget")
    data = 100 * cells.to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(1.2 * data.shape[1] + 2.5, 0.6 * data.shape[0] + 1.8))
    vmax = max(5.0, float(np.nanmax(data)) if np.isfinite(data).any() else 5.0)
    im = ax.imshow(data, cmap="Reds", aspect="auto", vmin=0, vmax=vmax)
    for i in range(data.shape[0]):
        for j in range(data.shape[1]):
            v = data[i, j]
            ax.text(j, i, "" if math.isnan(v) else f"{number(v)}%", ha="center", va="center", fontsize=8,
                    color="white" if v > 0.6 * vmax else "black")
    ax.set_xticks(range(data.shape[1]), [number(b, 6) for b in cells.columns])
    ax.set_yticks(range(data.shape[0]), [number(r, 6) for r in cells.index])
    ax.set_xlabel("budget (s)")
    ax.set_ylabel("rate (req/min)")
    ax.set_title("Budget violation rate")
    fig.colorbar(im, ax=ax, label="% of workflows over budget")
    return fig


def mix_by_rate(result: AuditResult, which: str):
    import matplotlib.pyplot as plt

    shares = 100 * result.tables.mix(which, "rate")
    fig, ax = plt.subplots(figsize=(7.5, 4))
    bottom = np.zeros(len(shares))
    labels = [number(r, 6) for r in shares.index]
    cmap = plt.get_cmap("tab10")
    for i, col in enumerate(shares.columns):
        vals = shares[col].to_numpy(dtype=float)
        ax.bar(labels, vals, bottom=bottom, label=col, color=cmap(i % 10))
        bottom += np.nan_to_num(vals)
    ax.set_xlabel("arrival rate (requests/min)")
    ax.set_ylabel("% of role steps")
    ax.set_title(f"{which.capitalize()} selection by rate")
    if len(shares.columns):
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5))
    return fig
