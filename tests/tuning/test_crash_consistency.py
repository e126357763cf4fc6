"""A tune killed with SIGKILL at random moments and resumed each time: no finished run runs
again, and it ends with the answer of a tune that was never interrupted.

A run is finished when its result is stored; a run whose process was killed before that
(the simulator may have ended, its result was lost) runs again on resume, as it must.
The simulator logs when it ends each run, so a run that ran again after its result was
stored would show up in the log after the stored result's time."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from loadwise.app.tune import tune
from loadwise.evaluate.runs import canonical

SIMULATOR = """
import json, math, sys, time
job = json.load(sys.stdin)
x, y, load = job["config"]["x"], job["config"]["y"], job["scenario"]["load"]
noise = math.sin(1000.0 * job["seed"] + x) * 0.3
time.sleep(0.01)
cost = (x - load) ** 2 + (y - 0.5 * load) ** 2 + noise
with open(sys.argv[1], "a") as log:  # one line per run the simulator ends, with the time it ends it
    log.write(json.dumps([job["config"], job["scenario"], job["seed"], job["fidelity"], time.time()]) + "\\n")
print(json.dumps({"cost": cost}))
"""

DRIVER = """
import sys
from loadwise.app.tune import tune
if sys.argv[3] == "new":
    tune(sys.argv[1], sys.argv[2], trials=int(sys.argv[5]), seed=5, out=sys.argv[4], jobs=2, progress=False,
         validate_top=0, slice_points=0)
else:
    tune(resume=sys.argv[4], jobs=2, progress=False)
"""


def _system(tmp_path: Path) -> tuple[Path, Path, Path]:
    sim, log = tmp_path / "sim.py", tmp_path / "runs.log"
    sim.write_text(SIMULATOR)
    spec = tmp_path / "sim.yaml"
    spec.write_text(textwrap.dedent(f"""
        name: quadratic
        command: ["{sys.executable}", "{sim}", "{log}"]
        knobs:
          - {{name: x, type: float, default: 0, low: 0, high: 4, search: [0, 4]}}
          - {{name: y, type: float, default: 0, low: 0, high: 4, search: [0, 4]}}
        scenario_params: [{{name: load, type: float, default: 1}}]
        objective: {{metric: cost, direction: minimize, failure_value: 1.0e6}}
    """))
    scenarios = tmp_path / "load.yaml"
    scenarios.write_text("scenarios:\n  - {name: low, weight: 2, load: 1}\n  - {name: high, weight: 1, load: 3}\n")
    return spec, scenarios, log


def _finished_runs(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def _run_key(config: dict, scenario: dict, seed: int, fidelity: float) -> tuple:
    """A run's identity with numbers as floats (the simulator gets 3.0 where a file said 3)."""
    return (canonical({k: float(v) for k, v in config.items()}), canonical({k: float(v) for k, v in scenario.items()}),
            int(seed), float(fidelity))


def _reruns_after_storing(log: Path, db: Path) -> list[str]:
    """Runs the simulator ended after their result had been stored."""
    with sqlite3.connect(db) as conn:
        stored = {_run_key(json.loads(c), json.loads(p), s, f): at for c, p, s, f, at in conn.execute(
            "select config, params, seed, fidelity, finished_at from loadwise_results")}
    late, logged = [], set()
    for line in _finished_runs(log):
        config, scenario, seed, fidelity, ended = json.loads(line)
        key = _run_key(config, scenario, seed, fidelity)
        logged.add(key)
        if key in stored and ended > stored[key]:
            late.append(line)
    assert set(stored) <= logged  # every stored result was computed by a logged run
    return late


def _kill_and_resume(tmp_path: Path, kills: int, trials: int, seed: int) -> None:
    spec, scenarios, log = _system(tmp_path)
    reference = tune(str(spec), scenarios, trials=trials, seed=5, out=tmp_path / "reference", jobs=2, progress=False,
                     validate_top=0, slice_points=0)
    log.unlink()
    run = tmp_path / "run"
    rng = random.Random(seed)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    for attempt in range(kills + 1):
        mode = "new" if attempt == 0 else "resume"
        proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(spec), str(scenarios), mode, str(run), str(trials)],
                                env=env)
        if attempt == kills:
            assert proc.wait(timeout=600) == 0
            break
        started = len(_finished_runs(log))
        deadline = time.time() + 120  # kill once this session has finished a random number of runs
        target = started + rng.randint(1, 8)
        while time.time() < deadline and proc.poll() is None and len(_finished_runs(log)) < target:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.05))  # and at a random moment after that
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert _reruns_after_storing(log, run / "study.db") == []
    result = json.loads((run / "result.json").read_text())
    assert result["best_config"] == reference.best_config
    assert result["best_value"] == reference.best_value


def test_two_kills_lose_nothing_and_change_nothing(tmp_path):
    _kill_and_resume(tmp_path, kills=2, trials=8, seed=1)


@pytest.mark.slow
def test_ten_kills_lose_nothing_and_change_nothing(tmp_path):
    _kill_and_resume(tmp_path, kills=10, trials=30, seed=2)
