"""Kernel output -> named metrics, the same for every strategy.

Time in queue runs from joining the queue to leaving it, merged or evicted; pull
requests still queued at the end are in `queued_end` (waiting for a build) or
`in_flight` (held by a build that is running or waiting for a runner), so that
arrived = merged + evicted + queued_end + in_flight. `wait_hours` adds up every pull
request's time in the queue, counting those still queued up to the end of the run;
the objective prices it.
"""

from __future__ import annotations

import numpy as np

from loadwise.systems.base import Metrics
from loadwise.systems.mergequeue.engine import COUNTERS, EVICTED, MERGED, QUEUED

METRICS: tuple[str, ...] = (
    "arrived", "arrived_bad", "merged", "evicted", "queued_end", "in_flight", "merged_per_hour", "time_in_queue_mean_h",
    "time_in_queue_p50_h", "time_in_queue_p95_h", "time_in_queue_max_h", "queue_depth_mean", "queue_depth_max",
    "builds", "builds_per_merged", "runner_hours", "runner_utilization", "evicted_innocent", "evicted_bad",
    "merged_bad", "flaky_failures", "retries", "builds_cancelled", "timed_out", "verifications", "wait_hours",
    "hours", "runners",
)


def build_metrics(counters: np.ndarray, arrivals: np.ndarray, state: np.ndarray, leave: np.ndarray,
                  live: np.ndarray, horizon: float, runners: int) -> Metrics:
    """All metrics of one run (see METRICS for their names and the module docstring)."""
    c = dict(zip(COUNTERS, counters.tolist()))
    hours = horizon / 3600.0
    left = (state == MERGED) | (state == EVICTED)
    queued = state == QUEUED
    times = (leave[left] - arrivals[left]) / 3600.0
    still = (horizon - arrivals[queued]) / 3600.0
    merged = c["merged"]
    runner_hours = c["runner_seconds"] / 3600.0
    m: Metrics = {
        "arrived": c["arrived"],
        "arrived_bad": c["arrived_bad"],
        "merged": merged,
        "evicted": c["evicted"],
        "queued_end": float(np.count_nonzero(queued & (live == 0))),
        "in_flight": float(np.count_nonzero(queued & (live > 0))),
        "merged_per_hour": merged / hours,
        "time_in_queue_mean_h": float(times.mean()) if times.size else 0.0,
        "time_in_queue_p50_h": float(np.percentile(times, 50)) if times.size else 0.0,
        "time_in_queue_p95_h": float(np.percentile(times, 95)) if times.size else 0.0,
        "time_in_queue_max_h": float(times.max()) if times.size else 0.0,
        "queue_depth_mean": c["depth_area"] / horizon,
        "queue_depth_max": c["queue_depth_max"],
        "builds": c["builds"],
        "builds_per_merged": c["builds"] / merged if merged else 0.0,
        "runner_hours": runner_hours,
        "runner_utilization": runner_hours / (runners * hours),
        "evicted_innocent": c["evicted_innocent"],
        "evicted_bad": c["evicted_bad"],
        "merged_bad": c["merged_bad"],
        "flaky_failures": c["flaky_failures"],
        "retries": c["retries"],
        "builds_cancelled": c["builds_cancelled"],
        "timed_out": c["timed_out"],
        "verifications": c["verifications"],
        "wait_hours": float(times.sum() + still.sum()),
        "hours": hours,
        "runners": float(runners),
    }
    return m
