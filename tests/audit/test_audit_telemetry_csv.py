"""Telemetry from CSV: the reference system's format, user mappings, clear errors."""

from __future__ import annotations

import pandas as pd
import pytest

from loadwise.auditing.inputs import load_telemetry
from loadwise.errors import ConfigError
from loadwise.systems.agentserve import telemetry

REFERENCE_CSV = """record_type,run_id,epoch,episode_index,arrival_rate,budget_total,item_id,role_name,model_name,strategy_name,llm_running,llm_waiting,llm_kv_cache_usage,latency_seconds,budget_remaining,workflow_latency_seconds,quality_is_solved,quality_feedback
role_step,r1,2,7,50,10,algebra/12,Solver,Llama-3.2-3B-Instruct,Flash,3,1,0.25,1.5,8.5,,,
role_step,r1,2,7,50,10,algebra/12,Critic,DeepSeek-R1-Distill-Qwen-32B,DeepThink,30,12,0.9,6.0,7.0,,,
episode,r1,2,7,50,10,algebra/12,,,,,,,,,12.5,True,"multi
line feedback"
batch,r1,2,,,,,,,,,,,,,,,
role_step,r1,2,8,100,200,geometry/3,Solver,Llama-3.1-8B-Instruct,Concise,0,0,0.0,2.0,199.0,,,
episode,r1,2,8,100,200,geometry/3,,,,,,,,,3.0,False,
"""


def test_reference_csv_maps_to_our_schema(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text(REFERENCE_CSV)
    t = load_telemetry(path)
    assert t.format == "reference-csv"
    assert t.ignored_rows == {"batch": 1}
    s = t.steps
    assert s["rate"].tolist() == [50.0, 50.0, 100.0]
    assert s["budget"].tolist() == [10.0, 10.0, 200.0]
    assert s["queue_depth"].tolist() == [4, 42, 0]
    assert s["model"].tolist() == ["Llama-3.2-3B-Instruct", "DeepSeek-R1-Distill-Qwen-32B", "Llama-3.1-8B-Instruct"]
    assert s["strategy"].tolist() == ["Flash", "DeepThink", "Concise"]
    assert s["kv_use"].tolist() == [0.25, 0.9, 0.0]
    assert s["epoch"].tolist() == [2, 2, 2] and s["workflow_id"].tolist() == [7, 7, 8]
    assert s["item_id"].tolist() == [0, 0, 1]  # text ids numbered by first appearance
    w = t.workflows
    assert w["workflow_latency"].tolist() == [12.5, 3.0]
    assert w["latency_excl_decision"].tolist() == [12.5, 3.0]  # the reference excludes the decision step
    assert w["solved"].tolist() == [True, False]
    assert w["violated"].tolist() == [True, False]
    assert w["cost_ratio"].tolist() == [1.25, 0.015]
    assert "dispatch_time" in t.absent["steps"] and "kv_use" not in t.absent["steps"]


def test_any_csv_with_a_user_mapping(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("lam,slo,llm,plan,depth,wid,e2e\n20,50,big,flash,3,1,10.0\n20,50,small,flash,1,1,10.0\n20,50,big,deep,0,2,60.0\n")
    t = load_telemetry(path, {"lam": "rate", "slo": "budget", "llm": "model", "plan": "strategy",
                              "depth": "queue_depth", "wid": "workflow_id", "e2e": "workflow_latency"})
    assert t.format == "csv"
    assert t.steps["queue_depth"].tolist() == [3, 1, 0]
    assert t.workflows["workflow_id"].tolist() == [1, 2]  # one workflow row per workflow id
    assert t.workflows["violated"].tolist() == [False, True]


@pytest.mark.parametrize(
    ("text", "mapping", "message"),
    [
        ("record_type,arrival_rate,budget_total,model_name,llm_running\nrole_step,50,10,m,1\n", None,
         "^llm_waiting|^queue_depth"),
        ("record_type,arrival_rate,model_name,llm_running,llm_waiting\nrole_step,50,m,1,0\n", None,
         r"^budget: train.csv has role_step rows but no column for field 'budget' \(expected 'budget' or 'budget_total', or --map COLUMN=budget\)$"),
        ("record_type,arrival_rate,budget_total,model_name,llm_running,llm_waiting\nrole_step,50,10,m,1,0\nrole_step,fifty,10,m,1,0\n", None,
         r"^train.csv line 3: column 'arrival_rate' \(field rate\): 'fifty' is not a number$"),
        ("record_type,arrival_rate,budget_total,model_name,llm_running,llm_waiting\nrole_step,50,10,m,1.5,0\n", None,
         r"^train.csv line 2: column 'llm_running' \(field running\): 1.5 is not an integer$"),
        ("record_type,arrival_rate,budget_total,model_name,llm_running,llm_waiting\nrole_step,50,10,,1,0\n", None,
         r"^train.csv line 2: column 'model_name' \(field model\): is empty$"),
        ("record_type,arrival_rate,budget_total,workflow_latency_seconds,quality_is_solved\nepisode,50,10,3.0,maybe\n", None,
         r"^train.csv line 2: column 'quality_is_solved' \(field solved\): 'maybe' is not true/false$"),
        ("record_type,arrival_rate\nbatch,50\n", None, "no role-step or workflow rows"),
        ("a,b\n1,2\n", {"a": "speed"}, r"^mapping: a=speed: 'speed' is not a telemetry field"),
        ("a,b\n1,2\n", {"zz": "rate"}, r"^zz: --map names a column that train.csv does not have$"),
        ("record_type,arrival_rate\n", None, "no data rows"),
    ],
)
def test_malformed_csv_names_the_column_or_the_first_bad_line(tmp_path, text, mapping, message):
    path = tmp_path / "train.csv"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_telemetry(path, mapping)


def test_bad_line_numbers_count_quoted_newlines(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text(REFERENCE_CSV.replace("role_step,r1,2,8,100,200", "role_step,r1,2,8,100,two hundred"))
    with pytest.raises(ConfigError, match=r"^train.csv line 7: column 'budget_total'"):
        load_telemetry(path)


def test_folders_and_parquet_files_are_read_as_loadwise_telemetry(tmp_path):
    steps = pd.DataFrame({"rate": [50.0], "budget": [10.0], "model": ["m"], "queue_depth": [2]})
    workflows = pd.DataFrame({"rate": [50.0], "budget": [10.0], "workflow_latency": [4.0]})
    telemetry.write(tmp_path / "run", steps, workflows)
    for path in (tmp_path / "run", tmp_path / "run" / "steps.parquet"):
        t = load_telemetry(path)
        assert t.format == "loadwise-parquet" and (len(t.steps), len(t.workflows)) == (1, 1)
    with pytest.raises(ConfigError, match="^mapping: a column mapping applies to CSV files only"):
        load_telemetry(tmp_path / "run", {"a": "rate"})
    with pytest.raises(ConfigError, match="no such file or folder"):
        load_telemetry(tmp_path / "nope.csv")
