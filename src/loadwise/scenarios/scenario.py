"""Scenarios and weighted scenario sets: the loads a tuned system must hold up under.

A deterministic set evaluates every scenario and aggregates per-scenario means with
fixed weights (what the scenario-weighting study recommends). A stochastic set draws
scenario parameters from distributions for every replicate; it is kept so that the two
approaches can be compared (draws are seeded, so it is reproducible, unlike the
study's `random.choice`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from loadwise.errors import ConfigError
from loadwise.params import Param, resolve

STOCHASTIC = "stochastic"


@dataclass(frozen=True)
class Scenario:
    """One named load condition: its weight and the system's scenario parameters it sets."""

    name: str
    weight: float
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Draw:
    """A distribution of one scenario parameter in a stochastic set."""

    kind: Literal["choice", "uniform"]
    values: tuple[float, ...]  # choice: the options; uniform: (low, high)

    def sample(self, rng: np.random.Generator) -> float:
        if self.kind == "choice":
            return self.values[int(rng.integers(len(self.values)))]
        return float(rng.uniform(self.values[0], self.values[1]))


@dataclass(frozen=True)
class ScenarioSet:
    """Weighted scenarios (deterministic) or parameter distributions (stochastic).

    Weights must be positive and finite; they are normalized to sum to 1. In stochastic
    mode the set behaves like one scenario named "stochastic" whose parameters are
    drawn anew for every replicate (same replicate, same draw: common random numbers).
    """

    scenarios: tuple[Scenario, ...]
    mode: Literal["deterministic", "stochastic"] = "deterministic"
    draws: Mapping[str, Draw] = field(default_factory=dict)
    name: str = "custom"

    def __post_init__(self) -> None:
        if self.mode not in ("deterministic", "stochastic"):
            raise ConfigError("mode", f"{self.mode!r} is not allowed (one of deterministic, stochastic)")
        if self.mode == "stochastic":
            if not self.draws:
                raise ConfigError("draws", "a stochastic scenario set needs at least one drawn parameter")
            object.__setattr__(self, "scenarios", (Scenario(STOCHASTIC, 1.0, {}),))
            return
        if not self.scenarios:
            raise ConfigError("scenarios", "a scenario set needs at least one scenario")
        names = [s.name for s in self.scenarios]
        for name in names:
            if names.count(name) > 1:
                raise ConfigError(f"scenarios.{name}", "scenario names must be unique")
        for s in self.scenarios:
            w = s.weight
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w <= 0:
                raise ConfigError(f"scenarios.{s.name}.weight", f"must be a positive finite number, got {w!r}")
        total = sum(s.weight for s in self.scenarios)
        object.__setattr__(
            self, "scenarios", tuple(Scenario(s.name, s.weight / total, dict(s.params)) for s in self.scenarios)
        )

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.scenarios]

    @property
    def weights(self) -> dict[str, float]:
        return {s.name: s.weight for s in self.scenarios}

    def __getitem__(self, name: str) -> Scenario:
        for s in self.scenarios:
            if s.name == name:
                return s
        raise ConfigError("scenario", f"unknown scenario {name!r}; allowed: {', '.join(self.names)}")

    def subset(self, names: Sequence[str]) -> ScenarioSet:
        """The named scenarios with their weights renormalized (a fidelity stage's set)."""
        if self.mode == "stochastic":
            return self
        return ScenarioSet(tuple(self[n] for n in names), name=f"{self.name}[{','.join(names)}]")

    def by_weight(self) -> list[str]:
        """Scenario names, heaviest first (ties keep file order)."""
        return [s.name for s in sorted(self.scenarios, key=lambda s: -s.weight)]

    def params_for(self, scenario: str, replicate: int, draw_seed: int) -> dict[str, Any]:
        """The scenario parameters of one run: fixed, or drawn for this replicate."""
        if self.mode == "deterministic":
            return dict(self[scenario].params)
        rng = np.random.default_rng(draw_seed)
        return {name: draw.sample(rng) for name, draw in sorted(self.draws.items())}

    def checked(self, scenario_params: Sequence[Param]) -> ScenarioSet:
        """This set with every parameter checked against the system's scenario parameters.

        An unknown parameter is an error naming the scenario and the allowed names.
        """
        known = {p.name: p for p in scenario_params}
        if self.mode == "stochastic":
            for pname, draw in self.draws.items():
                if pname not in known:
                    raise ConfigError(f"draws.{pname}", f"unknown parameter; allowed: {', '.join(known)}")
                for v in draw.values:
                    known[pname].check(v, "draws.")
            return self
        out = []
        for s in self.scenarios:
            resolve(scenario_params, s.params, f"scenarios.{s.name}.")
            out.append(Scenario(s.name, s.weight, dict(s.params)))
        return ScenarioSet(tuple(out), name=self.name)

    def describe(self) -> str:
        if self.mode == "stochastic":
            parts = [f"{k} ~ {d.kind}{list(d.values)}" for k, d in sorted(self.draws.items())]
            return f"{self.name} (stochastic: {', '.join(parts)})"
        return f"{self.name} (" + ", ".join(f"{s.name} {s.weight:.2f}" for s in self.scenarios) + ")"
