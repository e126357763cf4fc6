"""The System protocol: what loadwise must know about a simulator to run and tune it.

A system is a pure function `run(config, scenario, seed) -> metrics` plus a description
of its inputs: the knobs a tuner may set (each with the range in which it is valid and,
for tunable knobs, the range searched by default) and the scenario-level parameters
(load, failure rates, ...). Objectives turn metrics into one number to optimize.
"""

from __future__ import annotations

import hashlib
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from loadwise import __version__
from loadwise.errors import ConfigError
from loadwise.params import Param

Metrics = dict[str, float]


@dataclass(frozen=True)
class Objective:
    """Metrics -> one number to optimize.

    `failure_value` is what a failed, timed-out or pathological run scores, so that a
    tuner sees it as the worst outcome and the study goes on.
    """

    name: str
    direction: Literal["minimize", "maximize"]
    fn: Callable[[Mapping[str, float]], float] = field(repr=False)
    failure_value: float
    description: str = ""

    def __call__(self, metrics: Mapping[str, float]) -> float:
        return float(self.fn(metrics))

    def better(self, a: float, b: float) -> bool:
        """True when value `a` is strictly better than value `b`."""
        return a > b if self.direction == "maximize" else a < b


@runtime_checkable
class System(Protocol):
    """A simulator loadwise can run, tune and validate.

    `run` must be a pure function of its arguments (same inputs, same metrics) and
    picklable through its module-level constructor, so that runs can go to worker
    processes or Ray tasks. `fidelity` in (0, 1] asks for a cheaper, shorter run.
    """

    name: str
    knobs: Sequence[Param]
    scenario_params: Sequence[Param]
    objectives: Mapping[str, Objective]
    default_objective: str

    def run(
        self,
        config: Mapping[str, Any],
        scenario: Mapping[str, Any],
        seed: int,
        fidelity: float = 1.0,
    ) -> Metrics: ...


@dataclass
class RunRecord:
    """One run's metrics and, when asked for, what else it recorded (e.g. telemetry tables)."""

    metrics: Metrics
    artifacts: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class GroupRunner(Protocol):
    """A system that runs several scenarios of one config faster together than one by one
    (e.g. by batching their decisions), and can record more than metrics when asked.

    `on_progress(done, total)`, when given, is called as the group advances (in units the
    system chooses, e.g. workflows finished)."""

    def run_group(
        self,
        config: Mapping[str, Any],
        scenarios: Sequence[Mapping[str, Any]],
        seeds: Sequence[int],
        fidelity: float = 1.0,
        record: bool = False,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> list[RunRecord]: ...


def run_cost(system: System, scenario: Mapping[str, Any], fidelity: float) -> float:
    """How much one run simulates, in full-length runs of its scenario (1.0 = one full run).

    Systems whose short runs keep a fixed part (the submit queue's warm-up) say so with
    a `run_cost(scenario, fidelity)` method; for the others it is the fidelity.
    """
    own = getattr(system, "run_cost", None)
    return float(own(scenario, fidelity)) if own is not None else float(fidelity)


_SOURCE_SUFFIXES = (".py", ".yaml", ".yml", ".toml", ".json", ".csv")


def files_fingerprint(paths: Sequence[str | Path]) -> str:
    """A short hash of the content of files (folders: every source and data file under them)."""
    digest = hashlib.sha256()
    for path in map(Path, paths):
        files = sorted(f for f in path.rglob("*") if f.suffix in _SOURCE_SUFFIXES) if path.is_dir() else [path]
        for f in files:
            digest.update(f.name.encode())
            digest.update(f.read_bytes() if f.is_file() else b"<missing>")
    return digest.hexdigest()[:16]


def identity(system: System) -> str:
    """What produced a result: the system's name, loadwise's version and a fingerprint of its
    simulator, so that a cached result is never reused by a changed or another simulator.

    A system may say what defines it with a `fingerprint()` method (e.g. its spec and data
    files); otherwise its source is hashed: the package a built-in system lives in, or
    the module that defines it.
    """
    own = getattr(system, "fingerprint", None)
    if own is not None:
        fingerprint = own()
    else:
        module = sys.modules[type(system).__module__]
        source = Path(module.__file__)
        fingerprint = files_fingerprint([source.parent if source.parent.name != "systems" else source])
    return f"{system.name}@{__version__}#{fingerprint}"


def family(system: System) -> str:
    """The system's name without its variant ('agentserve:greedy' -> 'agentserve'): what
    per-system defaults and published figures are keyed by."""
    return system.name.partition(":")[0]


def search_space(system: System) -> list[Param]:
    """The knobs a tuner explores by default: those with a `search` range."""
    return [p for p in system.knobs if p.search is not None]


def get_objective(system: System, objective: str | Objective | None) -> Objective:
    """Look an objective up by name (None: the system's default)."""
    if isinstance(objective, Objective):
        return objective
    name = objective or system.default_objective
    if name not in system.objectives:
        raise ConfigError("objective", f"unknown objective {name!r}; allowed: {', '.join(system.objectives)}")
    return system.objectives[name]


def check_cost_weights(weights: Any) -> None:
    """Every field of a cost-weights dataclass is a finite number >= 0 (errors name `weights.FIELD`)."""
    for f in fields(weights):
        value = getattr(weights, f.name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ConfigError(f"weights.{f.name}", f"expected a finite number >= 0, got {value!r}")
