"""The merge queue as a System, its verbs (`mq_run`, `mq_compare`) and the `loadwise mq` commands."""

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from loadwise.app.mergequeue import mq_compare, mq_run
from loadwise.app.tune import tune
from loadwise.cli import main
from loadwise.errors import ConfigError
from loadwise.scenarios import get_scenario_set
from loadwise.systems import get_system
from loadwise.systems.mergequeue import METRICS, WORLD_PARAMS, load_world_file

REQUIRED = ("arrived", "merged", "evicted", "queued_end", "in_flight", "merged_per_hour", "time_in_queue_mean_h",
            "time_in_queue_p50_h", "time_in_queue_p95_h", "queue_depth_mean", "queue_depth_max", "builds",
            "builds_per_merged", "runner_hours", "runner_utilization", "evicted_innocent", "merged_bad",
            "flaky_failures", "retries")


def loadwise(*args, cwd=None):
    return subprocess.run([sys.executable, "-c", "from loadwise.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=600, check=False, cwd=cwd,
                          env={**os.environ, "COLUMNS": "200"})


def test_a_strategy_is_a_system_variant():
    assert get_system("mergequeue").name == "mergequeue:speculative"
    system = get_system("mergequeue:adaptive-window")
    assert [p.name for p in system.knobs][:3] == ["window", "window_floor", "window_ceiling"]
    assert system.scenario_params == WORLD_PARAMS
    with pytest.raises(ConfigError, match="strategy: unknown strategy 'fifo'; allowed: serial, batch-bisect"):
        get_system("mergequeue:fifo")


def test_the_four_weighted_worlds_preset():
    worlds = get_scenario_set("mq-weighted4").checked(WORLD_PARAMS)
    assert worlds.names == ["normal", "peak", "flaky-storm", "bad-week"]
    assert sum(worlds.weights.values()) == pytest.approx(1.0)
    assert worlds["peak"].params == {"traffic": 2.0}


def test_world_files_and_replayed_arrivals(tmp_path):
    times = tmp_path / "arrivals.txt"
    times.write_text("# seconds from Monday 00:00\n60\n120,1\n180,0\n7200\n")
    world = tmp_path / "world.yaml"
    world.write_text(f"runners: 3\nprofile: {','.join(['1'] * 24)}\narrivals: {times}\np_flake: 0.0\n")
    assert load_world_file(world)["runners"] == 3
    run = mq_run("serial", world=world, params={"days": 1.0})
    assert run.world["runners"] == 3 and run.world["p_bad"] == 0.05
    m = run.metrics
    assert m["arrived"] == 4 and m["arrived_bad"] >= 1 and m["evicted_bad"] >= 1
    assert m["merged"] + m["evicted"] == 4
    world.write_text("runners: -1\n")
    with pytest.raises(ConfigError, match=r"world.yaml: runners: -1 is below the minimum"):
        load_world_file(world)
    times.write_text("60\nsoon\n")
    with pytest.raises(ConfigError, match=r"arrivals: .*arrivals.txt:2: expected seconds >= 0"):
        mq_run("serial", params={"arrivals": str(times)})
    with pytest.raises(ConfigError, match="profile: expected one of office-hours, flat, or 24 or 168"):
        mq_run("serial", params={"profile": "1,2,3"})


def test_mq_run_json_has_every_metric_and_flags_override_the_world_file(tmp_path):
    world = tmp_path / "w.yaml"
    world.write_text("runners: 4\np_bad: 0.2\n")
    out = loadwise("mq", "run", "--strategy", "batch-bisect", "--set", "batch_size=4", "--set", "bisection=parallel",
                   "--world", str(world), "--p-bad", "0.1", "--days", "1", "--seed", "3", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert set(REQUIRED) <= set(result) and set(METRICS) <= set(result)
    assert result["config"]["batch_size"] == 4 and result["config"]["bisection"] == "parallel"
    assert result["world"]["runners"] == 4 and result["world"]["p_bad"] == 0.1
    assert result["arrived"] == result["merged"] + result["evicted"] + result["queued_end"] + result["in_flight"]
    assert result["objective_default"] == pytest.approx(sum(result["cost_terms"].values()))


@pytest.mark.parametrize(("args", "message"), [
    (["--p-bad", "3"], "error: --p-bad: 3.0 is above the maximum (number in [0, 1])"),
    (["--set", "batch_size"], "error: --set: expected KNOB=VALUE, got 'batch_size'"),
    (["--set", "window=3"], "error: --set: window: unknown parameter; allowed: max_entries_to_build,"),
    (["--set", "grouping_strategy=SOMEGREEN"], "error: --set: grouping_strategy: 'SOMEGREEN' is not allowed "
                                               "(one of ALLGREEN, HEADGREEN)"),
    (["--strategy", "fifo"], "error: --strategy: unknown strategy 'fifo'; allowed: serial, batch-bisect, speculative"),
    (["--runners", "many"], "error: --runners: expected an integer (integer in [1, 100000]), got 'many'"),
    (["--world", "absent.yaml"], "error: absent.yaml: cannot read the file (No such file or directory)"),
])
def test_mq_run_rejects_bad_input_in_one_line(args, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["mq", "run", *args])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.startswith(message) and err.count("\n") == 1, err


def test_tune_takes_a_merge_queue_strategy(tmp_path):
    scenarios = tmp_path / "s.yaml"
    scenarios.write_text("scenarios:\n  - {name: a, weight: 1, days: 0.5, prs_per_day: 80}\n")
    result = tune("mergequeue:batch-bisect", scenarios, trials=4, out=tmp_path / "t", backend="inline",
                  progress=False, validate_top=1, validate_replicates=2, slice_points=0)
    assert result.best_config is not None and set(result.best_config) == {p.name for p in
                                                                          get_system("mergequeue:batch-bisect").knobs}
    assert set(result.validation.summary["config"]) == {"robust-best", "defaults"}


def test_compare_tunes_every_strategy_validates_on_common_seeds_and_resumes(tmp_path):
    scenarios = tmp_path / "s.yaml"
    scenarios.write_text("name: small\nscenarios:\n"
                         "  - {name: calm, weight: 0.6, days: 0.5, prs_per_day: 60}\n"
                         "  - {name: busy, weight: 0.4, days: 0.5, prs_per_day: 160, p_flake: 0.1}\n")
    out = tmp_path / "c"
    kwargs = dict(strategies=["serial", "speculative", "batch-bisect"], replicates=3, backend="inline",
                  progress=False, out=out)
    result = mq_compare(scenarios, 3, **kwargs)
    summary = result.validation.summary.set_index("config")
    assert set(summary.index) == {"serial", "speculative", "speculative defaults", "batch-bisect",
                                  "batch-bisect defaults"}
    assert result.winner == summary["objective"].idxmin() and summary.loc[result.winner, "diff_vs_baseline"] == 0
    assert result.next_command.startswith(f"loadwise mq run --strategy {result.strategy}")
    runs = pd.read_parquet(out / "runs.parquet")
    seeds = runs.groupby(["scenario", "replicate"])["seed"].nunique()
    assert (seeds == 1).all() and len(runs) == 5 * 2 * 3  # every config on the same seeds
    assert runs.groupby(["scenario", "replicate"])["metric.arrived"].nunique().eq(1).all()
    for name in ("speculative", "batch-bisect"):
        assert (out / name / "result.json").exists() and (out / name / "report.html").exists()
    assert {"report.md", "report.html", "comparison.csv", "result.json", "cost_by_scenario.png"} <= {
        p.name for p in out.iterdir()}
    assert json.loads((out / "result.json").read_text())["winner"] == result.winner
    before = {name: (out / name / "result.json").stat().st_mtime_ns for name in ("speculative", "batch-bisect")}
    again = mq_compare(scenarios, 99, **kwargs)  # resumes with the saved settings: nothing is tuned again
    assert {name: (out / name / "result.json").stat().st_mtime_ns for name in before} == before
    pd.testing.assert_frame_equal(again.validation.summary, result.validation.summary)


def test_compare_checks_its_inputs_before_creating_anything(tmp_path, capsys):
    with pytest.raises(ConfigError, match="trials: expected an integer >= 1"):
        mq_compare("mq-weighted4", 0, out=tmp_path / "x")
    with pytest.raises(ConfigError, match="strategies: expected distinct names out of serial"):
        mq_compare("mq-weighted4", 3, strategies=["serial", "fifo"], out=tmp_path / "x")
    with pytest.raises(ConfigError, match="replicates: expected an integer >= 2"):
        mq_compare("mq-weighted4", 3, replicates=1, out=tmp_path / "x")
    assert not (tmp_path / "x").exists()
    with pytest.raises(SystemExit):
        main(["mq", "compare", "--trials", "2", "--strategies", "serial,lifo", "--out", str(tmp_path / "y")])
    assert capsys.readouterr().err.startswith("error: --strategies: expected distinct names")
    assert not (tmp_path / "y").exists()
