"""Racing: a clearly worse config is dropped early; the true best never is."""

import pytest

from loadwise.evaluate import execute
from loadwise.scenarios import get_scenario_set
from loadwise.systems.synthetic import SCENARIOS, Synthetic
from loadwise.tuning.aggregate import Aggregate
from loadwise.tuning.racing import ConfigEvaluation, StageData, StagePlan

SYSTEM = Synthetic()
OPTIMUM, _ = SYSTEM.optimum([(p, w) for _, w, p in SCENARIOS])
WARMUP = [{"x1": 0.3, "x2": 0.6, "x3": 0.4, "x4": 0.5}, {"x1": 0.6, "x2": 0.4, "x3": 0.6, "x4": 0.4},
          {"x1": 0.5, "x2": 0.5, "x3": 0.3, "x4": 0.7}]


def evaluate(data, config):
    """Run one ConfigEvaluation to its end in this process; returns it and the runs it used."""
    e = ConfigEvaluation(data, config, trial=None)
    runs = 0
    while e.status == "running" or e.waiting:
        spec = e.next_spec()
        if spec is None:
            break
        result = execute(SYSTEM, spec)
        data.record(result)
        runs += spec.config == e.config
        e.on_result(result)
    if e.status == "complete":
        data.completed[e.key] = e.value
        data.incumbent = data.best_key()
    return e, runs


def stage(seed):
    plan = StagePlan(0, get_scenario_set("synthetic5"), 1.0, seed, SYSTEM.objectives["cost"], Aggregate("mean"),
                     min_replicates=1, max_replicates=3, ci_tol=0.25)
    data = StageData(plan)
    for config in WARMUP:
        evaluate(data, config)
    return data


def test_clearly_worse_config_is_dropped_before_all_scenarios():
    dropped_early = 0
    for seed in range(5):
        data = stage(seed)
        e, _runs = evaluate(data, {"x1": 0.95, "x2": 0.05, "x3": 0.95, "x4": 0.05})
        assert e.status == "dropped" and "worse than the incumbent" in e.drop_reason
        dropped_early += len({s for s, _ in data.values[e.key]}) < 5
    assert dropped_early == 5


def test_true_best_is_never_dropped():
    for seed in range(20):
        data = stage(seed)
        e, _ = evaluate(data, OPTIMUM)
        assert e.status == "complete", (seed, e.drop_reason)


def test_order_puts_informative_scenarios_first():
    data = stage(0)
    order = data.order()
    assert order[0] in ("crisis", "spike", "normal")  # heavy or wide-spread scenarios lead
    assert order[-1] in ("low", "flaky")


def test_weight_only_order_before_any_data():
    plan = StagePlan(0, get_scenario_set("synthetic5"), 1.0, 0, SYSTEM.objectives["cost"], Aggregate("mean"))
    assert StageData(plan).order() == ["normal", "spike", "low", "flaky", "crisis"]


@pytest.mark.slow
def test_true_best_is_never_dropped_over_many_stages():
    drops = sum(evaluate(stage(seed), OPTIMUM)[0].status == "dropped" for seed in range(200))
    assert drops == 0
