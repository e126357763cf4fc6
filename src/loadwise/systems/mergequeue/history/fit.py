"""The world behind a merge-queue history, fitted, each figure with a 95 % CI and its n.

What is fitted, and how (`fit_history`):

- **Arrivals per day**: pull requests that entered the queue (their first merge-group
  run) over the history's span; the count is Poisson, so its interval is Garwood's
  exact one (chi-square quantiles, `scipy.stats.chi2`). The span is the first to last
  entry scaled by n/(n−1), the unbiased length for uniformly placed points.
- **Hour-of-week profile**: entries per hour of the week (UTC, Monday 00:00 first),
  normalized to mean 1.
- **CI duration**: lognormal, by maximum likelihood on the logarithm of every attempt
  a run records. The last attempt lasted `updated_at − run_started_at`; one cancelled
  before it finished is right-censored at its cancel time (a cancelled queue entry says
  only that the build would have taken longer; the cancel comes from the group ahead
  failing, independent of this build's own length). A run re-run once also says how
  long its first attempt took: from `created_at` to the re-run's `run_started_at`.
  Leaving that first attempt out would bias the fit upward: a cancel lands in the first
  attempt when that attempt is long and in the re-run when it is short, so the attempts
  a run's last record shows are the long ones (length-biased sampling, the inspection
  paradox). The re-run is taken to start when the first attempt ends, as an automatic
  retry does; a manual re-run's delay counts as build time. Runs re-run more than once
  add their last attempt only. `duration_median_min` = e^μ and `duration_sigma` = σ.
- **p_bad and p_flake, jointly**: GitHub builds each merge group on top of the one
  ahead of it, so the runs form trees (`github._stacks`), and a run fails when any pull
  request it holds is bad — every run above it included — or when it flakes.
  Down each tree the state "something below is bad" is a two-state Markov chain:
  each pull request added is bad with probability p_bad, and once broken every run
  above fails. A clean run fails with probability p_flake per attempt, and a re-run
  (`run_attempt` a > 1) says the a − 1 attempts before it failed: a re-run that
  passes is a flake, one that fails again is more likely a bad pull request. The
  likelihood of a tree sums over where the first bad pull request sits; for a run v
  with children w, C(v) = (1 − p_bad)·e(v)·∏ C(w) + p_bad·B(v), where e(v) is the
  clean run's chance of its observed attempts and B(v) is 1 when v and every run
  above it failed or were cancelled. Its one-run form is the spec's P(fail | n) =
  1 − (1 − p_flake)(1 − p_bad)^n for a run holding n pull requests. Both are fitted
  by maximum likelihood on the logit scale with `statsmodels`' GenericLikelihoodModel
  (Wald intervals from the numerical Hessian, mapped back through the logistic
  function; Agresti, "Categorical Data Analysis", 3rd ed., §1.4 on logit intervals).
- **Re-runs**: `p_rerun`, the share of failed first attempts that were run again (runs
  with `run_attempt` 2 over those and the runs that failed on their first attempt; a
  Wilson interval). The simulator has no re-runs: a build there is a run with its
  re-run, so the world's `p_flake` is a run's chance to end in a flaky failure,
  p_flake · (1 − p_rerun · (1 − p_flake)), while the fit reports the per-attempt rate.
- **The settings the repository runs**: the most merge groups built at once
  (`max_entries_to_build`, the deepest stack of pull requests held by one run) and the
  most pull requests merged at one time (`max_entries_to_merge`, from `merged_at`).
  They are read off the history, not estimated: their interval is the observed
  maximum itself, and n is the number of runs or merges read. `runners`, the most runs
  seen building at once, is only a lower bound on the CI's capacity (the queue's own
  limit usually binds first), so the world takes the larger of it and the world's
  default.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numba import njit
from scipy import special, stats

from loadwise.errors import ConfigError
from loadwise.systems.mergequeue.history.github import (
    CANCELLED,
    FAILURE,
    OTHER,
    SUCCESS,
    PullRequests,
    WorkflowRuns,
)
from loadwise.systems.mergequeue.world import WORLD_PARAMS

if TYPE_CHECKING:
    from loadwise.systems.mergequeue.history.sources import History

DAY = 86400.0
WEEK_HOURS = 168
_MONDAY = 4 * 86400  # 1970-01-01 was a Thursday: Monday 1970-01-05 00:00 UTC is 4 days in
Z95 = float(stats.norm.ppf(0.975))
_DEFAULT_RUNNERS = next(p.default for p in WORLD_PARAMS if p.name == "runners")


@dataclass(frozen=True)
class Estimate:
    """One fitted figure: its value, 95 % interval and the observations behind it."""

    value: float
    ci_low: float
    ci_high: float
    n: int

    def covers(self, truth: float) -> bool:
        return self.ci_low <= truth <= self.ci_high

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "ci_low": self.ci_low, "ci_high": self.ci_high, "n": self.n}


@dataclass(frozen=True)
class HistoryFit:
    """The fitted world: `estimates` by world parameter or setting name, the profile, the
    history's span and what it observed (for the sim-to-history check)."""

    estimates: dict[str, Estimate]
    profile: tuple[float, ...]
    days: float
    start: float  # seconds since the epoch of the first entry
    observed: dict[str, Estimate] = field(default_factory=dict)

    def world(self) -> dict[str, Any]:
        """World parameters (`world.WORLD_PARAMS`) to simulate this repository."""
        e = self.estimates
        world: dict[str, Any] = {"prs_per_day": round(e["prs_per_day"].value, 3),
                                 "profile": ",".join(f"{w:.3g}" for w in self.profile)}
        for name, digits in (("p_bad", 5), ("p_flake", 5), ("duration_median_min", 3), ("duration_sigma", 4)):
            if name in e:
                world[name] = round(e[name].value, digits)
        if "p_flake" in e and "p_rerun" in e:
            flake, rerun = e["p_flake"].value, e["p_rerun"].value
            world["p_flake"] = round(flake * (1 - rerun * (1 - flake)), 5)
        if "runners" in e:
            world["runners"] = max(int(e["runners"].value), _DEFAULT_RUNNERS)
        return world

    def settings(self) -> dict[str, int]:
        """The speculative queue's settings the history appears to run."""
        return {k: int(self.estimates[k].value) for k in ("max_entries_to_build", "max_entries_to_merge")
                if k in self.estimates}

    def as_dict(self) -> dict[str, Any]:
        return {**{k: v.as_dict() for k, v in self.estimates.items()},
                "profile": {"value": list(self.profile), "n": self.estimates["prs_per_day"].n},
                "days": self.days}


