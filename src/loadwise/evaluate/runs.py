"""One simulation run: what to run (RunSpec) and what came of it (RunResult).

A run is a pure function of (system, config, scenario parameters, seed, fidelity), so
its key identifies its result everywhere: in worker processes, on Ray and in the cache.
Backends execute *tasks*, tuples of runs: usually one, or several runs of one config
that a system simulates faster together (`execute_task`, `systems.base.GroupRunner`).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from loadwise.errors import RunFailed
from loadwise.systems.base import GroupRunner, Metrics, Objective, System


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
    record: bool = field(default=False, compare=False)  # also keep what the run recorded (not part of its key)

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
    artifacts: dict[str, Any] | None = field(default=None, repr=False)  # what a `record` run recorded

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
    except Exception as exc:  # noqa: BLE001 - a crashing simulator must not end the study
        return RunResult(spec, False, reason=f"{type(exc).__name__}: {exc}", seconds=time.perf_counter() - start)
    return RunResult(spec, True, {k: float(v) for k, v in metrics.items()}, seconds=time.perf_counter() - start)


Task = tuple[RunSpec, ...]


def execute_task(system: System, task: Task,
                 on_progress: Callable[[int, int], None] | None = None) -> list[RunResult]:
    """Run a task's specs in this process: together when the system runs groups and the
    specs share one config and fidelity (reporting `on_progress` as the group advances),
    else one by one. A failure fails the whole group."""
    first = task[0]
    together = isinstance(system, GroupRunner) and (len(task) > 1 or first.record) and all(
        s.config_key == first.config_key and s.fidelity == first.fidelity for s in task)
    if not together:
        return [execute(system, spec) for spec in task]
    start = time.perf_counter()
    try:
        records = system.run_group(dict(first.config), [dict(s.params) for s in task], [s.seed for s in task],
                                   first.fidelity, record=any(s.record for s in task), on_progress=on_progress)
    except RunFailed as exc:
        reason = exc.reason
    except Exception as exc:  # noqa: BLE001 - a crashing simulator must not end the study
        reason = f"{type(exc).__name__}: {exc}"
    else:
        share = (time.perf_counter() - start) / len(task)
        return [RunResult(spec, True, {k: float(v) for k, v in rec.metrics.items()}, seconds=share,
                          artifacts=rec.artifacts if spec.record else None) for spec, rec in zip(task, records)]
    share = (time.perf_counter() - start) / len(task)
    return [RunResult(spec, False, reason=reason, seconds=share) for spec in task]
