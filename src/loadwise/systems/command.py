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
that name, `{seed}` and `{fidelity}` (so no knob may be called seed or fidelity); a
literal brace is written twice, `{{` or `}}`. The spec is checked when it is loaded. The
process also gets one JSON object on standard input: `{"config": ..., "scenario": ...,
"seed": ..., "fidelity": ...}`. It must print its metrics as a JSON object of numbers on
the last non-empty line of standard output. It runs in a session of its own, so a
timeout kills it with every process it started.

The system's fingerprint (what the run cache keys results by) hashes the spec file and
every file the command names (a script, a binary), so a changed simulator never reuses
an old result.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import string
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
from loadwise.systems.base import Metrics, Objective, files_fingerprint

_TYPES = {"int": int, "float": float, "str": str}
RUN_FIELDS = ("seed", "fidelity")  # placeholders every command has; no knob takes these names


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
        spec_path: str | Path | None = None,
    ) -> None:
        where = f"{spec_path}: " if spec_path is not None else ""
        _check_names(knobs, scenario_params, where)
        _check_placeholders(command, [p.name for p in (*knobs, *scenario_params)], where)
        self.name = name
        self.command = list(command)
        self.knobs = list(knobs)
        self.scenario_params = list(scenario_params)
        self.timeout = timeout
        self.objectives = {objective.name: objective}
        self.default_objective = objective.name
        self.spec_path = Path(spec_path) if spec_path is not None else None

    def fingerprint(self) -> str:
        """A hash of what defines the simulator: the spec (its file, or the command and
        parameters given) and each file the command names, looked up from the working
        folder and from the spec's folder."""
        digest = hashlib.sha256()
        if self.spec_path is not None:
            digest.update(files_fingerprint([self.spec_path]).encode())
        else:
            digest.update(repr((self.command, self.knobs, self.scenario_params, self.timeout)).encode())
        folders = [Path.cwd()] + ([self.spec_path.parent] if self.spec_path is not None else [])
        for arg in self.command:
            if "{" in arg:
                continue
            for folder in folders:
                candidate = folder / arg
                if candidate.is_file():
                    digest.update(files_fingerprint([candidate]).encode())
        return digest.hexdigest()[:16]

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
            spec_path=path,
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
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True, start_new_session=True)
        except OSError as exc:
            raise RunFailed(f"cannot start {argv[0]!r}: {exc.strerror}") from None
        try:
            stdout, stderr = proc.communicate(payload, timeout=self.timeout)
        except BaseException as exc:  # a timeout or Ctrl-C: the command and all it started
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            if isinstance(exc, subprocess.TimeoutExpired):
                raise RunFailed(f"timeout after {self.timeout:g} s: {' '.join(argv)}") from None
            raise
        if proc.returncode != 0:
            tail = stderr.strip().splitlines()[-1:] or [""]
            raise RunFailed(f"exit code {proc.returncode}: {tail[0]}")
        return parse_metrics(stdout)


def _check_names(knobs: list[Param], scenario_params: list[Param], where: str) -> None:
    """Knob and scenario parameter names are distinct and none is seed or fidelity."""
    seen: set[str] = set()
    for group, params in (("knobs", knobs), ("scenario_params", scenario_params)):
        for p in params:
            if p.name in RUN_FIELDS:
                raise ConfigError(f"{where}{group}.{p.name}", f"{p.name!r} is reserved for the run's own "
                                                              f"{{{p.name}}}; choose another name")
            if p.name in seen:
                raise ConfigError(f"{where}{group}.{p.name}", "the name is used twice")
            seen.add(p.name)


def _check_placeholders(command: list[str], names: list[str], where: str) -> None:
    """Every `{placeholder}` of the command names a parameter or a run field, and every
    other brace is doubled; the error names the argument."""
    allowed = [*RUN_FIELDS, *names]
    shown = ", ".join(f"{{{n}}}" for n in allowed)
    for i, arg in enumerate(command):
        field = f"{where}command[{i}]"
        try:
            parts = list(string.Formatter().parse(arg))
        except ValueError as exc:
            raise ConfigError(field, f"{arg!r}: {exc} (write a literal brace as {{{{ or }}}})") from None
        for _, name, spec, conversion in parts:
            if name is None:
                continue
            if name not in allowed:
                raise ConfigError(field, f"{arg!r}: unknown placeholder {{{name}}}; allowed: {shown}")
            if spec or conversion:
                raise ConfigError(field, f"{arg!r}: write the placeholder as {{{name}}}, without a format")


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
