"""Budget tiers: are adjacent tiers distinguishable, and how are they spaced?

Two adjacent tiers are *redundant* when none of three tests finds a difference between
them at level α after Holm's adjustment over every (pair, test) in the family:
  1. violation rate: Cochran-Mantel-Haenszel test stratified by arrival rate;
  2. model mix: stratified Pearson chi-square (strata: rates);
  3. strategy mix: stratified Pearson chi-square (strata: rates).
Stratifying by rate compares the tiers under the same load. Effect sizes are reported
beside the tests (difference of violation rates; Cramér's V of the mixes), because with
a large sample a negligible difference is still significant, and with a small one a real
difference may go undetected — the report says which.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd

from loadwise.auditing.stats import TestResult, cmh_2x2, cramers_v, holm, stratified_chi2
from loadwise.auditing.tables import Tables


def spacing(budgets: list[float]) -> dict:
    """Ratios between adjacent tiers and to the tightest one, and how even they are."""
    b = sorted(budgets)
    if len(b) < 2:
        return {"budgets": b, "adjacent_ratios": [], "relative_to_tightest": [1.0] * len(b),
                "geometric_mean_ratio": float("nan"), "log_ratio_cv": float("nan")}
    ratios = [b[i + 1] / b[i] for i in range(len(b) - 1)]
    logs = np.log(ratios)
    return {
        "budgets": b,
        "adjacent_ratios": ratios,
        "relative_to_tightest": [x / b[0] for x in b],
        "geometric_mean_ratio": float(math.exp(logs.mean())),
        "log_ratio_cv": float(logs.std() / logs.mean()) if len(logs) > 1 and logs.mean() > 0 else 0.0,
    }


def compare_adjacent(tables: Tables, budgets: list[float], rates: list[float], alpha: float) -> list[dict]:
    """One record per adjacent pair: the three tests (raw and Holm-adjusted p), effect
    sizes, and the verdict."""
    b = sorted(budgets)
    cells = tables.cells
    pairs = []
    for lo, hi in itertools.pairwise(b):
        viol = []
        for r in rates:
            k1, n1 = cells.loc[(r, lo), ["violations", "workflows"]]
            k2, n2 = cells.loc[(r, hi), ["violations", "workflows"]]
            viol.append([[k1, n1 - k1], [k2, n2 - k2]])
        viol = np.asarray(viol, dtype=float)
        tests = {"violation": cmh_2x2(viol)}
        effects = {}
        n1, n2 = viol[:, 0].sum(), viol[:, 1].sum()
        effects["violation_rate_low_tier"] = float(viol[:, 0, 0].sum() / n1) if n1 else float("nan")
        effects["violation_rate_high_tier"] = float(viol[:, 1, 0].sum() / n2) if n2 else float("nan")
        effects["violation_difference"] = effects["violation_rate_low_tier"] - effects["violation_rate_high_tier"]
        for which, counts in (("model_mix", tables.model_counts), ("strategy_mix", tables.strategy_counts)):
            strata = [counts.loc[[(r, lo), (r, hi)]].to_numpy() for r in rates]
            tests[which] = stratified_chi2(strata)
            effects[f"{which}_cramers_v"] = cramers_v(counts.loc[[(r, x) for r in rates for x in (lo, hi)]]
                                                      .groupby(level="budget").sum().to_numpy())
        steps_lo, steps_hi = (int(tables.model_counts.xs(b, level="budget").to_numpy().sum()) for b in (lo, hi))
        has_data = {"violation": n1 > 0 and n2 > 0, "model_mix": steps_lo > 0 and steps_hi > 0}
        has_data["strategy_mix"] = has_data["model_mix"]
        for name, result in tests.items():
            # nothing to compare although both tiers have data: one and the same outcome in
            # both (e.g. no violations, or the same single model) - identical, not untestable
            if math.isnan(result.p_value) and has_data[name]:
                tests[name] = TestResult(result.name + " (one outcome in both tiers)", 0.0, 0, 1.0)
        pairs.append({"tiers": [lo, hi], "tests": tests, "effects": effects})

    raw = [pair["tests"][name].p_value for pair in pairs for name in ("violation", "model_mix", "strategy_mix")]
    adjusted = holm(raw)
    for i, pair in enumerate(pairs):
        adj = dict(zip(("violation", "model_mix", "strategy_mix"), adjusted[3 * i:3 * i + 3]))
        tested = [p for p in adj.values() if not math.isnan(p)]
        pair["holm_p"] = adj
        pair["redundant"] = bool(tested) and all(p > alpha for p in tested)
        pair["tests"] = {k: v.as_dict() for k, v in pair["tests"].items()}
    return pairs


def tier_changes(pairs: list[dict], space: dict, tightest_ci_high: float, violation_limit: float) -> dict:
    """Tiers to drop (one tier per redundant pair, preferring a tier shared by two
    redundant pairs, then the one whose removal leaves the most even log spacing) and to add (the geometric midpoint of a gap more than twice the
    typical ratio; a tighter tier when even the tightest one stays below the limit)."""
    budgets = list(space["budgets"])
    drop, add = [], []
    open_pairs = [p for p in pairs if p["redundant"]]
    while open_pairs:
        # the tier in most unresolved redundant pairs goes first; ties: the most even spacing left
        count = {}
        for p in open_pairs:
            for t in p["tiers"]:
                count[t] = count.get(t, 0) + 1
        remaining = [x for x in budgets if x not in drop]

        def evenness(t: float, remaining: list[float] = remaining) -> float:
            rest = [x for x in remaining if x != t]
            return spacing(rest)["log_ratio_cv"] if len(rest) > 2 else 0.0

        choice = min(count, key=lambda t: (-count[t], evenness(t), -t))
        drop.append(choice)
        for p in open_pairs:
            if choice in p["tiers"]:
                p["drop"] = choice
        open_pairs = [p for p in open_pairs if choice not in p["tiers"]]
    gm = space["geometric_mean_ratio"]
    if len(budgets) >= 3 and math.isfinite(gm):
        for (lo, hi), ratio in zip(itertools.pairwise(budgets), space["adjacent_ratios"]):
            if ratio > 2 * gm:
                add.append({"budget": _nice(math.sqrt(lo * hi)), "reason": f"gap {lo:g} -> {hi:g} is x{ratio:.3g}, "
                            f"more than twice the typical adjacent ratio x{gm:.3g}"})
    if math.isfinite(tightest_ci_high) and tightest_ci_high < violation_limit and budgets:
        ratio = gm if math.isfinite(gm) else 2.0
        add.append({"budget": _nice(budgets[0] / ratio), "reason": f"even the tightest tier ({budgets[0]:g} s) stays below the "
                    f"violation limit {violation_limit:.3g} (95 % CI upper bound {tightest_ci_high:.3g}): no tier makes the constraint bind"})
    return {"drop": sorted(drop), "add": add}


def _nice(x: float) -> float:
    digits = 1 - math.floor(math.log10(x))
    return round(x, digits) if digits > 0 else float(round(x, digits))


def tier_summary(tables: Tables) -> pd.DataFrame:
    """Per tier: pooled violation rate and its CI, and the range of violation rate and cost
    ratio across rates."""
    cells = tables.cells
    by_b = tables.by_budget
    rng = cells.groupby(level="budget").agg(
        violation_min=("violation_rate", "min"), violation_max=("violation_rate", "max"),
        cost_ratio_min=("cost_ratio", "min"), cost_ratio_max=("cost_ratio", "max"))
    out = by_b[["workflows", "violation_rate", "violation_ci_low", "violation_ci_high", "cost_ratio"]].join(rng)
    return out
