"""The statistical tests the audit uses, from statsmodels and scipy.

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

The wrappers only add what the audit's tables need around the library calls: empty
cells and strata give NaN instead of an error, so a grid with holes still gets a report.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as _st
from scipy.stats.contingency import association
from statsmodels.stats.contingency_tables import StratifiedTable
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

Z95 = float(_st.norm.ppf(0.975))


def wilson(successes: np.ndarray | int, n: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds of the 95 % Wilson score interval (NaN where n == 0)."""
    k = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        low, high = proportion_confint(k, n, alpha=0.05, method="wilson")
    # exact ends where the formula meets them analytically (k = 0 or k = n), free of
    # rounding; an empty cell has no interval at all
    low = np.where(n == 0, np.nan, np.where(k == 0, 0.0, low))
    high = np.where(n == 0, np.nan, np.where(k == n, 1.0, high))
    return low, high


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
    """CMH test on K stacked 2×2 tables [[a, b], [c, d]] (rows: group, cols: yes/no).

    A stratum with an empty row or column adds nothing to the statistic or its variance,
    so it is left out (statsmodels would divide by its zero variance); with none left,
    there is nothing to test.
    """
    t = np.asarray(tables, dtype=float).reshape(-1, 2, 2)
    margins = np.concatenate([t.sum(axis=2), t.sum(axis=1)], axis=1)
    t = t[(margins > 0).all(axis=1)]
    if not len(t):
        return TestResult("Cochran-Mantel-Haenszel", float("nan"), 1, float("nan"))
    result = StratifiedTable(t.transpose(1, 2, 0)).test_null_odds(correction=True)
    return TestResult("Cochran-Mantel-Haenszel", float(result.statistic), 1, float(result.pvalue))


def stratified_chi2(tables: list[np.ndarray]) -> TestResult:
    """Sum of Pearson X² over strata (rows: groups, cols: categories); empty rows/cols dropped."""
    total, dof = 0.0, 0
    for table in tables:
        t = _nonempty(table)
        if t.shape[0] < 2 or t.shape[1] < 2:
            continue
        statistic, _, stratum_dof, _ = _st.chi2_contingency(t, correction=False)
        total += float(statistic)
        dof += int(stratum_dof)
    if dof == 0:
        return TestResult("stratified Pearson chi-square", float("nan"), 0, float("nan"))
    return TestResult("stratified Pearson chi-square", total, dof, float(_st.chi2.sf(total, dof)))


def cramers_v(table: np.ndarray) -> float:
    """Cramér's V of a table of counts (0: no association, 1: complete)."""
    t = _nonempty(table)
    if t.shape[0] < 2 or t.shape[1] < 2:
        return float("nan")
    return float(association(t, method="cramer"))


def holm(p_values: list[float]) -> list[float]:
    """Holm-adjusted p-values, in the input order; NaN stays NaN and is not counted."""
    p = np.asarray(p_values, dtype=float)
    valid = ~np.isnan(p)
    adjusted = np.full(p.shape, np.nan)
    if valid.any():
        adjusted[valid] = multipletests(p[valid], method="holm")[1]
    return adjusted.tolist()


def _nonempty(table: np.ndarray) -> np.ndarray:
    """The table without its all-zero rows and columns (they carry no observation)."""
    t = np.asarray(table)
    return t[t.sum(axis=1) > 0][:, t.sum(axis=0) > 0]
