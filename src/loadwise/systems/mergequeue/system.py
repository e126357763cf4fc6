"""`MergeQueue`: one merge-queue strategy in the shared world, as a loadwise System.

A system is one strategy (`mergequeue:speculative`, ...; plain `mergequeue` is
`speculative`, GitHub's merge queue): its knobs are the strategy's, its scenario
parameters the world's (`world.WORLD_PARAMS`), so a scenario set is a set of worlds
and every strategy is tuned the same way. Runs on one seed see the same pull requests,
badness, conflicts and, for the same build, the same duration and flake draw, whatever
the strategy or its knobs (common random numbers).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loadwise.params import resolve
from loadwise.systems.base import Metrics, Objective
from loadwise.systems.mergequeue.arrivals import DAY, Arrivals, load_arrivals, poisson_arrivals
from loadwise.systems.mergequeue.objectives import CostWeights, cost_objective
from loadwise.systems.mergequeue.simulation import run_world
from loadwise.systems.mergequeue.strategies import get_strategy
from loadwise.systems.mergequeue.world import WORLD_PARAMS, check_world, measured_days
from loadwise.systems.submitqueue.system import check_seed

DEFAULT_STRATEGY = "speculative"


class MergeQueue:
    """A merge queue run by one strategy; see the module docstring.

    Instances hold the strategy's name and the cost weights, so they pickle to worker
    processes; replayed arrival files are read once per process.
    """

    scenario_params = WORLD_PARAMS
    default_objective = "default"

    def __init__(self, strategy: str = DEFAULT_STRATEGY, cost_weights: CostWeights | None = None) -> None:
        self.strategy = get_strategy(strategy)
        self.name = f"mergequeue:{strategy}"
        self.knobs = self.strategy.knobs
        self.cost_weights = cost_weights or CostWeights()
        self._replays: dict[str, Arrivals] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"strategy": self.strategy.name, "cost_weights": self.cost_weights}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["strategy"], state["cost_weights"])

    def __repr__(self) -> str:
        return f"MergeQueue(strategy={self.strategy.name!r}, cost_weights={self.cost_weights!r})"

    @property
    def objectives(self) -> dict[str, Objective]:
        return {"default": cost_objective(self.cost_weights)}

    def arrivals(self, world: Mapping[str, Any], days: float, seed: int) -> Arrivals:
        """The run's arrivals: replayed from the world's file, or drawn from its profile."""
        if world["arrivals"]:
            path = world["arrivals"]
            if path not in self._replays:
                self._replays[path] = load_arrivals(path)
            return self._replays[path].until(days * DAY)
        return poisson_arrivals(world["prs_per_day"] * world["traffic"], world["profile"], days, seed)

    def run(self, config: Mapping[str, Any], scenario: Mapping[str, Any], seed: int, fidelity: float = 1.0) -> Metrics:
        """Metrics of one run (see `metrics.METRICS`)."""
        knobs = resolve(self.knobs, config)
        world = check_world(scenario)
        days = measured_days(world["days"], fidelity)
        seed = check_seed(seed)
        return run_world(self.strategy, knobs, world, seed, self.arrivals(world, days, seed), days)
