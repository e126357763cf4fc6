"""The robust tuner end to end on the synthetic system: fidelity stages, resume, storage, CLI."""

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from dataclasses import asdict

import optuna
import pandas as pd
import pytest

from loadwise.app.tune import read_tune, tune
from loadwise.app.validate import validate
from loadwise.cli import main
from loadwise.errors import ConfigError
from loadwise.evaluate import Evaluator, InlineBackend, LocalPool
from loadwise.scenarios import get_scenario_set, make_schedule
from loadwise.scenarios.files import scenario_set_to_data
from loadwise.systems.command import CommandSystem
from loadwise.systems.synthetic import SCENARIOS, Synthetic
from loadwise.tuning import Tuner, TuneSettings

FAST = dict(backend="inline", progress=False, validate_top=0, slice_points=0)


def test_best_value_is_always_a_full_set_value(tmp_path):
    result = tune("synthetic", "synthetic5", trials=30, fidelity="staged", out=tmp_path / "r", **FAST)
    full = [r for r in result.trials if r.stage == 2 and r.state == "complete"]
    assert full, "the last stage completed trials"
    best = min(full, key=lambda r: r.value)
    assert result.best_value == best.value and result.best_config == best.config
    assert set(best.scenario_means) == {n for n, _, _ in SCENARIOS}
    partial_best = min(r.value for r in result.trials if r.stage == 0 and r.state == "complete")
    assert partial_best != result.best_value  # a normal-only value never wins the full-set best
    studies = optuna.get_all_study_names(f"sqlite:///{tmp_path / 'r' / 'study.db'}")
    assert sorted(studies) == ["loadwise.stage0", "loadwise.stage1", "loadwise.stage2"]


def test_study_stopped_early_still_reports_a_full_set_value(tmp_path):
    result = tune("synthetic", "synthetic5", trials=6, fidelity="staged", out=tmp_path / "r", **FAST)
    assert max(r.stage for r in result.trials if r.number <= 6) == 0
    final = [r for r in result.trials if r.stage == 2 and r.state == "complete"]
    assert final and all(len(r.scenario_means) == 5 for r in final)
    assert result.best_value == min(r.value for r in final)


def test_default_schedule_runs_every_scenario_short_then_full_length(tmp_path):
    result = tune("synthetic", "synthetic5", trials=30, out=tmp_path / "r", **FAST)
    runs = pd.read_parquet(tmp_path / "r" / "runs.parquet")
    early = runs[runs["fidelity"] < 1.0]
    assert set(early["fidelity"]) == {0.25} and set(early["scenario"]) == {n for n, _, _ in SCENARIOS}
    assert {r.stage for r in result.trials} == {0, 1}
    final = [r for r in result.trials if r.stage == 1 and r.state == "complete"]
    assert final and all(len(r.scenario_means) == 5 for r in final)
    assert result.best_value == min(r.value for r in final)


def test_run_folder_and_report(tmp_path):
    result = tune("synthetic", "synthetic5", trials=14, out=tmp_path / "r", backend="inline",
                           progress=False, validate_top=2, validate_replicates=2, slice_points=1)
    folder = tmp_path / "r"
    for name in ("run.json", "study.db", "runs.parquet", "report.md", "report.html", "history.png", "result.json"):
        assert (folder / name).is_file(), name
    runs = pd.read_parquet(folder / "runs.parquet")
    assert {"config.x1", "scenario", "seed", "metric.cost", "objective", "seconds", "purpose"} <= set(runs.columns)
    assert (runs["objective"] == runs["metric.cost"]).all()
    assert set(runs["purpose"]) == {"search", "validate", "slice"}
    validated = result.validation.summary
    assert {"robust-best", "defaults", "normal-only-optimum"} <= set(validated["config"])
    text = (folder / "report.md").read_text()
    assert "Single-scenario optimum vs robust optimum" in text and "Validation on fresh seeds" in text
    info = json.loads((folder / "run.json").read_text())
    assert info["kind"] == "tune" and info["config"]["scenario_set"]["scenarios"][0]["name"] == "normal"


def test_constraint_is_respected(tmp_path):
    result = tune("synthetic", "synthetic5", trials=25, fidelity="none", constraints=["resource_use<=40"],
                           out=tmp_path / "r", **FAST)
    assert result.best_config["x1"] <= 0.40


