"""Does the fitted world reproduce the history it was fitted on? The sim-to-history check.

The fitted world is simulated again over the history's span under the settings the
history ran (`HistoryFit.settings`), on `replicates` seeds, and three figures are set
beside the history's own:

- `merged_per_day`: pull requests merged a day. History: merged pull requests (their
  `merged_at`; without pull requests, those whose last merge-group run passed) over the
  span, with Garwood's Poisson interval.
- `time_in_queue_p95_h`: the 95th percentile of the hours from joining the queue (as the
  fit's arrivals: the pull request's `created_at`, else its first merge-group run) to
  leaving it, merged or removed. Queue times of one day depend on each other, so the
  history's interval is a bootstrap over whole days (`scipy.stats.bootstrap`, percentile
  method).
- `removed_share`: the share of pull requests leaving the queue that a failure removed
  (closed without merging), with a Wilson interval.

The simulated figure is the mean over the seeds with its Student-t interval. They
`agree` when they differ by no more than √(h_sim² + h_hist²), h being each interval's
half-width on the side facing the other figure: a difference beyond it means the world
misses something the history shows (a queue saturated beyond what the fit saw,
arrivals that are not Poisson, a strategy other than GitHub's).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from loadwise.params import resolve
from loadwise.systems.mergequeue.history.fit import DAY, Estimate, HistoryFit, poisson_rate, proportion
from loadwise.systems.mergequeue.history.github import OTHER, SUCCESS, PullRequests, WorkflowRuns
from loadwise.systems.mergequeue.system import MergeQueue
from loadwise.systems.mergequeue.world import check_world

FIGURES = {"merged_per_day": "pull requests merged a day",
           "time_in_queue_p95_h": "time in queue, 95th percentile (hours)",
           "removed_share": "share of pull requests removed by a failure"}


@dataclass(frozen=True)
class CheckRow:
    """One figure: the history's, the re-simulated one, and whether they agree."""

    figure: str
    history: Estimate
    simulated: Estimate
    agree: bool


def _agree(history: Estimate, simulated: Estimate) -> bool:
    above = simulated.value >= history.value
    h_hist = (history.ci_high - history.value) if above else (history.value - history.ci_low)
    h_sim = (simulated.value - simulated.ci_low) if above else (simulated.ci_high - simulated.value)
    return abs(simulated.value - history.value) <= math.hypot(h_hist, h_sim)


def _p95_by_days(times: np.ndarray, leave: np.ndarray, seed: int) -> Estimate:
    value = float(np.percentile(times, 95))
    day = ((leave - leave.min()) // DAY).astype(np.int64)
    groups = [times[day == d] for d in np.unique(day)]
    if len(groups) < 2:
        return Estimate(value, value, value, int(times.size))

    def p95(days: np.ndarray) -> float:
        return float(np.percentile(np.concatenate([groups[int(d)] for d in days]), 95))

    boot = stats.bootstrap((np.arange(len(groups)),), p95, vectorized=False, n_resamples=999,
                           method="percentile", random_state=np.random.default_rng(seed))
    low, high = boot.confidence_interval
    return Estimate(value, min(float(low), value), max(float(high), value), int(times.size))


def history_days(runs: WorkflowRuns, pulls: PullRequests | None) -> float:
    """The history's span in days: from the first pull request's entry to the last run's
    end. Longer than the fit's arrival span when the queue is backed up: pull requests
    still waiting for their first merge group leave no trace."""
    numbers = np.unique(runs.pr)
    start = float(runs.created.min())
    if pulls is not None and np.isin(pulls.number, numbers).any():
        start = min(start, float(pulls.created[np.isin(pulls.number, numbers)].min()))
    return (float(runs.updated.max()) - start) / DAY


def observed(runs: WorkflowRuns, pulls: PullRequests | None, days: float, seed: int = 0) -> dict[str, Estimate]:
    """The history's own figures (see the module doc)."""
    numbers, first = np.unique(runs.pr, return_index=True)
    last = np.full(numbers.size, -1, np.int64)
    np.maximum.at(last, np.searchsorted(numbers, runs.pr), np.arange(len(runs)))
    if pulls is not None and np.isin(pulls.number, numbers).sum() >= 2:
        known = np.isin(pulls.number, numbers)
        entry, merged = pulls.created[known], np.isfinite(pulls.merged[known])
        leave = np.where(merged, pulls.merged[known], pulls.closed[known])
        left = np.isfinite(leave)
    else:
        entry, merged = runs.created[first], runs.conclusion[last] == SUCCESS
        leave = runs.updated[last]
        left = runs.conclusion[last] != OTHER  # a run still going: the pull request has not left
    times = (leave[left] - entry[left]) / 3600.0
    n_merged = int(np.count_nonzero(merged & left))
    return {"merged_per_day": poisson_rate(n_merged, days),
            "time_in_queue_p95_h": _p95_by_days(times, leave[left], seed),
            "removed_share": proportion(int(np.count_nonzero(left)) - n_merged, int(np.count_nonzero(left)))}


def simulated(world: Mapping[str, Any], settings: Mapping[str, Any], replicates: int,
              seed: int = 0) -> dict[str, Estimate]:
    """The same figures from `replicates` runs of GitHub's queue (`speculative`) in `world`."""
    system = MergeQueue("speculative")
    config = system.strategy.effective(resolve(system.knobs, dict(settings)))
    values = check_world(world)
    seeds = np.random.SeedSequence(seed, spawn_key=(11,)).generate_state(max(2, replicates))
    rows: dict[str, list[float]] = {k: [] for k in FIGURES}
    for s in seeds:
        m = system.run(config, values, int(s) & 0x7FFFFFFF)
        left = m["merged"] + m["evicted"]
        rows["merged_per_day"].append(m["merged"] / (m["hours"] / 24.0))
        rows["time_in_queue_p95_h"].append(m["time_in_queue_p95_h"])
        rows["removed_share"].append(m["evicted"] / left if left else 0.0)
    out = {}
    for name, xs in rows.items():
        a = np.asarray(xs)
        half = float(stats.t.ppf(0.975, a.size - 1) * a.std(ddof=1) / math.sqrt(a.size))
        out[name] = Estimate(float(a.mean()), float(a.mean()) - half, float(a.mean()) + half, int(a.size))
    return out


def history_check(fit: HistoryFit, runs: WorkflowRuns, pulls: PullRequests | None, replicates: int = 5,
                  seed: int = 0) -> list[CheckRow]:
    """The fitted world re-simulated under the history's settings, beside the history."""
    span = history_days(runs, pulls)
    world = {**fit.world(), "days": round(span, 3)}
    hist = observed(runs, pulls, span, seed)
    sim = simulated(world, fit.settings(), replicates, seed)
    return [CheckRow(name, hist[name], sim[name], _agree(hist[name], sim[name])) for name in FIGURES]
