"""Checks on the router's behaviour that the grid should expose.

- Load sensitivity: does the model (strategy) mix change across rates? Stratified
  Pearson chi-square with budget as strata (compares rates at equal budget), effect size
  Cramér's V of the rate × model table, and the largest change of any one share.
- Budget sensitivity: the same across budgets, stratified by rate. A router whose mix
  does not move with the budget is budget-blind (spec 04).
- Collapse: one model or one strategy taking more than 90 % of steps (the failure
  measured on the reference system: 95 % one model, 100 % one strategy).
- Constraint binding: violation rate at the tightest tier against the limit ε, and mean
  cost ratio against 1, each with its 95 % interval.

Verdict thresholds: "sensitive" needs p < α and V ≥ 0.1 (Cohen's "small" effect);
p < α with V < 0.1 is "detectable but negligible"; p ≥ α is "no detectable change".
"""

from __future__ import annotations

import math

import pandas as pd

from loadwise.auditing.stats import Z95, cramers_v, stratified_chi2, wilson
from loadwise.auditing.tables import Tables

SMALL_EFFECT = 0.1
COLLAPSE_SHARE = 0.9


def sensitivity(tables: Tables, which: str, across: str, alpha: float) -> dict:
    counts = tables.model_counts if which == "model" else tables.strategy_counts
    strata_level = "budget" if across == "rate" else "rate"
    strata = [group.droplevel(strata_level).to_numpy() for _, group in counts.groupby(level=strata_level)]
    test = stratified_chi2(strata)
    pooled = counts.groupby(level=across).sum()
    shares = pooled.div(pooled.sum(axis=1), axis=0)
    spread = (shares.max() - shares.min()).sort_values(ascending=False)
    v = cramers_v(pooled.to_numpy())
    if math.isnan(test.p_value):
        verdict = "not testable (one level or one category)"
    elif test.p_value >= alpha:
        verdict = "no detectable change"
    elif v >= SMALL_EFFECT:
        verdict = "sensitive"
    else:
        verdict = "detectable but negligible"
    top = spread.index[0] if len(spread) else None
    return {
        "what": which, "across": across, "test": test.as_dict(), "cramers_v": v, "verdict": verdict,
        "largest_share_change": {"category": top, "min": float(shares[top].min()), "max": float(shares[top].max()),
                                 "points": float(spread.iloc[0])} if top is not None else None,
    }


def collapse(tables: Tables) -> dict:
    out = {}
    for which, counts in (("model", tables.model_counts), ("strategy", tables.strategy_counts)):
        total = counts.sum()
        share = total / total.sum() if total.sum() else total
        top = share.idxmax() if len(share) else None
        out[which] = {"top": top, "share": float(share.max()) if len(share) else float("nan"),
                      "collapsed": bool(len(share) and share.max() > COLLAPSE_SHARE)}
    return out


def constraint(workflows: pd.DataFrame, tightest: float, violation_limit: float) -> dict:
    """Where the tightest tier sits relative to the limits."""
    wf = workflows[workflows["budget"] == tightest]
    n, k = len(wf), int(wf["violated"].sum())
    low, high = (float(x) for x in wilson(k, n))
    rate = k / n if n else float("nan")
    cr = wf["cost_ratio"].to_numpy()
    cr_mean = float(cr.mean()) if n else float("nan")
    cr_half = float(Z95 * cr.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    if not n:
        status = "no workflows at the tightest tier"
    elif low > violation_limit:
        status = "violated"
    elif high < violation_limit:
        status = "slack"
    else:
        status = "binding"
    per_rate = wf.groupby("rate")["violated"].agg(["sum", "count"])
    lo_r, hi_r = wilson(per_rate["sum"].to_numpy(), per_rate["count"].to_numpy())
    return {
        "tightest_budget": tightest, "workflows": n, "violations": k, "violation_rate": rate,
        "violation_ci": [low, high], "violation_limit": violation_limit, "status": status,
        "cost_ratio_mean": cr_mean, "cost_ratio_ci": [cr_mean - cr_half, cr_mean + cr_half],
        "by_rate": [{"rate": float(r), "violation_rate": float(s / c), "ci": [float(a), float(b)]}
                    for (r, (s, c)), a, b in zip(per_rate.iterrows(), lo_r, hi_r)],
    }

