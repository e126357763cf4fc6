"""`sq run` and `sq replay` as verbs: one submit-queue simulation, on a load scenario or a build history.

Each checks every input against the simulator's parameter definitions before it runs,
so a bad one is one ConfigError naming the parameter; values left out take the
model's defaults (or, for `simulate`, the named scenario's values).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadwise.systems.submitqueue import (
    SubmitQueue,
    check_knobs,
    check_scenario,
    replay_csv,
    weighted_scenario,
)
from loadwise.systems.submitqueue.system import check_seed


@dataclass(frozen=True)
class SimulationResult:
    """One run: the inputs as checked, the metrics, and the value of every objective."""

    config: dict[str, Any]
    scenario: str | None  # the weighted scenario the parameters started from, if any
    params: dict[str, Any]
    seed: int
    metrics: dict[str, float]
    objectives: dict[str, float]


def simulate(knobs: Mapping[str, Any] | None = None, scenario: str | None = None,
             params: Mapping[str, Any] | None = None, seed: int = 0) -> SimulationResult:
    """Simulate the submit queue once; `params` override the named `scenario`'s values."""
    preset = weighted_scenario(scenario).params() if scenario is not None else {}
    config = check_knobs(knobs or {})
    values = check_scenario({**preset, **(params or {})})
    seed = check_seed(seed)
    system = SubmitQueue()
    metrics = system.run(config, values, seed)
    objectives = {name: objective(metrics) for name, objective in system.objectives.items()}
    return SimulationResult(config, scenario, values, seed, metrics, objectives)


@dataclass(frozen=True)
class ReplayResult:
    """One replay: the knobs as checked, the history it replayed, and the metrics."""

    config: dict[str, Any]
    file: Path
    seed: int
    metrics: dict[str, float]


def replay(file: str | Path, knobs: Mapping[str, Any] | None = None, seed: int = 0) -> ReplayResult:
    """Drive the submit queue with a build-history CSV (one-hour ticks)."""
    config = check_knobs(knobs or {})
    seed = check_seed(seed)
    return ReplayResult(config, Path(file), seed, replay_csv(file, config, seed=seed))
