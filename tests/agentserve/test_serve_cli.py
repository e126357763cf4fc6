"""`loadwise serve sweep` / `serve calibrate`: run folder, telemetry, resume, one-line errors."""

from __future__ import annotations

import pandas as pd
import pytest

from loadwise.app.sweep import sweep
from loadwise.cli import main
from loadwise.systems.agentserve import telemetry


def _run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    return exc.value.code


def test_sweep_writes_table_telemetry_and_report(tmp_path, capsys):
    out = tmp_path / "sweep"
    code = _run(["serve", "sweep", "--rates", "20,100", "--budgets", "10,600", "--router", "static-mix",
                 "--workflows", "60", "--seed", "3", "--out", str(out)])
    assert code == 0
    assert "run folder:" in capsys.readouterr().err
    table = pd.read_csv(out / "table.csv")
    assert len(table) == 4 and set(table["rate"]) == {20, 100} and set(table["budget"]) == {10, 600}
    for col in ("mean_latency", "p95_latency", "violation_rate", "accuracy", "goodput", "mean_queue", "idle_share",
                "mix:3B", "mix:32B", "mix:flash", "mix:deepthink"):
        assert col in table.columns
    assert table.filter(like="mix:").iloc[:, :5].sum(axis=1).round(6).eq(1).all()
    tel = telemetry.load(out)
    assert len(tel.workflows) == 4 * 60 and len(tel.steps) == table["steps"].sum()
    assert {"report.md", "report.html", "load.png", "run.json"} <= {p.name for p in out.iterdir()}


def test_sweep_resumes_without_redoing_cells(tmp_path):
    out = tmp_path / "s"
    first = sweep([20, 50], [50], "greedy", 40, 1, out, progress=False).table
    marker = out / "cells" / "rate20-budget50" / "metrics.json"
    stamp = marker.stat().st_mtime_ns
    (out / "cells" / "rate50-budget50" / "metrics.json").unlink()  # as if interrupted before this cell
    again = sweep([20, 50], [50], "greedy", 40, 1, out, progress=False).table
    assert marker.stat().st_mtime_ns == stamp
    pd.testing.assert_frame_equal(first, again)
    from loadwise.errors import ConfigError

    with pytest.raises(ConfigError, match="holds a sweep with a different configuration"):
        sweep([20, 50], [50], "greedy", 41, 1, out, progress=False)


def test_sweep_with_two_jobs_matches_one_job(tmp_path):
    one = sweep([30, 150], [10, 200], "least-loaded", 40, 2, tmp_path / "a", jobs=1, progress=False).table
    two = sweep([30, 150], [10, 200], "least-loaded", 40, 2, tmp_path / "b", jobs=2, progress=False).table
    pd.testing.assert_frame_equal(one, two)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--rates", "20,fast"], "error: --rates: expected comma-separated positive numbers, got 'fast'"),
        (["--budgets", "10,-5"], "error: --budgets: expected comma-separated positive numbers, got '-5'"),
        (["--router", "smart"], "error: --router: unknown router 'smart'; allowed: fixed:MODEL:STRATEGY"),
        (["--workflows", "0"], "error: --workflows: must be at least 1, got 0"),
        (["--pattern", "bursty"], "error: --pattern: unknown pattern 'bursty'; allowed: poisson, microburst"),
        (["--discipline", "lifo"], "error: --discipline: unknown queue discipline 'lifo'; allowed: fcfs, edf"),
        (["--jobs", "0"], "error: --jobs: must be at least 1, got 0"),
    ],
)
def test_bad_sweep_values_are_one_line_errors(tmp_path, capsys, args, message):
    assert _run(["serve", "sweep", "--out", str(tmp_path / "r"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(message) and "\n" not in err, err
    assert not (tmp_path / "r").exists()


def test_bad_profile_file_is_a_one_line_error(tmp_path, capsys):
    bad = tmp_path / "p.yaml"
    bad.write_text("version: 1\nmodels: []\nstrategies: []\nworkflow: {}\n")
    assert _run(["serve", "sweep", "--profiles", str(bad), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {bad}: workflow.prompt_tokens: Field required"), err


def test_calibrate_cli_writes_a_usable_profile(tmp_path, capsys):
    sweep([10, 100], [600], "random", 150, 4, tmp_path / "s", progress=False)
    assert _run(["serve", "calibrate", str(tmp_path / "s"), "--out", str(tmp_path / "c")]) == 0
    assert "profile:" in capsys.readouterr().err
    assert _run(["serve", "sweep", "--rates", "50", "--budgets", "50", "--workflows", "20",
                 "--profiles", str(tmp_path / "c" / "profiles.yaml"), "--out", str(tmp_path / "s2")]) == 0
    assert _run(["serve", "calibrate", str(tmp_path / "missing.csv")]) == 2


def test_sweep_replays_arrival_times_from_a_file(tmp_path, capsys):
    times = tmp_path / "arrivals.txt"
    times.write_text("\n".join(str(0.5 * i) for i in range(80)))
    assert _run(["serve", "sweep", "--rates", "120", "--budgets", "50", "--workflows", "60",
                 "--replay", str(times), "--out", str(tmp_path / "r")]) == 0
    wfs = telemetry.load(tmp_path / "r").workflows
    assert (wfs["pattern"] == "replay").all()
    assert sorted(wfs["arrival_time"]) == [0.5 * i for i in range(60)]
    assert _run(["serve", "sweep", "--rates", "120", "--budgets", "50", "--workflows", "100",
                 "--replay", str(times), "--out", str(tmp_path / "r2")]) == 2
    assert "error: --replay: needs at least workflows (100) arrival times, the file has 80" in capsys.readouterr().err
    assert not (tmp_path / "r2").exists()


@pytest.mark.slow
def test_a_sweep_killed_at_a_random_moment_resumes_to_the_uninterrupted_result(tmp_path):
    """SIGKILL of the whole sweep (its pool workers too) at a random moment, then resume:
    the cells that were finished are not run again, and the result is the same."""
    import os
    import random
    import signal
    import subprocess
    import sys
    import time

    args = dict(rates=[20, 120, 200], budgets=[50, 400], router="least-loaded", workflows=30, seed=5, jobs=2)
    started = time.perf_counter()
    straight = sweep(out=tmp_path / "straight", progress=False, **args)
    work = time.perf_counter() - started

    out = tmp_path / "killed"
    argv = [sys.executable, "-c", "from loadwise.cli import main; main()", "serve", "sweep",
            "--rates", "20,120,200", "--budgets", "50,400", "--router", "least-loaded", "--workflows", "30",
            "--seed", "5", "--jobs", "2", "--out", str(out)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        while not (out / "run.json").exists() and proc.poll() is None:  # the sweep has started
            time.sleep(0.02)
        time.sleep(random.Random(14).uniform(0.0, work))
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    kept = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("cells/*/metrics.json")}

    resumed = sweep(out=out, progress=False, **args)
    pd.testing.assert_frame_equal(straight.table, resumed.table)
    for name, stamp in kept.items():  # finished before the kill: not run again
        assert (out / "cells" / name / "metrics.json").stat().st_mtime_ns == stamp
    a, b = telemetry.load(tmp_path / "straight"), telemetry.load(out)
    key = ["rate", "budget", "workflow_id"]
    pd.testing.assert_frame_equal(a.workflows.sort_values(key).reset_index(drop=True),
                                  b.workflows.sort_values(key).reset_index(drop=True))
