"""Telemetry of the serving simulator: one row per role step, one row per workflow.

This is the audit's input (see spec 04 "Telemetry"). Both tables are written as
Parquet (`steps.parquet`, `workflows.parquet`) in a run folder. Times are seconds,
rates are requests per minute, budgets are seconds.
"""

from __future__ import annotations

# column -> pandas dtype, for role-step rows
STEP_COLUMNS: dict[str, str] = {
    "run_id": "string",          # which run (sweep cell, training run, ...)
    "epoch": "int64",            # training epoch; 0 outside training
    "rate": "float64",           # arrival rate, requests per minute
    "pattern": "string",         # poisson | microburst | sustained | replay
    "budget": "float64",         # the workflow's latency budget, s
    "workflow_id": "int64",      # unique within (run_id, epoch)
    "item_id": "int64",
    "subject": "string",
    "level": "int64",            # MATH difficulty 1..5
    "topology": "string",
    "role": "string",
    "step_index": "int64",       # 0-based position of the call within its workflow
    "is_decision": "bool",       # the final decision step
    "model": "string",
    "strategy": "string",        # flash | concise | deepthink
    "running": "int64",          # chosen server's running requests at dispatch
    "waiting": "int64",          # chosen server's waiting requests at dispatch
    "queue_depth": "int64",      # running + waiting at dispatch
    "kv_use": "float64",         # chosen server's KV-cache use in [0, 1] at dispatch
    "dispatch_time": "float64",  # s since the run started
    "step_latency": "float64",   # dispatch to completion, s
    "budget_remaining": "float64",  # budget minus time elapsed in the workflow, at dispatch
    "output_tokens": "int64",
    "correct": "bool",           # this call's answer was correct
}

# column -> pandas dtype, for workflow rows
WORKFLOW_COLUMNS: dict[str, str] = {
    "run_id": "string",
    "epoch": "int64",
    "rate": "float64",
    "pattern": "string",
    "budget": "float64",
    "workflow_id": "int64",
    "item_id": "int64",
    "subject": "string",
    "level": "int64",
    "topology": "string",
    "n_agents": "int64",
    "n_steps": "int64",              # calls including the decision step
    "arrival_time": "float64",
    "workflow_latency": "float64",   # arrival to final answer, decision step included
    "latency_excl_decision": "float64",  # as the reference system measured it
    "solved": "bool",
    "cost_ratio": "float64",         # workflow_latency / budget
    "violated": "bool",              # workflow_latency > budget
}
