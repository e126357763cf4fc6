"""The merge-queue world against what is known exactly: queueing theory, bisection's bound,
equal strategies, conservation, monotone trends and common random numbers."""

import math

import numpy as np
import pytest
from scipy import stats

from loadwise.params import resolve
from loadwise.systems import get_system
from loadwise.systems.mergequeue import STRATEGY_NAMES, Arrivals, check_world, get_strategy, run_world

CLEAN = {"p_bad": 0.0, "p_flake": 0.0}


def run(strategy, knobs=None, world=None, seed=0, arrivals=None):
    """One run; with `arrivals` (times, badness) the pull requests are given instead of drawn."""
    system = get_system(f"mergequeue:{strategy}")
    values = check_world(world or {})
    if arrivals is None:
        return system.run(knobs or {}, values, seed)
    times, bad = arrivals
    given = Arrivals(np.asarray(times, float), np.asarray(bad, np.int8))
    return run_world(system.strategy, resolve(system.knobs, knobs or {}), values, seed, given, values["days"])


def lognormal_moments(median_min, sigma):
    """Mean and second moment of a build's duration, in hours."""
    m = median_min / 60.0
    return m * math.exp(sigma**2 / 2), m**2 * math.exp(2 * sigma**2)


def t_interval(values, level=0.95):
    a = np.asarray(values, float)
    half = stats.t.ppf(0.5 + level / 2, a.size - 1) * a.std(ddof=1) / math.sqrt(a.size)
    return a.mean() - half, a.mean() + half


@pytest.mark.parametrize("strategy", STRATEGY_NAMES)
def test_without_bad_or_flaky_pull_requests_everything_merges(strategy):
    for seed in range(3):
        m = run(strategy, world={**CLEAN, "prs_per_day": 30.0, "days": 7.0}, seed=seed)  # serial keeps up
        assert m["evicted"] == 0 and m["flaky_failures"] == 0 and m["arrived_bad"] == 0
        assert m["merged"] + m["queued_end"] + m["in_flight"] == m["arrived"] > 150
        assert m["queued_end"] + m["in_flight"] <= 5  # only the last few arrivals are still in the queue


def test_saturated_serial_merges_one_pull_request_per_mean_build_duration():
    """With the queue never empty, serial runs builds back to back: a renewal process whose
    rate is 1 / E[duration] (E = median · exp(σ²/2) for a lognormal)."""
    mean_h, _ = lognormal_moments(20.0, 0.5)
    world = {**CLEAN, "profile": "flat", "prs_per_day": 2000.0, "runners": 1, "days": 7.0,
             "duration_median_min": 20.0, "duration_sigma": 0.5}
    rates = [run("serial", world=world, seed=seed)["merged_per_hour"] for seed in range(12)]
    low, high = t_interval(rates)
    assert low <= 1.0 / mean_h <= high
    assert 1.0 / mean_h == pytest.approx(np.mean(rates), rel=0.01)


def mg1_check(seeds, days):
    """Serial at 30 % load with Poisson arrivals is an M/G/1 queue: its mean time in queue
    is E[S] + λ E[S²] / (2 (1 − ρ)) (Pollaczek–Khinchine), the build included."""
    mean_h, second_h = lognormal_moments(10.0, 0.5)
    rho = 0.3
    rate_h = rho / mean_h
    expected = mean_h + rate_h * second_h / (2 * (1 - rho))
    world = {**CLEAN, "profile": "flat", "prs_per_day": 24 * rate_h, "runners": 1, "days": days,
             "duration_median_min": 10.0, "duration_sigma": 0.5}
    means = [run("serial", world=world, seed=seed)["time_in_queue_mean_h"] for seed in range(seeds)]
    low, high = t_interval(means)
    assert low <= expected <= high, (low, expected, high)


def test_serial_at_low_load_matches_pollaczek_khinchine():
    mg1_check(seeds=16, days=14.0)


@pytest.mark.slow
def test_serial_at_low_load_matches_pollaczek_khinchine_long():
    mg1_check(seeds=40, days=60.0)


@pytest.mark.parametrize("bisection", ["sequential", "parallel"])
@pytest.mark.parametrize("size", [2, 4, 5, 8, 12, 16])
def test_bisection_isolates_the_one_bad_pull_request_within_its_bound(bisection, size):
    """A batch of B with exactly one bad pull request: at most 1 + 2·⌈log2 B⌉ builds, the bad
    one evicted, every other merged."""
    knobs = {"batch_size": size, "min_batch": size, "max_wait_minutes": 600.0, "max_retries": 0,
             "bisection": bisection}
    bound = 1 + 2 * math.ceil(math.log2(size))
    for culprit in range(size):
        bad = np.zeros(size, np.int8)
        bad[culprit] = 1
        m = run("batch-bisect", knobs, {**CLEAN, "days": 1.0, "runners": 4}, arrivals=(np.arange(size), bad))
        assert m["evicted"] == m["evicted_bad"] == 1 and m["merged"] == size - 1
        assert m["builds"] <= bound


