"""The Ray backend on a three-node cluster (a head and two workers on this machine): a node
removed mid-tune loses nothing, and every metric equals the local backend's."""

from __future__ import annotations

import sqlite3
import threading
import time

import pandas as pd
import pytest

from loadwise.app.tune import tune

SCENARIOS = "scenarios:\n  - {name: a, weight: 1, load: 1, seconds: 0.3}\n  - {name: b, weight: 1, load: 2, seconds: 0.3}\n"
TUNE = dict(trials=8, fidelity="none", seed=4, validate_top=0, slice_points=0, progress=False)


def _stored(db) -> int:
    try:
        with sqlite3.connect(db) as conn:
            return conn.execute("select count(*) from loadwise_results").fetchone()[0]
    except sqlite3.Error:
        return 0


def _runs(folder) -> pd.DataFrame:
    return pd.read_parquet(folder / "runs.parquet").drop(columns="seconds")


def test_a_tune_survives_losing_a_node_and_matches_the_local_backend(tmp_path):
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    scenarios = tmp_path / "s.yaml"
    scenarios.write_text(SCENARIOS)
    local = tune("synthetic", scenarios, out=tmp_path / "local", jobs=2, **TUNE)

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    workers = [cluster.add_node(num_cpus=1) for _ in range(2)]
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
    try:
        outcome: dict = {}
        thread = threading.Thread(target=lambda: outcome.update(result=tune(
            "synthetic", scenarios, out=tmp_path / "ray", backend="ray", address=cluster.address, jobs=3, **TUNE)))
        thread.start()
        deadline = time.time() + 120
        while time.time() < deadline and _stored(tmp_path / "ray" / "study.db") < 4:
            time.sleep(0.2)  # the tune is under way: some runs stored, most still to run
        assert 4 <= _stored(tmp_path / "ray" / "study.db") < 20
        cluster.remove_node(workers[0])
        thread.join(timeout=600)
        assert not thread.is_alive() and "result" in outcome
    finally:
        ray.shutdown()
        cluster.shutdown()
    on_ray = _runs(tmp_path / "ray")
    assert on_ray["ok"].all()  # the runs lost with the node ran again elsewhere
    pd.testing.assert_frame_equal(on_ray, _runs(tmp_path / "local"))
    assert outcome["result"].best_config == local.best_config
