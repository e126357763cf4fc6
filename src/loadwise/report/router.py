"""The report of `loadwise router eval`: the trained router beside every baseline and the oracle.

Tables follow the InfraMind training-run analysis: mean workflow latency and violation
rate by rate × budget, model and strategy mix by rate; then goodput and violation of every router per cell,
the per-cell target checks, and one figure of accuracy against violation per cell (the
Pareto view: up and to the left is better).
"""

from __future__ import annotations

import pandas as pd

from loadwise.report.document import Report
from loadwise.report.format import number, percent
from loadwise.rl.evaluate import FIXED, ORACLE, Evaluation
from loadwise.systems.agentserve.routing import MODELS, STRATEGIES


def rate_budget_matrix(frame: pd.DataFrame, value: str) -> pd.DataFrame:
    """rate rows × budget columns of one router's `value`."""
    table = frame.pivot(index="rate", columns="budget", values=value)
    table.columns = [f"budget={number(b, 6)}" for b in table.columns]
    table.index = [number(r, 6) for r in table.index]
    table.index.name = "rate"
    return table


def mix_by_rate(frame: pd.DataFrame, prefix: str, names: tuple[str, ...]) -> pd.DataFrame:
    cols = [f"{prefix}:{n}" for n in names]
    weighted = frame[cols].mul(frame["steps"], axis=0).groupby(frame["rate"]).sum()
    share = weighted.div(weighted.sum(axis=1), axis=0) * 100
    share.columns = list(names)
    table = share.T
    table.columns = [f"rate={number(r, 6)}" for r in table.columns]
    table.index.name = prefix
    return table


def _side_by_side(ev: Evaluation, value: str, routers: list[str]) -> pd.DataFrame:
    c = ev.cells[ev.cells["router"].isin(routers)]
    table = c.pivot_table(index=["rate", "budget"], columns="router", values=value, sort=False)
    return table[[r for r in routers if r in table.columns]]


