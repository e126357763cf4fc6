"""The router interface: what a planner and an executor see, and what they answer.

A router makes two kinds of decisions, always in batches so that a neural policy can
decide many of them in one forward pass (the lockstep driver gathers the pending
decisions of many simulations into one batch):

- `plan(PlanBatch) -> Plan`, once per workflow at its arrival: topology, number of
  agents, and one of the 12 math roles per agent.
- `route(StepBatch) -> actions`, once per role step (the final decision step included):
  an action in [0, N_ACTIONS), action a <-> (model a // 3, strategy a % 3).

A batch holds the raw state of its decisions, as named arrays: the servers' load
(`ServerLoad`), the item, the budget and, for role steps, what each (model, strategy)
pair is predicted to cost and how likely it is to succeed (`predictor.py`). Nothing
here is encoded for a network; a learned policy builds its inputs from these fields
(`loadwise.rl.features`), so the same interface serves simulated and live servers.

A router that sets `needs_oracle = True` (the clairvoyant) also gets `PlanBatch.oracle`
and `StepBatch.oracle`: the common random numbers of each workflow and pending call.
No other router sees them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

MODELS: tuple[str, ...] = (
    "Llama-3.2-3B-Instruct",
    "Llama-3.1-8B-Instruct",
    "Qwen2.5-Coder-14B-Instruct",
    "Mistral-Small-24B-Instruct",
    "DeepSeek-R1-Distill-Qwen-32B",
)
STRATEGIES: tuple[str, ...] = ("flash", "concise", "deepthink")
N_MODELS = len(MODELS)
N_STRATEGIES = len(STRATEGIES)
N_ACTIONS = N_MODELS * N_STRATEGIES  # action a <-> (model a // 3, strategy a % 3)

TOPOLOGIES: tuple[str, ...] = ("IO", "CoT", "Chain", "Debate", "Reflection", "FullConnected")
ROLES: tuple[str, ...] = (
    "MathSolver",
    "MathAnalyst",
    "Inspector",
    "ProgrammingExpert",
    "MathTeacher",
    "AlgebraExpert",
    "CountingProbabilityExpert",
    "GeometryExpert",
    "NumberTheoryExpert",
    "PrealgebraTutor",
    "PrecalculusExpert",
    "Verifier",
)
DECISION_ROLE = len(ROLES)  # role index of the final decision step in StepBatch.role
DECISION_ROLE_NAME = "FinalDecision"
SUBJECTS: tuple[str, ...] = (
    "Algebra",
    "Counting & Probability",
    "Geometry",
    "Intermediate Algebra",
    "Number Theory",
    "Prealgebra",
    "Precalculus",
)
LEVELS = 5
MAX_AGENTS = 6
MAX_CALLS = 2 * MAX_AGENTS + 1  # Debate/Reflection with 6 agents, plus the decision step

def model_size(name: str) -> str:
    """A model's size label, e.g. 'Llama-3.2-3B-Instruct' -> '3B' (the name itself when none)."""
    for part in name.replace("_", "-").split("-"):
        if part[:-1].replace(".", "").isdigit() and part[-1:] in ("B", "b"):
            return part.upper()
    return name


def action_of(model: int | np.ndarray, strategy: int | np.ndarray) -> int | np.ndarray:
    """The action index of a (model, strategy) pair."""
    return model * N_STRATEGIES + strategy


def pair_of(action: int | np.ndarray) -> tuple[int | np.ndarray, int | np.ndarray]:
    """The (model, strategy) indices of an action."""
    return action // N_STRATEGIES, action % N_STRATEGIES


@dataclass
class ServerLoad:
    """The servers as a router sees them at each decision: one row per decision, one column per model.

    This is all a router may know about load. The simulator fills it from its servers;
    a gateway in front of real servers fills it from their metrics (running and waiting
    requests, KV-cache use) and its own latency measurements.
    """

    running: np.ndarray         # int (B, N_MODELS) requests in the server's batch
    waiting: np.ndarray         # int (B, N_MODELS) requests queued for a batch slot
    kv_use: np.ndarray          # float (B, N_MODELS) share of the KV cache in use, [0, 1]
    recent_latency: np.ndarray  # float (B, N_MODELS) recent per-call latency, s
    max_num_seqs: np.ndarray    # int (N_MODELS,) batch slots per server

    @property
    def queue_depth(self) -> np.ndarray:
        """Running + waiting per server (B, N_MODELS)."""
        return self.running + self.waiting


