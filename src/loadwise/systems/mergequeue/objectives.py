"""The merge queue's objective: developer-hours lost per 1000 pull requests, plus runner time.

Priced like the submit queue's `default` objective (same units, same weights where the
concepts match: a false rejection costs 8 hours, an escape 40, a quarter of every
waiting hour is lost, a runner-hour is worth 0.01 developer-hours), so one scale holds
across strategies, scenarios and run lengths. Weights live in `CostWeights`; README
("Merge queues", objective) gives the formula.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace

from loadwise.errors import ConfigError
from loadwise.systems.base import Objective, check_cost_weights

COST_FAILURE = 1e6


@dataclass(frozen=True)
class CostWeights:
    """Prices of the objective, in developer-hours; counts are per 1000 pull requests queued."""

    wait_weight: float = 0.25
    """fraction of each hour a pull request spends in the queue that its author loses"""
    false_rejection_hours: float = 8.0
    """per innocent pull request evicted (investigated, then queued again)"""
    escape_hours: float = 40.0
    """per bad pull request merged: the branch is broken for everyone until it is reverted"""
    flaky_failure_hours: float = 0.1
    """per flaky build failure someone looks at, whether or not a retry absorbs it"""
    backlog_hours: float = 4.0
    """per pull request still queued when the run ends (throughput the queue did not deliver)"""
    runner_hour_weight: float = 0.01
    """developer-hours per runner-hour of builds (cancelled ones included, up to their cancellation)"""

    def __post_init__(self) -> None:
        check_cost_weights(self)


def cost_terms(m: Mapping[str, float], w: CostWeights) -> dict[str, float]:
    """The objective's terms, developer-hours per 1000 pull requests queued."""
    per_1000 = 1000.0 / m["arrived"] if m["arrived"] > 0 else 0.0
    return {
        "waiting": w.wait_weight * m["wait_hours"] * per_1000,
        "false_rejections": w.false_rejection_hours * m["evicted_innocent"] * per_1000,
        "escapes": w.escape_hours * m["merged_bad"] * per_1000,
        "flaky_failures": w.flaky_failure_hours * m["flaky_failures"] * per_1000,
        "backlog": w.backlog_hours * (m["queued_end"] + m["in_flight"]) * per_1000,
        "runners": w.runner_hour_weight * m["runner_hours"] * per_1000,
    }


@dataclass(frozen=True)
class CostFunction:
    """Metrics -> developer-hours lost per 1000 pull requests (minimize); a run in which
    pull requests arrived and none merged scores COST_FAILURE."""

    weights: CostWeights

    def __call__(self, m: Mapping[str, float]) -> float:
        if m["arrived"] > 0 and m["merged"] <= 0:
            return COST_FAILURE
        return sum(cost_terms(m, self.weights).values())


def cost_objective(weights: CostWeights | None = None, **overrides: float) -> Objective:
    """The objective with the given weights (any field of CostWeights can be overridden)."""
    w = weights or CostWeights()
    unknown = sorted(set(overrides) - {f.name for f in fields(CostWeights)})
    if unknown:
        raise ConfigError(f"weights.{unknown[0]}", f"unknown weight; allowed: {', '.join(asdict(w))}")
    return Objective(
        name="default", direction="minimize", fn=CostFunction(replace(w, **overrides)), failure_value=COST_FAILURE,
        description="developer-hours lost per 1000 pull requests queued, runner time included (README, Merge queues)",
    )
