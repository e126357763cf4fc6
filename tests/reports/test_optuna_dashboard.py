"""A tune's study.db opens in optuna-dashboard: its studies read back through the dashboard's HTTP API."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

DASHBOARD = shutil.which("optuna-dashboard") or str(Path(sys.executable).with_name("optuna-dashboard"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not Path(DASHBOARD).is_file(), reason="optuna-dashboard is in the dev extra")
def test_a_tunes_study_opens_in_optuna_dashboard(tmp_path):
    from loadwise.app.rundir import study_storage
    from loadwise.app.tune import tune

    scenarios = tmp_path / "s.yaml"
    scenarios.write_text("scenarios:\n  - {name: a, weight: 1, days: 0.5, prs_per_day: 80}\n")
    result = tune("mergequeue:batch-bisect", scenarios, trials=3, out=tmp_path / "t", backend="inline",
                  progress=False, validate_top=0, slice_points=0, fidelity="none")
    port = _free_port()
    server = subprocess.Popen([DASHBOARD, study_storage(result.run_dir), "--host", "127.0.0.1", "--port", str(port),
                               "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline, studies = time.monotonic() + 30, None
        while studies is None and time.monotonic() < deadline:
            assert server.poll() is None, server.stderr.read().decode()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=2) as answer:
                    studies = json.load(answer)["study_summaries"]
            except OSError:
                time.sleep(0.3)
        assert studies is not None, "optuna-dashboard did not answer within 30 s"
        names = {s["study_name"]: s for s in studies}
        assert "loadwise.stage0" in names
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies/{names['loadwise.stage0']['study_id']}",
                                    timeout=5) as answer:
            trials = json.load(answer)["trials"]
        assert len(trials) == len(result.trials) == 3
        assert {t["state"] for t in trials} == {"Complete"}
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
