"""One simulation run: what to run (RunSpec) and what came of it (RunResult).

A run is a pure function of (system, config, scenario parameters, seed, fidelity), so
its key identifies its result everywhere: in worker processes, on Ray and in the cache.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from loadwise.errors import RunFailed
from loadwise.systems.base import Metrics, Objective, System


def canonical(data: Mapping[str, Any]) -> str:
    """Stable JSON of a mapping (sorted keys, floats as repr), for keys and storage."""
    return json.dumps(dict(data), sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class RunSpec:
    config: Mapping[str, Any]
    scenario: str
    params: Mapping[str, Any]
    replicate: int
    seed: int
    fidelity: float = 1.0
    purpose: str = "search"

    @property
    def config_key(self) -> str:
        return canonical(self.config)

    @property
    def key(self) -> str:
        """Identity of the result: config, scenario parameters, seed and fidelity."""
        text = "|".join([self.config_key, self.scenario, canonical(self.params), str(self.seed), repr(self.fidelity)])
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class RunResult:
    spec: RunSpec
    ok: bool
    metrics: Metrics = field(default_factory=dict)
    reason: str = ""
    seconds: float = 0.0
    cached: bool = False

    def value(self, objective: Objective) -> float:
        """The objective of this run; a failed run (or failing objective) scores the failure value."""
        return objective_value(objective, self.ok, self.metrics)


def objective_value(objective: Objective, ok: bool, metrics: Mapping[str, float]) -> float:
    """`objective(metrics)`, or its failure value for a failed run, missing metrics or NaN."""
    if not ok:
        return objective.failure_value
    try:
        v = objective(metrics)
    except (KeyError, ValueError, ZeroDivisionError):
        return objective.failure_value
    return v if v == v else objective.failure_value


def execute(system: System, spec: RunSpec) -> RunResult:
    """Run one simulation in this process; exceptions become a failed result with their reason."""
    start = time.perf_counter()
    try:
        metrics = system.run(dict(spec.config), dict(spec.params), spec.seed, spec.fidelity)
    except RunFailed as exc:
        return RunResult(spec, False, reason=exc.reason, seconds=time.perf_counter() - start)
    except Exception as exc:  # a crashing simulator must not end the study
        return RunResult(spec, False, reason=f"{type(exc).__name__}: {exc}", seconds=time.perf_counter() - start)
    return RunResult(spec, True, {k: float(v) for k, v in metrics.items()}, seconds=time.perf_counter() - start)
