"""agentserve: a CPU simulator of five LLM servers serving multi-agent MATH workflows.

Public entry points: `AgentServe` (the simulator as a loadwise System: a router family,
its knobs and the servers'), `Cell`, `Lockstep` / `run_cells` (simulate cells in
lockstep with one router), `make_router` (router names), `load_profiles`. The router
interface (PlanBatch, StepBatch, ServerLoad, Plan, Router, action layout) is in
`routing`; latency and success predictions in `predictor`.
"""

from __future__ import annotations

from loadwise.systems.agentserve.lockstep import FinishedWorkflows, Lockstep, run_cells
from loadwise.systems.agentserve.profiles import Profiles, load_profiles
from loadwise.systems.agentserve.routers import ROUTER_NAMES, make_router
from loadwise.systems.agentserve.simulator import Cell, SimResult
from loadwise.systems.agentserve.system import AgentServe

__all__ = [
    "ROUTER_NAMES", "AgentServe", "Cell", "FinishedWorkflows", "Lockstep", "Profiles", "SimResult",
    "load_profiles", "make_router", "run_cells",
]
