"""Telemetry with known properties, for testing the audit and timing it.

Every quantity the audit estimates is set here by a parameter: the mean queue depth at
each rate, the model and strategy mix per (rate, budget), the violation probability per
(rate, budget). Queue depths are Poisson with the given mean; workflows arrive as a
Poisson stream per (epoch, rate) segment, budgets taking turns, so dispatch times and
wall-clock per rate are realistic too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from loadwise.auditing.inputs import REFERENCE_CSV_FIELDS

MODELS = ("Llama-3.2-3B-Instruct", "Llama-3.1-8B-Instruct", "Qwen2.5-Coder-14B-Instruct",
          "Mistral-Small-24B-Instruct", "DeepSeek-R1-Distill-Qwen-32B")
STRATEGIES = ("flash", "concise", "deepthink")


def _uniform(n: int) -> Callable[[float, float], Sequence[float]]:
    return lambda rate, budget: [1.0 / n] * n


def synthetic_telemetry(
    rates: Sequence[float] = (50, 100, 150, 200),
    budgets: Sequence[float] = (10, 50, 200, 600, 1800),
    queue: Callable[[float], float] = lambda rate: 8.0 * rate / 50.0,
    violation: Callable[[float, float], float] = lambda rate, budget: 0.25 if budget <= 10 else 0.02,
    model_mix: Callable[[float, float], Sequence[float]] | None = None,
    strategy_mix: Callable[[float, float], Sequence[float]] | None = None,
    workflows_per_cell: int = 200,
    steps_per_workflow: int = 5,
    epochs: int = 1,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(steps, workflows) in loadwise's schema."""
    rng = np.random.default_rng(seed)
    model_mix = model_mix or _uniform(len(MODELS))
    strategy_mix = strategy_mix or _uniform(len(STRATEGIES))
    nb, k, w = len(budgets), steps_per_workflow, workflows_per_cell
    wf_parts, step_parts = [], []
    clock = 0.0
    next_id = 0
    for epoch in range(epochs):
        for rate in rates:
            n = w * nb
            arrivals = clock + np.cumsum(rng.exponential(60.0 / rate, n))
            budget = np.tile(np.asarray(budgets, dtype=float), w)
            p_v = np.array([violation(rate, b) for b in budgets])[np.tile(np.arange(nb), w)]
            violated = rng.random(n) < p_v
            latency = np.where(violated, budget * (1.0 + rng.exponential(0.5, n)), budget * rng.uniform(0.05, 0.95, n))
            ids = np.arange(next_id, next_id + n)
            next_id += n
            wf_parts.append(pd.DataFrame({
                "run_id": "synthetic", "epoch": epoch, "rate": float(rate), "pattern": "poisson", "budget": budget,
                "workflow_id": ids, "item_id": ids % 5000, "n_agents": k - 1, "n_steps": k, "arrival_time": arrivals,
                "workflow_latency": latency, "latency_excl_decision": latency * (k - 1) / k,
                "solved": rng.random(n) < 0.5, "cost_ratio": latency / budget, "violated": latency > budget,
            }))
            step_budget = np.repeat(budget, k)
            models = np.empty(n * k, dtype=object)
            strategies = np.empty(n * k, dtype=object)
            for b in budgets:
                rows = np.flatnonzero(step_budget == b)
                models[rows] = np.asarray(MODELS)[rng.choice(len(MODELS), rows.size, p=_p(model_mix(rate, b)))]
                strategies[rows] = np.asarray(STRATEGIES)[rng.choice(len(STRATEGIES), rows.size, p=_p(strategy_mix(rate, b)))]
            depth = rng.poisson(queue(rate), n * k)
            step_index = np.tile(np.arange(k), n)
            step_latency = np.repeat(latency / k, k)
            dispatch = np.repeat(arrivals, k) + step_index * step_latency
            step_parts.append(pd.DataFrame({
                "run_id": "synthetic", "epoch": epoch, "rate": float(rate), "pattern": "poisson", "budget": step_budget,
                "workflow_id": np.repeat(ids, k), "item_id": np.repeat(ids % 5000, k), "step_index": step_index,
                "is_decision": step_index == k - 1, "model": models, "strategy": strategies,
                "running": np.minimum(depth, 32), "waiting": np.maximum(depth - 32, 0), "queue_depth": depth,
                "kv_use": np.minimum(depth / 64.0, 1.0), "dispatch_time": dispatch, "step_latency": step_latency,
                "budget_remaining": step_budget - step_index * step_latency,
            }))
            clock = float((arrivals + latency).max())
    return pd.concat(step_parts, ignore_index=True), pd.concat(wf_parts, ignore_index=True)


def _p(weights: Sequence[float]) -> np.ndarray:
    p = np.asarray(weights, dtype=float)
    return p / p.sum()


def write_reference_csv(steps: pd.DataFrame, workflows: pd.DataFrame, path) -> None:
    """The same telemetry in the reference system's CSV format (record_type rows)."""
    ours_to_theirs = {field: columns[0] for field, columns in REFERENCE_CSV_FIELDS.items()}
    s = steps.rename(columns=ours_to_theirs).assign(record_type="role_step")
    w = workflows.rename(columns=ours_to_theirs).assign(record_type="episode")
    keep = [c for c in dict.fromkeys(["record_type", *ours_to_theirs.values()]) if c in s.columns or c in w.columns]
    pd.concat([s.reindex(columns=keep), w.reindex(columns=keep)], ignore_index=True).to_csv(path, index=False)
