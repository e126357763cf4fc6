"""Kernel counters and histograms -> named metrics.

Classic metrics keep the published simulator's names and definitions, so results can
be compared with the seed's figures. Ground-truth metrics count every change by its
true label: a hard culprit breaks some test for sure (an effect of 0), a partial
culprit only makes tests flaky, a clean change has no effect. Rates are per 1000
changes offered to the queue (arrivals, resubmissions and those turned away).
Time to land counts from a change's first submission, so the fix cycle of a rejected
change is included; like `avg_submit_time`, a wait of w ticks is (w + 1) ticks of hours.
"""

from __future__ import annotations

import math

import numpy as np

from loadwise.systems.base import Metrics

CLASSIC_METRICS: tuple[str, ...] = (
    "slowdown", "avg_queue_size", "mb_pass_rate", "victim_rate", "avg_submit_time",
    "avg_runs_per_submitted", "culprits_created", "culprits_caught", "innocent_flagged",
    "wait_time_p50", "wait_time_p95", "wait_time_p99", "max_queue_depth",
    "batch_utilization", "max_verify_queue", "active_tests", "demoted_tests",
)

GROUND_TRUTH_METRICS: tuple[str, ...] = (
    "changes_created", "changes_resubmitted", "changes_dropped", "changes_offered",
    "changes_landed", "changes_rejected", "culprits_rejected", "culprits_escaped",
    "innocents_rejected", "partials_rejected", "partials_landed", "in_flight_start",
    "in_flight", "culprits_escaped_per_1000", "innocents_rejected_per_1000",
    "changes_rejected_per_1000", "dropped_per_1000", "victims_per_1000",
    "time_to_land_mean_h", "time_to_land_p50_h", "time_to_land_p95_h", "time_to_land_p99_h",
    "demoted_tests_avg", "active_tests_avg",
)

# Divisor of verifications in the classic runs-per-change figure (published definition).
_CLASSIC_VERIFY_DIVISOR = 16.0


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else 0.0


def histogram_percentile(hist: np.ndarray, q: float) -> float:
    """The q-quantile of integer values given as counts per value, interpolated
    linearly between order statistics (the published simulator's definition)."""
    n = int(hist.sum())
    if n == 0:
        return 0.0
    cum = np.cumsum(hist)
    pos = q * (n - 1)
    lower = int(pos)
    frac = pos - lower
    lo = int(np.searchsorted(cum, lower, side="right"))
    if lower + 1 >= n:
        return float(lo)
    hi = int(np.searchsorted(cum, lower + 1, side="right"))
    return lo * (1.0 - frac) + hi * frac


def _hours(hist: np.ndarray, q: float, tick_hours: float) -> float:
    """A time-to-land quantile in hours, counting the tick a change lands in (0 if none landed)."""
    if not hist.any():
        return 0.0
    return tick_hours * (1.0 + histogram_percentile(hist, q))


def build_metrics(
    c: dict[str, float],
    wait_hist: np.ndarray,
    ttl_hist: np.ndarray,
    *,
    ideal_per_tick: float,
    measured_ticks: int,
    tick_hours: float,
    resources: int,
    ntests: int,
) -> Metrics:
    """All metrics of one run from the kernel's named counters and histograms."""
    landed = c["landed"]
    per_tick = landed / measured_ticks
    rejected = c["rejected_clean"] + c["rejected_partial"] + c["rejected_hard"]
    offered = c["created"] + c["resubmitted"] + c["dropped"]
    m: Metrics = {
        # classic
        "slowdown": ideal_per_tick / per_tick if per_tick > 0 else math.inf,
        "avg_queue_size": c["queue_sum"] / measured_ticks,
        "mb_pass_rate": _ratio(c["minibatches_passed"], c["minibatches"]),
        "victim_rate": _ratio(c["verify_passes"], c["verifications"]),
        "avg_submit_time": tick_hours + tick_hours * c["wait_sum"] / landed if landed else 0.0,
        "avg_runs_per_submitted": _ratio(c["minibatches"] + c["verifications"] / _CLASSIC_VERIFY_DIVISOR, landed),
        "culprits_created": c["culprits_created"],
        "culprits_caught": c["verify_failures"],
        "innocent_flagged": c["verify_passes"],
        "wait_time_p50": float(int(histogram_percentile(wait_hist, 0.50))),
        "wait_time_p95": float(int(histogram_percentile(wait_hist, 0.95))),
        "wait_time_p99": float(int(histogram_percentile(wait_hist, 0.99))),
        "wait_time_min": float(np.flatnonzero(wait_hist)[0]) if wait_hist.any() else 0.0,
        "wait_time_max": float(np.flatnonzero(wait_hist)[-1]) if wait_hist.any() else 0.0,
        "max_queue_depth": c["max_queue_depth"],
        "batch_utilization": _ratio(c["batch_slots_used"], c["batch_slots"]),
        "max_verify_queue": c["max_verify_queue"],
        "active_tests": c["active_tests"],
        "demoted_tests": c["demotion_events"],
        # ground truth
        "changes_created": c["created"],
        "changes_resubmitted": c["resubmitted"],
        "changes_dropped": c["dropped"],
        "changes_offered": offered,
        "changes_landed": landed,
        "changes_rejected": rejected,
        "culprits_rejected": c["rejected_hard"],
        "culprits_escaped": c["landed_hard"],
        "innocents_rejected": c["rejected_clean"],
        "partials_rejected": c["rejected_partial"],
        "partials_landed": c["landed_partial"],
        "in_flight_start": c["in_flight_start"],
        "in_flight": c["in_flight"],
        "culprits_escaped_per_1000": 1000.0 * _ratio(c["landed_hard"], offered),
        "innocents_rejected_per_1000": 1000.0 * _ratio(c["rejected_clean"], offered),
        "changes_rejected_per_1000": 1000.0 * _ratio(rejected, offered),
        "dropped_per_1000": 1000.0 * _ratio(c["dropped"], offered),
        "victims_per_1000": 1000.0 * _ratio(c["verify_passes"], offered),
        "time_to_land_mean_h": tick_hours + tick_hours * c["ttl_sum"] / landed if landed else 0.0,
        "time_to_land_p50_h": _hours(ttl_hist, 0.50, tick_hours),
        "time_to_land_p95_h": _hours(ttl_hist, 0.95, tick_hours),
        "time_to_land_p99_h": _hours(ttl_hist, 0.99, tick_hours),
        "demoted_tests_avg": c["demoted_tick_sum"] / measured_ticks,
        # the classic active_tests is the count after the last tick (one sample); this
        # is its average over the measured ticks
        "active_tests_avg": ntests - c["demoted_tick_sum"] / measured_ticks,
        # the run itself, for objectives and reports
        "minibatches": c["minibatches"],
        "verifications": c["verifications"],
        "landed_per_tick": per_tick,
        "ideal_per_tick": ideal_per_tick,
        "measured_ticks": float(measured_ticks),
        "tick_hours": tick_hours,
        "resources": float(resources),
        "ntests": float(ntests),
    }
    return m
