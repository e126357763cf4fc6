"""The report of `loadwise mq compare`: which strategy, with which settings, for this load.

Answer first (the winner, its validated cost with a 95 % CI, its gain over the runner-up
and over its own product defaults, the command that runs it), then the side-by-side
table, the figures per scenario and the settings and tuning behind them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from loadwise.report.document import Report
from loadwise.report.format import NOT_AVAILABLE, finite, number, p_value
from loadwise.scenarios import ScenarioSet

if TYPE_CHECKING:
    from loadwise.app.mergequeue import Comparison

# strategies that merge pull requests never built together (conflicting pairs can escape)
_UNTESTED_MERGES = {"group-testing": "its rounds merge pull requests that were never built together",
                    "batch-bisect": "parallel bisection merges halves that were never built together"}


def _number(x: float, ci: float | None = None) -> str:
    if not finite(x):
        return NOT_AVAILABLE
    return number(x, 4) if ci is None or not finite(ci) else f"{number(x, 4)} ± {number(ci)}"


def _settings(config: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} = {number(v, 6)}" if isinstance(v, float) else f"{k} = {v}" for k, v in config.items()) or "no knobs"


def _weighted(table: pd.DataFrame, column: str) -> pd.Series:
    """Per config: the scenario-weighted mean of a column."""
    return table.assign(_w=table["weight"] * table[column]).groupby("config", sort=False)["_w"].sum()


def compare_report(comparison: Comparison, scenario_set: ScenarioSet, settings: Mapping[str, Any]) -> Report:
    """The comparison's report."""
    import matplotlib.pyplot as plt

    validation, table, winner = comparison.validation, comparison.table, comparison.winner
    summary = validation.summary.set_index("config")
    shown = comparison.best_per_strategy
    rep = Report(f"Merge-queue strategies on {scenario_set.name}")

    best = summary.loc[winner]
    kind = "at its defaults" if winner.endswith(" defaults") else "tuned"
    lines = [f"Best: {comparison.strategy}, {kind} ({_settings(comparison.winner_config)}): {_number(best['objective'], best['ci95'])} "
             f"developer-hours lost per 1000 pull requests (scenario-weighted, {validation.replicates} fresh seeds "
             "per scenario, 95 % CI)."]
    if len(shown) > 1:
        row = summary.loc[shown[1]]
        lines.append(f"Gain over the next strategy, {shown[1]}: {_number(row['diff_vs_baseline'], row['diff_ci95'])} "
                     f"developer-hours per 1000 pull requests (paired on the same seeds, p {p_value(row['p_value'])}).")
    if comparison.own_alternative is not None:
        alt = comparison.own_alternative
        row = alt.summary.set_index("config").loc[winner]
        against = "tuning" if kind == "tuned" else "the tuned config"
        lines.append(f"Gain over {alt.baseline} ({against}): {_number(-row['diff_vs_baseline'], row['diff_ci95'])} "
                     f"developer-hours per 1000 pull requests (p {p_value(row['p_value'])}).")
    escapes = float((table.loc[table["config"] == winner, "merged_bad"] * table.loc[table["config"] == winner,
                                                                                      "weight"]).sum())
    if comparison.strategy in _UNTESTED_MERGES and escapes > 0:
        lines.append(f"Caution: {_UNTESTED_MERGES[comparison.strategy]}; {number(escapes)} bad merges per run escaped "
                     "(scenario-weighted), priced in the cost at 40 h each.")
    rep.summarize(" ".join(lines), pd.DataFrame({
        "config": shown[:3],
        "cost (dev-h / 1000 PRs)": [_number(summary.loc[c, "objective"], summary.loc[c, "ci95"]) for c in shown[:3]],
        f"more than {winner}": [_number(summary.loc[c, "diff_vs_baseline"], summary.loc[c, "diff_ci95"])
                                if c != winner else "—" for c in shown[:3]],
        "p": [p_value(summary.loc[c, "p_value"]) if c != winner else "—" for c in shown[:3]]}),
        next_step=comparison.next_command, key={"answer": f"{comparison.strategy}, {kind}"})

    rep.heading("Side by side")
    side = pd.DataFrame({
        "config": shown,
        "cost (dev-h / 1000 PRs)": [_number(summary.loc[c, "objective"], summary.loc[c, "ci95"]) for c in shown],
        f"more than {winner}": [_number(summary.loc[c, "diff_vs_baseline"], summary.loc[c, "diff_ci95"])
                                if c != winner else "" for c in shown],
        "p": [p_value(summary.loc[c, "p_value"]) if c != winner else "" for c in shown],
        "p95 in queue, h": [_weighted(table, "time_in_queue_p95_h")[c] for c in shown],
        "runner-hours / run": [_weighted(table, "runner_hours")[c] for c in shown],
        "innocents evicted / run": [_weighted(table, "evicted_innocent")[c] for c in shown],
        "escapes / run": [_weighted(table, "merged_bad")[c] for c in shown],
        "merged / h": [_weighted(table, "merged_per_hour")[c] for c in shown],
    })
    rep.table(side, caption="Each strategy at its better config (tuned, or its product defaults when they validate "
                            "better), on common fresh seeds; figures are scenario-weighted means of one run")
    rep.table(validation.summary, caption=f"Every config validated (tuned and product defaults); differences to "
                                          f"{winner}, paired on the same seeds", digits=4)

    rep.heading("Per scenario")
    for column, caption in (("objective", "Cost, developer-hours per 1000 pull requests (mean ± 95 % CI)"),
                            ("time_in_queue_p95_h", "p95 time in queue, hours"),
                            ("runner_hours", "Runner-hours per run"),
                            ("evicted_innocent", "Innocent pull requests evicted per run"),
                            ("merged_bad", "Bad merges (escapes) per run")):
        cells = table.assign(value=[_number(v, ci) for v, ci in zip(table[column], table[f"{column}_ci95"])])
        wide = cells.pivot(index="config", columns="scenario", values="value").loc[
            list(summary.index), scenario_set.names]
        rep.table(wide.reset_index(), caption=caption)
    fig, ax = plt.subplots(figsize=(9, 3.6))
    width = 0.8 / len(shown)
    for i, c in enumerate(shown):
        part = table[table["config"] == c].set_index("scenario").loc[scenario_set.names]
        xs = [j + i * width for j in range(len(scenario_set.names))]
        ax.bar(xs, part["objective"], width, yerr=part["objective_ci95"], label=c, capsize=2)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(scenario_set.names))], scenario_set.names)
    ax.set_yscale("log")
    ax.set_ylabel("developer-hours / 1000 PRs")
    ax.legend(fontsize=7)
    fig.tight_layout()
    rep.figure(fig, "cost_by_scenario", caption="Cost per scenario of each strategy's better config (95 % CI; log "
                                                "scale)")

    rep.heading("Settings and tuning")
    rep.table(pd.DataFrame([{"config": label, "settings": _settings(cfg)} for label, cfg in comparison.configs.items()]),
              caption="Every config as the strategy applies it")
    rep.table(pd.DataFrame([{"strategy": t.strategy, "trials": t.trials, "simulations": t.simulations,
                             "search s": t.search_seconds, "tune folder": t.folder.name} for t in comparison.tunes]),
              caption=f"Robust tunes: at most {settings['trials']} trials each and the same budget of "
                      f"{number(settings['budget'], 6)} full-length simulations (a quarter-length run counts a quarter), "
                      f"fidelity {settings['fidelity']}; serial has no knobs")
    rep.paragraph(f"Scenario set {scenario_set.describe()}. Cost: developer-hours per 1000 pull requests queued — "
                  "a quarter of every hour in the queue, 8 h per innocent pull request evicted, 40 h per escape, "
                  "0.1 h per flaky failure, 4 h per pull request still queued at the end, 0.01 h per runner-hour "
                  "(README, Merge queues). Time in queue runs from joining to leaving (merged or evicted).")
    return rep
