"""Telemetry of the serving simulator: one row per role step, one row per workflow.

This is the audit's input (see spec 04 "Telemetry"). Both tables are written as
Parquet (`steps.parquet`, `workflows.parquet`) in a run folder by `write`; `load` reads
them back, or the reference system's CSV (REFERENCE_CSV_FIELDS documents the mapping),
or any CSV with a user mapping, into a `Telemetry`. Times are seconds, rates are
requests per minute, budgets are seconds.
"""

from __future__ import annotations

import csv
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

# The reference system's CSV, as our fields: field -> the reference columns that hold
# it, first found wins. Rows are told apart by `record_type`: "role_step" (or "step")
# rows are role steps, "episode" (or "workflow") rows are workflows; other record types
# are counted in Telemetry.ignored_rows. Columns not listed here are ignored.
#
# Differences in meaning (documented in the audit report too):
# - the reference's workflow_latency_seconds excludes the final decision step, so for
#   reference data `workflow_latency` and `latency_excl_decision` are both that figure
#   (violations are under-reported by the source, not by loadwise);
# - queue_depth = llm_running + llm_waiting of the chosen server at dispatch;
# - item ids that are not integers are numbered in order of first appearance.
REFERENCE_CSV_FIELDS: dict[str, tuple[str, ...]] = {
    "record_type": ("record_type",),
    "run_id": ("run_id",),
    "epoch": ("epoch",),
    "rate": ("arrival_rate",),
    "pattern": ("arrival_pattern",),
    "budget": ("budget_total",),
    "workflow_id": ("episode_index", "episode_id"),
    "item_id": ("item_id",),
    "subject": ("subject",),
    "level": ("level",),
    "topology": ("topology",),
    "role": ("role_name",),
    "step_index": ("step_index",),
    "model": ("model_name", "llm_name"),
    "strategy": ("strategy_name",),
    "running": ("llm_running",),
    "waiting": ("llm_waiting",),
    "kv_use": ("llm_kv_cache_usage",),
    "step_latency": ("latency_seconds",),
    "budget_remaining": ("budget_remaining",),
    "output_tokens": ("completion_tokens",),
    "n_agents": ("agent_count",),
    "workflow_latency": ("workflow_latency_seconds",),
    "solved": ("quality_is_solved",),
}
_STEP_RECORDS = {"role_step", "step"}
_WORKFLOW_RECORDS = {"episode", "workflow"}
_TRUE = {"true", "1", "1.0", "yes", "t", "y"}
_FALSE = {"false", "0", "0.0", "no", "f", "n"}


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
    for name, frame, schema, required, filename in (
        ("steps", steps, STEP_COLUMNS, REQUIRED_STEP_FIELDS, STEPS_FILE),
        ("workflows", workflows, WORKFLOW_COLUMNS, REQUIRED_WORKFLOW_FIELDS, WORKFLOWS_FILE),
    ):
        frame = _derive(frame, name)
        missing = [c for c in required if c not in frame.columns]
        if missing and len(frame):
            raise ConfigError(f"{name}.{missing[0]}", f"required column missing (required: {', '.join(required)})")
        conformed, absent = _conform(frame, schema)
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


