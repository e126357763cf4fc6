"""Rates to add: where the fitted queue model puts each regime the grid misses.

A missing regime gets the rate at which the fitted mean queue depth sits at the middle
of the regime's band, rounded to two significant figures when the rounded rate still
falls in the band. A rate the fit would have to extrapolate more than MAX_EXTRAPOLATION
times beyond the measured rates is not recommended: a probe rate at that limit is
proposed instead, to be measured (or simulated) before the grid changes.
"""

from __future__ import annotations

from loadwise.auditing.queue_fit import QueueFit, nice_rate
from loadwise.auditing.regimes import Regime

MAX_EXTRAPOLATION = 10.0  # a recommended rate lies within this factor (an order of magnitude) of the measured rates


def recommend_rates(fit: QueueFit | None, regimes: list[Regime], missing: list[str],
                    rates: list[float]) -> tuple[list[dict], list[dict]]:
    """Rates to add for the `missing` regimes, and probe rates for those too far out to trust."""
    recs: list[dict] = []
    probes: dict[float, dict] = {}
    if fit is None:
        return recs, []
    lo, hi = min(rates), max(rates)
    for g in regimes:
        if g.name not in missing:
            continue
        target = g.target()
        exact = fit.invert(target)
        if not (lo / MAX_EXTRAPOLATION <= exact <= hi * MAX_EXTRAPOLATION):
            probe = nice_rate(lo / MAX_EXTRAPOLATION if exact < lo else hi * MAX_EXTRAPOLATION)
            entry = probes.setdefault(probe, {"rate": probe, "regimes": [], "fitted_rates": [],
                                              "predicted_queue": float(fit.predict(probe))})
            entry["regimes"].append(g.name)
            entry["fitted_rates"].append(exact)
            continue
        rate = nice_rate(exact)
        if not (g.lower <= float(fit.predict(rate)) < g.upper):
            rate = exact
        if rate in rates:
            continue
        low, high = fit.interval(rate)
        recs.append({
            "regime": g.name, "target_queue": target, "rate": rate, "rate_exact": exact,
            "predicted_queue": float(fit.predict(rate)), "predicted_queue_ci": [low, high],
            "extrapolation": None if lo <= rate <= hi else (f"x{lo / rate:.3g} below the lowest measured rate" if rate < lo
                                                          else f"x{rate / hi:.3g} above the highest measured rate"),
        })
    return recs, list(probes.values())
