"""The statistics of weighted scenario objectives.

The sampling variance of a weighted mean of per-scenario means is Σ wᵢ² sᵢ² / nᵢ
(sᵢ² the within-scenario variance of one run, nᵢ the replicates), not the spread of
the scenario means (which the published tool called "SE"). Confidence intervals use
Student's t with Welch–Satterthwaite degrees of freedom.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from scipy import stats


def weighted_mean_variance(weights: Sequence[float], variances: Sequence[float], counts: Sequence[int]) -> float:
    """Var(Σ wᵢ x̄ᵢ) = Σ wᵢ² sᵢ² / nᵢ."""
    return float(sum(w * w * s2 / n for w, s2, n in zip(weights, variances, counts)))


def welch_df(weights: Sequence[float], variances: Sequence[float], dofs: Sequence[float],
             counts: Sequence[int]) -> float:
    """Welch–Satterthwaite degrees of freedom of Σ wᵢ x̄ᵢ (each sᵢ² with `dofs[i]` degrees of freedom)."""
    terms = [w * w * s2 / n for w, s2, n in zip(weights, variances, counts)]
    denom = sum(t * t / d for t, d in zip(terms, dofs) if d > 0)
    total = sum(terms)
    if denom <= 0:
        return math.inf
    return total * total / denom


def t_quantile(level: float, df: float) -> float:
    return float(stats.norm.ppf(level) if not math.isfinite(df) else stats.t.ppf(level, df))


def ci_half_width(weights: Sequence[float], variances: Sequence[float], counts: Sequence[int],
                  dofs: Sequence[float] | None = None, confidence: float = 0.95) -> float:
    """Half-width of the two-sided CI of a weighted mean of scenario means."""
    var = weighted_mean_variance(weights, variances, counts)
    df = welch_df(weights, variances, dofs if dofs is not None else [n - 1 for n in counts], counts)
    return t_quantile(0.5 + confidence / 2, df) * math.sqrt(var)


def sample_stats(values: Sequence[float]) -> tuple[float, float, int]:
    """(mean, unbiased variance or NaN for one value, count)."""
    a = np.asarray(values, dtype=float)
    return float(a.mean()), float(a.var(ddof=1)) if len(a) > 1 else math.nan, len(a)


def paired_weighted_difference(weights: Mapping[str, float], diffs: Mapping[str, Sequence[float]]
                               ) -> tuple[float, float, float]:
    """Weighted mean difference over scenarios, its CI half-width (95 %) and two-sided p-value.

    `diffs[s]` are paired differences (same seeds) on scenario s; every scenario needs
    at least two of them for a variance.
    """
    names = [s for s in weights if s in diffs]
    w = [weights[s] for s in names]
    st = [sample_stats(diffs[s]) for s in names]
    mean = sum(wi * m for wi, (m, _, _) in zip(w, st))
    variances, counts = [v for _, v, _ in st], [n for _, _, n in st]
    if any(n < 2 for n in counts):
        return mean, math.nan, math.nan
    var = weighted_mean_variance(w, variances, counts)
    df = welch_df(w, variances, [n - 1 for n in counts], counts)
    if var <= 0:
        return mean, 0.0, 0.0 if mean != 0 else 1.0
    t = mean / math.sqrt(var)
    p = float(2 * (stats.norm.sf(abs(t)) if not math.isfinite(df) else stats.t.sf(abs(t), df)))
    return mean, t_quantile(0.975, df) * math.sqrt(var), p
