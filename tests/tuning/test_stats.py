"""Aggregates and the CI of a weighted mean, against hand-computed cases."""

import math

import numpy as np
import pytest

from loadwise.errors import ConfigError
from loadwise.tuning.aggregate import Aggregate
from loadwise.tuning.stats import (
    ci_half_width,
    paired_weighted_difference,
    weighted_mean_variance,
)

MEANS = {"a": 10.0, "b": 20.0, "c": 40.0}
WEIGHTS = {"a": 0.5, "b": 0.3, "c": 0.2}


def test_weighted_mean_and_worst():
    assert Aggregate.parse("mean")(MEANS, WEIGHTS, "minimize") == pytest.approx(19.0)
    assert Aggregate.parse("worst")(MEANS, WEIGHTS, "minimize") == 40.0
    assert Aggregate.parse("worst")(MEANS, WEIGHTS, "maximize") == 10.0


def test_cvar_by_hand():
    # minimize: worst first is c (0.2), then b (0.3). CVaR 0.4 = (0.2·40 + 0.2·20)/0.4 = 30.
    assert Aggregate.parse("cvar:0.4")(MEANS, WEIGHTS, "minimize") == pytest.approx(30.0)
    # maximize: worst first is a (0.5). CVaR 0.4 = 10; CVaR 0.6 = (0.5·10 + 0.1·20)/0.6.
    assert Aggregate.parse("cvar:0.4")(MEANS, WEIGHTS, "maximize") == pytest.approx(10.0)
    assert Aggregate.parse("cvar:0.6")(MEANS, WEIGHTS, "maximize") == pytest.approx(7.0 / 0.6)
    assert Aggregate.parse("cvar:1")(MEANS, WEIGHTS, "minimize") == pytest.approx(19.0)


def test_mean_minus_kappa_std_by_hand():
    std = math.sqrt(0.5 * 81 + 0.3 * 1 + 0.2 * 441)  # around the mean 19
    assert Aggregate.parse("meanstd:2")(MEANS, WEIGHTS, "maximize") == pytest.approx(19 - 2 * std)
    assert Aggregate.parse("meanstd:2")(MEANS, WEIGHTS, "minimize") == pytest.approx(19 + 2 * std)


@pytest.mark.parametrize("text", ["median", "cvar", "cvar:0", "cvar:1.5", "meanstd:-1", "worst:2"])
def test_bad_aggregate(text):
    with pytest.raises(ConfigError, match="^aggregate: .* is not allowed"):
        Aggregate.parse(text)


def test_weighted_mean_variance_by_hand():
    # Σ w² s² / n = 0.25·4/2 + 0.09·9/3 + 0.04·16/4 = 0.5 + 0.27 + 0.16
    assert weighted_mean_variance([0.5, 0.3, 0.2], [4, 9, 16], [2, 3, 4]) == pytest.approx(0.93)


def test_variance_formula_matches_simulation():
    rng = np.random.default_rng(0)
    w, sd, n = np.array([0.4, 0.25, 0.35]), np.array([1.0, 3.0, 0.5]), np.array([3, 5, 2])
    draws = [sum(wi * rng.normal(0, si, ni).mean() for wi, si, ni in zip(w, sd, n)) for _ in range(20000)]
    assert np.var(draws) == pytest.approx(weighted_mean_variance(w, sd**2, n), rel=0.05)


def test_ci_half_width_large_n_is_normal():
    assert ci_half_width([1.0], [4.0], [10**6]) == pytest.approx(1.96 * 2 / 1000, rel=1e-3)


def test_paired_difference_detects_a_shift():
    rng = np.random.default_rng(1)
    diffs = {"a": list(0.5 + 0.1 * rng.standard_normal(5)), "b": list(0.5 + 0.1 * rng.standard_normal(5))}
    mean, half, p = paired_weighted_difference({"a": 0.5, "b": 0.5}, diffs)
    assert mean == pytest.approx(0.5, abs=0.1) and half < 0.15 and p < 1e-4
