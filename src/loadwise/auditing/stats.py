"""The statistical tests the audit uses, each small enough to check by hand.

- Wilson score interval for a proportion (better coverage than the normal interval
  near 0 and 1, where violation rates live). Wilson, JASA 22 (1927).
- Cochran-Mantel-Haenszel test for two groups and a yes/no outcome, stratified by a
  third variable (here: arrival rate), with continuity correction. Agresti,
  Categorical Data Analysis, 3rd ed., section 6.4.
- Stratified Pearson chi-square test of homogeneity: the sum over strata of independent
  Pearson X² statistics is X² with the summed degrees of freedom under the null that
  every stratum is homogeneous.
- Cramér's V as the effect size of a contingency table.
- Holm's step-down adjustment for a family of p-values (controls the family-wise error
  rate without assuming independence). Holm, Scand. J. Statist. 6 (1979).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

Z95 = float(_st.norm.ppf(0.975))


def wilson(successes: np.ndarray | int, n: np.ndarray | int, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds of the Wilson score interval (NaN where n == 0)."""
    k = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # exact ends where the formula meets them analytically (k = 0 or k = n), free of rounding
    return np.where(k == 0, 0.0, centre - half), np.where(k == n, 1.0, centre + half)


@dataclass(frozen=True)
class TestResult:
    """A test statistic, its degrees of freedom and p-value (NaN when nothing to test)."""

    name: str
    statistic: float
    df: int
    p_value: float

    def as_dict(self) -> dict:
        return {"test": self.name, "statistic": self.statistic, "df": self.df, "p_value": self.p_value}


def cmh_2x2(tables: np.ndarray) -> TestResult:
    """CMH test on K stacked 2×2 tables [[a, b], [c, d]] (rows: group, cols: yes/no)."""
    t = np.asarray(tables, dtype=float).reshape(-1, 2, 2)
    n = t.sum(axis=(1, 2))
    t = t[n > 1]
    n = n[n > 1]
    a = t[:, 0, 0]
    row1, row2 = t[:, 0].sum(axis=1), t[:, 1].sum(axis=1)
    col1, col2 = t[:, :, 0].sum(axis=1), t[:, :, 1].sum(axis=1)
    expected = row1 * col1 / n
    variance = row1 * row2 * col1 * col2 / (n * n * (n - 1))
    if variance.sum() <= 0:
        return TestResult("Cochran-Mantel-Haenszel", float("nan"), 1, float("nan"))
    stat = (abs(a.sum() - expected.sum()) - 0.5) ** 2 / variance.sum()
    stat = max(stat, 0.0)
    return TestResult("Cochran-Mantel-Haenszel", float(stat), 1, float(_st.chi2.sf(stat, 1)))


def stratified_chi2(tables: list[np.ndarray]) -> TestResult:
    """Sum of Pearson X² over strata (rows: groups, cols: categories); empty rows/cols dropped."""
    total, dof = 0.0, 0
    for table in tables:
        t = np.asarray(table, dtype=float)
        t = t[t.sum(axis=1) > 0][:, t.sum(axis=0) > 0]
        if t.shape[0] < 2 or t.shape[1] < 2:
            continue
        expected = np.outer(t.sum(axis=1), t.sum(axis=0)) / t.sum()
        total += float(((t - expected) ** 2 / expected).sum())
        dof += (t.shape[0] - 1) * (t.shape[1] - 1)
    if dof == 0:
        return TestResult("stratified Pearson chi-square", float("nan"), 0, float("nan"))
    return TestResult("stratified Pearson chi-square", total, dof, float(_st.chi2.sf(total, dof)))


def cramers_v(table: np.ndarray) -> float:
    """Cramér's V of a contingency table (0: no association, 1: complete)."""
    t = np.asarray(table, dtype=float)
    t = t[t.sum(axis=1) > 0][:, t.sum(axis=0) > 0]
    if t.shape[0] < 2 or t.shape[1] < 2:
        return float("nan")
    expected = np.outer(t.sum(axis=1), t.sum(axis=0)) / t.sum()
    chi2 = float(((t - expected) ** 2 / expected).sum())
    return float(np.sqrt(chi2 / (t.sum() * (min(t.shape) - 1))))


def holm(p_values: list[float]) -> list[float]:
    """Holm-adjusted p-values, in the input order; NaN stays NaN and is not counted."""
    p = np.asarray(p_values, dtype=float)
    valid = np.flatnonzero(~np.isnan(p))
    adjusted = np.full(p.shape, np.nan)
    order = valid[np.argsort(p[valid], kind="stable")]
    m = len(order)
    running = 0.0
    for rank, idx in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[idx]))
        adjusted[idx] = running
    return adjusted.tolist()
