"""The CI submit-queue simulator (`shared/spec/02-submit-queue.md`, seed `003_…txt`).

Names are loaded lazily so that the CLI can read the knob definitions without
importing numpy or numba; the numba kernel is compiled (or loaded from its on-disk
cache) on the first run.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> module that defines it
_API = {
    "SubmitQueue": "system",
    "check_knobs": "system",
    "check_scenario": "system",
    "KNOBS": "params",
    "SCENARIO_PARAMS": "params",
    "LoadScenario": "scenarios",
    "WEIGHTED_SCENARIOS": "scenarios",
    "weighted_scenario": "scenarios",
    "CLASSIC_METRICS": "metrics",
    "GROUND_TRUTH_METRICS": "metrics",
    "CostWeights": "objectives",
    "classic_objective": "objectives",
    "classic_score": "objectives",
    "cost_objective": "objectives",
    "cost_terms": "objectives",
    "load_trace": "trace",
    "replay_csv": "trace",
}

__all__ = [
    "CLASSIC_METRICS", "GROUND_TRUTH_METRICS", "KNOBS", "SCENARIO_PARAMS", "WEIGHTED_SCENARIOS", "CostWeights",
    "LoadScenario", "SubmitQueue", "check_knobs", "check_scenario", "classic_objective", "classic_score",
    "cost_objective", "cost_terms", "load_trace", "replay_csv", "weighted_scenario",
]


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(f"{__name__}.{_API[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
