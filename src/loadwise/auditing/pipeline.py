"""The audit from telemetry to findings: every number the report shows, in one dict.

`run_audit` loads nothing and writes nothing: it takes a Telemetry and options and
returns an AuditResult (the JSON-ready findings and the tables). The sentences that
answer the audit's questions are the report's (`loadwise.report.audit`); the verb
`loadwise.app.audit` adds loading, verification by simulation, those sentences and
the files.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from loadwise.auditing import cost, policy, tiers
from loadwise.auditing.grid import Grid, select_grid
from loadwise.auditing.queue_fit import QueueFit, fit_queue
from loadwise.auditing.recommend import recommend_rates
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
            raise ConfigError("alpha", "must be between 0 and 1")
        if not 0 < self.violation_limit < 1:
            raise ConfigError("violation_limit", "must be between 0 and 1")
        if self.epoch_seconds is not None and not self.epoch_seconds > 0:
            raise ConfigError("epoch_seconds", "must be a positive number of seconds")


@dataclass
class AuditResult:
    findings: dict
    tables: Tables
    grid: Grid
    regimes: list[Regime]
    fit: QueueFit | None
    # filled by the application layer (loadwise.app.audit), which writes the files
    paths: dict = field(default_factory=dict)   # where the report and audit.json were written
    report: Any = None                          # the loadwise.report.Report written there
    config: dict = field(default_factory=dict)  # the options the audit was called with


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
    for a, b in itertools.pairwise(measured):
        qa, qb = by_rate.loc[a, "mean_queue"], by_rate.loc[b, "mean_queue"]
        la, lb = by_rate.loc[a, "mean_latency"], by_rate.loc[b, "mean_latency"]
        jumps.append({"from": a, "to": b, "rate_ratio": b / a, "queue_from": _f(qa), "queue_to": _f(qb),
                      "queue_ratio": _ratio(qb, qa), "latency_from": _f(la), "latency_to": _f(lb),
                      "latency_ratio": _ratio(lb, la)})
    largest = max((j for j in jumps if j["queue_ratio"] is not None), key=lambda j: j["queue_ratio"], default=None)

    fit, candidates = fit_queue(np.asarray(measured), by_rate.loc[measured, "mean_queue"].to_numpy())
    rate_recs, probes = recommend_rates(fit, regimes, missing, measured)

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
            "steps": len(telemetry.steps), "workflows": len(telemetry.workflows),
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
    return AuditResult(findings, tables, grid, regimes, fit)


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
