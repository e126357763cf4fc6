"""Objectives of the submit queue: the seed's `classic` score and the `default` cost.

`classic` reproduces the seed's objective so results compare with its figures; its
terms are raw counts, so its scale changes with traffic and run length. `default`
prices the same concerns in developer-hours lost per 1000 changes offered to the
queue, which stays comparable across scenarios and run lengths; its weights live in
`CostWeights` (documented in the README, section "Submit-queue objectives").
Objective functions are module-level callables so that a system holding them pickles.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace

from loadwise.errors import ConfigError
from loadwise.systems.base import Objective, check_cost_weights

CLASSIC_FAILURE = -1e6
COST_FAILURE = 1e6


def is_pathological(m: Mapping[str, float]) -> bool:
    """The seed's collapse test: a queue that no longer keeps up."""
    slowdown = m["slowdown"]
    return (
        not math.isfinite(slowdown)
        or slowdown > 100
        or m["avg_queue_size"] > 1000
        or m["max_queue_depth"] > 5000
    )


def classic_score(m: Mapping[str, float]) -> float:
    """The seed's objective (maximize); -1e6 for a collapsed queue."""
    if is_pathological(m):
        return CLASSIC_FAILURE
    escaped_classic = max(0.0, m["culprits_created"] - m["culprits_caught"])
    return (
        1000.0 / max(m["slowdown"], 0.1)
        - (2.0 * m["innocent_flagged"] + 20.0 * escaped_classic)
        - 0.05 * m["resources"] * m["batch_utilization"]
        - 100.0 * (m["ntests"] - m["active_tests"])
        - (m["wait_time_p95"] / 20.0) ** 2
    )


@dataclass(frozen=True)
class CostWeights:
    """Prices of the `default` objective, in developer-hours.

    Each count is taken per 1000 changes offered to the queue, so the cost is
    "developer-hours lost per 1000 changes".
    """

    victim_hours: float = 1.0
    """per change held back for a solo verification that it then passes"""
    false_rejection_hours: float = 8.0
    """per clean change rejected (investigated, then resubmitted)"""
    escape_hours: float = 40.0
    """per hard culprit that lands and breaks the build for everyone"""
    drop_hours: float = 2.0
    """per change turned away by backpressure"""
    shortfall_hours: float = 4.0
    """per change of ideal throughput not landed (1000 x (1 - 1/slowdown))"""
    wait_weight: float = 0.25
    """fraction of each hour a change waits beyond the ideal two ticks that is lost"""
    machine_hour_weight: float = 0.01
    """developer-hours per machine-hour of builds run (minibatches and verifications)"""
    reserved_hour_weight: float = 0.01
    """developer-hours per machine-hour reserved (`resources` slots every tick)"""
    coverage_hours: float = 100.0
    """cost when every test is demoted, scaled by the time-averaged demoted fraction"""

    def __post_init__(self) -> None:
        check_cost_weights(self)


def cost_terms(m: Mapping[str, float], w: CostWeights) -> dict[str, float]:
    """The `default` objective's terms (developer-hours per 1000 changes offered)."""
    per_1000 = 1000.0 / m["changes_offered"] if m["changes_offered"] > 0 else 0.0
    hours = m["tick_hours"]
    builds = m["minibatches"] + m["verifications"]
    reserved = m["resources"] * m["measured_ticks"]
    return {
        "victims": w.victim_hours * m["victims_per_1000"],
        "false_rejections": w.false_rejection_hours * m["innocents_rejected_per_1000"],
        "escapes": w.escape_hours * m["culprits_escaped_per_1000"],
        "drops": w.drop_hours * m["dropped_per_1000"],
        "shortfall": w.shortfall_hours * 1000.0 * max(0.0, 1.0 - 1.0 / m["slowdown"]),
        "waiting": w.wait_weight * 1000.0 * max(0.0, m["avg_submit_time"] - 2.0 * hours),
        "machines": w.machine_hour_weight * hours * builds * per_1000,
        "reserved": w.reserved_hour_weight * hours * reserved * per_1000,
        "coverage": w.coverage_hours * m["demoted_tests_avg"] / m["ntests"],
    }


@dataclass(frozen=True)
class CostFunction:
    """Metrics -> developer-hours lost per 1000 changes (minimize)."""

    weights: CostWeights

    def __call__(self, m: Mapping[str, float]) -> float:
        if m["changes_landed"] <= 0 or not math.isfinite(m["slowdown"]):
            return COST_FAILURE
        return sum(cost_terms(m, self.weights).values())


def classic_objective() -> Objective:
    """The seed's objective: higher is better, -1e6 for failed or collapsed runs."""
    return Objective(
        name="classic", direction="maximize", fn=classic_score, failure_value=CLASSIC_FAILURE,
        description="the seed's score: 1000/slowdown minus flagged, escaped, resource, demotion and p95-wait penalties",
    )


def cost_objective(weights: CostWeights | None = None, **overrides: float) -> Objective:
    """The `default` objective with the given weights (any field of CostWeights can be overridden)."""
    w = weights or CostWeights()
    unknown = sorted(set(overrides) - {f.name for f in fields(CostWeights)})
    if unknown:
        raise ConfigError(f"weights.{unknown[0]}", f"unknown weight; allowed: {', '.join(asdict(w))}")
    w = replace(w, **overrides)
    return Objective(
        name="default", direction="minimize", fn=CostFunction(w), failure_value=COST_FAILURE,
        description="developer-hours lost per 1000 changes offered (see README, Submit-queue objectives)",
    )
