"""String knobs searched as categoricals: the tuner, slices, the report and command specs."""

import json
import re
import sys

import numpy as np
import pandas as pd
import pytest
from optuna.distributions import CategoricalDistribution

from loadwise.app.tune import tune
from loadwise.errors import ConfigError
from loadwise.evaluate import Evaluator, InlineBackend
from loadwise.params import Param
from loadwise.scenarios import Scenario, ScenarioSet
from loadwise.systems import get_system
from loadwise.systems.base import Objective
from loadwise.tuning import Aggregate, objective_slices, search_distributions
from loadwise.tuning.racing import StagePlan
from loadwise.tuning.slices import slice_points

PENALTY = {"fcfs": 1.0, "edf": 0.0, "lifo": 2.0}
DISCIPLINE = Param("discipline", str, "fcfs", choices=("fcfs", "edf", "lifo", "random"),
                   search=("fcfs", "edf", "lifo"))


def _cost(metrics):
    return metrics["cost"]


class Queue:
    """A tiny queue whose discipline matters more than its one numeric knob: edf is best."""

    name = "queue"
    knobs = (Param("x", float, 0.5, low=0.0, high=1.0, search=(0.0, 1.0)), DISCIPLINE)
    scenario_params = (Param("load", float, 1.0, low=0.0),)
    default_objective = "cost"

    def __init__(self):
        self.objectives = {"cost": Objective("cost", "minimize", _cost, failure_value=100.0)}

    def run(self, config, scenario, seed, fidelity=1.0):
        noise = np.random.default_rng(seed).normal(0.0, 0.05)
        load = scenario["load"]
        return {"cost": (config["x"] - 0.3 * load) ** 2 + PENALTY[config["discipline"]] * load + noise}


LOADS = ScenarioSet((Scenario("calm", 2.0, {"load": 1.0}), Scenario("busy", 1.0, {"load": 2.0})), name="loads")


def test_a_string_knob_is_a_categorical_of_its_search_choices():
    space = search_distributions(Queue())
    assert space["discipline"] == CategoricalDistribution(("fcfs", "edf", "lifo"))


def test_the_tuner_searches_a_string_knob(tmp_path):
    result = tune(Queue(), LOADS, trials=24, fidelity="staged", out=tmp_path / "r", backend="inline",
                  progress=False, validate_top=1, validate_replicates=2, slice_points=1)
    assert result.best_config["discipline"] == "edf"
    assert {r.config["discipline"] for r in result.trials} == {"fcfs", "edf", "lifo"}
    runs = pd.read_parquet(tmp_path / "r" / "runs.parquet")
    assert set(runs["config.discipline"]) == {"fcfs", "edf", "lifo"}
    text = (tmp_path / "r" / "report.md").read_text()
    assert "Slices around the optimum" in text and "| discipline |" in text


def test_a_slice_over_a_string_knob_takes_every_choice():
    assert slice_points(DISCIPLINE, "edf", 2) == ["fcfs", "edf", "lifo"]
    assert slice_points(DISCIPLINE, "random", 1) == ["fcfs", "edf", "lifo", "random"]  # the centre is kept
    objective = Queue().objectives["cost"]
    plan = StagePlan(0, LOADS, 1.0, 0, objective, Aggregate("mean"))
    evaluator = Evaluator(InlineBackend(Queue()))
    slices = objective_slices(evaluator, plan, {"x": 0.4, "discipline": "edf"}, [DISCIPLINE], points=2)
    assert list(slices["value"]) == ["fcfs", "edf", "lifo"]
    assert list(slices["at_optimum"]) == [False, True, False]
    assert slices.set_index("value")["objective"].idxmin() == "edf"


def _spec(tmp_path, knob):
    spec = {
        "name": "toy", "command": [sys.executable, "-c", "print('{{}}')"],
        "knobs": [{"name": "x", "type": "float", "default": 0, "search": [0, 1]}, knob],
        "objective": {"metric": "loss", "direction": "minimize", "failure_value": 1e9},
    }
    path = tmp_path / "toy.yaml"
    path.write_text(json.dumps(spec))
    return str(path)


def test_a_command_spec_searches_the_choices_of_a_string_knob(tmp_path):
    knob = {"name": "queue", "type": "str", "default": "fcfs", "choices": ["fcfs", "edf"], "search": ["fcfs", "edf"]}
    system = get_system(_spec(tmp_path, knob))
    assert system.knobs[1].search == ("fcfs", "edf")
    assert search_distributions(system)["queue"] == CategoricalDistribution(("fcfs", "edf"))


@pytest.mark.parametrize(
    ("knob", "message"),
    [
        ({"name": "queue", "type": "str", "default": "fcfs", "search": [1, 2]},
         "knobs.queue: a str knob searches a list of choices"),
        ({"name": "queue", "type": "str", "default": "fcfs", "choices": ["fcfs", "edf"], "search": ["lifo"]},
         "knobs.queue: search choice 'lifo' is not one of the choices"),
        ({"name": "size", "type": "int", "default": 3, "search": ["small", "large"]},
         "knobs.size: a numeric knob searches a range [low, high] with low < high"),
    ],
)
def test_a_search_that_does_not_fit_the_knob_type_names_the_knob(tmp_path, knob, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        get_system(_spec(tmp_path, knob))
