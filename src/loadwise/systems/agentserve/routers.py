"""The shipped routers: the reference's baselines, a budget-aware heuristic, and the oracle.

CLI names (`make_router`): `fixed:MODEL:STRATEGY`, `random`, `static-mix`,
`least-loaded`, `quality-first`, `greedy`, `clairvoyant`. All randomness comes from the
batch's common random numbers (`u_plan`, `u_route`), so routers are stateless and a
simulation stays a pure function of (cell, seed, router).
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from loadwise.errors import ConfigError
from loadwise.systems.agentserve.routing import (
    MAX_AGENTS,
    MODELS,
    N_ACTIONS,
    N_MODELS,
    N_STRATEGIES,
    ROLES,
    STRATEGIES,
    TOPOLOGIES,
    Plan,
    PlanBatch,
    StepBatch,
)
from loadwise.systems.agentserve.workflows import EXPERT_OF_SUBJECT

ROUTER_NAMES = ("fixed:MODEL:STRATEGY", "random", "static-mix", "least-loaded", "quality-first", "greedy", "clairvoyant")
# the reference's static router: 37.8 % 3B, 40.6 % 8B, the rest spread evenly (spec 04)
STATIC_MIX = np.array([0.378, 0.406, 0.072, 0.072, 0.072])
_GENERALISTS = np.array([ROLES.index(r) for r in
                         ("MathSolver", "MathAnalyst", "Inspector", "ProgrammingExpert", "MathTeacher", "Verifier")])
_IO = TOPOLOGIES.index("IO")


def reference_plan(batch: PlanBatch) -> Plan:
    """The reference's budget-blind planner.

    Topology uniform over the six; 2 agents for levels 1-2, 3 for levels 4-5 and 2 or 3
    (evenly) for level 3; agent 0 is the subject's expert, the others generalists in
    turn. All choices come from `u_plan` (its successive base-6 digits). This gives ~4.5
    calls per workflow on the MATH level mix (the InfraMind run: ~4,550 role steps per 1,000
    workflows).
    """
    B = len(batch)
    scaled = batch.u_plan * len(TOPOLOGIES)
    topology = np.minimum(scaled.astype(np.int64), len(TOPOLOGIES) - 1)
    rest = (scaled - topology) * len(_GENERALISTS)
    offset = np.minimum(rest.astype(np.int64), len(_GENERALISTS) - 1)
    coin = (rest - offset) < 0.5
    n_agents = np.where(batch.level <= 2, 2, np.where(batch.level >= 4, 3, np.where(coin, 2, 3))).astype(np.int64)
    roles = np.full((B, MAX_AGENTS), -1, dtype=np.int64)
    roles[:, 0] = np.asarray(EXPERT_OF_SUBJECT)[batch.subject]
    for a in range(1, MAX_AGENTS):
        roles[:, a] = np.where(a < n_agents, _GENERALISTS[(offset + a - 1) % len(_GENERALISTS)], -1)
    return Plan(topology, n_agents, roles)


def budget_aware_plan(batch: PlanBatch) -> Plan:
    """The reference plan shrunk to fit the budget: a single agent (IO) under 30 s, at most 2 agents under 120 s."""
    plan = reference_plan(batch)
    tight = batch.budget < 30.0
    mid = (batch.budget < 120.0) & ~tight
    plan.topology[tight] = _IO
    plan.n_agents[tight] = 1
    plan.n_agents[mid] = np.minimum(plan.n_agents[mid], 2)
    plan.roles[np.arange(MAX_AGENTS)[None, :] >= plan.n_agents[:, None]] = -1
    return plan


class _ReferencePlanner:
    name = "base"
    needs_oracle = False

    def plan(self, batch: PlanBatch) -> Plan:
        return reference_plan(batch)


class FixedRouter(_ReferencePlanner):
    """Always the same (model, strategy)."""

    def __init__(self, model: int, strategy: int) -> None:
        self.action = model * N_STRATEGIES + strategy
        self.name = f"fixed:{MODELS[model]}:{STRATEGIES[strategy]}"

    def route(self, batch: StepBatch) -> np.ndarray:
        return np.full(len(batch), self.action, dtype=np.int64)


class RandomRouter(_ReferencePlanner):
    """A uniformly random pair per step."""

    name = "random"

    def route(self, batch: StepBatch) -> np.ndarray:
        return np.minimum((batch.u_route * N_ACTIONS).astype(np.int64), N_ACTIONS - 1)


class StaticMixRouter(_ReferencePlanner):
    """The reference's static router: model by a fixed mix (STATIC_MIX), strategy uniformly.

    `temperature` reshapes the mix (weights ** (1 / temperature), renormalized): below 1
    it concentrates on the most used models, above 1 it spreads the calls more evenly.
    """

    name = "static-mix"

    def __init__(self, mix: np.ndarray = STATIC_MIX, temperature: float = 1.0) -> None:
        weights = np.asarray(mix, dtype=float) ** (1.0 / temperature)
        self.cum = np.cumsum(weights) / np.sum(weights)
        self.mix = weights / np.sum(weights)

    def route(self, batch: StepBatch) -> np.ndarray:
        u = batch.u_route
        model = np.minimum(np.searchsorted(self.cum, u, side="right"), N_MODELS - 1)
        lower = np.where(model > 0, self.cum[model - 1], 0.0)
        frac = (u - lower) / self.mix[model]
        strategy = np.clip((frac * N_STRATEGIES).astype(np.int64), 0, N_STRATEGIES - 1)
        return model * N_STRATEGIES + strategy


class LeastLoadedRouter(_ReferencePlanner):
    """The server with the fewest requests per slot (ties: the larger model), concise strategy."""

    name = "least-loaded"

    def route(self, batch: StepBatch) -> np.ndarray:
        load = batch.queue_depth - 1e-3 * np.arange(N_MODELS)[None, :]
        return np.argmin(load, axis=1) * N_STRATEGIES + STRATEGIES.index("concise")


class QualityFirstRouter(_ReferencePlanner):
    """The pair with the highest success probability, ignoring load and budget."""

    name = "quality-first"

    def route(self, batch: StepBatch) -> np.ndarray:
        return np.argmax(batch.success_prob, axis=1)


class GreedyRouter:
    """Budget-aware heuristic: the most accurate pair whose predicted latency fits this step's share of the remaining budget.

    The share is remaining budget / sequential stages left (this one included), times
    `headroom`: below 1 the router keeps a margin for queueing it cannot predict and
    favours fast, lightly loaded pairs; above 1 it reaches for accurate pairs that may
    not fit. When no pair fits, the fastest pair. Plans with `budget_aware_plan`.
    """

    name = "greedy"
    needs_oracle = False

    def __init__(self, headroom: float = 1.0) -> None:
        self.headroom = headroom

    def plan(self, batch: PlanBatch) -> Plan:
        return budget_aware_plan(batch)

    def route(self, batch: StepBatch) -> np.ndarray:
        allowance = self.headroom * (batch.remaining_budget / batch.depth_left)
        fits = batch.predicted_latency <= allowance[:, None]
        best_fit = np.argmax(np.where(fits, batch.success_prob, -1.0), axis=1)
        fastest = np.argmin(batch.predicted_latency, axis=1)
        return np.where(fits.any(axis=1), best_fit, fastest)


class ClairvoyantRouter:
    """The oracle ceiling on goodput: it knows each call's draws (correctness and output length).

    Plans IO (every agent in parallel, so two sequential stages) with the fewest agents,
    all the subject's experts, that let the decision be correct given the draws: with
    c of n agents able to answer correctly, the decision sees the shift
    peer_weight * (2c - n) / sqrt(n); if no n <= MAX_AGENTS suffices, one agent (the
    workflow is lost; spare the servers). Per step it takes the fastest pair that will be correct and
    whose latency, predicted from the servers' current state with the call's actual
    output length, leaves room for the fastest possible remaining stages; when no pair
    qualifies the workflow cannot be saved by this call, so it takes the fastest pair to
    spare the servers.
    """

    name = "clairvoyant"
    needs_oracle = True

    def plan(self, batch: PlanBatch) -> Plan:
        view = batch.oracle
        if view is None:
            raise RuntimeError("the clairvoyant router needs the driver's oracle view")
        B = len(batch)
        can = view.u_correct[:, 1:MAX_AGENTS + 1] < expit(view.best_agent_logit)[:, None]  # (B, MAX_AGENTS)
        n = np.arange(1, MAX_AGENTS + 1)
        c = np.cumsum(can, axis=1)
        shift = view.peer_weight * (2 * c - n[None, :]) / np.sqrt(n)[None, :]
        ok = view.u_correct[:, :1] < expit(view.best_decision_logit[:, None] + shift)
        n_agents = np.where(ok.any(axis=1), np.argmax(ok, axis=1) + 1, 1)
        roles = np.where(n[None, :] <= n_agents[:, None], np.asarray(EXPERT_OF_SUBJECT)[batch.subject][:, None], -1)
        return Plan(np.full(B, _IO, dtype=np.int64), n_agents.astype(np.int64), roles.astype(np.int64))

    def route(self, batch: StepBatch) -> np.ndarray:
        view = batch.oracle
        if view is None:
            raise RuntimeError("the clairvoyant router needs the driver's oracle view")
        latency = view.latency
        fastest = latency.min(axis=1)
        slack = batch.remaining_budget - (batch.depth_left - 1) * fastest
        good = view.correct & (latency <= slack[:, None])
        best_good = np.argmin(np.where(good, latency, np.inf), axis=1)
        return np.where(good.any(axis=1), best_good, np.argmin(latency, axis=1))


def _model_index(text: str) -> int:
    low = text.lower()
    for i, name in enumerate(MODELS):
        if low == name.lower():
            return i
    matches = [i for i, name in enumerate(MODELS) if f"-{low}-" in f"-{name.lower()}-"]
    if len(matches) == 1:
        return matches[0]
    raise ConfigError("router", f"unknown model {text!r} in fixed:MODEL:STRATEGY; allowed: {', '.join(MODELS)} "
                      "(or a size such as 3B, 8B, 14B, 24B, 32B)")


def make_router(name: str):
    """A shipped router by CLI name (see ROUTER_NAMES)."""
    simple = {
        "random": RandomRouter,
        "static-mix": StaticMixRouter,
        "least-loaded": LeastLoadedRouter,
        "quality-first": QualityFirstRouter,
        "greedy": GreedyRouter,
        "clairvoyant": ClairvoyantRouter,
    }
    if name in simple:
        return simple[name]()
    if name.startswith("fixed:"):
        parts = name.split(":")
        if len(parts) != 3:
            raise ConfigError("router", f"expected fixed:MODEL:STRATEGY, got {name!r}")
        strategy = parts[2].lower()
        if strategy not in STRATEGIES:
            raise ConfigError("router", f"unknown strategy {parts[2]!r}; allowed: {', '.join(STRATEGIES)}")
        return FixedRouter(_model_index(parts[1]), STRATEGIES.index(strategy))
    raise ConfigError("router", f"unknown router {name!r}; allowed: {', '.join(ROUTER_NAMES)}")