def test_stochastic_mode_and_maximize(tmp_path):
    result = tune("synthetic", "synthetic-stochastic", trials=8, objective="score", min_replicates=2,
                           out=tmp_path / "r", **FAST)
    assert all(set(r.scenario_means) == {"stochastic"} for r in result.trials)
    assert result.best_value == max(r.value for r in result.trials if r.state == "complete")


def test_processes_share_a_study_through_storage(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    tune("synthetic", "synthetic5", trials=12, fidelity="none", storage=url, out=tmp_path / "a", **FAST)
    second = tune("synthetic", "synthetic5", trials=20, fidelity="none", storage=url, out=tmp_path / "b", **FAST)
    study = optuna.load_study(study_name="loadwise.stage0", storage=url)
    assert len(study.trials) == 20 and len(second.trials) == 20  # the second process added 8


def test_command_line_simulator_is_tunable(tmp_path):
    sim = tmp_path / "sim.py"
    sim.write_text(textwrap.dedent("""
        import json, sys
        job = json.load(sys.stdin)
        x, load = job["config"]["x"], job["scenario"]["load"]
        print(json.dumps({"cost": (x - load) ** 2}))
    """))
    spec = tmp_path / "sim.yaml"
    spec.write_text(textwrap.dedent(f"""
        name: sim
        command: ["{sys.executable}", "{sim}"]
        knobs: [{{name: x, type: float, default: 0, search: [0, 4]}}]
        scenario_params: [{{name: load, type: float, default: 1}}]
        objective: {{metric: cost, direction: minimize, failure_value: 1.0e6}}
    """))
    scen = tmp_path / "s.yaml"
    scen.write_text("scenarios:\n  - {name: a, weight: 1, load: 1}\n  - {name: b, weight: 1, load: 3}\n")
    result = tune(CommandSystem.from_file(spec), scen, trials=12, fidelity="none", out=tmp_path / "r", **FAST)
    assert abs(result.best_config["x"] - 2.0) < 1.0


DRIVER = """
import sys
from loadwise.app.tune import tune
tune("synthetic", sys.argv[2], trials=40, fidelity="staged", out=sys.argv[1], backend="inline",
     progress=False, validate_top=0, slice_points=0)
"""


def cached_keys(db):
    with sqlite3.connect(db) as conn:
        return {k for (k,) in conn.execute("select key from loadwise_results")}


def test_resume_after_kill_loses_and_reruns_nothing(tmp_path):
    scen = tmp_path / "slow.yaml"
    rows = "".join(f"  - {{name: {n}, weight: {w}, load: {p['load']}, seconds: 0.02}}\n" for n, w, p in SCENARIOS)
    scen.write_text("scenarios:\n" + rows)
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(run), str(scen)])
    db = run / "study.db"
    deadline = time.time() + 60
    while time.time() < deadline:
        time.sleep(0.2)
        try:
            if len(cached_keys(db)) >= 30:
                break
        except sqlite3.Error:
            continue
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = cached_keys(db)
    assert len(before) >= 30
    result = tune(resume=run, **FAST)
    after = cached_keys(db)
    assert before <= after
    assert result.simulations == len(after) - len(before)  # every fresh run is new: nothing re-ran
    assert result.cached > 0 and result.best_config is not None
    assert len([r for r in result.trials if r.number <= 40]) >= 40


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scenarios", "{bad}"], "weight: must be a positive finite number, got -1.0"),
        (["--scenarios", "{unknown}"], "scenarios.normal.trafic: unknown parameter; allowed: load"),
        (["--scenarios", "synthetic5", "--aggregate", "cvar:2"], "--aggregate: 'cvar:2' is not allowed"),
        (["--scenarios", "synthetic5", "--fidelity", "fast"], "--fidelity: 'fast' is not allowed (one of staged, short, none; alias: seed for staged)"),
        (["--scenarios", "nothing"], "--scenarios: unknown scenario set 'nothing'"),
        (["--scenarios", "synthetic5", "--constraint", "cost<"], "--constraint: 'cost<' is not allowed"),
    ],
)
def test_cli_errors_are_one_line(tmp_path, capsys, args, message):
    bad = tmp_path / "bad.yaml"
    bad.write_text("scenarios:\n  - {name: normal, weight: -1}\n")
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('[[scenarios]]\nname = "normal"\nweight = 1\ntrafic = 8\n')
    args = [a.format(bad=bad, unknown=unknown) for a in args]
    with pytest.raises(SystemExit) as info:
        main(["tune", "--system", "synthetic", "--trials", "2", "--out", str(tmp_path / "r"), *args])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.startswith("error:") and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_tune_help_lists_the_old_names_as_aliases(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")  # one line per option
    with pytest.raises(SystemExit):
        main(["tune", "--help"])
    out = capsys.readouterr().out
    assert "aliases seed5, seed-stochastic" in out and "staged (trials 1–10" in out and "alias seed)" in out


SHARER = """
import sys, json
from loadwise.app.tune import tune
r = tune("synthetic", sys.argv[2], trials=30, fidelity="none", storage=sys.argv[3], out=sys.argv[1],
         backend="inline", progress=False, validate_top=0, slice_points=0)
print(json.dumps({"best": r.best_value, "trials": len(r.trials)}))
"""


def test_two_processes_work_on_one_study_at_once(tmp_path):
    scen = tmp_path / "slow.yaml"
    rows = "".join(f"  - {{name: {n}, weight: {w}, load: {p['load']}, seconds: 0.01}}\n" for n, w, p in SCENARIOS)
    scen.write_text("scenarios:\n" + rows)
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    procs = [subprocess.Popen([sys.executable, "-c", SHARER, str(tmp_path / name), str(scen), url],
                              stdout=subprocess.PIPE, text=True) for name in ("a", "b")]
    outs = [json.loads(p.communicate(timeout=120)[0].strip().splitlines()[-1]) for p in procs]
    study = optuna.load_study(study_name="loadwise.stage0", storage=url)
    finished = [t for t in study.trials if t.state.is_finished()]
    assert 30 <= len(finished) <= 31  # both stop once the shared count is reached (one may race past it)
    best = min(t.value for t in finished if t.state == optuna.trial.TrialState.COMPLETE)
    assert min(o["best"] for o in outs) == best  # the last to finish reports the best of both processes' trials


def test_validate_pairs_configs_on_fresh_seeds(tmp_path):
    optimum, value = Synthetic().optimum([(p, w) for _, w, p in SCENARIOS])
    far = {k: min(1.0, v + 0.3) for k, v in optimum.items()}
    result = validate(system="synthetic", scenarios="synthetic5", configs={"optimum": optimum, "far": far},
                               baseline="far", replicates=4, backend="inline", out=tmp_path / "v", progress=False)
    rows = result.summary.set_index("config")
    assert result.best == "optimum"
    assert rows.loc["optimum", "p_value"] < 0.01 and rows.loc["optimum", "diff_vs_baseline"] < 0
    assert abs(rows.loc["optimum", "objective"] - value) < 3 * rows.loc["optimum", "ci95"]
    assert rows.loc["optimum", "diff_ci95"] < rows.loc["optimum", "ci95"] / 3  # pairing on common seeds
    assert len(result.per_scenario) == 10 and set(result.per_scenario["n"]) == {4}
    assert (tmp_path / "v" / "validation.md").is_file()


def test_validate_cli_on_a_tune_run(tmp_path, capsys):
    tune("synthetic", "synthetic5", trials=12, out=tmp_path / "r", **FAST)
    with pytest.raises(SystemExit) as info:
        main(["validate", str(tmp_path / "r"), "--top", "2", "--replicates", "2", "--jobs", "1"])
    assert info.value.code == 0
    out = capsys.readouterr()
    assert "robust-best" in out.out + out.err and (tmp_path / "r" / "validation.html").is_file()
    with pytest.raises(SystemExit) as info:
        main(["validate", str(tmp_path / "r"), "--config", "nonsense"])
    assert info.value.code == 2
    assert "--config: unknown named config 'nonsense'; allowed: defaults, normal-only-optimum" in capsys.readouterr().err


def test_random_sampler_and_bad_sampler(tmp_path):
    result = tune("synthetic", "synthetic5", trials=6, fidelity="none", sampler="random",
                           out=tmp_path / "r", **FAST)
    assert result.best_config is not None and len({r.number for r in result.trials}) == 6
    with pytest.raises(ConfigError, match="sampler: 'grid' is not allowed"):
        tune("synthetic", "synthetic5", trials=6, sampler="grid", out=tmp_path / "s", **FAST)
    assert not (tmp_path / "s").exists()  # bad settings fail before a run folder is made


BAD_SYSTEM = "name: broken\ncommand: []\nknobs: []\nobjective: {metric: loss, direction: down, failure_value: 1}\n"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"system": "{spec}"}, "command: List should have at least 1 item"),
        ({"scenarios": "{bad}"}, "scenarios.normal.weight: must be a positive finite number"),
        ({"fidelity": "fast"}, "fidelity: 'fast' is not allowed"),
        ({"aggregate": "cvar:2"}, "aggregate: 'cvar:2' is not allowed"),
        ({"constraints": ["cost<"]}, "constraints: 'cost<' is not allowed"),
        ({"objective": "speed"}, "objective: unknown objective 'speed'; allowed: cost, score"),
        ({"sampler": "grid"}, "sampler: 'grid' is not allowed"),
        ({"min_replicates": 0}, "min_replicates: need 1 <= min_replicates <= max_replicates"),
        ({"backend": "cluster"}, "'cluster' is not allowed (one of local, ray, inline)"),
    ],
)
def test_a_bad_input_leaves_no_run_folder(tmp_path, change, message):
    spec, bad = tmp_path / "broken.yaml", tmp_path / "bad.yaml"
    spec.write_text(BAD_SYSTEM)
    bad.write_text("scenarios:\n  - {name: normal, weight: -1, load: 1}\n")
    args = {"system": "synthetic", "scenarios": "synthetic5", "trials": 4, "out": tmp_path / "r",
            "progress": False, "validate_top": 0, "slice_points": 0}
    args.update({k: v.format(spec=spec, bad=bad) if isinstance(v, str) else v for k, v in change.items()})
    with pytest.raises(ConfigError, match=re.escape(message)):
        tune(**args)
    assert not (tmp_path / "r").exists()
    assert not (tmp_path / "runs").exists()


