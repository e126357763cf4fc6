"""Bad knob and scenario values give clear errors naming the field."""

import pytest

from loadwise.errors import ConfigError
from loadwise.systems.submitqueue import (
    CostWeights,
    SubmitQueue,
    cost_objective,
    weighted_scenario,
)

SQ = SubmitQueue()


@pytest.mark.parametrize(
    ("config", "scenario", "message"),
    [
        ({"resources": -4}, {}, "resources: -4 is below the minimum (integer in [1, 10000])"),
        ({"resources": "many"}, {}, "resources: expected an integer (integer in [1, 10000]), got 'many'"),
        ({"maxbatch": 20.5}, {}, "maxbatch: expected an integer (integer in [1, 16384]), got 20.5"),
        ({"maxk": 0}, {}, "maxk: 0 is below the minimum (integer in [1, 64])"),
        ({"flaketol": 1.2}, {}, "flaketol: 1.2 is above the maximum (number in [0, 1])"),
        ({"flaketol": float("nan")}, {}, "flaketol: expected a finite number (number in [0, 1]), got nan"),
        ({"kdiv": True}, {}, "kdiv: expected an integer (integer in [1, 100]), got True"),
        ({"maxbath": 600}, {}, "maxbath: unknown parameter; allowed: resources, maxbatch, maxk, kdiv, flaketol, "
                               "verify_latency, fix_delay, verify_resource_mult"),
        ({}, {"traffic": 0}, "traffic: 0.0 is below the minimum (number in [0.01, 1000])"),
        ({}, {"culprit_prob": -0.1}, "culprit_prob: -0.1 is below the minimum (number in [0, 1])"),
        ({}, {"ticks": 0}, "ticks: 0 is below the minimum (integer in [1, 1e+06])"),
        ({}, {"bp1": 500}, "bp2: backpressure thresholds must satisfy bp1 <= bp2 <= bp3, got 500, 400, 800"),
    ],
)
def test_bad_values_name_the_field(config, scenario, message):
    with pytest.raises(ConfigError) as info:
        SQ.run(config, scenario, seed=0)
    assert str(info.value) == message


@pytest.mark.parametrize(("seed", "fidelity", "message"), [
    (-1, 1.0, "seed: expected an integer >= 0, got -1"),
    (1.5, 1.0, "seed: expected an integer >= 0, got 1.5"),
    (0, 0.0, "fidelity: expected a number in (0, 1], got 0.0"),
    (0, 1.5, "fidelity: expected a number in (0, 1], got 1.5"),
])
def test_bad_seed_or_fidelity(seed, fidelity, message):
    with pytest.raises(ConfigError) as info:
        SQ.run({}, {"ticks": 10}, seed=seed, fidelity=fidelity)
    assert str(info.value) == message


def test_scenario_name_and_weight_are_bookkeeping_not_errors():
    spike = weighted_scenario("spike")
    m = SQ.run({}, {"name": spike.name, "weight": spike.weight, **spike.params(), "ticks": 20}, seed=0)
    assert m["ideal_per_tick"] == 25 * 16
    with pytest.raises(ConfigError, match="scenario: unknown scenario 'storm'; allowed: normal, spike, low, flaky, crisis"):
        weighted_scenario("storm")


def test_cost_weights_are_checked_and_settable():
    with pytest.raises(ConfigError, match=r"weights.escape_hours: expected a finite number >= 0, got -1"):
        CostWeights(escape_hours=-1)
    with pytest.raises(ConfigError, match=r"weights.escape_hour: unknown weight"):
        cost_objective(escape_hour=3.0)
    m = SQ.run({"flaketol": 0.0}, {"warmup_ticks": 84, "ticks": 300, "test_stability": 0.95}, seed=1)
    assert m["culprits_escaped_per_1000"] > 0
    base = cost_objective()(m)
    doubled = cost_objective(escape_hours=80.0)(m)
    assert doubled - base == pytest.approx(40.0 * m["culprits_escaped_per_1000"])
    assert SubmitQueue(CostWeights(escape_hours=80.0)).objectives["default"](m) == doubled
