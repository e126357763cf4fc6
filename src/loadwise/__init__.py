"""loadwise: tune and train systems that must hold up at every load.

Every verb is importable from the top level — `loadwise.tune`, `loadwise.validate`,
`loadwise.sweep`, `loadwise.calibrate`, `loadwise.train_router`,
`loadwise.evaluate_router`, `loadwise.audit`, `loadwise.mq_run`, `loadwise.mq_compare`,
`loadwise.demo`, `loadwise.render_report` (any run folder's report, again), and the gateway's `loadwise.serve_router`, `loadwise.emulate`,
`loadwise.loadtest` — together with
`get_system` and the scenario types. They are loaded on first use, so that importing
loadwise, or starting the CLI, does not pull in numba, torch or Ray; editors and type
checkers see them through the imports below.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_API = {
    "tune": "loadwise.app.tune",
    "validate": "loadwise.app.validate",
    "sweep": "loadwise.app.sweep",
    "calibrate": "loadwise.app.calibrate",
    "train_router": "loadwise.app.train_router",
    "evaluate_router": "loadwise.app.evaluate_router",
    "audit": "loadwise.app.audit",
    "mq_run": "loadwise.app.mergequeue",
    "mq_compare": "loadwise.app.mergequeue",
    "demo": "loadwise.app.demo",
    "render_report": "loadwise.app.report",
    "serve_router": "loadwise.app.serve_gateway",
    "emulate": "loadwise.app.serve_gateway",
    "loadtest": "loadwise.app.loadtest",
    "get_system": "loadwise.systems",
    "Scenario": "loadwise.scenarios",
    "ScenarioSet": "loadwise.scenarios",
    "RateBudgetGrid": "loadwise.scenarios.grid",
    "TrainConfig": "loadwise.rl.config",
}

if TYPE_CHECKING:
    from loadwise.app.audit import audit
    from loadwise.app.calibrate import calibrate
    from loadwise.app.demo import demo
    from loadwise.app.evaluate_router import evaluate_router
    from loadwise.app.loadtest import loadtest
    from loadwise.app.mergequeue import mq_compare, mq_run
    from loadwise.app.report import render_report
    from loadwise.app.serve_gateway import emulate, serve_router
    from loadwise.app.sweep import sweep
    from loadwise.app.train_router import train_router
    from loadwise.app.tune import tune
    from loadwise.app.validate import validate
    from loadwise.rl.config import TrainConfig
    from loadwise.scenarios import Scenario, ScenarioSet
    from loadwise.scenarios.grid import RateBudgetGrid
    from loadwise.systems import get_system

__all__ = [
    "RateBudgetGrid", "Scenario", "ScenarioSet", "TrainConfig", "__version__", "audit", "calibrate", "demo",
    "emulate", "evaluate_router", "get_system", "loadtest", "mq_compare", "mq_run", "render_report", "serve_router", "sweep",
    "train_router", "tune", "validate",
]


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'loadwise' has no attribute {name!r}")
