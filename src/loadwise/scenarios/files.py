"""Scenario-set files (YAML or TOML), validated with pydantic.

    name: sq-weighted5
    mode: deterministic          # or stochastic
    scenarios:                   # deterministic: name, weight, then scenario parameters
      - {name: normal, weight: 0.40, traffic: 8, culprit_prob: 0.03, test_stability: 1.0}
      - {name: spike,  weight: 0.25, traffic: 16, culprit_prob: 0.04, test_stability: 0.98}

    mode: stochastic             # stochastic: one distribution per drawn parameter
    draws:
      traffic: {choice: [4, 8, 12, 16, 20]}
      culprit_prob: {uniform: [0.01, 0.08]}

Parameter names are checked against the system's `scenario_params` when the set is
used (`ScenarioSet.checked`), so an unknown name is an error listing the allowed ones.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    ValidationError,
    field_validator,
    model_validator,
)

from loadwise.errors import ConfigError
from loadwise.scenarios.scenario import Draw, Scenario, ScenarioSet
from loadwise.systems.command import load_spec_file, pydantic_error


class _ScenarioSpec(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    weight: float

    @field_validator("weight")
    @classmethod
    def _positive_finite(cls, w: float) -> float:
        if not math.isfinite(w) or w <= 0:
            raise ValueError(f"must be a positive finite number, got {w!r}")
        return w


class _DrawSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    choice: list[float] | None = None
    uniform: tuple[float, float] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> _DrawSpec:
        if (self.choice is None) == (self.uniform is None):
            raise ValueError("give exactly one of choice: [..] or uniform: [low, high]")
        if self.choice is not None and not self.choice:
            raise ValueError("choice needs at least one value")
        if self.uniform is not None and not self.uniform[0] < self.uniform[1]:
            raise ValueError("uniform needs low < high")
        return self


class _SetSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    mode: Literal["deterministic", "stochastic"] = "deterministic"
    scenarios: list[_ScenarioSpec] = []
    draws: dict[str, _DrawSpec] = {}


def load_scenario_file(path: str | Path) -> ScenarioSet:
    """Read and validate a scenario-set file; errors name the file, scenario and field."""
    path = Path(path)
    return scenario_set_from_data(load_spec_file(path), str(path), path.stem)


def scenario_set_to_data(scenario_set: ScenarioSet) -> dict[str, Any]:
    """The file form of a set (what `scenario_set_from_data` reads back), for run.json."""
    if scenario_set.mode == "stochastic":
        draws = {k: {d.kind: list(d.values)} for k, d in scenario_set.draws.items()}
        return {"name": scenario_set.name, "mode": "stochastic", "draws": draws}
    return {"name": scenario_set.name, "mode": "deterministic",
            "scenarios": [{"name": s.name, "weight": s.weight, **s.params} for s in scenario_set.scenarios]}


def scenario_set_from_data(data: Any, path: str = "scenarios", default_name: str = "custom") -> ScenarioSet:
    """Validate the file form of a scenario set (a mapping) into a ScenarioSet."""
    if not isinstance(data, dict):
        raise ConfigError(path, "expected a mapping at the top level")
    try:
        spec = _SetSpec.model_validate(data)
    except ValidationError as exc:
        raise pydantic_error(path, data, exc) from None
    if spec.mode == "deterministic" and spec.draws:
        raise ConfigError(f"{path}: draws", "only a stochastic set has draws")
    if spec.mode == "stochastic" and spec.scenarios:
        raise ConfigError(f"{path}: scenarios", "a stochastic set has draws, not scenarios")
    try:
        if spec.mode == "stochastic":
            draws = {
                k: Draw("choice", tuple(d.choice)) if d.choice is not None else Draw("uniform", tuple(d.uniform))
                for k, d in spec.draws.items()
            }
            return ScenarioSet((), mode="stochastic", draws=draws, name=spec.name or default_name)
        scenarios = tuple(Scenario(s.name, s.weight, dict(s.model_extra or {})) for s in spec.scenarios)
        return ScenarioSet(scenarios, name=spec.name or default_name)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc.field}", exc.problem) from None
