"""What the router's networks see: features built from the simulator's decision batches.

The simulator already scales its observations to about [0, 1] (layouts in
`systems.agentserve.routing`). The planner sees `PlanBatch.obs` as is. The executor's
input is rearranged into a *context* (everything about the step and the servers) followed
by one row of *pair features* per (model, strategy) pair, so that `ExecutorPolicy`'s pair
scorer can judge every pair with the same weights:

    predicted latency / remaining budget (the simulator's clipped column),
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
    LATENCY_RATIO_CAP,
    MAX_CALLS,
    N_ACTIONS,
    N_MODELS,
    N_STRATEGIES,
    PLAN_OBS_DIM,
    STEP_OBS_DIM,
    STEP_OBS_LAYOUT,
    PlanBatch,
    StepBatch,
)

_PAIR_START = min(STEP_OBS_LAYOUT["predicted_latency"].start, STEP_OBS_LAYOUT["success_prob"].start)
CONTEXT_DIM = _PAIR_START + 1  # the simulator's non-pair columns + stages ahead / MAX_CALLS
PAIR_FEATURES = 4 + N_MODELS + N_STRATEGIES
STEP_FEATURE_DIM = CONTEXT_DIM + N_ACTIONS * PAIR_FEATURES
PLAN_FEATURE_DIM = PLAN_OBS_DIM
OBSERVATIONS = ("full", "reference")

_BUDGET_COLUMNS = np.arange(STEP_OBS_LAYOUT["budget"].start, STEP_OBS_LAYOUT["budget"].stop)
_REFERENCE_CONTEXT = np.setdiff1d(np.arange(_PAIR_START), _BUDGET_COLUMNS)
REFERENCE_CONTEXT_DIM = len(_REFERENCE_CONTEXT) + 1
REFERENCE_PAIR_FEATURES = 2 + N_MODELS + N_STRATEGIES
_LATENCY_SCALE = np.log1p(600.0)  # as the simulator scales recent latencies

_IDENTITY = np.concatenate(
    [np.repeat(np.eye(N_MODELS), N_STRATEGIES, axis=0), np.tile(np.eye(N_STRATEGIES), (N_MODELS, 1))], axis=1
).astype(np.float32)  # (N_ACTIONS, N_MODELS + N_STRATEGIES)

assert STEP_OBS_LAYOUT["success_prob"].stop == STEP_OBS_DIM  # pair columns close the layout


def plan_features(batch: PlanBatch) -> np.ndarray:
    return np.asarray(batch.obs, dtype=np.float32)


def executor_dims(observation: str) -> tuple[int, int]:
    """(input width, pair features per pair) of the executor for an observation kind."""
    if observation == "reference":
        return REFERENCE_CONTEXT_DIM + N_ACTIONS * REFERENCE_PAIR_FEATURES, REFERENCE_PAIR_FEATURES
    return STEP_FEATURE_DIM, PAIR_FEATURES


def step_features(batch: StepBatch, observation: str = "full") -> np.ndarray:
    """(B, width) float32: context, then N_ACTIONS rows of pair features (see module docstring)."""
    if observation == "reference":
        return _reference_step_features(batch)
    n = len(batch)
    obs = np.asarray(batch.obs, dtype=np.float32)
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


def _reference_step_features(batch: StepBatch) -> np.ndarray:
    """The budget-blind observation: context without budget, absolute predicted latencies."""
    n = len(batch)
    obs = np.asarray(batch.obs, dtype=np.float32)
    depth = np.maximum(np.asarray(batch.depth_left, dtype=np.float64), 1.0)
    pairs = np.empty((n, N_ACTIONS, REFERENCE_PAIR_FEATURES), dtype=np.float32)
    pairs[:, :, 0] = np.log1p(np.asarray(batch.predicted_latency, dtype=np.float64)) / _LATENCY_SCALE
    pairs[:, :, 1] = batch.success_prob
    pairs[:, :, 2:] = _IDENTITY
    context = np.empty((n, REFERENCE_CONTEXT_DIM), dtype=np.float32)
    context[:, :-1] = obs[:, _REFERENCE_CONTEXT]
    context[:, -1] = depth / MAX_CALLS
    return np.concatenate([context, pairs.reshape(n, -1)], axis=1)
