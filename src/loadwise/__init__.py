"""loadwise: tune and train systems that must hold up at every load.

The package's verbs are importable from the top level (`loadwise.tune`,
`loadwise.validate`, `loadwise.audit`, ...); they are loaded lazily so that importing
loadwise, or starting the CLI, does not pull in numba, torch or Ray. (The packages
behind them are named `tuning` and `auditing` so that the verbs stay functions.)
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_API = {
    "tune": "loadwise.tuning",
    "validate": "loadwise.tuning",
    "audit": "loadwise.app.audit",
    "Scenario": "loadwise.scenarios",
    "ScenarioSet": "loadwise.scenarios",
    "get_system": "loadwise.systems",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'loadwise' has no attribute {name!r}")
