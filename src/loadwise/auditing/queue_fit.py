"""Queue depth as a function of arrival rate, fitted and inverted to pick new rates.

Model: mean queue depth q(λ) = a·λ^b, fitted by least squares on log q against log λ
over the grid's rates. Why this model: it is monotone, passes through q = 0 at λ = 0
(an empty system has no queue), bends either way (b > 1: the convex growth of a queue
nearing saturation; b < 1: the concave growth of a router that sheds load to other
servers, as in seed 000), has a closed-form inverse λ(q) = (q/a)^(1/b), and needs only
two rates. A per-server M/M/c model would need each server's service rate and its own
arrival rate, which role-step telemetry of a routed pool does not identify (the router
moves calls between servers as load changes).

Uncertainty: the 95 % confidence interval of the fitted mean on the log scale
(t distribution with n − 2 degrees of freedom), reported wherever there are at least
three rates; with two rates the fit is exact and no interval exists.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as _st


@dataclass(frozen=True)
class PowerFit:
    a: float
    b: float
    n: int
    r2: float              # on the log scale
    residual_se: float     # on the log scale; NaN when n < 3
    mean_log_rate: float
    sxx: float

    def predict(self, rate: float | np.ndarray) -> np.ndarray:
        return self.a * np.power(np.asarray(rate, dtype=float), self.b)

    def interval(self, rate: float) -> tuple[float, float]:
        """95 % confidence interval of the mean queue depth at `rate` (NaN when n < 3)."""
        if self.n < 3 or not math.isfinite(self.residual_se):
            return float("nan"), float("nan")
        x = math.log(rate)
        se = self.residual_se * math.sqrt(1 / self.n + (x - self.mean_log_rate) ** 2 / self.sxx)
        t = float(_st.t.ppf(0.975, self.n - 2))
        centre = math.log(self.a) + self.b * x
        return math.exp(centre - t * se), math.exp(centre + t * se)

    def invert(self, queue_depth: float) -> float:
        """The rate at which the fitted mean queue depth equals `queue_depth`."""
        return (queue_depth / self.a) ** (1 / self.b)

    def as_dict(self) -> dict:
        return {"model": "q = a * rate^b (least squares on log-log)", "a": self.a, "b": self.b, "n_rates": self.n,
                "r2_log": self.r2, "residual_se_log": self.residual_se}


def fit_power(rates: np.ndarray, queues: np.ndarray) -> PowerFit | None:
    """Fit on the rates with a positive mean queue; None with fewer than two such rates
    or when queue depth does not grow with rate (the fit could not be inverted)."""
    rates = np.asarray(rates, dtype=float)
    queues = np.asarray(queues, dtype=float)
    keep = (rates > 0) & (queues > 0) & np.isfinite(queues)
    if keep.sum() < 2:
        return None
    x, y = np.log(rates[keep]), np.log(queues[keep])
    xm = x.mean()
    sxx = float(((x - xm) ** 2).sum())
    if sxx == 0:
        return None
    b = float(((x - xm) * (y - y.mean())).sum() / sxx)
    if b <= 0:
        return None
    log_a = float(y.mean() - b * xm)
    resid = y - (log_a + b * x)
    n = int(keep.sum())
    sst = float(((y - y.mean()) ** 2).sum())
    r2 = 1 - float((resid**2).sum()) / sst if sst > 0 else 1.0
    se = math.sqrt(float((resid**2).sum()) / (n - 2)) if n >= 3 else float("nan")
    return PowerFit(math.exp(log_a), b, n, r2, se, float(xm), sxx)


def nice_rate(rate: float) -> float:
    """A rate rounded to two significant figures (what a person would put in a grid)."""
    if rate <= 0 or not math.isfinite(rate):
        return rate
    digits = 1 - int(math.floor(math.log10(rate)))
    return round(rate, digits) if digits > 0 else float(round(rate, digits))
