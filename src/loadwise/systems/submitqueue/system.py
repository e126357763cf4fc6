"""`SubmitQueue`: the CI submit-queue simulator as a loadwise System."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from loadwise.errors import ConfigError
from loadwise.params import resolve
from loadwise.systems.base import Metrics, Objective
from loadwise.systems.submitqueue.objectives import CostWeights, classic_objective, cost_objective
from loadwise.systems.submitqueue.params import (
    KNOBS,
    MIN_MEASURED_TICKS,
    SCENARIO_BOOKKEEPING,
    SCENARIO_PARAMS,
)


def check_knobs(config: Mapping[str, Any]) -> dict[str, Any]:
    """Knob values with defaults filled in, or a ConfigError naming the knob."""
    return resolve(KNOBS, config)


def check_scenario(scenario: Mapping[str, Any]) -> dict[str, Any]:
    """Scenario parameters with defaults filled in (a scenario's name/weight are ignored)."""
    values = resolve(SCENARIO_PARAMS, {k: v for k, v in scenario.items() if k not in SCENARIO_BOOKKEEPING})
    if not values["bp1"] <= values["bp2"] <= values["bp3"]:
        raise ConfigError("bp2", f"backpressure thresholds must satisfy bp1 <= bp2 <= bp3, got "
                                 f"{values['bp1']}, {values['bp2']}, {values['bp3']}")
    return values


def measured_ticks(ticks: int, fidelity: float) -> int:
    """Measured ticks of a run at `fidelity` in (0, 1]: scaled, but never below two weeks
    (or the full length when that is shorter)."""
    if isinstance(fidelity, bool) or not isinstance(fidelity, (int, float)) or not 0 < fidelity <= 1:
        raise ConfigError("fidelity", f"expected a number in (0, 1], got {fidelity!r}")
    return max(min(ticks, MIN_MEASURED_TICKS), math.ceil(ticks * fidelity))


def check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError("seed", f"expected an integer >= 0, got {seed!r}")
    return seed


class SubmitQueue:
    """A CI submit queue that lands changes in randomly overlapping minibatches.

    See `shared/spec/02-submit-queue.md`. `run` is a pure function of its arguments;
    instances hold only their cost weights, so they pickle to worker processes.
    """

    name = "submitqueue"
    knobs = KNOBS
    scenario_params = SCENARIO_PARAMS
    default_objective = "default"

    def __init__(self, cost_weights: CostWeights | None = None) -> None:
        self.cost_weights = cost_weights or CostWeights()

    @property
    def objectives(self) -> dict[str, Objective]:
        return {"classic": classic_objective(), "default": cost_objective(self.cost_weights)}

    def run(
        self,
        config: Mapping[str, Any],
        scenario: Mapping[str, Any],
        seed: int,
        fidelity: float = 1.0,
    ) -> Metrics:
        """Metrics of one simulated run (see metrics.py for their names)."""
        from loadwise.systems.submitqueue.simulation import run_model

        knobs = check_knobs(config)
        params = check_scenario(scenario)
        ticks = measured_ticks(params["ticks"], fidelity)
        return run_model(knobs, params, check_seed(seed), warmup_ticks=params["warmup_ticks"], ticks=ticks)

    def run_cost(self, scenario: Mapping[str, Any], fidelity: float) -> float:
        """Ticks a run at `fidelity` simulates, warm-up included, per tick of a full-length run."""
        params = check_scenario(scenario)
        warmup, ticks = params["warmup_ticks"], params["ticks"]
        return (warmup + measured_ticks(ticks, fidelity)) / (warmup + ticks)

    def __repr__(self) -> str:
        return f"SubmitQueue(cost_weights={self.cost_weights!r})"
