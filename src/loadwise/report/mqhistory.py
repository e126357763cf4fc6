"""Reports of `mq fit` (the fitted world with its CIs) and `mq recommend` (the settings to
paste first, then what they change per scenario against the current settings)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from loadwise.report.document import Report
from loadwise.report.format import p_value
from loadwise.systems.mergequeue.history.fit import HistoryFit

if TYPE_CHECKING:
    from loadwise.app.mqhistory import Recommendation


def _fit_table(fit: HistoryFit) -> pd.DataFrame:
    return pd.DataFrame([{"figure": k, "value": e.value, "95 % CI low": e.ci_low, "95 % CI high": e.ci_high,
                          "n": f"{e.n:,}"} for k, e in fit.estimates.items()])


def fit_report(fit: HistoryFit) -> Report:
    rep = Report("Merge-queue history: the fitted world")
    rep.heading("Summary")
    e = fit.estimates
    rep.paragraph(f"{fit.days:.1f} days of history: {e['prs_per_day'].value:.1f} pull requests a day "
                  f"(95 % CI {e['prs_per_day'].ci_low:.1f}–{e['prs_per_day'].ci_high:.1f}).")
    rep.table(_fit_table(fit), caption="Each figure with its 95 % CI and the observations behind it "
                                       "(settings are read off the history: their interval is the observed value)")
    return rep


def recommend_report(rec: Recommendation) -> Report:
    rep = Report(f"Merge-queue settings for {rec.product}, from the repository's history")
    summary = rec.validation.summary.set_index("config")
    row = summary.loc["recommended"]
    rep.heading("Summary")
    rep.paragraph(f"Paste into {rec.paths['settings'].name}:")
    rep.code(rec.settings_text)
    better = "lower" if row["diff_vs_baseline"] < 0 else "higher"
    rep.paragraph(f"Cost against the current settings: {row['diff_vs_baseline']:+.4g} ± {row['diff_ci95']:.3g} "
                  f"developer-hours per 1000 pull requests ({better}; paired on {rec.validation.replicates} fresh "
                  f"seeds per scenario, p {p_value(row['p_value'])}).")
    per = rec.validation.per_scenario.pivot(index="scenario", columns="config", values="mean")
    ci = rec.validation.per_scenario.pivot(index="scenario", columns="config", values="ci95")
    weights = rec.validation.per_scenario.drop_duplicates("scenario").set_index("scenario")["weight"]
    table = pd.DataFrame({"weight": weights, "recommended": per["recommended"], "± (95 %)": ci["recommended"],
                          "current": per["current"], "± (95 % )": ci["current"]}).reset_index()
    rep.table(table, caption="Developer-hours lost per 1000 pull requests, per scenario (mean of the fresh seeds)")
    rep.heading("Settings")
    rep.table(pd.DataFrame({"knob": list(rec.recommended), "recommended": [str(v) for v in rec.recommended.values()],
                            "current": [str(rec.current.get(k, "")) for k in rec.recommended]}))
    rep.extend(fit_report(rec.fit))
    return rep