def test_bisection_off_evicts_the_whole_batch():
    bad = np.zeros(8, np.int8)
    bad[3] = 1
    m = run("batch-bisect", {"batch_size": 8, "min_batch": 8, "bisection": "off"}, {**CLEAN, "days": 1.0},
            arrivals=(np.arange(8), bad))
    assert m["builds"] == 1 and m["evicted"] == 8 and m["evicted_innocent"] == 7


def test_one_build_slot_is_a_batch_of_one_without_bisection_is_serial():
    """One pull request built at a time on the branch, merged if it passes, evicted if it
    fails: speculative with one build slot, batch-bisect with batches of one (no bisection),
    adaptive-window with a window of one and serial are the same queue, and with draws
    keyed by build identity they agree to the last digit."""
    variants = {
        "speculative": {"max_entries_to_build": 1, "min_entries_to_merge": 1, "max_entries_to_merge": 1,
                        "min_entries_to_merge_wait_minutes": 0, "check_response_timeout_minutes": 360},
        "batch-bisect": {"batch_size": 1, "min_batch": 1, "max_wait_minutes": 0.0, "max_retries": 0,
                         "bisection": "off"},
        "adaptive-window": {"window": 1, "window_floor": 1, "window_ceiling": 1},
    }
    for seed in range(4):
        world = {"prs_per_day": 60.0, "p_bad": 0.1, "p_flake": 0.05, "days": 3.0}
        serial = run("serial", world=world, seed=seed)
        assert serial["evicted_bad"] > 0 and serial["flaky_failures"] > 0
        for strategy, knobs in variants.items():
            assert run(strategy, knobs, world, seed) == serial, strategy


def conservation_fuzz(runs, seed):
    rng = np.random.default_rng(seed)
    for i in range(runs):
        strategy = get_strategy(STRATEGY_NAMES[i % len(STRATEGY_NAMES)])
        knobs = {}
        for p in strategy.knobs:
            if p.type is str:
                knobs[p.name] = str(rng.choice(p.choices))
            else:
                low, high = p.search if p.search and rng.random() < 0.8 else (p.low, min(p.high, 4 * p.default + 8))
                value = rng.uniform(low, high)
                knobs[p.name] = round(value) if p.type is int else float(value)
        world = {"prs_per_day": float(rng.uniform(5, 400)), "p_bad": float(rng.uniform(0, 0.3)),
                 "p_flake": float(rng.uniform(0, 0.3)), "p_conflict": float(rng.choice([0.0, rng.uniform(0, 0.05)])),
                 "runners": int(rng.integers(1, 40)), "duration_median_min": float(rng.uniform(2, 60)),
                 "duration_sigma": float(rng.uniform(0, 1.2)), "duration_growth": float(rng.choice([0.0, 0.05])),
                 "days": float(rng.uniform(0.2, 2.0)), "profile": str(rng.choice(["office-hours", "flat"]))}
        m = run(strategy.name, knobs, world, seed=int(rng.integers(1 << 30)))
        context = (strategy.name, knobs, world)
        assert m["arrived"] == m["merged"] + m["evicted"] + m["queued_end"] + m["in_flight"], context
        assert m["evicted_innocent"] + m["evicted_bad"] <= m["evicted"], context
        assert m["merged_bad"] <= m["merged"] and m["arrived_bad"] <= m["arrived"], context
        assert 0.0 <= m["runner_utilization"] <= 1.0 + 1e-9, context
        assert m["queue_depth_max"] <= m["arrived"] and m["queue_depth_mean"] <= m["queue_depth_max"], context
        assert 0.0 <= m["time_in_queue_p50_h"] <= m["time_in_queue_p95_h"] <= m["time_in_queue_max_h"], context
        assert m["builds_cancelled"] <= m["builds"], context


def test_conservation_holds_in_fuzzed_runs():
    conservation_fuzz(300, seed=1)


@pytest.mark.slow
def test_conservation_holds_in_ten_thousand_fuzzed_runs():
    conservation_fuzz(10_000, seed=2)


@pytest.mark.parametrize("strategy", STRATEGY_NAMES)
def test_more_runners_never_raise_the_mean_p95_time_in_queue(strategy):
    """The mean over 20 seeds; pathwise it can rise, because another runner count changes
    which sets get built and a set's duration and flake come with it (see the next test)."""
    ladder = (1, 2, 4, 8, 16, 32)
    p95 = np.array([[run(strategy, world={"runners": r, "days": 3.0}, seed=seed)["time_in_queue_p95_h"]
                     for r in ladder] for seed in range(20)])
    assert np.all(np.diff(p95.mean(axis=0)) <= 1e-12)
    if strategy in ("serial", "batch-bisect"):  # one build at a time (sequential bisection): a second runner idles
        assert np.all(p95 == p95[:, :1])
    else:
        assert p95.mean(axis=0)[0] > p95.mean(axis=0)[-1]