def _logistic(x: float) -> float:
    return float(special.expit(x))


def entries(runs: WorkflowRuns, pulls: PullRequests | None = None) -> np.ndarray:
    """When each queued pull request arrived: its `created_at` when the pull requests are
    given (a queue that is backed up creates merge groups late), else its first merge-group
    run's creation time."""
    numbers, first = np.unique(runs.pr, return_index=True)
    if pulls is not None:
        known = np.isin(pulls.number, numbers)
        if known.sum() >= 2:
            return np.sort(pulls.created[known])
    return np.sort(runs.created[first])


def poisson_rate(n: int, days: float) -> Estimate:
    """Events per day from a count over `days`, with Garwood's exact Poisson interval."""
    low = stats.chi2.ppf(0.025, 2 * n) / 2.0 if n > 0 else 0.0
    high = stats.chi2.ppf(0.975, 2 * n + 2) / 2.0
    return Estimate(n / days, low / days, high / days, n)


def fit_arrivals(times: np.ndarray) -> tuple[Estimate, tuple[float, ...], float]:
    """Arrivals per day (Garwood interval), the hour-of-week profile and the span in days."""
    n = int(times.size)
    if n < 2:
        raise ConfigError("history", f"needs at least 2 pull requests entering the queue, found {n}")
    days = float(times[-1] - times[0]) / DAY * n / (n - 1)
    if days <= 0:
        raise ConfigError("history", "every pull request entered the queue at the same second")
    hours = ((times.astype(np.int64) - _MONDAY) // 3600) % WEEK_HOURS
    counts = np.bincount(hours, minlength=WEEK_HOURS).astype(float)
    weeks = np.zeros(WEEK_HOURS)  # how many times each hour of the week was covered by the history
    first_hour = int((times[0] - _MONDAY) // 3600)
    span_hours = max(1, math.ceil(days * 24))
    np.add.at(weeks, (first_hour + np.arange(span_hours)) % WEEK_HOURS, 1.0)
    rate = np.divide(counts, weeks, out=np.zeros(WEEK_HOURS), where=weeks > 0)
    if not np.all(weeks > 0):  # hours of the week never seen: the history's mean rate
        rate[weeks == 0] = counts.sum() / weeks.sum()
    profile = tuple(float(x) for x in rate / rate.mean())
    return poisson_rate(n, days), profile, days


def _mle(loglikeobs: Any, nobs: int, start: list[float], names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Maximum-likelihood estimates and their standard errors (statsmodels, numerical Hessian)."""
    from statsmodels.base.model import GenericLikelihoodModel

    class _Model(GenericLikelihoodModel):
        def loglikeobs(self, params: np.ndarray) -> np.ndarray:
            return loglikeobs(params)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = _Model(np.zeros(nobs), np.ones((nobs, 0)), extra_params_names=names)
        result = model.fit(start_params=start, method="bfgs", maxiter=500, disp=0)
        return np.asarray(result.params, float), np.asarray(result.bse, float)


def fit_durations(runs: WorkflowRuns) -> tuple[Estimate, Estimate]:
    """(duration_median_min, duration_sigma): lognormal over every recorded attempt,
    cancelled ones right-censored (see the module doc)."""
    seconds = runs.updated - runs.started
    done = ((runs.conclusion == SUCCESS) | (runs.conclusion == FAILURE)) & (seconds > 0)
    censored = (runs.conclusion == CANCELLED) & (seconds > 0)
    first = runs.started - runs.created
    rerun = (runs.attempt == 2) & (runs.conclusion != OTHER) & (first > 0)
    x = np.log(np.concatenate([seconds[done], first[rerun]]) / 60.0)
    c = np.log(seconds[censored] / 60.0)
    if x.size < 3:
        raise ConfigError("history", f"needs at least 3 finished runs to fit build durations, found {x.size}")

    def loglikeobs(params: np.ndarray) -> np.ndarray:
        mu, log_sigma = params
        sigma = math.exp(log_sigma)
        return np.concatenate([stats.norm.logpdf(x, mu, sigma), stats.norm.logsf(c, mu, sigma)])

    start = [float(x.mean()), math.log(max(float(x.std()), 1e-3))]
    (mu, log_sigma), (se_mu, se_ls) = _mle(loglikeobs, x.size + c.size, start, ["mu", "log_sigma"])
    n = int(x.size + c.size)
    median = Estimate(math.exp(mu), math.exp(mu - Z95 * se_mu), math.exp(mu + Z95 * se_mu), n)
    sigma = Estimate(math.exp(log_sigma), math.exp(log_sigma - Z95 * se_ls), math.exp(log_sigma + Z95 * se_ls), n)
    return median, sigma


@njit(cache=True)
def _tree_loglik(parent, conclusion, attempt, p_bad, p_flake):  # pragma: no cover - compiled
    """log C(v) of every run (rows in creation order, parents before children); see the module doc."""
    n = parent.size
    child_sum = np.zeros(n)
    broken_ok = np.ones(n, np.bool_)
    out = np.zeros(n)
    log_good = math.log1p(-p_bad)
    log_flake = math.log(p_flake)
    log_pass = math.log1p(-p_flake)
    for v in range(n - 1, -1, -1):
        c = conclusion[v]
        a = attempt[v]
        if c == 0:
            emit = (a - 1) * log_flake + log_pass
            broken_ok[v] = False
        elif c == 1:
            emit = a * log_flake
        else:
            emit = (a - 1) * log_flake
        clean = log_good + emit + child_sum[v]
        if broken_ok[v]:
            hi = max(clean, math.log(p_bad))
            out[v] = hi + math.log(math.exp(clean - hi) + math.exp(math.log(p_bad) - hi))
        else:
            out[v] = clean
        p = parent[v]
        if p >= 0:
            child_sum[p] += out[v]
            if not broken_ok[v]:
                broken_ok[p] = False
    return out


def fit_failures(runs: WorkflowRuns) -> tuple[Estimate, Estimate]:
    """(p_bad, p_flake) jointly by maximum likelihood over the runs' trees."""
    keep = runs.conclusion != OTHER
    finished = int(np.count_nonzero((runs.conclusion == SUCCESS) | (runs.conclusion == FAILURE)))
    if finished < 10 or not np.any(runs.conclusion == SUCCESS):
        raise ConfigError("history", f"needs at least 10 finished merge-group runs, some passing, found {finished}")
    parent = runs.parent.copy()
    conclusion = runs.conclusion.astype(np.int64)
    conclusion[~keep] = CANCELLED  # a run still going says only that the attempts before it failed
    attempt = runs.attempt.astype(np.int64)
    roots = parent < 0

    def loglikeobs(params: np.ndarray) -> np.ndarray:
        p_bad = min(max(_logistic(params[0]), 1e-12), 1 - 1e-12)
        p_flake = min(max(_logistic(params[1]), 1e-12), 1 - 1e-12)
        return _tree_loglik(parent, conclusion, attempt, p_bad, p_flake)[roots]

    fail = float(np.mean(runs.conclusion[keep] == FAILURE))
    start = [math.log(max(fail / 2, 1e-3) / (1 - max(fail / 2, 1e-3)))] * 2
    (lb, lf), (se_b, se_f) = _mle(loglikeobs, int(roots.sum()), start, ["logit_p_bad", "logit_p_flake"])
    n = int(np.count_nonzero(keep))
    return (Estimate(_logistic(lb), _logistic(lb - Z95 * se_b), _logistic(lb + Z95 * se_b), n),
            Estimate(_logistic(lf), _logistic(lf - Z95 * se_f), _logistic(lf + Z95 * se_f), n))


def held(runs: WorkflowRuns) -> np.ndarray:
    """How many pull requests not yet merged each run held when it was created: itself and
    the runs below it that had not all passed by then (a passed prefix has merged)."""
    ready = np.full(len(runs), np.inf)
    out = np.ones(len(runs), np.int64)
    parent, created, updated = runs.parent, runs.created, runs.updated
    success = runs.conclusion == SUCCESS
    for i in range(len(runs)):
        p = parent[i]
        if success[i]:
            ready[i] = max(updated[i], ready[p]) if p >= 0 else updated[i]
        while p >= 0 and ready[p] > created[i]:
            out[i] += 1
            p = parent[p]
    return out


def _observed_max(values: np.ndarray) -> Estimate:
    top = float(values.max())
    return Estimate(top, top, top, int(values.size))


def concurrent_runs(runs: WorkflowRuns) -> int:
    """The most runs building at once (an interval sweep over start and end times)."""
    done = runs.conclusion != OTHER
    starts, ends = runs.started[done], runs.updated[done]
    events = np.concatenate([np.stack([starts, np.ones_like(starts)], 1), np.stack([ends, -np.ones_like(ends)], 1)])
    events = events[np.lexsort((events[:, 1], events[:, 0]))]  # ends before starts at one second
    return int(np.cumsum(events[:, 1]).max())


def fit_history(runs: WorkflowRuns, pulls: PullRequests | None = None) -> HistoryFit:
    """Fit the world and the settings of a merge-queue history (see the module doc)."""
    times = entries(runs, pulls)
    arrivals, profile, days = fit_arrivals(times)
    median, sigma = fit_durations(runs)
    p_bad, p_flake = fit_failures(runs)
    finished = runs.conclusion != OTHER
    reruns = int(np.count_nonzero(finished & (runs.attempt == 2)))
    failed_first = reruns + int(np.count_nonzero((runs.attempt == 1) & (runs.conclusion == FAILURE)))
    estimates = {"prs_per_day": arrivals, "duration_median_min": median, "duration_sigma": sigma,
                 "p_bad": p_bad, "p_flake": p_flake,
                 **({"p_rerun": proportion(reruns, failed_first)} if failed_first else {}),
                 "max_entries_to_build": _observed_max(held(runs)),
                 "runners": _observed_max(np.array([concurrent_runs(runs)]))}
    if pulls is not None:
        merged = pulls.merged[np.isfinite(pulls.merged)]
        if merged.size:
            _, counts = np.unique(merged, return_counts=True)
            estimates["max_entries_to_merge"] = _observed_max(counts)
    return HistoryFit(estimates, profile, days, float(times[0]))


def proportion(hits: int, n: int) -> Estimate:
    """A binomial proportion with its Wilson score interval (statsmodels)."""
    from statsmodels.stats.proportion import proportion_confint

    low, high = proportion_confint(hits, n, alpha=0.05, method="wilson")
    return Estimate(hits / n, float(low), float(high), n)


def fit_sources(history: History) -> HistoryFit:
    """Fit whatever a history holds: GitHub runs (and pull requests) as `fit_history`; the
    seed's CSV alone gives arrivals, and p_bad and p_flake as the shares of changes marked
    bad and with a flaky target (Wilson intervals); JUnit reports add `junit_flaky_runs`,
    the share of test runs in which some test passed only on retry."""
    from loadwise.systems.mergequeue.history.sources import change_columns

    if history.runs is not None:
        fit = fit_history(history.runs, history.pulls)
    elif history.changes is not None:
        created, bad, flaky = change_columns(history.changes)
        arrivals, profile, days = fit_arrivals(created)
        n = int(created.size)
        fit = HistoryFit({"prs_per_day": arrivals, "p_bad": proportion(int(bad.sum()), n),
                          "p_flake": proportion(int(flaky.sum()), n)}, profile, days, float(created[0]))
    else:
        raise ConfigError("history", "nothing to fit: give GitHub workflow runs of the merge queue or the "
                                     "build-history CSV (pull requests and JUnit reports only add to them)")
    if history.junit is not None and history.junit.reports:
        fit.estimates["junit_flaky_runs"] = proportion(history.junit.flaky_reports, history.junit.reports)
    return fit
