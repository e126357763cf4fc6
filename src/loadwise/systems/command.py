"""Any external simulator that prints JSON metrics is a System too.

A spec file (YAML or TOML) names the command, its knobs and scenario parameters and
the objective:

    name: mysim
    command: ["./sim", "--seed", "{seed}", "--resources", "{resources}"]
    timeout: 60          # seconds; a run past it is a failed run
    knobs:
      - {name: resources, type: int, default: 32, low: 1, search: [16, 128], log: true}
      - {name: queue, type: str, default: fcfs, choices: [fcfs, edf], search: [fcfs, edf]}
    scenario_params:
      - {name: traffic, type: float, default: 8, low: 0}
    objective: {metric: score, direction: maximize, failure_value: -1.0e6}

Placeholders `{name}` in the command are replaced by the knob or scenario parameter of
that name, `{seed}` and `{fidelity}`. The process also gets one JSON object on standard
input: `{"config": ..., "scenario": ..., "seed": ..., "fidelity": ...}`. It must print
its metrics as a JSON object of numbers on the last non-empty line of standard output.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from loadwise.errors import ConfigError, RunFailed
from loadwise.files import read_user_text
from loadwise.params import Param, resolve
from loadwise.systems.base import Metrics, Objective

_TYPES = {"int": int, "float": float, "str": str}


class _ParamSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    type: Literal["int", "float", "str"]
    default: Any
    low: float | None = None
    high: float | None = None
    choices: list[Any] | None = None
    search: tuple[float, float] | list[str] | None = None  # a range for numbers, choices to try for strings
    log: bool = False
    help: str = ""

    @model_validator(mode="after")
    def _search_fits_type(self) -> _ParamSpec:
        if self.search is None:
            return self
        if self.type == "str":
            if not isinstance(self.search, list) or not self.search:
                raise ValueError("a str knob searches a list of choices, e.g. search: [fcfs, edf]")
            unknown = [c for c in self.search if self.choices and c not in self.choices]
            if unknown:
                raise ValueError(f"search choice {unknown[0]!r} is not one of the choices {self.choices}")
            if self.log:
                raise ValueError("log applies to numeric search ranges only")
        elif not isinstance(self.search, tuple) or not self.search[0] < self.search[1]:
            raise ValueError("a numeric knob searches a range [low, high] with low < high")
        return self

    def to_param(self) -> Param:
        return Param(
            name=self.name, type=_TYPES[self.type], default=self.default, low=self.low,
            high=self.high, choices=tuple(self.choices) if self.choices else None,
            search=tuple(self.search) if self.search is not None else None, log=self.log, help=self.help,
        )


class _ObjectiveSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    metric: str
    direction: Literal["minimize", "maximize"]
    failure_value: float


class _CommandSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    command: list[str] = Field(min_length=1)
    timeout: float = Field(default=300.0, gt=0)
    knobs: list[_ParamSpec]
    scenario_params: list[_ParamSpec] = []
    objective: _ObjectiveSpec


def load_spec_file(path: Path) -> dict[str, Any]:
    """Read a YAML or TOML file into a dict; unreadable files are a ConfigError."""
    text = read_user_text(path)
    try:
        data = tomllib.loads(text) if Path(path).suffix.lower() == ".toml" else yaml.safe_load(text)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(str(path), f"not valid YAML/TOML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(str(path), "expected a mapping at the top level")
    return data


def pydantic_error(path: str, data: Any, exc: ValidationError) -> ConfigError:
    """The first pydantic error as a ConfigError naming the field's dotted location.

    A list item that has a name (a knob, a scenario) is shown by its name, not its index.
    """
    err = exc.errors()[0]
    loc = list(err["loc"])
    if len(loc) >= 2 and isinstance(loc[1], int):
        with contextlib.suppress(KeyError, IndexError, TypeError):
            loc[1] = data[loc[0]][loc[1]]["name"]
    where = ".".join(str(part) for part in loc) or "(top level)"
    return ConfigError(f"{path}: {where}", err["msg"].removeprefix("Value error, "))


class CommandSystem:
    """A System whose `run` executes an external command and reads its JSON metrics."""

    def __init__(
        self,
        name: str,
        command: list[str],
        knobs: list[Param],
        scenario_params: list[Param],
        objective: Objective,
        timeout: float = 300.0,
    ) -> None:
        self.name = name
        self.command = list(command)
        self.knobs = list(knobs)
        self.scenario_params = list(scenario_params)
        self.timeout = timeout
        self.objectives = {objective.name: objective}
        self.default_objective = objective.name

    @classmethod
    def from_file(cls, path: str | Path) -> CommandSystem:
        data = load_spec_file(Path(path))
        try:
            spec = _CommandSpec.model_validate(data)
        except ValidationError as exc:
            raise pydantic_error(str(path), data, exc) from None
        metric, direction = spec.objective.metric, spec.objective.direction
        objective = Objective(
            name=metric,
            direction=direction,
            fn=_MetricGetter(metric),
            failure_value=spec.objective.failure_value,
            description=f"the command's `{metric}` metric ({direction})",
        )
        return cls(
            name=spec.name,
            command=spec.command,
            knobs=[p.to_param() for p in spec.knobs],
            scenario_params=[p.to_param() for p in spec.scenario_params],
            objective=objective,
            timeout=spec.timeout,
        )

    def run(
        self,
        config: Mapping[str, Any],
        scenario: Mapping[str, Any],
        seed: int,
        fidelity: float = 1.0,
    ) -> Metrics:
        config = resolve(self.knobs, config, "config.")
        scenario = resolve(self.scenario_params, scenario, "scenario.")
        fields = {**scenario, **config, "seed": seed, "fidelity": fidelity}
        argv = [arg.format(**fields) for arg in self.command]
        payload = json.dumps({"config": config, "scenario": scenario, "seed": seed, "fidelity": fidelity})
        try:
            done = subprocess.run(
                argv, input=payload, capture_output=True, text=True, timeout=self.timeout, check=False
            )
        except subprocess.TimeoutExpired:
            raise RunFailed(f"timeout after {self.timeout:g} s: {' '.join(argv)}") from None
        except OSError as exc:
            raise RunFailed(f"cannot start {argv[0]!r}: {exc.strerror}") from None
        if done.returncode != 0:
            tail = done.stderr.strip().splitlines()[-1:] or [""]
            raise RunFailed(f"exit code {done.returncode}: {tail[0]}")
        return parse_metrics(done.stdout)


class _MetricGetter:
    """Picklable `metrics -> metrics[name]`."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, metrics: Mapping[str, float]) -> float:
        return float(metrics[self.name])


def parse_metrics(stdout: str) -> Metrics:
    """The JSON object of numbers on the last non-empty line of a command's output."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    if not lines:
        raise RunFailed("the command printed nothing; expected a JSON object of metrics")
    try:
        data = json.loads(lines[-1])
    except json.JSONDecodeError:
        raise RunFailed(f"last output line is not JSON: {lines[-1][:200]!r}") from None
    if not isinstance(data, dict):
        raise RunFailed("the last output line must be a JSON object of metrics")
    metrics: Metrics = {}
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RunFailed(f"metric {key!r} is not a number: {value!r}")
        metrics[key] = float(value)
    return metrics
