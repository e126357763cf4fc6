"""A synthetic noisy multi-scenario system whose robust optimum is known exactly.

Why: tuners must be tested and benchmarked against the truth. Each scenario's expected
cost is a quadratic bowl, `severity · Σ_j a_j (x_j − c_j(load))²`, whose centre moves
with the load, so the single-scenario optimum differs from the robust one. The weighted
mean of bowls is again a bowl, centred at the severity-weighted mean of the centres:
`optimum()` returns it in closed form.

Noise imitates a simulator: most of it comes from the run seed and is shared by all
configs (so common random numbers cancel it in differences), part of it interacts with
the config, and a small part is config-specific. Shorter runs (fidelity < 1) are
noisier. A `fault` scenario parameter injects failures (exception, process crash, hang)
so that failure handling can be exercised end to end.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from loadwise.errors import RunFailed
from loadwise.params import Param, resolve
from loadwise.systems.base import Metrics, Objective

KNOBS = ("x1", "x2", "x3", "x4")
CURVATURE = np.array([4.0, 2.0, 1.0, 0.5])
BASE_CENTRE = np.array([0.35, 0.60, 0.40, 0.50])
LOAD_SLOPE = np.array([0.15, -0.10, 0.08, 0.0])
DEFAULTS = (0.70, 0.30, 0.70, 0.20)  # deliberately off the optimum, like published defaults

# name, weight, parameters: the synthetic analogue of the seed's five scenarios
SCENARIOS = (
    ("normal", 0.40, {"load": 1.0, "noise": 1.0, "severity": 1.0}),
    ("spike", 0.25, {"load": 2.0, "noise": 1.5, "severity": 1.5}),
    ("low", 0.15, {"load": 0.5, "noise": 0.7, "severity": 0.8}),
    ("flaky", 0.10, {"load": 1.0, "noise": 3.0, "severity": 1.0}),
    ("crisis", 0.10, {"load": 2.5, "noise": 2.0, "severity": 4.0}),
)
STOCHASTIC_DRAWS = {
    "load": ("choice", (0.5, 1.0, 1.5, 2.0, 2.5)),
    "noise": ("uniform", (0.7, 3.0)),
    "severity": ("uniform", (0.8, 4.0)),
}
SHARED_NOISE = 0.30  # std of the seed-driven part (cancels under common random numbers)
INTERACTION_NOISE = 0.06  # std per unit of each knob of the seed x config interaction
OWN_NOISE = 0.05  # std of the config-specific part


def _cost(metrics: Mapping[str, float]) -> float:
    return metrics["cost"]


def _score(metrics: Mapping[str, float]) -> float:
    return 10.0 - metrics["cost"]


class Synthetic:
    """The synthetic System (see the module docstring)."""

    name = "synthetic"
    knobs: ClassVar[list[Param]] = [Param(k, float, d, low=0.0, high=1.0, search=(0.0, 1.0)) for k, d in zip(KNOBS, DEFAULTS)]
    scenario_params: ClassVar[list[Param]] = [
        Param("load", float, 1.0, low=0.0, help="moves the optimum"),
        Param("noise", float, 1.0, low=0.0, help="scales all noise"),
        Param("severity", float, 1.0, low=0.0, help="scales the cost"),
        Param("fault", str, "none", choices=("none", "raise", "crash", "hang"),
              help="inject a failure when x1 > fault_above"),
        Param("fault_above", float, 0.9, low=0.0, high=1.0),
        Param("seconds", float, 0.0, low=0.0, help="wall-clock time each run takes (imitates a slow simulator)"),
    ]
    objectives: ClassVar[dict[str, Objective]] = {
        "cost": Objective("cost", "minimize", _cost, failure_value=100.0, description="expected quadratic cost + noise"),
        "score": Objective("score", "maximize", _score, failure_value=-100.0, description="10 − cost"),
    }
    default_objective = "cost"

    def run(self, config: Mapping[str, Any], scenario: Mapping[str, Any], seed: int,
            fidelity: float = 1.0) -> Metrics:
        config = resolve(self.knobs, config, "config.")
        scenario = resolve(self.scenario_params, scenario, "scenario.")
        x = np.array([config[k] for k in KNOBS])
        if scenario["fault"] != "none" and x[0] > scenario["fault_above"]:
            _inject(scenario["fault"])
        if scenario["seconds"] > 0:
            time.sleep(scenario["seconds"])
        rng = np.random.default_rng(seed)
        shared, interaction = rng.standard_normal(), rng.standard_normal(len(KNOBS))
        own = np.random.default_rng([seed, _config_hash(x)]).standard_normal()
        scale = scenario["noise"] / np.sqrt(fidelity)
        noise = scale * (SHARED_NOISE * shared + INTERACTION_NOISE * float(x @ interaction) + OWN_NOISE * own)
        expected = self.expected_cost(config, scenario)
        return {"cost": float(expected + noise), "resource_use": float(100.0 * x[0]), "noise": float(noise)}

    def expected_cost(self, config: Mapping[str, Any], scenario: Mapping[str, Any]) -> float:
        """The noise-free cost of a config in a scenario (the truth the tuner estimates)."""
        x = np.array([float(config[k]) for k in KNOBS])
        load, severity = float(scenario.get("load", 1.0)), float(scenario.get("severity", 1.0))
        return float(severity * CURVATURE @ (x - _centre(load)) ** 2)

    def optimum(self, scenarios: Sequence[tuple[Mapping[str, Any], float]]) -> tuple[dict[str, float], float]:
        """The config minimizing Σ weight · expected cost over (scenario, weight) pairs, and its value."""
        total = sum(w for _, w in scenarios)
        mass = sum(w * float(s.get("severity", 1.0)) for s, w in scenarios)
        centre = sum(w * float(s.get("severity", 1.0)) * _centre(float(s.get("load", 1.0))) for s, w in scenarios) / mass
        best = {k: float(v) for k, v in zip(KNOBS, centre)}
        value = sum(w * self.expected_cost(best, s) for s, w in scenarios) / total
        return best, value


def _centre(load: float) -> np.ndarray:
    return np.clip(BASE_CENTRE + LOAD_SLOPE * (load - 1.0), 0.05, 0.95)


def _config_hash(x: np.ndarray) -> int:
    return int.from_bytes(hashlib.blake2b(x.tobytes(), digest_size=4).digest(), "little")


def _inject(fault: str) -> None:
    if fault == "raise":
        raise RunFailed("injected failure (fault=raise)")
    if fault == "crash":
        os._exit(3)
    time.sleep(3600)  # fault == "hang": only a time limit ends this run
