"""The merge queues teams run — serial, batch-bisect, speculative (GitHub), adaptive window
(Zuul) and the seed's group testing — in one continuous-time world (`shared/spec/06-merge-queues.md`).

Names are loaded lazily so that the CLI can start without numba; the kernel is compiled
(or loaded from its on-disk cache) on the first run.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> module that defines it
_API = {
    "MergeQueue": "system",
    "DEFAULT_STRATEGY": "system",
    "STRATEGY_NAMES": "strategies",
    "get_strategy": "strategies",
    "WORLD_PARAMS": "world",
    "check_world": "world",
    "load_world_file": "world",
    "METRICS": "metrics",
    "Arrivals": "arrivals",
    "CostWeights": "objectives",
    "cost_objective": "objectives",
    "cost_terms": "objectives",
    "run_world": "simulation",
}

__all__ = [
    "DEFAULT_STRATEGY", "METRICS", "STRATEGY_NAMES", "WORLD_PARAMS", "Arrivals", "CostWeights", "MergeQueue",
    "check_world", "cost_objective", "cost_terms", "get_strategy", "load_world_file", "run_world",
]


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(f"{__name__}.{_API[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