def test_a_folder_that_holds_a_run_is_not_overwritten(tmp_path):
    tune("synthetic", "synthetic5", trials=3, fidelity="none", out=tmp_path / "r", **FAST)
    before = (tmp_path / "r" / "run.json").read_text()
    with pytest.raises(ConfigError, match="out: .* already holds a run; resume it, or choose another folder"):
        tune("synthetic", "synthetic5", trials=5, out=tmp_path / "r", **FAST)
    assert (tmp_path / "r" / "run.json").read_text() == before


def test_validate_checks_its_inputs_before_it_makes_a_folder(tmp_path):
    with pytest.raises(ConfigError, match="configs: unknown named config 'nonsense'"):
        validate(system="synthetic", scenarios="synthetic5", configs=["nonsense"], out=tmp_path / "v", progress=False)
    with pytest.raises(ConfigError, match="baseline: unknown config 'far'; allowed: defaults, normal-only-optimum"):
        validate(system="synthetic", scenarios="synthetic5", baseline="far", out=tmp_path / "v", progress=False)
    with pytest.raises(ConfigError, match="run_dir: give a tune run folder, or a system and a scenario set"):
        validate(system="synthetic", out=tmp_path / "v", progress=False)
    assert not (tmp_path / "v").exists()


def test_a_run_folder_saved_under_the_old_names_resumes_and_validates(tmp_path):
    run = tmp_path / "r"
    tune("synthetic", "synthetic5", trials=12, fidelity="staged", out=run, **FAST)
    info = json.loads((run / "run.json").read_text())
    info["config"]["fidelity"] = "seed"  # as written before the staged schedule had its own name
    (run / "run.json").write_text(json.dumps(info))
    result = tune(resume=run, trials=14, **FAST)
    assert len([r for r in result.trials if r.number <= 14]) == 14 and result.best_config is not None
    assert json.loads((run / "run.json").read_text())["config"]["fidelity"] == "staged"
    validated = validate(run, top=1, replicates=2, backend="inline", progress=False)
    assert "robust-best" in set(validated.summary["config"])


