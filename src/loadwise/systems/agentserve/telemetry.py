"""Telemetry of the serving simulator: one row per role step, one row per workflow.

This is the audit's input (see spec 04 "Telemetry"). Both tables are written as
Parquet (`steps.parquet`, `workflows.parquet`) in a run folder by `write`, and `load`
reads them back into a `Telemetry`; `conform` and `derive_fields` bring any frame to the
schema, so importers of other formats produce the same tables. Times are seconds, rates
are requests per minute, budgets are seconds.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from loadwise.errors import ConfigError

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

# Fields every table must carry to be written or audited; the rest are filled with an
# "unknown" value when a source lacks them (and listed in Telemetry.absent).
REQUIRED_STEP_FIELDS = ("rate", "budget", "model", "queue_depth")
REQUIRED_WORKFLOW_FIELDS = ("rate", "budget", "workflow_latency")

STEPS_FILE = "steps.parquet"
WORKFLOWS_FILE = "workflows.parquet"
_ABSENT_KEY = b"loadwise.absent"


@dataclass
class Telemetry:
    """Role-step and workflow tables in loadwise's schema, and where they came from.

    `absent` lists, per table, the schema fields the source did not have (they hold the
    unknown value: NA for text, NaN for numbers, -1 for ids and counts, 0 for epoch,
    False for flags), so consumers never mistake a filled value for a measured one.
    `ignored_rows` counts source rows of record types that are neither steps nor
    workflows.
    """

    steps: pd.DataFrame
    workflows: pd.DataFrame
    source: str = ""
    format: str = "loadwise"
    absent: dict[str, list[str]] = field(default_factory=lambda: {"steps": [], "workflows": []})
    ignored_rows: dict[str, int] = field(default_factory=dict)


def write(folder: str | Path, steps: pd.DataFrame, workflows: pd.DataFrame) -> dict[str, Path]:
    """Write `steps.parquet` and `workflows.parquet` into `folder`, each atomically.

    Columns are put in schema order with schema dtypes; schema fields a frame lacks are
    filled with the unknown value and recorded in the file's metadata (so `load` can say
    they were not measured); extra columns are kept after the schema's. `queue_depth`
    may be left out when `running` and `waiting` are given. Returns the two paths.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, given, schema, required, filename in (
        ("steps", steps, STEP_COLUMNS, REQUIRED_STEP_FIELDS, STEPS_FILE),
        ("workflows", workflows, WORKFLOW_COLUMNS, REQUIRED_WORKFLOW_FIELDS, WORKFLOWS_FILE),
    ):
        frame = derive_fields(given, name)
        missing = [c for c in required if c not in frame.columns]
        if missing and len(frame):
            raise ConfigError(f"{name}.{missing[0]}", f"required column missing (required: {', '.join(required)})")
        conformed, absent = conform(frame, schema)
        table = pa.Table.from_pandas(conformed, preserve_index=False)
        meta = dict(table.schema.metadata or {})
        meta[_ABSENT_KEY] = json.dumps(absent).encode()
        table = table.replace_schema_metadata(meta)
        path = folder / filename
        tmp = folder / f".{filename}.tmp{os.getpid()}"
        pq.write_table(table, tmp)
        os.replace(tmp, path)
        paths[name] = path
    return paths


def load(path: str | Path) -> Telemetry:
    """Read loadwise's own telemetry from a folder or one of its Parquet files.

    - a folder: every `steps.parquet` / `workflows.parquet` under it (a sweep may write
      one pair per cell), concatenated;
    - `steps.parquet` or `workflows.parquet`: that file and its sibling if present.
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(str(path), "no such file or folder")
    if path.is_dir():
        step_files = sorted(path.rglob(STEPS_FILE))
        workflow_files = sorted(path.rglob(WORKFLOWS_FILE))
        if not step_files and not workflow_files:
            raise ConfigError(str(path), f"no {STEPS_FILE} or {WORKFLOWS_FILE} in this folder or below it")
    else:
        if path.name not in (STEPS_FILE, WORKFLOWS_FILE):
            raise ConfigError(str(path), f"a Parquet telemetry file is named {STEPS_FILE} or {WORKFLOWS_FILE}")
        step_files = [p for p in [path.with_name(STEPS_FILE)] if p.exists()]
        workflow_files = [p for p in [path.with_name(WORKFLOWS_FILE)] if p.exists()]
    steps, absent_steps = _read_parquet_files(step_files, STEP_COLUMNS)
    workflows, absent_workflows = _read_parquet_files(workflow_files, WORKFLOW_COLUMNS)
    return Telemetry(steps, workflows, source=str(path), format="loadwise-parquet",
                     absent={"steps": absent_steps, "workflows": absent_workflows})


def _read_parquet_files(files: list[Path], schema: dict[str, str]) -> tuple[pd.DataFrame, list[str]]:
    if not files:
        return _empty(schema), list(schema)
    frames, absent = [], set()
    for f in files:
        try:
            table = pq.read_table(f)
        except (pa.ArrowInvalid, OSError) as exc:
            raise ConfigError(str(f), f"not a readable Parquet file ({exc})") from None
        meta = table.schema.metadata or {}
        absent |= set(json.loads(meta.get(_ABSENT_KEY, b"[]")))
        frame = table.to_pandas()
        missing = [c for c in schema if c not in frame.columns]
        if missing:
            raise ConfigError(str(f), f"missing column {missing[0]!r} of loadwise's telemetry schema")
        frames.append(frame)
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    conformed, _ = conform(frame, schema)
    return conformed, [c for c in schema if c in absent]


def derive_fields(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """Fill fields that follow from others: queue depth, cost ratio, violation."""
    if name == "steps" and "queue_depth" not in frame.columns and {"running", "waiting"} <= set(frame.columns):
        frame = frame.assign(queue_depth=frame["running"] + frame["waiting"])
    if name == "workflows" and {"workflow_latency", "budget"} <= set(frame.columns):
        if "cost_ratio" not in frame.columns:
            frame = frame.assign(cost_ratio=frame["workflow_latency"] / frame["budget"])
        if "violated" not in frame.columns:
            frame = frame.assign(violated=frame["workflow_latency"] > frame["budget"])
    return frame


_UNKNOWN = {"string": pd.NA, "float64": np.nan, "int64": -1, "bool": False}


def conform(frame: pd.DataFrame, schema: dict[str, str]) -> tuple[pd.DataFrame, list[str]]:
    """Schema columns in schema order and dtypes (absent ones filled), extra columns after."""
    n = len(frame)
    cols, absent = {}, []
    for name, dtype in schema.items():
        fill = 0 if name == "epoch" else _UNKNOWN[dtype]
        if name in frame.columns:
            col = frame[name].reset_index(drop=True)
            if dtype in ("int64", "bool") and col.isna().any():
                col = col.fillna(fill)
            cols[name] = col.astype(dtype)
        else:
            absent.append(name)
            if dtype == "string":  # one NA repeated by `take`: far faster than a list of n NAs
                cols[name] = pd.Series(pd.array([fill], dtype="string").take(np.zeros(n, dtype=np.intp)))
            else:
                cols[name] = pd.Series(np.full(n, fill), dtype=dtype)
    out = pd.DataFrame(cols)
    for extra in frame.columns:
        if extra not in schema:
            out[extra] = frame[extra].to_numpy()
    return out, absent


def _empty(schema: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series([], dtype=dtype) for name, dtype in schema.items()})