@pytest.mark.parametrize(("strategy", "knobs"), [("serial", {}), ("speculative", {}),
                                                 ("batch-bisect", {"bisection": "sequential"})])
def test_more_runners_never_raise_p95_at_fixed_draws(strategy, knobs):
    for seed in range(10):
        p95 = [run(strategy, knobs, {"runners": r, "days": 3.0}, seed)["time_in_queue_p95_h"] for r in (1, 2, 4, 8, 32)]
        assert np.all(np.diff(p95) <= 1e-12), (seed, p95)


NO_TIMEOUT = {"check_response_timeout_minutes": 360}  # a timed-out build is a false failure too
FLAKES = (0.0, 0.01, 0.03, 0.1, 0.3)


def test_more_flakes_never_evict_fewer_innocents_from_serial_at_fixed_draws():
    """Serial builds each pull request alone, once: the same build (same draws) at every
    p_flake, so a higher p_flake can only turn passes into flaky failures."""
    for seed in range(10):
        innocents = [run("serial", world={"p_flake": p, "days": 3.0}, seed=seed)["evicted_innocent"] for p in FLAKES]
        assert innocents[0] == 0 and np.all(np.diff(innocents) >= 0), (seed, innocents)


@pytest.mark.parametrize(("strategy", "knobs"), [
    ("speculative", NO_TIMEOUT), ("speculative", {**NO_TIMEOUT, "grouping_strategy": "HEADGREEN"}),
    ("adaptive-window", {}), ("batch-bisect", {"max_retries": 0, "bisection": "sequential"}),
    ("batch-bisect", {"max_retries": 0, "bisection": "parallel"}),
])
def test_more_flakes_never_evict_fewer_innocents_on_average_without_retries(strategy, knobs):
    """The mean over 20 seeds. Pathwise a flake can change which sets are built later (a
    batch split sooner, a chain rebuilt), and their draws with them, so one seed may evict
    one innocent fewer at a higher p_flake."""
    innocents = np.array([[run(strategy, knobs, {"p_flake": p, "days": 3.0}, seed)["evicted_innocent"]
                           for p in FLAKES] for seed in range(20)])
    assert np.all(innocents[:, 0] == 0)
    assert np.all(np.diff(innocents.mean(axis=0)) > 0)


@pytest.mark.parametrize("strategy", STRATEGY_NAMES)
def test_same_seed_same_metrics_and_every_strategy_sees_the_same_pull_requests(strategy):
    world = {"p_conflict": 0.01, "days": 2.0}
    first = run(strategy, world=world, seed=5)
    assert run(strategy, world=world, seed=5) == first
    assert run(strategy, world=world, seed=6) != first
    reference = run("serial", world=world, seed=5)
    assert (first["arrived"], first["arrived_bad"]) == (reference["arrived"], reference["arrived_bad"])


def test_retries_and_head_green_absorb_flakes():
    world = {"p_bad": 0.0, "p_flake": 0.1, "days": 3.0}
    seeds = range(8)

    def innocents(strategy, knobs):
        return sum(run(strategy, knobs, world, s)["evicted_innocent"] for s in seeds)

    assert innocents("batch-bisect", {"max_retries": 2}) < innocents("batch-bisect", {"max_retries": 0})
    assert innocents("speculative", {"grouping_strategy": "HEADGREEN"}) < innocents("speculative", {})


def test_only_merges_never_built_together_let_conflicts_escape():
    """Speculative, adaptive-window, serial and sequential bisection build every pull request
    on top of all that merges before it; parallel halves and group testing's rounds do not."""
    world = {"p_conflict": 0.03, "p_bad": 0.0, "p_flake": 0.0, "days": 2.0}
    cases = {
        "serial": ("serial", {}), "speculative": ("speculative", {}), "adaptive-window": ("adaptive-window", {}),
        "sequential": ("batch-bisect", {"bisection": "sequential", "batch_size": 32}),
        "parallel": ("batch-bisect", {"bisection": "parallel", "batch_size": 32}),
        "group-testing": ("group-testing", {}),
    }
    escapes = {label: sum(run(strategy, knobs, world, s)["merged_bad"] for s in range(6))
               for label, (strategy, knobs) in cases.items()}
    assert escapes["serial"] == escapes["speculative"] == escapes["adaptive-window"] == escapes["sequential"] == 0
    assert escapes["parallel"] > 0 and escapes["group-testing"] > 0


def test_a_build_that_cannot_report_in_time_fails():
    m = run("speculative", {"check_response_timeout_minutes": 5}, {"duration_median_min": 15.0,
                                                                   "duration_sigma": 0.1, "days": 1.0})
    assert m["timed_out"] > 0 and m["merged"] == 0 and m["evicted"] > 0