def test_old_submit_queue_names_in_run_json_read_as_the_new_ones(tmp_path):
    weighted = get_scenario_set("sq-weighted5")
    stages = [[st.first_trial, list(st.scenarios), st.fidelity] for st in make_schedule("staged", weighted).stages]
    config = {**asdict(TuneSettings("submitqueue", "seed5", 50, fidelity="seed")),
              "scenario_set": {**scenario_set_to_data(weighted), "name": "seed5"}, "fidelity_stages": stages,
              "validate_top": 3, "validate_replicates": 3, "slice_points": 2}
    (tmp_path / "run.json").write_text(json.dumps({"kind": "tune", "version": "0.1.0", "config": config}))
    saved = read_tune(tmp_path)
    assert (saved.settings.scenarios, saved.settings.fidelity, saved.schedule.name) == (
        "sq-weighted5", "staged", "staged")
    assert saved.scenario_set.weights == weighted.weights
    assert [st.scenarios for st in saved.schedule.stages] == [("normal",), ("normal", "spike"), tuple(weighted.names)]


def test_the_tuner_reports_progress_and_writes_only_its_storage(tmp_path):
    scenario_set = get_scenario_set("synthetic5")
    settings = TuneSettings("synthetic", "synthetic5", trials=8, fidelity="none")
    system = Synthetic()
    tuner = Tuner(settings, f"sqlite:///{tmp_path / 'study.db'}", system, scenario_set,
                  make_schedule("none", scenario_set))
    calls = []
    evaluator = Evaluator(InlineBackend(system), tuner.cache)
    records = tuner.run(evaluator, lambda done, total, info: calls.append((done, total, info)))
    assert calls[0][:2] == (0, 8) and calls[-1][:2] == (8, 8) and len(records) == 8
    assert [done for done, _, _ in calls] == sorted(done for done, _, _ in calls)
    assert "best" in calls[-1][2]
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("study.db")) == []


