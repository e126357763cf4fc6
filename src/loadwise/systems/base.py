"""The System protocol: what loadwise must know about a simulator to run and tune it.

A system is a pure function `run(config, scenario, seed) -> metrics` plus a description
of its inputs: the knobs a tuner may set (each with the range in which it is valid and,
for tunable knobs, the range searched by default) and the scenario-level parameters
(load, failure rates, ...). Objectives turn metrics into one number to optimize.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from loadwise.errors import ConfigError

Metrics = dict[str, float]


@dataclass(frozen=True)
class Param:
    """One named, typed input: a knob of a system or a parameter of a scenario.

    `low`/`high` bound the values that are valid at all (None: unbounded). `search`,
    when given, is the (low, high) range a tuner explores by default, log-scaled when
    `log` is true; knobs without `search` are fixed at their default unless set.
    """

    name: str
    type: type  # int, float or str
    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None
    search: tuple[float, float] | None = None
    log: bool = False
    help: str = ""

    def check(self, value: Any, where: str = "") -> Any:
        """Return `value` as this parameter's type, or raise ConfigError naming it."""
        name = f"{where}{self.name}"
        allowed = self.describe()
        if self.type is str:
            if not isinstance(value, str):
                raise ConfigError(name, f"expected a string ({allowed}), got {value!r}")
            converted: Any = value
        elif self.type is int:
            if isinstance(value, bool) or not _is_integral(value):
                raise ConfigError(name, f"expected an integer ({allowed}), got {value!r}")
            converted = int(value)
        elif self.type is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(name, f"expected a finite number ({allowed}), got {value!r}")
            converted = float(value)
        else:  # pragma: no cover - a programming error, not user input
            raise TypeError(f"unsupported parameter type {self.type!r}")
        if self.choices is not None and converted not in self.choices:
            raise ConfigError(name, f"{converted!r} is not allowed ({allowed})")
        if self.low is not None and converted < self.low:
            raise ConfigError(name, f"{converted!r} is below the minimum ({allowed})")
        if self.high is not None and converted > self.high:
            raise ConfigError(name, f"{converted!r} is above the maximum ({allowed})")
        return converted

    def describe(self) -> str:
        """The allowed values in words, for error messages and `--help`."""
        if self.choices is not None:
            return "one of " + ", ".join(map(str, self.choices))
        kind = {int: "integer", float: "number", str: "string"}[self.type]
        if self.low is not None and self.high is not None:
            return f"{kind} in [{self.low:g}, {self.high:g}]"
        if self.low is not None:
            return f"{kind} >= {self.low:g}"
        if self.high is not None:
            return f"{kind} <= {self.high:g}"
        return kind


def _is_integral(value: Any) -> bool:
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value) and value.is_integer()


def resolve(params: Sequence[Param], values: Mapping[str, Any], where: str = "") -> dict[str, Any]:
    """Defaults overlaid with `values`, each checked; unknown names are an error listing the known ones."""
    known = {p.name: p for p in params}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(
            f"{where}{unknown[0]}", f"unknown parameter; allowed: {', '.join(known)}"
        )
    return {name: p.check(values.get(name, p.default), where) for name, p in known.items()}


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
