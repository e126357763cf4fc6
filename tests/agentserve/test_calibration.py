"""Calibration: the spec's measured targets reproduced by the static mix; fitting profiles back from telemetry."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loadwise.app.calibrate import calibrate
from loadwise.errors import ConfigError
from loadwise.systems.agentserve import Cell, Lockstep, load_profiles, make_router, run_cells, telemetry
from loadwise.systems.agentserve.calibration import fit_profiles
from loadwise.systems.agentserve.profiles import profiles_from_dict

# spec 04: static router (~78 % of calls to 3B + 8B), 1000 MATH items, Poisson arrivals
TARGETS = {  # rate: (queue small, queue large, per-call latency small, large)
    10: (1.3, 0.4, 2.8, 6.8),
    50: (9.5, 2.8, 5.3, 10.4),
    100: (27.0, 5.4, 7.4, 11.3),
    200: (133.0, 8.0, 30.1, 11.8),
}
KEYS = ("queue_small", "queue_large", "step_latency_small", "step_latency_large")
SEEDS = (11, 12, 13)


@pytest.fixture(scope="module")
def static_mix():
    rates = list(TARGETS)
    cells = [Cell(r, 600, 1000) for r in rates for _ in SEEDS]
    res = run_cells(cells, make_router("static-mix"), [s for _ in rates for s in SEEDS], load_profiles())
    out = {}
    for i, r in enumerate(rates):
        part = res[i * len(SEEDS):(i + 1) * len(SEEDS)]
        out[r] = {k: np.mean([x.metrics[k] for x in part]) for k in KEYS}
        out[r]["steps"] = pd.concat([x.steps for x in part])
    return out


@pytest.mark.parametrize("rate", [10, 50, 100])
def test_static_mix_reproduces_measured_queue_and_latency_within_35_percent(static_mix, rate):
    for key, want in zip(KEYS, TARGETS[rate]):
        got = static_mix[rate][key]
        assert abs(got / want - 1) <= 0.35, (rate, key, got, want)


def test_small_models_blow_up_at_200_while_large_ones_do_not(static_mix):
    at100, at200 = static_mix[100], static_mix[200]
    assert at200["queue_small"] > 4 * at100["queue_small"]            # measured: 133 vs 27
    assert at200["step_latency_small"] > 3 * at100["step_latency_small"]  # measured: 30.1 vs 7.4 s
    assert at200["step_latency_small"] > 2 * at200["step_latency_large"]  # measured: 30.1 vs 11.8 s
    assert at200["step_latency_large"] < 1.3 * at100["step_latency_large"]  # measured: 11.8 vs 11.3 s
    assert abs(at200["queue_large"] / TARGETS[200][1] - 1) <= 0.35


def test_32b_is_idle_at_most_dispatches_at_10_per_minute(static_mix):
    steps = static_mix[10]["steps"]
    deep = steps[steps["model"] == "DeepSeek-R1-Distill-Qwen-32B"]
    assert abs((deep["queue_depth"] == 0).mean() / 0.61 - 1) <= 0.35  # measured: idle at 61 % of dispatches


def _truth():
    spec = load_profiles().spec.model_dump()
    for m in spec["models"]:
        m["tpot"] *= 1.25
        m["tpot_growth"] *= 0.8
        m["theta"] += 0.3
    spec["strategies"][0]["kappa"] = 0.9
    spec["strategies"][2]["delta"] = 0.1
    return profiles_from_dict(spec, "truth")


def test_round_trip_fits_known_parameters_back():
    truth = _truth()
    cells = [Cell(r, 600, 1500) for r in (10, 30, 50, 10, 30, 50)]
    driver = Lockstep(cells, [1, 2, 3, 4, 5, 6], truth)
    driver.run(make_router("random"))
    res = driver.results(run_ids=[f"run{i}" for i in range(len(cells))])
    tel = telemetry.Telemetry(pd.concat([r.steps for r in res]), pd.concat([r.workflows for r in res]))
    fit = fit_profiles(tel, load_profiles(), "round trip").profiles
    # stated tolerances: service times within 6 % (prefill uses the typical prompt), logits within 0.15
    assert np.allclose(fit.tpot / truth.tpot, 1, atol=0.06)
    assert np.allclose(fit.tpot_growth / truth.tpot_growth, 1, atol=0.06)
    assert np.allclose(fit.theta, truth.theta, atol=0.15)
    assert np.allclose(fit.delta, truth.delta, atol=0.15)
    assert np.allclose(fit.kappa, truth.kappa, atol=0.15)
    assert list(fit.max_num_seqs) == [32] * 5


REFERENCE_CSV = """record_type,run_id,epoch,episode_index,arrival_rate,budget_total,level,role_name,model_name,strategy_name,llm_running,llm_waiting,latency_seconds,completion_tokens,workflow_latency_seconds,quality_is_solved
role_step,r1,0,1,50,10,3,Solver,meta-llama/Llama-3.2-3B-Instruct,Flash,3,0,2.5,300,,
role_step,r1,0,1,50,10,3,Solver,Llama-3.1-8B-Instruct,DeepThink,0,0,2.0,400,,
role_step,r1,0,2,50,10,2,Solver,Some-Other-70B,Concise,0,0,9.0,300,,
episode,r1,0,1,50,10,,,,,,,,,4.5,True
"""


def test_calibrate_reference_csv_keeps_base_values_where_data_is_thin(tmp_path):
    path = tmp_path / "ref.csv"
    path.write_text(REFERENCE_CSV)
    fit, run_dir = calibrate(path, out=tmp_path / "cal")
    base = load_profiles()
    assert np.allclose(fit.profiles.tpot, base.tpot) and np.allclose(fit.profiles.theta, base.theta)
    assert any("Some-Other-70B" in n for n in fit.notes)
    assert any("usable calls" in n for n in fit.notes)
    assert load_profiles(run_dir / "profiles.yaml").model_names == base.model_names
    assert (run_dir / "report.html").is_file() and (run_dir / "fit.json").is_file()


def test_calibrate_rejects_missing_and_empty_input(tmp_path):
    with pytest.raises(ConfigError, match="no such file or folder"):
        calibrate(tmp_path / "nope.csv", out=tmp_path / "o")
    empty = tmp_path / "empty"
    telemetry.write(empty, pd.DataFrame(columns=list(telemetry.STEP_COLUMNS)),
                    pd.DataFrame(columns=list(telemetry.WORKFLOW_COLUMNS)))
    with pytest.raises(ConfigError, match="no role-step rows to calibrate from"):
        calibrate(empty, out=tmp_path / "o2")
    assert not (tmp_path / "o").exists() and not (tmp_path / "o2").exists()  # checked before any folder exists
