"""Queue depth as a function of arrival rate, fitted and inverted to pick new rates.

Two monotone two-parameter models through q = 0 at λ = 0 (an empty system has no
queue), both with closed-form inverses, fitted by least squares on log q over the
grid's rates; the one with the smaller residual sum of squares is used (same number of
parameters, so the comparison is fair):

- power law, q = a·λ^b: bends either way (b < 1 is the concave growth of a router that
  sheds load to other servers, as in seed 000). Inverse λ = (q/a)^(1/b).
- M/M/1-shaped, q = a·λ / (1 − λ/c) with capacity c above the highest rate (c = ∞
  is the straight line of Little's law at light load): linear at low load, blowing up
  near saturation, as a queue does. Inverse λ = q / (a + q/c).

A per-server M/M/c model would need each server's service rate and its own arrival
rate, which role-step telemetry of a routed pool does not identify (the router moves
calls between servers as load changes); these pooled shapes need only the per-rate
means.

Uncertainty, on the log scale with t(n − 2): for the power law, the confidence interval
of the fitted mean (ordinary least squares); for the M/M/1 shape, the same with the
capacity held at its estimate. With two rates the fit is exact and no interval exists.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize as _opt
from scipy import stats as _st


@dataclass(frozen=True)
class QueueFit:
    kind: str              # "power" or "mm1"
    a: float
    b: float               # power: exponent; mm1: capacity c (inf allowed)
    n: int
    sse_log: float
    residual_se: float     # log scale; NaN when n < 3
    mean_x: float          # mean of the regressor (log rate, or log of the M/M/1 load term)
    sxx: float             # power law only

    def predict(self, rate: float | np.ndarray) -> np.ndarray:
        lam = np.asarray(rate, dtype=float)
        if self.kind == "power":
            return self.a * np.power(lam, self.b)
        return self.a * lam / (1 - lam / self.b)

    def invert(self, queue_depth: float) -> float:
        """The rate at which the fitted mean queue depth equals `queue_depth`."""
        if self.kind == "power":
            return (queue_depth / self.a) ** (1 / self.b)
        return queue_depth / (self.a + queue_depth / self.b)

    def interval(self, rate: float) -> tuple[float, float]:
        """95 % confidence interval of the fitted mean queue depth at `rate`."""
        if self.n < 3 or not math.isfinite(self.residual_se) or (self.kind == "mm1" and rate >= self.b):
            return float("nan"), float("nan")
        t = float(_st.t.ppf(0.975, self.n - 2))
        if self.kind == "power":
            x = math.log(rate)
            se = self.residual_se * math.sqrt(1 / self.n + (x - self.mean_x) ** 2 / self.sxx)
        else:
            se = self.residual_se * math.sqrt(1 / self.n)
        centre = math.log(float(self.predict(rate)))
        return math.exp(centre - t * se), math.exp(centre + t * se)

    def describe(self) -> str:
        if self.kind == "power":
            return f"q = {self.a:.4g}·rate^{self.b:.3g}"
        cap = "∞" if math.isinf(self.b) else f"{self.b:.4g}"
        return f"q = {self.a:.4g}·rate / (1 − rate/{cap})"

    def as_dict(self) -> dict:
        return {"model": "power law q = a*rate^b" if self.kind == "power" else "M/M/1 shape q = a*rate/(1 - rate/c)",
                "kind": self.kind, "a": self.a, ("b" if self.kind == "power" else "capacity"): self.b,
                "formula": self.describe(), "n_rates": self.n, "sse_log": self.sse_log, "residual_se_log": self.residual_se}


def fit_queue(rates: np.ndarray, queues: np.ndarray) -> tuple[QueueFit | None, dict]:
    """The better of the two fits (None with fewer than two positive means, or when queue
    depth does not grow with rate), and both candidates' log-scale SSE."""
    rates = np.asarray(rates, dtype=float)
    queues = np.asarray(queues, dtype=float)
    keep = (rates > 0) & (queues > 0) & np.isfinite(queues)
    if keep.sum() < 2 or np.unique(rates[keep]).size < 2:
        return None, {}
    lam, q = rates[keep], queues[keep]
    power = _fit_power(lam, q)
    if power is None:  # queue depth does not grow with rate: neither shape describes it
        return None, {}
    fits = [power, _fit_mm1(lam, q)]
    best = min(fits, key=lambda f: f.sse_log)
    return best, {f.kind: f.sse_log for f in fits}


def _fit_power(lam: np.ndarray, q: np.ndarray) -> QueueFit | None:
    x, y = np.log(lam), np.log(q)
    xm = float(x.mean())
    sxx = float(((x - xm) ** 2).sum())
    b = float(((x - xm) * (y - y.mean())).sum() / sxx)
    if b <= 0:
        return None
    log_a = float(y.mean() - b * xm)
    sse = float(((y - log_a - b * x) ** 2).sum())
    n = len(lam)
    se = math.sqrt(sse / (n - 2)) if n >= 3 else float("nan")
    return QueueFit("power", math.exp(log_a), b, n, sse, se, xm, sxx)


def _fit_mm1(lam: np.ndarray, q: np.ndarray) -> QueueFit | None:
    y = np.log(q)
    top = float(lam.max())

    def terms(u: float) -> np.ndarray:  # u = 1/c in [0, 1/top)
        return np.log(lam) - np.log1p(-lam * u)

    def sse(u: float) -> float:
        r = y - terms(u)
        return float(((r - r.mean()) ** 2).sum())

    res = _opt.minimize_scalar(sse, bounds=(0.0, 0.999 / top), method="bounded", options={"xatol": 1e-9 / top})
    u = float(res.x) if sse(float(res.x)) < sse(0.0) else 0.0
    x = terms(u)
    log_a = float((y - x).mean())
    n = len(lam)
    s = sse(u)
    # the capacity is a fitted parameter too: n - 2 degrees of freedom
    se = math.sqrt(s / (n - 2)) if n >= 3 else float("nan")
    return QueueFit("mm1", math.exp(log_a), math.inf if u == 0 else 1 / u, n, s, se, float(x.mean()), float("nan"))


def nice_rate(rate: float) -> float:
    """A rate rounded to two significant figures (what a person would put in a grid)."""
    if rate <= 0 or not math.isfinite(rate):
        return rate
    digits = 1 - math.floor(math.log10(rate))
    return round(rate, digits) if digits > 0 else float(round(rate, digits))