def build_report(ev: Evaluation, title: str = "Trained router vs baselines and the clairvoyant oracle") -> Report:
    rep = Report(title)
    trained = ev.cells[ev.cells["router"] == ev.trained]
    routers = ev.routers()
    fixed = [r for r in routers if r in FIXED]
    summary = ev.grid_summary()
    js = ev.to_json()["targets"]
    share = js["grid_share_of_oracle_goodput"]
    rep.paragraph(
        f"Constraint {ev.constraint}. In {js['cells_where_oracle_meets']} of {js['cells_total']} cells the "
        f"clairvoyant oracle meets the constraint; there the trained router meets it and matches the best "
        f"baseline that meets it in {js['cells_met_where_oracle_meets']}. "
        + (f"Over the grid its goodput is {percent(share)} of the oracle's (target ≥ 85 %). " if share is not None else "")
        + f"Of the goodput comparisons it misses, {js['goodput_misses_significant']} are significant: "
        f"the {js['ci']} of the difference lies below 0."
    )
    trained_row = summary.set_index("router").loc[ev.trained]
    base = summary[~summary["router"].isin([ev.trained, ORACLE])].sort_values("goodput")
    best_base = base.iloc[-1] if len(base) else None
    answer = (f"The trained router `{ev.trained}` reaches {percent(share) if share is not None else 'n/a'} of the "
              f"clairvoyant oracle's goodput over the grid (target ≥ 85 %) and meets its targets in "
              f"{js['cells_met']} of {js['cells_total']} cells; {js['goodput_misses_significant']} cells miss "
              f"significantly ({js['ci']}).")
    if best_base is not None:
        answer += (f" The best baseline over the grid, `{best_base['router']}`, has goodput "
                   f"{number(best_base['goodput'])} against its {number(trained_row['goodput'])}.")
    headline = summary[summary["router"].isin([ev.trained, ORACLE, *([] if best_base is None else [best_base["router"]])])]
    rep.summarize(answer, headline, next_step="`loadwise router serve RUN_DIR` puts this router behind the "
                  "OpenAI-compatible gateway; evaluation.json holds every number",
                  key={"answer": ev.trained, "share of oracle goodput": percent(share) if share is not None else "n/a",
                       "cells meeting targets": f"{js['cells_met']} of {js['cells_total']}",
                       "significant misses": str(js["goodput_misses_significant"])})
    rep.heading("Over the grid")
    rep.table(summary, caption="Mean over cells (each cell weighs the same)")

    rep.heading(f"The InfraMind analysis' tables for `{ev.trained}`")
    rep.table(rate_budget_matrix(trained, "mean_latency"),
              caption="Table 1: mean workflow latency (s) by rate and budget", index=True)
    viol = rate_budget_matrix(trained, "violation_rate") * 100
    rep.table(viol, caption="Table 2: budget violation rate (%) by rate and budget", index=True)
    rep.table(mix_by_rate(trained, "model", MODELS), caption="Table 3: model selection (%) by rate",
              index=True)
    rep.table(mix_by_rate(trained, "strategy", STRATEGIES), caption="Table 4: strategy selection (%) by rate",
              index=True)

    shown = [r for r in routers if r not in FIXED]
    if fixed:
        best_fixed = summary[summary["router"].isin(fixed)].sort_values("goodput").iloc[-1]["router"]
        shown.append(best_fixed)
    rep.heading("Every router, per cell")
    rep.paragraph("Fixed (model, strategy) baselines are summarized by the one with the best grid goodput here; "
                  "`--json` has all of them.")
    rep.table(_side_by_side(ev, "goodput", shown), caption="Goodput (solved within budget) per cell",
              index=True)
    rep.table(_side_by_side(ev, "violation_rate", shown), caption="Violation (bust) rate per cell",
              index=True)
    rep.table(_side_by_side(ev, "mean_latency", shown), caption="Mean workflow latency (s) per cell",
              index=True)

    rep.heading("Targets per cell")
    rep.table(ev.target_checks(), caption="Where the oracle meets the constraint, the trained router must meet it "
              "and match the best baseline that meets it; goodput_difference = trained − that baseline, with its "
              f"{ev.to_json()['targets']['ci']}")
    rep.figure(pareto_figure(ev), "pareto", caption="Accuracy vs violation rate per cell; the dashed line is the "
               "constraint's limit")
    return rep


def pareto_figure(ev: Evaluation):
    """One panel per (rate, budget): every router's (violation, accuracy); trained and oracle marked."""
    import matplotlib.pyplot as plt

    rates = sorted(ev.cells["rate"].unique())
    budgets = sorted(ev.cells["budget"].unique())
    fig, axes = plt.subplots(len(rates), len(budgets), figsize=(2.6 * len(budgets), 2.2 * len(rates)),
                             sharex=True, sharey=True, squeeze=False)
    for i, rate in enumerate(rates):
        for j, budget in enumerate(budgets):
            ax = axes[i][j]
            cell = ev.cells[(ev.cells["rate"] == rate) & (ev.cells["budget"] == budget)]
            others = cell[~cell["router"].isin([ev.trained, ORACLE])]
            ax.scatter(others["violation_rate"], others["accuracy"], s=10, c="0.6", label="baselines")
            for name, marker, color in ((ORACLE, "*", "tab:green"), (ev.trained, "o", "tab:red")):
                row = cell[cell["router"] == name]
                if len(row):
                    ax.scatter(row["violation_rate"], row["accuracy"], s=45, marker=marker, c=color, label=name)
            if ev.constraint.kind == "bust":
                ax.axvline(ev.constraint.limit, ls="--", lw=0.8, c="0.3")
            if i == 0:
                ax.set_title(f"budget {number(budget, 6)} s", fontsize=9)
            if j == 0:
                ax.set_ylabel(f"rate {number(rate, 6)}\naccuracy", fontsize=8)
            if i == len(rates) - 1:
                ax.set_xlabel("violation rate", fontsize=8)
            ax.tick_params(labelsize=7)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=3, fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    return fig


__all__ = ["build_report", "mix_by_rate", "pareto_figure", "rate_budget_matrix"]