def test_a_tune_is_a_function_of_its_seed_with_parallel_workers(tmp_path):
    """Two runs of one tune on two worker processes take the same trials, runs and winner."""
    def once(folder):
        result = tune("synthetic", "synthetic5", trials=16, jobs=2, seed=3, out=tmp_path / folder,
                      progress=False, validate_top=1, validate_replicates=2, slice_points=1)
        runs = pd.read_parquet(tmp_path / folder / "runs.parquet").drop(columns="seconds")
        trials = [(r.number, r.stage, r.config, r.state, r.value) for r in result.trials]
        return result, runs, trials

    first, runs_a, trials_a = once("a")
    second, runs_b, trials_b = once("b")
    assert trials_a == trials_b
    pd.testing.assert_frame_equal(runs_a, runs_b)
    assert first.best_config == second.best_config and first.simulations == second.simulations
    one_worker = tune("synthetic", "synthetic5", trials=16, jobs=1, seed=3, out=tmp_path / "c", progress=False,
                      validate_top=0, slice_points=0)
    assert [(r.number, r.config, r.value) for r in one_worker.trials] == [t[:1] + t[2:3] + t[4:] for t in trials_a]


def test_a_failed_run_is_kept_but_run_again_when_asked_again(tmp_path):
    from loadwise.evaluate import RunCache, RunSpec

    url = f"sqlite:///{tmp_path / 'c.db'}"
    slow = RunSpec({"x1": 0.5}, "a", {"seconds": 0.3}, 0, 1)
    first = Evaluator(LocalPool(Synthetic(), 1, timeout=0.1), RunCache(url, "s", "synthetic"))
    try:
        (failed,) = first.run_all([slow]).values()
    finally:
        first.close()
    assert not failed.ok and failed.reason.startswith("timeout")
    cache = RunCache(url, "s", "synthetic")
    assert cache.get(slow) is None and not cache.get(slow, include_failed=True).ok
    again = Evaluator(LocalPool(Synthetic(), 1, timeout=30), cache)  # a larger time limit rescues it
    try:
        (rescued,) = again.run_all([slow]).values()
    finally:
        again.close()
    assert rescued.ok and again.executed == 1 and again.reused == 0
    assert cache.get(slow).ok and cache.table()["ok"].tolist() == [True]
