"""Reports of `mq fit` (the fitted world with its CIs, and whether it reproduces the
history) and `mq recommend` (the settings to paste first, then what they change per
scenario against the current settings)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from loadwise.report.document import Report
from loadwise.report.format import finite, p_value
from loadwise.systems.mergequeue.history.check import FIGURES, CheckRow
from loadwise.systems.mergequeue.history.fit import HistoryFit

if TYPE_CHECKING:
    from loadwise.app.mqhistory import Recommendation


def _fit_table(fit: HistoryFit) -> pd.DataFrame:
    return pd.DataFrame([{"figure": k, "value": e.value, "95 % CI low": e.ci_low, "95 % CI high": e.ci_high,
                          "n": f"{e.n:,}"} for k, e in fit.estimates.items()])


def _with_ci(value: float, low: float, high: float) -> str:
    return f"{value:.3g} ({low:.3g}–{high:.3g})" if finite(value) else ""


def _pm(value: float, half: float, signed: bool = False) -> str:
    if not finite(value):
        return ""
    text = f"{value:+.3g}" if signed else f"{value:.3g}"
    return text + (f" ± {half:.2g}" if finite(half) else "")


def check_section(rep: Report, rows: Sequence[CheckRow]) -> None:
    """The sim-to-history check: the history's figures beside the fitted world's, re-simulated."""
    if not rows:
        return
    rep.heading("Does the fitted world reproduce the history?")
    differ = [FIGURES[r.figure] for r in rows if not r.agree]
    if differ:
        rep.paragraph("**Warning**: re-simulated under the settings the history ran, the fitted world differs "
                      f"from the history by more than their CIs in: {'; '.join(differ)}. Recommendations rest on "
                      "the simulated world: read them with that gap in mind (a queue backed up beyond what the "
                      "fit sees, re-runs of failed builds, which the simulator does not make, or a queue that "
                      "behaves unlike GitHub's).")
    else:
        rep.paragraph("Re-simulated under the settings the history ran, the fitted world reproduces the history: "
                      "every figure below agrees within the CIs.")
    rep.table(pd.DataFrame([{"figure": FIGURES[r.figure],
                             "history (95 % CI)": _with_ci(r.history.value, r.history.ci_low, r.history.ci_high),
                             "simulated (95 % CI)": _with_ci(r.simulated.value, r.simulated.ci_low,
                                                             r.simulated.ci_high),
                             "agree": "yes" if r.agree else "NO"} for r in rows]),
              caption=f"History beside the fitted world simulated over the same span on "
                      f"{rows[0].simulated.n} seeds (mean, Student-t CI); they agree when they differ by no more "
                      "than the root sum of squares of the CI half-widths facing each other")


def fit_report(fit: HistoryFit, check: Sequence[CheckRow] = ()) -> Report:
    rep = Report("Merge-queue history: the fitted world")
    rep.heading("Summary")
    e = fit.estimates
    rep.paragraph(f"{fit.days:.1f} days of history: {e['prs_per_day'].value:.1f} pull requests a day "
                  f"(95 % CI {e['prs_per_day'].ci_low:.1f}–{e['prs_per_day'].ci_high:.1f}).")
    rep.table(_fit_table(fit), caption="Each figure with its 95 % CI and the observations behind it "
                                       "(settings are read off the history: their interval is the observed value)")
    check_section(rep, check)
    return rep


def changes_table(changes: pd.DataFrame, weights: dict[str, float]) -> pd.DataFrame:
    """One row per scenario and measure: current, recommended, the paired change and its p-value."""
    return pd.DataFrame([{"scenario": f"{r.scenario} ({weights.get(r.scenario, float('nan')):.0%})",
                          "measure": r.measure, "current": _pm(r.baseline_mean, r.baseline_ci95),
                          "recommended": _pm(r.mean, r.ci95), "change": _pm(r.diff, r.diff_ci95, signed=True),
                          "p": p_value(r.p_value)} for r in changes.itertuples()])


def recommend_report(rec: Recommendation) -> Report:
    rep = Report(f"Merge-queue settings for {rec.product}, from the repository's history")
    summary = rec.validation.summary.set_index("config")
    row = summary.loc["recommended"]
    per = rec.validation.per_scenario
    weights = per.drop_duplicates("scenario").set_index("scenario")["weight"].to_dict()
    rep.heading("Summary")
    rep.paragraph(f"Paste into {rec.paths['settings'].name}:")
    rep.code(rec.settings_text)
    better = "lower" if row["diff_vs_baseline"] < 0 else "higher"
    rep.paragraph(f"Robust cost (the scenarios' weighted mean) against the current settings: "
                  f"{row['diff_vs_baseline']:+.4g} ± {row['diff_ci95']:.3g} developer-hours per 1000 pull requests "
                  f"({better}; paired on {rec.validation.replicates} fresh seeds per scenario, "
                  f"p {p_value(row['p_value'])}).")
    if not rec.changes.empty:
        rep.table(changes_table(rec.changes, weights),
                  caption="What changes per scenario (its weight in brackets), for the developers and for the bill: "
                          "mean ± 95 % CI over the fresh seeds; the change is paired on the same seeds, with its "
                          "t-test p-value")
    if any(not r.agree for r in rec.check):
        rep.paragraph("**Warning**: the fitted world does not reproduce every figure of the history (see "
                      "\"Does the fitted world reproduce the history?\" below).")
    rep.heading("Cost per scenario")
    mean = per.pivot(index="scenario", columns="config", values="mean")
    ci = per.pivot(index="scenario", columns="config", values="ci95")
    rep.table(pd.DataFrame({"weight": pd.Series(weights), "recommended": mean["recommended"],
                            "± (95 %)": ci["recommended"], "current": mean["current"],
                            "± (95 % )": ci["current"]}).reset_index(names="scenario"),
              caption="Developer-hours lost per 1000 pull requests, per scenario (mean of the fresh seeds)")
    rep.heading("Settings")
    rep.table(pd.DataFrame({"knob": list(rec.recommended), "recommended": [str(v) for v in rec.recommended.values()],
                            "current": [str(rec.current.get(k, "")) for k in rec.recommended]}))
    rep.extend(fit_report(rec.fit, rec.check))
    return rep
