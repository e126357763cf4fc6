"""What the router's networks see, built once from the raw state of a decision batch.

The simulator (and a gateway in front of real servers) hands a router named arrays:
the servers' load, the item, the budget, and per (model, strategy) pair a predicted
latency and success probability (`systems.agentserve.routing`). This module is the one
place that scales them for a network; every scale constant is defined here.

The planner's input (`plan_features`, layout PLAN_OBS_LAYOUT) is the item (subject and
level one-hot), the budget, each server's queue per batch slot, its recent latency
and the recent arrival rate.

The executor's flat observation (`step_observation`, layout STEP_OBS_LAYOUT; also the
gymnasium env's observation) is the item, role, topology, progress through the
workflow, the budget, each server's running and waiting requests per batch slot and
recent latency, then per pair the predicted latency over the remaining budget and the
success probability. The executor's network input (`step_features`) rearranges it into
a *context* (everything about the step and the servers) followed by one row of *pair
features* per pair, so that `ExecutorPolicy`'s pair scorer judges every pair with the
same weights:

    predicted latency / remaining budget (as in the observation),
    predicted latency × stages still ahead / remaining budget (clipped at 4, /4: will the
        rest of the workflow still fit if every later stage costs as much?),
    fits = predicted latency ≤ remaining budget / stages ahead,
    success probability of the call,
    model one-hot (5), strategy one-hot (3).

`observation="reference"` reproduces what the reference system's router saw, to show its
collapse (spec 04, "Known failure"): no budget and nothing measured against the budget —
the context loses the budget columns, and each pair is described by its predicted
latency in seconds (log-scaled like the recent latencies), its success probability and
its identity. The executor still sees load; it cannot tell a 10 s workflow from a 1800 s
one, so one policy has to serve every tier.
"""

from __future__ import annotations

import numpy as np

from loadwise.systems.agentserve.routing import (
    LEVELS,
    MAX_CALLS,
    N_ACTIONS,
    N_MODELS,
    N_STRATEGIES,
    ROLES,
    SUBJECTS,
    TOPOLOGIES,
    PlanBatch,
    ServerLoad,
    StepBatch,
)

BUDGET_SCALE = 1800.0  # the loosest tier of the reference grid; budgets are log-scaled by it
PLAN_BUDGET_SCALE = 60.0  # the planner also sees min(budget, 60 s) / 60 s: the tight tiers, linearly
LATENCY_SCALE = 600.0  # recent and predicted latencies are log-scaled by it
ARRIVAL_RATE_SCALE = 200.0  # the busiest rate of the reference grid, req/min
LATENCY_RATIO_CAP = 4.0  # predicted latency / remaining budget is clipped here, then /cap
QUEUE_CAP = 8.0  # queue counts per batch slot are clipped here, then /cap
OBSERVATIONS = ("full", "reference")

_LOG_BUDGET = np.log1p(BUDGET_SCALE)
_LOG_LATENCY = np.log1p(LATENCY_SCALE)
_EYE_SUBJECT = np.eye(len(SUBJECTS), dtype=np.float32)
_EYE_LEVEL = np.eye(LEVELS, dtype=np.float32)
_EYE_ROLE = np.eye(len(ROLES) + 1, dtype=np.float32)
_EYE_TOPOLOGY = np.eye(len(TOPOLOGIES), dtype=np.float32)


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
"""plan_features columns (name -> slice)."""

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
"""step_observation columns (name -> slice); pair columns follow the action order."""

_PAIR_START = STEP_OBS_LAYOUT["predicted_latency"].start
CONTEXT_DIM = _PAIR_START + 1  # the observation's non-pair columns + stages ahead / MAX_CALLS
PAIR_FEATURES = 4 + N_MODELS + N_STRATEGIES
STEP_FEATURE_DIM = CONTEXT_DIM + N_ACTIONS * PAIR_FEATURES
PLAN_FEATURE_DIM = PLAN_OBS_DIM

_BUDGET_COLUMNS = np.arange(STEP_OBS_LAYOUT["budget"].start, STEP_OBS_LAYOUT["budget"].stop)
_REFERENCE_CONTEXT = np.setdiff1d(np.arange(_PAIR_START), _BUDGET_COLUMNS)
REFERENCE_CONTEXT_DIM = len(_REFERENCE_CONTEXT) + 1
REFERENCE_PAIR_FEATURES = 2 + N_MODELS + N_STRATEGIES

_IDENTITY = np.concatenate(
    [np.repeat(np.eye(N_MODELS), N_STRATEGIES, axis=0), np.tile(np.eye(N_STRATEGIES), (N_MODELS, 1))], axis=1
).astype(np.float32)  # (N_ACTIONS, N_MODELS + N_STRATEGIES)


def waiting_per_slot(servers: ServerLoad) -> np.ndarray:
    """Waiting requests per batch slot of each server, clipped at QUEUE_CAP: (B, N_MODELS)."""
    return np.minimum(servers.waiting / servers.max_num_seqs.astype(float), QUEUE_CAP)


