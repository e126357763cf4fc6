"""The telemetry an audit reads: loadwise's Parquet, the reference system's CSV, any CSV.

`load_telemetry` is the one entry: a folder or a Parquet file is loadwise's own
telemetry (`loadwise.systems.agentserve.telemetry.load`); anything else is a CSV,
imported into the same schema here. Importing is where foreign data is judged, so bad
input raises ConfigError naming the missing column or the first bad line (line numbers
as in the file: 1-based, header included).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from loadwise.errors import ConfigError
from loadwise.systems.agentserve import telemetry
from loadwise.systems.agentserve.telemetry import (
    REQUIRED_STEP_FIELDS,
    REQUIRED_WORKFLOW_FIELDS,
    STEP_COLUMNS,
    WORKFLOW_COLUMNS,
    Telemetry,
    conform,
    derive_fields,
)

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
_KIND = {"string": "text", "bool": "true/false", "int64": "an integer", "float64": "a number"}


def load_telemetry(path: str | Path, mapping: dict[str, str] | None = None) -> Telemetry:
    """Read telemetry from a run folder, a Parquet file, or a CSV.

    - a folder, `steps.parquet` or `workflows.parquet`: loadwise's own telemetry;
    - a CSV: the reference system's format (see REFERENCE_CSV_FIELDS), or any CSV whose
      columns are our field names or are mapped to them by `mapping`
      {their column -> our field}, which takes precedence over the reference names.
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(str(path), "no such file or folder")
    if path.is_dir() or path.suffix == ".parquet":
        if mapping:
            raise ConfigError("mapping", "a column mapping applies to CSV files only; Parquet telemetry is in loadwise's schema")
        return telemetry.load(path)
    return _load_csv(path, mapping or {})


def _load_csv(path: Path, mapping: dict[str, str]) -> Telemetry:
    known = set(STEP_COLUMNS) | set(WORKFLOW_COLUMNS) | {"record_type"}
    for column, target in mapping.items():
        if target not in known:
            raise ConfigError("mapping", f"{column}={target}: {target!r} is not a telemetry field (fields: {', '.join(sorted(known))})")
    try:
        raw = pd.read_csv(path, engine="pyarrow")
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for unreadable CSV
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
    steps_out, absent_steps = conform(derive_fields(steps, "steps"), STEP_COLUMNS)
    workflows_out, absent_workflows = conform(derive_fields(workflows, "workflows"), WORKFLOW_COLUMNS)
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
