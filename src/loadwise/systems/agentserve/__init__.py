"""agentserve: a CPU simulator of five LLM servers serving multi-agent MATH workflows.

Public entry points: `Cell`, `Lockstep` / `run_cells` (simulate cells in lockstep with
one router), `make_router` (CLI router names), `load_profiles`, and `sweep` (the
rate x budget grid with telemetry and a report; returns (table, run folder)). The
router interface (PlanBatch, StepBatch, Plan, Router, action layout) is in `routing`.
"""

from __future__ import annotations

from loadwise.systems.agentserve.lockstep import FinishedWorkflows, Lockstep, run_cells
from loadwise.systems.agentserve.profiles import Profiles, load_profiles
from loadwise.systems.agentserve.routers import ROUTER_NAMES, make_router
from loadwise.systems.agentserve.simulator import Cell, SimResult
from loadwise.systems.agentserve.sweep import sweep

__all__ = [
    "Cell", "FinishedWorkflows", "Lockstep", "Profiles", "ROUTER_NAMES", "SimResult",
    "load_profiles", "make_router", "run_cells", "sweep",
]