def load(path: str | Path, mapping: dict[str, str] | None = None) -> Telemetry:
    """Read telemetry from a run folder, a Parquet file, or a CSV.

    - a folder: every `steps.parquet` / `workflows.parquet` under it (a sweep may write
      one pair per cell), concatenated;
    - `steps.parquet` or `workflows.parquet`: that file and its sibling if present;
    - a CSV: the reference system's format (see REFERENCE_CSV_FIELDS), or any CSV whose
      columns are our field names or are mapped to them by `mapping`
      {their column -> our field}, which takes precedence over the reference names.

    Bad input raises ConfigError naming the missing column or the first bad line (line
    numbers as in the file: 1-based, header included).
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(str(path), "no such file or folder")
    if path.is_dir() or path.suffix == ".parquet":
        if mapping:
            raise ConfigError("--map", "a column mapping applies to CSV files only; Parquet telemetry is in loadwise's schema")
        return _load_parquet(path)
    return _load_csv(path, mapping or {})


# Parquet


def _load_parquet(path: Path) -> Telemetry:
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
    conformed, _ = _conform(frame, schema)
    return conformed, [c for c in schema if c in absent]


# CSV


def _load_csv(path: Path, mapping: dict[str, str]) -> Telemetry:
    known = set(STEP_COLUMNS) | set(WORKFLOW_COLUMNS) | {"record_type"}
    for column, target in mapping.items():
        if target not in known:
            raise ConfigError("--map", f"{column}={target}: {target!r} is not a telemetry field (fields: {', '.join(sorted(known))})")
    try:
        raw = pd.read_csv(path, engine="pyarrow")
    except Exception as exc:  # pyarrow raises several types for unreadable CSV
        raise ConfigError(str(path), f"not a readable CSV file ({str(exc).splitlines()[0]})") from None
    for column in mapping:
        if column not in raw.columns:
            raise ConfigError(column, f"--map names a column that {path.name} does not have")
    if raw.empty:
        raise ConfigError(str(path), "no data rows")

    # our field -> source column: the user's mapping, then our own names, then the reference's
    source: dict[str, str] = {target: column for column, target in mapping.items()}
    for fld in known:
        if fld in source:
            continue
        for candidate in (fld, *REFERENCE_CSV_FIELDS.get(fld, ())):
            if candidate in raw.columns and candidate not in mapping:
                source[fld] = candidate
                break
    frame = pd.DataFrame({fld: raw[col] for fld, col in source.items()}, index=raw.index)
    is_reference = "record_type" not in mapping.values() and "record_type" in raw.columns

    ignored: dict[str, int] = {}
    if "record_type" in frame.columns:
        kind = frame["record_type"].astype("string").str.strip().str.lower()
        step_rows = kind.isin(_STEP_RECORDS).to_numpy()
        workflow_rows = kind.isin(_WORKFLOW_RECORDS).to_numpy()
        other = kind[~(step_rows | workflow_rows)].fillna("<empty>")
        ignored = {str(k): int(v) for k, v in other.value_counts().items()}
        steps_raw, workflows_raw = frame[step_rows], frame[workflow_rows]
    else:
        has_steps = "model" in frame.columns
        steps_raw = frame if has_steps else frame.iloc[:0]
        if "workflow_latency" in frame.columns:
            workflows_raw = frame
            if has_steps:
                key = [c for c in ("run_id", "epoch", "workflow_id") if c in frame.columns]
                if "workflow_id" not in key:
                    raise ConfigError("workflow_id", f"{path.name} has step rows with workflow latencies but no workflow id column to group them by (map one with --map COLUMN=workflow_id)")
                workflows_raw = frame.drop_duplicates(key)
        else:
            workflows_raw = frame.iloc[:0]
    if steps_raw.empty and workflows_raw.empty:
        raise ConfigError(str(path), "no role-step or workflow rows (record_type must be role_step or episode)")

    steps = _parse_rows(steps_raw, STEP_COLUMNS, REQUIRED_STEP_FIELDS, "role_step", path, source)
    workflows = _parse_rows(workflows_raw, WORKFLOW_COLUMNS, REQUIRED_WORKFLOW_FIELDS, "episode", path, source)
    if is_reference and "latency_excl_decision" not in workflows.columns and "workflow_latency" in workflows.columns:
        workflows["latency_excl_decision"] = workflows["workflow_latency"]
    steps_out, absent_steps = _conform(_derive(steps, "steps"), STEP_COLUMNS)
    workflows_out, absent_workflows = _conform(_derive(workflows, "workflows"), WORKFLOW_COLUMNS)
    return Telemetry(steps_out, workflows_out, source=str(path), format="reference-csv" if is_reference else "csv",
                     absent={"steps": absent_steps, "workflows": absent_workflows}, ignored_rows=ignored)


def _parse_rows(rows: pd.DataFrame, schema: dict[str, str], required: tuple[str, ...], kind: str,
                path: Path, source: dict[str, str]) -> pd.DataFrame:
    """Typed columns of one record type; a missing required column or bad value is an error."""
    if rows.empty:
        return pd.DataFrame(index=rows.index)
    for fld in required:
        if fld == "queue_depth" and "queue_depth" not in rows.columns and {"running", "waiting"} <= set(rows.columns):
            continue
        if fld not in rows.columns:
            hint = " or ".join(repr(c) for c in (fld, *REFERENCE_CSV_FIELDS.get(fld, ())))
            if fld == "queue_depth":
                hint += " or both 'llm_running' and 'llm_waiting'"
            raise ConfigError(fld, f"{path.name} has {kind} rows but no column for field {fld!r} (expected {hint}, or --map COLUMN={fld})")
    parsed = {}
    for fld in rows.columns:
        if fld == "record_type" or fld not in schema:
            continue
        must = fld in required or (fld in ("running", "waiting") and "queue_depth" in required and "queue_depth" not in rows.columns)
        if fld == "item_id" and pd.to_numeric(rows[fld], errors="coerce").isna().any():
            parsed[fld] = pd.Series(pd.factorize(rows[fld])[0], index=rows.index)
            continue
        parsed[fld] = _parse_column(rows[fld], schema[fld], must, fld, source.get(fld, fld), path)
    return pd.DataFrame(parsed, index=rows.index)


def _parse_column(col: pd.Series, dtype: str, required: bool, fld: str, column: str, path: Path) -> pd.Series:
    """One column in its schema dtype; missing values of optional columns become unknown."""
    present = col.notna()
    if col.dtype == object or isinstance(col.dtype, pd.StringDtype):
        present &= col.astype("string").str.strip().ne("").fillna(False)
    if dtype == "string":
        out = col.astype("string").where(present, pd.NA)
        bad = ~present if required else None
    elif dtype == "bool":
        if pd.api.types.is_bool_dtype(col):
            out = col.astype("boolean")
        else:
            text = col.astype("string").str.strip().str.lower()
            out = pd.Series(pd.NA, index=col.index, dtype="boolean")
            out[text.isin(_TRUE).fillna(False).to_numpy()] = True
            out[text.isin(_FALSE).fillna(False).to_numpy()] = False
        bad = (out.isna() & present) | (~present if required else False)
    else:
        out = pd.to_numeric(col, errors="coerce") if not pd.api.types.is_numeric_dtype(col) else col.astype("float64")
        bad = out.isna() & present
        if dtype == "int64":
            bad |= present & out.notna() & (out != out.round())
        if required:
            bad |= ~present
    if bad is not None and bool(np.any(bad)):
        pos = int(np.flatnonzero(np.asarray(bad))[0])
        line = _file_line(path, int(col.index[pos]))
        value = col.iloc[pos]
        shown = repr(value) if isinstance(value, str) else repr(value.item() if hasattr(value, "item") else value)
        what = "is empty" if not present.iloc[pos] else f"{shown} is not {_KIND[dtype]}"
        raise ConfigError(f"{path.name} line {line}", f"column {column!r} (field {fld}): {what}")
    return out


_KIND = {"string": "text", "bool": "true/false", "int64": "an integer", "float64": "a number"}


def _file_line(path: Path, row: int) -> int:
    """The 1-based line in the file where data row `row` (0-based) starts; quoted newlines count."""
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.reader(fh)
        next(reader, None)
        last = reader.line_num
        seen = 0
        for record in reader:
            if record:
                if seen == row:
                    return last + 1
                seen += 1
            last = reader.line_num
    return row + 2


# shared


def _derive(frame: pd.DataFrame, name: str) -> pd.DataFrame:
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


def _conform(frame: pd.DataFrame, schema: dict[str, str]) -> tuple[pd.DataFrame, list[str]]:
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
        if extra not in schema and extra != "record_type":
            out[extra] = frame[extra].to_numpy()
    return out, absent


def _empty(schema: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series([], dtype=dtype) for name, dtype in schema.items()})
