"""The tests' error rates, checked by repetition on telemetry with known truth."""

from __future__ import annotations

import numpy as np
import pytest

from loadwise.auditing.pipeline import run_audit
from loadwise.auditing.stats import wilson
from loadwise.auditing.synthetic import synthetic_telemetry
from loadwise.systems.agentserve.telemetry import Telemetry


def _distinct_pairs(seed: int, identical: bool) -> int:
    mix = (lambda r, b: [0.2] * 5) if identical else (lambda r, b: [0.4, 0.15, 0.15, 0.15, 0.15] if b == 10 else [0.2] * 5)
    steps, workflows = synthetic_telemetry(budgets=(10, 50, 200), violation=lambda r, b: 0.1, model_mix=mix,
                                           workflows_per_cell=60, steps_per_workflow=3, seed=seed)
    pairs = run_audit(Telemetry(steps, workflows)).findings["tiers"]["pairs"]
    return sum(not p["redundant"] for p in pairs)


def test_identical_tiers_are_rarely_called_distinct_fast():
    # Holm keeps the family-wise error at or below alpha = 0.05 per audit
    assert sum(_distinct_pairs(seed, identical=True) > 0 for seed in range(8)) <= 1
    assert all(_distinct_pairs(seed, identical=False) >= 1 for seed in range(3))


@pytest.mark.slow
def test_family_wise_error_and_power_of_the_tier_tests():
    false_alarms = np.mean([_distinct_pairs(seed, identical=True) > 0 for seed in range(200)])
    assert false_alarms <= 0.08  # alpha 0.05 plus Monte Carlo slack (sd ~0.015)
    power = np.mean([_distinct_pairs(seed, identical=False) >= 1 for seed in range(100)])
    assert power >= 0.9


@pytest.mark.slow
def test_wilson_interval_covers_about_95_percent():
    rng = np.random.default_rng(0)
    for p, n in ((0.02, 200), (0.25, 300), (0.5, 50)):
        k = rng.binomial(n, p, 20_000)
        lo, hi = wilson(k, np.full(k.shape, n))
        coverage = np.mean((lo <= p) & (p <= hi))
        assert 0.93 <= coverage <= 0.975, (p, n, coverage)