def plan_features(batch: PlanBatch) -> np.ndarray:
    """(B, PLAN_OBS_DIM) float32: the planner's input (layout PLAN_OBS_LAYOUT)."""
    servers = batch.servers
    budget = np.asarray(batch.budget, dtype=float)
    obs = np.zeros((len(batch), PLAN_OBS_DIM), dtype=np.float32)
    L = PLAN_OBS_LAYOUT
    obs[:, L["subject"]] = _EYE_SUBJECT[batch.subject]
    obs[:, L["level"]] = _EYE_LEVEL[batch.level - 1]
    obs[:, L["budget"]] = np.stack([np.log1p(budget) / _LOG_BUDGET,
                                    np.minimum(budget, PLAN_BUDGET_SCALE) / PLAN_BUDGET_SCALE], 1)
    obs[:, L["queue"]] = np.minimum(servers.queue_depth / servers.max_num_seqs.astype(float), QUEUE_CAP) / QUEUE_CAP
    obs[:, L["recent_latency"]] = np.log1p(servers.recent_latency) / _LOG_LATENCY
    obs[:, L["arrival_rate"]] = (batch.arrival_rate / ARRIVAL_RATE_SCALE)[:, None]
    return obs


def step_observation(batch: StepBatch) -> np.ndarray:
    """(B, STEP_OBS_DIM) float32 in [-1, 1]: the executor's flat observation (layout STEP_OBS_LAYOUT)."""
    servers = batch.servers
    cap = servers.max_num_seqs.astype(float)
    remaining, budget = batch.remaining_budget, batch.budget
    obs = np.zeros((len(batch), STEP_OBS_DIM), dtype=np.float32)
    L = STEP_OBS_LAYOUT
    obs[:, L["subject"]] = _EYE_SUBJECT[batch.subject]
    obs[:, L["level"]] = _EYE_LEVEL[batch.level - 1]
    obs[:, L["role"]] = _EYE_ROLE[batch.role]
    obs[:, L["topology"]] = _EYE_TOPOLOGY[batch.topology]
    obs[:, L["progress"]] = np.stack([batch.step_index / MAX_CALLS, batch.steps_left / MAX_CALLS], 1)
    obs[:, L["budget"]] = np.stack([np.clip(remaining / budget, -1.0, 1.0), np.log1p(budget) / _LOG_BUDGET], 1)
    obs[:, L["running"]] = servers.running / cap
    obs[:, L["waiting"]] = waiting_per_slot(servers) / QUEUE_CAP
    obs[:, L["recent_latency"]] = np.log1p(servers.recent_latency) / _LOG_LATENCY
    ratio = np.where(remaining[:, None] > 0, batch.predicted_latency / np.maximum(remaining, 1e-9)[:, None],
                     LATENCY_RATIO_CAP)
    obs[:, L["predicted_latency"]] = np.minimum(ratio, LATENCY_RATIO_CAP) / LATENCY_RATIO_CAP
    obs[:, L["success_prob"]] = batch.success_prob
    return obs


def executor_dims(observation: str) -> tuple[int, int]:
    """(input width, pair features per pair) of the executor for an observation kind."""
    if observation == "reference":
        return REFERENCE_CONTEXT_DIM + N_ACTIONS * REFERENCE_PAIR_FEATURES, REFERENCE_PAIR_FEATURES
    return STEP_FEATURE_DIM, PAIR_FEATURES


def step_features(batch: StepBatch, observation: str = "full") -> np.ndarray:
    """(B, width) float32: context, then N_ACTIONS rows of pair features (see module docstring)."""
    obs = step_observation(batch)
    if observation == "reference":
        return _reference_step_features(batch, obs)
    n = len(batch)
    depth = np.maximum(np.asarray(batch.depth_left, dtype=np.float64), 1.0)
    remaining = np.asarray(batch.remaining_budget, dtype=np.float64)
    latency = np.asarray(batch.predicted_latency, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ahead = np.where(remaining[:, None] > 0, latency * depth[:, None] / remaining[:, None], np.inf)
        fits = latency <= remaining[:, None] / depth[:, None]
    pairs = np.empty((n, N_ACTIONS, PAIR_FEATURES), dtype=np.float32)
    pairs[:, :, 0] = obs[:, STEP_OBS_LAYOUT["predicted_latency"]]
    pairs[:, :, 1] = np.minimum(ahead, LATENCY_RATIO_CAP) / LATENCY_RATIO_CAP
    pairs[:, :, 2] = fits
    pairs[:, :, 3] = batch.success_prob
    pairs[:, :, 4:] = _IDENTITY
    context = np.empty((n, CONTEXT_DIM), dtype=np.float32)
    context[:, :_PAIR_START] = obs[:, :_PAIR_START]
    context[:, _PAIR_START] = depth / MAX_CALLS
    return np.concatenate([context, pairs.reshape(n, -1)], axis=1)


def _reference_step_features(batch: StepBatch, obs: np.ndarray) -> np.ndarray:
    """The budget-blind observation: context without budget, absolute predicted latencies."""
    n = len(batch)
    depth = np.maximum(np.asarray(batch.depth_left, dtype=np.float64), 1.0)
    pairs = np.empty((n, N_ACTIONS, REFERENCE_PAIR_FEATURES), dtype=np.float32)
    pairs[:, :, 0] = np.log1p(np.asarray(batch.predicted_latency, dtype=np.float64)) / _LOG_LATENCY
    pairs[:, :, 1] = batch.success_prob
    pairs[:, :, 2:] = _IDENTITY
    context = np.empty((n, REFERENCE_CONTEXT_DIM), dtype=np.float32)
    context[:, :-1] = obs[:, _REFERENCE_CONTEXT]
    context[:, -1] = depth / MAX_CALLS
    return np.concatenate([context, pairs.reshape(n, -1)], axis=1)
