"""Telemetry write/load: schema dtypes, derived fields, folders of cells, clear errors."""

from __future__ import annotations

import pandas as pd
import pytest

from loadwise.errors import ConfigError
from loadwise.systems.agentserve import telemetry


def _steps(n: int = 4) -> pd.DataFrame:
    return pd.DataFrame({
        "rate": [50.0] * n, "budget": [10.0] * n, "model": ["m1", "m2"] * (n // 2),
        "strategy": ["flash"] * n, "running": list(range(n)), "waiting": [1] * n, "epoch": [3] * n,
    })


def _workflows() -> pd.DataFrame:
    return pd.DataFrame({"rate": [50.0, 50.0], "budget": [10.0, 10.0], "workflow_latency": [5.0, 20.0]})


def test_write_then_load_keeps_schema_order_dtypes_and_derived_fields(tmp_path):
    paths = telemetry.write(tmp_path / "run", _steps(), _workflows())
    assert paths == {"steps": tmp_path / "run" / "steps.parquet", "workflows": tmp_path / "run" / "workflows.parquet"}
    loaded = telemetry.load(tmp_path / "run")
    assert list(loaded.steps.columns) == list(telemetry.STEP_COLUMNS)
    assert list(loaded.workflows.columns) == list(telemetry.WORKFLOW_COLUMNS)
    assert {c: str(t) for c, t in loaded.steps.dtypes.items()} == {
        c: ("string" if t == "string" else t) for c, t in telemetry.STEP_COLUMNS.items()}
    assert loaded.steps["queue_depth"].tolist() == [1, 2, 3, 4]
    assert loaded.steps["epoch"].tolist() == [3, 3, 3, 3]
    assert loaded.workflows["cost_ratio"].tolist() == [0.5, 2.0]
    assert loaded.workflows["violated"].tolist() == [False, True]
    # fields the writer did not have are recorded as not measured, measured ones are not
    assert "kv_use" in loaded.absent["steps"] and "queue_depth" not in loaded.absent["steps"]
    assert "solved" in loaded.absent["workflows"] and "cost_ratio" not in loaded.absent["workflows"]
    assert not list((tmp_path / "run").glob(".*tmp*"))  # atomic write leaves no temporaries


def test_a_folder_of_sweep_cells_is_concatenated_and_a_file_path_finds_its_sibling(tmp_path):
    telemetry.write(tmp_path / "sweep" / "cell-a", _steps(), _workflows())
    telemetry.write(tmp_path / "sweep" / "cell-b", _steps(2), _workflows())
    assert len(telemetry.load(tmp_path / "sweep").steps) == 6
    single = telemetry.load(tmp_path / "sweep" / "cell-b" / "workflows.parquet")
    assert (len(single.steps), len(single.workflows)) == (2, 2)


def test_write_requires_the_fields_the_audit_needs(tmp_path):
    with pytest.raises(ConfigError, match=r"^steps.model: required column missing"):
        telemetry.write(tmp_path, _steps().drop(columns="model"), _workflows())


def test_missing_paths_and_foreign_parquet(tmp_path):
    with pytest.raises(ConfigError, match="no such file or folder"):
        telemetry.load(tmp_path / "nope.csv")
    with pytest.raises(ConfigError, match="no steps.parquet or workflows.parquet"):
        telemetry.load(tmp_path)
    pd.DataFrame({"x": [1]}).to_parquet(tmp_path / "steps.parquet")
    with pytest.raises(ConfigError, match="missing column 'run_id' of loadwise's telemetry schema"):
        telemetry.load(tmp_path)