@dataclass
class PlanOracleView:
    """The hidden draws of arriving workflows (clairvoyant only).

    `u_correct[b, k]` is the correctness uniform of call slot k (slot 0: the decision,
    slots 1..: agent calls in call order); a call is correct iff u < its probability.
    `best_agent_logit` / `best_decision_logit`: the highest success logit any pair
    reaches for an agent call by the subject's expert without inputs / for the decision
    before the shift from the answers it sees; `peer_weight` scales that shift.
    """

    u_correct: np.ndarray            # float (B, MAX_CALLS)
    best_agent_logit: np.ndarray     # float (B,)
    best_decision_logit: np.ndarray  # float (B,)
    peer_weight: float


@dataclass
class PlanBatch:
    """Workflows that just arrived and need a plan. All arrays have length B."""

    servers: ServerLoad      # load at arrival
    arrival_rate: np.ndarray  # float (B,) workflows that arrived in the last 60 s (per minute)
    budget: np.ndarray       # float (B,) latency budget, s
    level: np.ndarray        # int (B,) 1..5
    subject: np.ndarray      # int (B,) index into SUBJECTS
    u_plan: np.ndarray       # float (B,) a uniform for randomized planners (common random numbers)
    sim_index: np.ndarray    # int (B,) which simulation of the lockstep driver
    workflow_id: np.ndarray  # int (B,) unique within its simulation
    oracle: PlanOracleView | None = None

    def __len__(self) -> int:
        return len(self.budget)

    @property
    def queue_depth(self) -> np.ndarray:
        return self.servers.queue_depth


@dataclass
class Plan:
    """A planner's answer, row-aligned with its PlanBatch."""

    topology: np.ndarray  # int (B,) index into TOPOLOGIES
    n_agents: np.ndarray  # int (B,) 1..MAX_AGENTS
    roles: np.ndarray     # int (B, MAX_AGENTS) index into ROLES, -1 where unused


@dataclass
class OracleView:
    """The hidden draws of each pending call (clairvoyant only).

    `correct[b, a]`: the call would be correct with action a (its correctness uniform
    compared with that pair's probability given the answers it sees). `service[b, a]`:
    the call's service work in tokens under action a (output tokens + prefill cost).
    """

    correct: np.ndarray  # bool (B, N_ACTIONS)
    service: np.ndarray  # float (B, N_ACTIONS) work in decode-token units
    latency: np.ndarray  # float (B, N_ACTIONS) latency predicted from the actual work


@dataclass
class StepBatch:
    """Role steps that are ready to dispatch and need a (model, strategy). Length B."""

    servers: ServerLoad            # load now
    remaining_budget: np.ndarray   # float (B,) budget minus time elapsed in the workflow, s
    budget: np.ndarray             # float (B,)
    predicted_latency: np.ndarray  # float (B, N_ACTIONS) s, from the servers' current state
    success_prob: np.ndarray       # float (B, N_ACTIONS) chance the call alone is correct
    role: np.ndarray               # int (B,) index into ROLES; DECISION_ROLE for the decision step
    level: np.ndarray              # int (B,) 1..5
    subject: np.ndarray            # int (B,)
    topology: np.ndarray           # int (B,)
    step_index: np.ndarray         # int (B,) the call's position in its workflow's call order
    steps_left: np.ndarray         # int (B,) calls of the workflow not yet dispatched, this one included
    depth_left: np.ndarray         # int (B,) sequential stages still ahead, this one included
    u_route: np.ndarray            # float (B,) a uniform for randomized routers (common random numbers)
    sim_index: np.ndarray          # int (B,)
    workflow_id: np.ndarray        # int (B,)
    oracle: OracleView | None = None

    def __len__(self) -> int:
        return len(self.budget)

    @property
    def queue_depth(self) -> np.ndarray:
        return self.servers.queue_depth


@runtime_checkable
class Router(Protocol):
    """A planner plus an executor. `route` returns int actions (B,) in [0, N_ACTIONS)."""

    name: str

    def plan(self, batch: PlanBatch) -> Plan: ...

    def route(self, batch: StepBatch) -> np.ndarray: ...
