"""The audit from telemetry to findings: every number the report shows, in one dict.

`run_audit` loads nothing and writes nothing: it takes a Telemetry and options and
returns an AuditResult (the JSON-ready findings and the tables). `loadwise.audit` in
`__init__` adds loading, verification by simulation and writing the report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from loadwise.auditing import cost, policy, tiers
from loadwise.auditing.grid import Grid, select_grid
from loadwise.auditing.queue_fit import QueueFit, fit_queue, nice_rate
from loadwise.auditing.regimes import Regime, label, parse_regimes
from loadwise.auditing.tables import Tables, build_tables
from loadwise.errors import ConfigError
from loadwise.systems.agentserve.telemetry import Telemetry


@dataclass
class AuditOptions:
    rates_target: list[float] | None = None
    budgets_target: list[float] | None = None
    regimes: str | dict | None = None
    alpha: float = 0.05              # significance level of every test family
    violation_limit: float = 0.05    # ε of the chance constraint P(latency > budget) ≤ ε
    epoch_seconds: float | None = None  # measured wall-clock per epoch, when telemetry has no times
    min_grid_share: float = 0.01     # a data-derived grid point needs this share of role steps

    def check(self) -> None:
        if not 0 < self.alpha < 1:
            raise ConfigError("--alpha", "must be between 0 and 1")
        if not 0 < self.violation_limit < 1:
            raise ConfigError("--violation-limit", "must be between 0 and 1")
        if self.epoch_seconds is not None and not self.epoch_seconds > 0:
            raise ConfigError("--epoch-seconds", "must be a positive number of seconds")


@dataclass
class AuditResult:
    findings: dict
    tables: Tables
    grid: Grid
    regimes: list[Regime]
    fit: QueueFit | None
    paths: dict = field(default_factory=dict)   # where `write` put the report
    report: Any = None                          # the loadwise.report.Report `write` built
    config: dict = field(default_factory=dict)  # the options `audit` was called with


def run_audit(telemetry: Telemetry, options: AuditOptions | None = None) -> AuditResult:
    options = options or AuditOptions()
    options.check()
    regimes = parse_regimes(options.regimes)
    grid, steps, workflows = select_grid(telemetry, options.rates_target, options.budgets_target, options.min_grid_share)
    rates, budgets = grid.rates, grid.budgets
    tables = build_tables(steps, workflows, rates, budgets, regimes[0].upper)

    # regimes and gaps, over the rates that have role steps (a target rate may have none)
    by_rate = tables.by_rate
    measured = [r for r in rates if by_rate.loc[r, "steps"] > 0]
    grid.out_of_grid["target_rates_without_data"] = [r for r in rates if r not in measured]
    labelled = [{"rate": r, "mean_queue": _f(by_rate.loc[r, "mean_queue"]),
                 "regime": label(by_rate.loc[r, "mean_queue"], regimes) if by_rate.loc[r, "steps"] else None}
                for r in measured]
    present = {x["regime"] for x in labelled}
    missing = [g.name for g in regimes if g.name not in present]
    jumps = []
    for a, b in zip(measured[:-1], measured[1:]):
        qa, qb = by_rate.loc[a, "mean_queue"], by_rate.loc[b, "mean_queue"]
        la, lb = by_rate.loc[a, "mean_latency"], by_rate.loc[b, "mean_latency"]
        jumps.append({"from": a, "to": b, "rate_ratio": b / a, "queue_from": _f(qa), "queue_to": _f(qb),
                      "queue_ratio": _ratio(qb, qa), "latency_from": _f(la), "latency_to": _f(lb),
                      "latency_ratio": _ratio(lb, la)})
    largest = max((j for j in jumps if j["queue_ratio"] is not None), key=lambda j: j["queue_ratio"], default=None)

    fit, candidates = fit_queue(np.asarray(measured), by_rate.loc[measured, "mean_queue"].to_numpy())
    rate_recs, probes = _recommend_rates(fit, regimes, missing, measured)

    # tiers
    space = tiers.spacing(budgets)
    pairs = tiers.compare_adjacent(tables, budgets, rates, options.alpha) if len(budgets) > 1 else []
    summary = tiers.tier_summary(tables)
    constraint = policy.constraint(workflows, budgets[0], options.violation_limit) if len(workflows) else None
    ci_high = constraint["violation_ci"][1] if constraint else float("nan")
    changes = tiers.tier_changes(pairs, space, ci_high, options.violation_limit)

    # policy
    checks = {
        "load": {w: policy.sensitivity(tables, w, "rate", options.alpha) for w in ("model", "strategy")},
        "budget": {w: policy.sensitivity(tables, w, "budget", options.alpha) for w in ("model", "strategy")},
        "collapse": policy.collapse(tables),
        "constraint": constraint,
    }

    # cost of the recommended grid
    has_times = "dispatch_time" not in telemetry.absent["steps"] and steps["dispatch_time"].notna().all()
    cells, seconds, n_epochs = cost.measure(steps, workflows, has_times)
    new_rates = sorted(set(measured) | {r["rate"] for r in rate_recs})
    new_budgets = sorted((set(budgets) - set(changes["drop"])) | {a["budget"] for a in changes["add"]})
    grid_cost = cost.grid_cost(cells, seconds, measured, budgets, new_rates, new_budgets, options.epoch_seconds)
    grid_cost["epochs_in_telemetry"] = n_epochs

    findings = {
        "source": {
            "path": telemetry.source, "format": telemetry.format,
            "steps": int(len(telemetry.steps)), "workflows": int(len(telemetry.workflows)),
            "ignored_rows": telemetry.ignored_rows, "absent_fields": telemetry.absent,
        },
        "grid": grid.as_dict(),
        "options": {"alpha": options.alpha, "violation_limit": options.violation_limit,
                    "regimes": [{"name": g.name, "lower": g.lower, "upper": g.upper} for g in regimes],
                    "epoch_seconds": options.epoch_seconds, "min_grid_share": options.min_grid_share},
        "tables": _tables_json(tables),
        "regimes": {"by_rate": labelled, "missing": missing, "jumps": jumps, "largest_jump": largest},
        "queue_fit": None if fit is None else {**fit.as_dict(), "candidates_sse_log": candidates, "by_rate": [
            {"rate": r, "measured": _f(by_rate.loc[r, "mean_queue"]), "fitted": float(fit.predict(r))} for r in measured]},
        "tiers": {"spacing": space, "summary": _records(summary), "pairs": pairs, "changes": changes},
        "policy": checks,
        "recommendations": {"rates": rate_recs, "probes": probes, "tiers": changes},
        "cost": grid_cost,
        "verification": None,
    }
    findings["summary"] = _summary(findings, tables)
    return AuditResult(findings, tables, grid, regimes, fit)


MAX_EXTRAPOLATION = 10.0  # a recommended rate lies within this factor (an order of magnitude) of the measured rates


def _recommend_rates(fit: QueueFit | None, regimes: list[Regime], missing: list[str],
                     rates: list[float]) -> tuple[list[dict], list[dict]]:
    """Rates to add (fitted queue at the middle of each missing regime's band), and probe
    rates where the fit would have to be extrapolated more than MAX_EXTRAPOLATION times
    beyond the measured rates: a rate to measure (or simulate with --verify) first."""
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
    for p in probes.values():
        many = len(p["regimes"]) > 1
        p["reason"] = (f"the fitted model places the {_join(p['regimes'])} regime{'s' if many else ''} at rate{'s' if many else ''} "
                       + ", ".join(f"{x:.3g}" for x in p["fitted_rates"])
                       + f", more than x{MAX_EXTRAPOLATION:g} outside the measured rates {lo:g}-{hi:g}: too far to trust; "
                       f"measure rate {p['rate']:g} first (--verify simulates it)")
    return recs, list(probes.values())


def _summary(f: dict, tables: Tables) -> dict:
    """The three questions, answered from the findings."""
    missing, recs = f["regimes"]["missing"], f["recommendations"]["rates"]
    lowest = f["regimes"]["by_rate"][0]
    idle_share = float(tables.by_rate.loc[lowest["rate"], "idle_share"])
    unmeasured = f["grid"]["out_of_grid"]["target_rates_without_data"]
    if not missing:
        q1 = "Yes: every regime has a rate in the grid (" + ", ".join(
            f"{x['rate']:g} → {x['regime']}" for x in f["regimes"]["by_rate"]) + ")."
    else:
        q1 = (f"No: the grid misses the {_join(missing)} regime{'s' if len(missing) > 1 else ''}. "
              f"The lowest rate, {lowest['rate']:g}, has mean queue depth {lowest['mean_queue']:.3g} ({lowest['regime']}); "
              f"{100 * idle_share:.3g} % of its steps see a queue below {f['options']['regimes'][0]['upper']:g}.")
        if recs:
            q1 += " Add " + "; ".join(
                f"rate {r['rate']:g} for {r['regime']} (fitted queue {r['predicted_queue']:.3g}"
                + (f", 95 % CI {r['predicted_queue_ci'][0]:.3g}–{r['predicted_queue_ci'][1]:.3g}" if _finite(r["predicted_queue_ci"][0]) else "")
                + ")" for r in recs) + "."
        for p in f["recommendations"]["probes"]:
            q1 += f" {p['reason'][0].upper()}{p['reason'][1:]}."
        if f["queue_fit"] is None:
            q1 += " No rate can be recommended: queue depth does not grow with rate in these data, so the fit cannot be inverted."
    if unmeasured:
        q1 += f" Target rate{'s' if len(unmeasured) > 1 else ''} {_list(unmeasured)} {'have' if len(unmeasured) > 1 else 'has'} no telemetry."
    pairs = f["tiers"]["pairs"]
    redundant = [p for p in pairs if p["redundant"]]
    if not pairs:
        q2 = "Not testable: the grid has one budget tier."
    elif redundant:
        q2 = "Yes: " + "; ".join(
            f"{p['tiers'][0]:g} s and {p['tiers'][1]:g} s are indistinguishable (Holm-adjusted p: violation "
            f"{_p(p['holm_p']['violation'])}, model mix {_p(p['holm_p']['model_mix'])}, strategy mix "
            f"{_p(p['holm_p']['strategy_mix'])})" for p in redundant) + ". Drop " + ", ".join(
            f"{b:g} s" for b in f["recommendations"]["tiers"]["drop"]) + "."
    else:
        def smallest_p(pair: dict) -> float:
            return min((v for v in pair["holm_p"].values() if _finite(v)), default=float("nan"))

        tested = [p for p in pairs if _finite(smallest_p(p))]
        untested = [p for p in pairs if p not in tested]
        q2 = f"No: {len(tested)} of {len(pairs)} adjacent pairs of tiers differ in at least one test (Holm-adjusted p < {f['options']['alpha']:g})"
        if tested:
            closest = max(tested, key=smallest_p)
            q2 += (f"; the closest pair, {closest['tiers'][0]:g}/{closest['tiers'][1]:g} s, has smallest adjusted p "
                   f"{_p(smallest_p(closest))}")
        if untested:
            q2 += ("; not testable (a tier without data): "
                   + ", ".join(f"{p['tiers'][0]:g}/{p['tiers'][1]:g} s" for p in untested))
        q2 += f". Adjacent ratios: {', '.join(f'{r:.3g}' for r in f['tiers']['spacing']['adjacent_ratios'])}."
    adds = f["recommendations"]["tiers"]["add"]
    if adds:
        q2 += " Add tier" + ("s " if len(adds) > 1 else " ") + ", ".join(f"{a['budget']:g} s" for a in adds) + "."
    c = f["cost"]
    if c["new"]["rates"] == c["old"]["rates"] and c["new"]["budgets"] == c["old"]["budgets"]:
        q3 = f"No change recommended; the current grid takes {c['old']['steps_per_epoch']:,.0f} role steps per epoch."
    else:
        q3 = (f"{_pct(c['steps_change'])} role steps per epoch ({c['old']['steps_per_epoch']:,.0f} → "
              f"{c['new']['steps_per_epoch']:,.0f}; rates {_list(c['old']['rates'])} → {_list(c['new']['rates'])}"
              + (f", budgets {_list(c['old']['budgets'])} → {_list(c['new']['budgets'])}" if c["new"]["budgets"] != c["old"]["budgets"] else "")
              + ").")
        if "seconds_change" in c:
            q3 += (f" Wall-clock per epoch {c['old']['seconds_per_epoch']:,.0f} s → {c['new']['seconds_per_epoch']:,.0f} s "
                   f"({_pct(c['seconds_change'])}; from {c['wall_clock_source']}).")
        else:
            q3 += " Wall-clock not estimated: the telemetry has no dispatch times (give --epoch-seconds)."
    return {"rates_sufficient": not missing, "tiers_redundant": bool(redundant),
            "q1_rates": q1, "q2_tiers": q2, "q3_cost": q3}


def _tables_json(t: Tables) -> dict:
    return {
        "by_rate_budget": _records(t.cells),
        "by_rate": _records(t.by_rate),
        "by_budget": _records(t.by_budget),
        "model_queue_by_rate": _records(t.model_queue),
        "model_mix_by_rate": _records(t.mix("model", "rate")),
        "model_mix_by_budget": _records(t.mix("model", "budget")),
        "strategy_mix_by_rate": _records(t.mix("strategy", "rate")),
        "strategy_mix_by_budget": _records(t.mix("strategy", "budget")),
        "model_counts": _records(t.model_counts),
        "strategy_counts": _records(t.strategy_counts),
    }


def _records(frame: pd.DataFrame) -> list[dict]:
    return frame.reset_index().to_dict(orient="records")


def _f(x) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) or pd.isna(x) else float(x)


def _ratio(b, a) -> float | None:
    return float(b / a) if _f(a) and _f(b) is not None and a > 0 else None


def _finite(x) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)


def _p(p: float) -> str:
    if not _finite(p):
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3g}"


def _pct(x: float) -> str:
    return f"{100 * x:+.3g} %"


def _list(xs: list[float]) -> str:
    return "[" + ", ".join(f"{x:g}" for x in xs) + "]"


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
