"""The router interface: what a planner and an executor see, and what they answer.

A router makes two kinds of decisions, always in batches so that a neural policy can
decide many of them in one forward pass (the lockstep driver gathers the pending
decisions of many simulations into one batch):

- `plan(PlanBatch) -> Plan`, once per workflow at its arrival: topology, number of
  agents, and one of the 12 math roles per agent.
- `route(StepBatch) -> actions`, once per role step (the final decision step included):
  an action in [0, N_ACTIONS), action a <-> (model a // 3, strategy a % 3).

Every batch carries `obs`, float32 features scaled to roughly [0, 1] with the layouts
given by PLAN_OBS_LAYOUT and STEP_OBS_LAYOUT (name -> slice), plus the raw fields the
features were built from, so heuristics need not decode `obs`.

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

BUDGET_SCALE = 1800.0  # the loosest tier of the reference grid; budgets are log-scaled by it
LATENCY_RATIO_CAP = 4.0  # predicted latency / remaining budget is clipped here, then /cap
QUEUE_CAP = 8.0  # running and waiting counts are divided by max_num_seqs and clipped here


def action_of(model: int | np.ndarray, strategy: int | np.ndarray) -> int | np.ndarray:
    """The action index of a (model, strategy) pair."""
    return model * N_STRATEGIES + strategy


def pair_of(action: int | np.ndarray) -> tuple[int | np.ndarray, int | np.ndarray]:
    """The (model, strategy) indices of an action."""
    return action // N_STRATEGIES, action % N_STRATEGIES


def _layout(parts: list[tuple[str, int]]) -> tuple[dict[str, slice], int]:
    layout, start = {}, 0
    for name, width in parts:
        layout[name] = slice(start, start + width)
        start += width
    return layout, start


PLAN_OBS_LAYOUT, PLAN_OBS_DIM = _layout([
    ("subject", len(SUBJECTS)),   # one-hot
    ("level", LEVELS),            # one-hot, level 1..5
    ("budget", 2),                # log1p(budget)/log1p(1800), min(budget, 60)/60
    ("queue", N_MODELS),          # (running + waiting) / max_num_seqs per server, clipped at 8, /8
    ("recent_latency", N_MODELS),  # log1p(recent per-call latency s) / log1p(600) per server
    ("arrival_rate", 1),          # arrivals in the last 60 s / 200
])
"""PlanBatch.obs columns (name -> slice)."""

STEP_OBS_LAYOUT, STEP_OBS_DIM = _layout([
    ("subject", len(SUBJECTS)),    # one-hot
    ("level", LEVELS),             # one-hot
    ("role", len(ROLES) + 1),      # one-hot; the last column is the final decision step
    ("topology", len(TOPOLOGIES)),  # one-hot
    ("progress", 2),               # step_index / MAX_CALLS, steps_left / MAX_CALLS (this one included)
    ("budget", 2),                 # remaining / budget clipped to [-1, 1], log1p(budget)/log1p(1800)
    ("running", N_MODELS),         # running / max_num_seqs per server
    ("waiting", N_MODELS),         # waiting / max_num_seqs per server, clipped at 8, /8
    ("recent_latency", N_MODELS),  # log1p(recent per-call latency s) / log1p(600)
    ("predicted_latency", N_ACTIONS),  # predicted latency / remaining budget, clipped at 4, /4
    ("success_prob", N_ACTIONS),   # expected success probability of the call per pair
])
"""StepBatch.obs columns (name -> slice); pair columns follow the action order."""


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

    obs: np.ndarray          # float32 (B, PLAN_OBS_DIM)
    budget: np.ndarray       # float (B,) latency budget, s
    level: np.ndarray        # int (B,) 1..5
    subject: np.ndarray      # int (B,) index into SUBJECTS
    queue_depth: np.ndarray  # int (B, N_MODELS) running + waiting per server at arrival
    u_plan: np.ndarray       # float (B,) a uniform for randomized planners (common random numbers)
    sim_index: np.ndarray    # int (B,) which simulation of the lockstep driver
    workflow_id: np.ndarray  # int (B,) unique within its simulation
    oracle: PlanOracleView | None = None

    def __len__(self) -> int:
        return len(self.budget)


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

    obs: np.ndarray                # float32 (B, STEP_OBS_DIM)
    remaining_budget: np.ndarray   # float (B,) budget minus time elapsed in the workflow, s
    budget: np.ndarray             # float (B,)
    predicted_latency: np.ndarray  # float (B, N_ACTIONS) s, from the servers' current state
    success_prob: np.ndarray       # float (B, N_ACTIONS) chance the call alone is correct
    queue_depth: np.ndarray        # int (B, N_MODELS) running + waiting per server
    running: np.ndarray            # int (B, N_MODELS)
    waiting: np.ndarray            # int (B, N_MODELS)
    recent_latency: np.ndarray     # float (B, N_MODELS) recent per-call latency, s
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


@runtime_checkable
class Router(Protocol):
    """A planner plus an executor. `route` returns int actions (B,) in [0, N_ACTIONS)."""

    name: str

    def plan(self, batch: PlanBatch) -> Plan: ...

    def route(self, batch: StepBatch) -> np.ndarray: ...
