"""Two tuner processes on one study in a real PostgreSQL server; one is killed mid-run.

The survivor finishes the study: it reaches its trial count, the killed worker's
unfinished trials are failed or asked again (none is left running), and, the run cache
being shared through the database, no simulation finished twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import optuna
import pytest
import sqlalchemy as sa
from optuna.trial import TrialState

from loadwise.evaluate.cache import database_url

URL = os.environ.get("LOADWISE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def _server_or_skip() -> None:
    pytest.importorskip("psycopg", reason="the postgres extra (psycopg) is not installed")
    try:
        with sa.create_engine(database_url(URL)).connect() as conn:
            conn.execute(sa.text("select 1"))
    except sa.exc.OperationalError as exc:
        pytest.skip(f"no PostgreSQL server at {URL}: {str(exc).splitlines()[0]}")


def _worker(tmp_path, name: str, study: str, scenarios) -> subprocess.Popen:
    cmd = [sys.executable, "-c", "from loadwise.cli import main; main()", "tune", "--system", "synthetic",
           "--scenarios", str(scenarios), "--trials", "14", "--fidelity", "none", "--jobs", "1",
           "--storage", URL, "--study-name", study, "--out", str(tmp_path / name)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_two_workers_share_a_study_and_survive_one_being_killed(tmp_path):
    _server_or_skip()
    study = f"loadwise-test-{uuid.uuid4().hex[:10]}"
    scenarios = tmp_path / "slow.yaml"
    scenarios.write_text("scenarios:\n  - {name: a, weight: 1, load: 1, seconds: 0.1}\n"
                         "  - {name: b, weight: 1, load: 2, seconds: 0.1}\n")
    victim, survivor = _worker(tmp_path, "victim", study, scenarios), _worker(tmp_path, "survivor", study, scenarios)
    storage = optuna.storages.RDBStorage(database_url(URL))
    deadline = time.time() + 180
    while time.time() < deadline:  # kill the victim while it has a trial running
        time.sleep(0.5)
        try:
            trials = optuna.load_study(study_name=f"{study}.stage0", storage=storage).get_trials(deepcopy=False)
        except KeyError:
            continue
        if sum(t.state == TrialState.COMPLETE for t in trials) >= 3 and any(
                t.state == TrialState.RUNNING for t in trials):
            break
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    assert survivor.wait(timeout=300) == 0, survivor.stderr.read()

    trials = optuna.load_study(study_name=f"{study}.stage0", storage=storage).get_trials(deepcopy=False)
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    assert len(finished) >= 14
    with sa.create_engine(database_url(URL)).connect() as conn:
        runs = conn.execute(sa.text("select count(*) from loadwise_uses where study = :s"), {"s": study}).scalar()
    assert runs > 0
    result = (tmp_path / "survivor" / "result.json").read_text()
    assert '"duplicates": 0' in result
