"""One small real run of each verb per session: the run folders the report tests open and re-render."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def reports(tmp_path_factory) -> dict[str, Path]:
    """The HTML report each verb wrote, by kind (its run folder is the page's folder)."""
    from loadwise.app.audit import audit_run
    from loadwise.app.calibrate import calibrate
    from loadwise.app.evaluate_router import evaluate_router
    from loadwise.app.loadtest import loadtest
    from loadwise.app.mergequeue import mq_compare
    from loadwise.app.sweep import sweep
    from loadwise.app.train_router import train_router
    from loadwise.app.tune import tune
    from loadwise.app.validate import validate
    from loadwise.rl.config import TrainConfig
    from loadwise.systems.agentserve.profiles import load_profiles
    from tests.gateway.conftest import emulator, gateway

    root = tmp_path_factory.mktemp("reports")
    scenarios = root / "s.yaml"
    scenarios.write_text("name: small\nscenarios:\n"
                         "  - {name: calm, weight: 0.6, days: 0.5, prs_per_day: 60}\n"
                         "  - {name: busy, weight: 0.4, days: 0.5, prs_per_day: 160, p_flake: 0.1}\n")
    pages = {}
    tuned = tune("mergequeue:batch-bisect", scenarios, trials=4, out=root / "tune", backend="inline", progress=False,
                 validate_top=1, validate_replicates=2, slice_points=1)
    pages["tune"] = tuned.report["html"]
    pages["validate"] = validate(tuned.run_dir, top=1, replicates=2, backend="inline", progress=False).paths["html"]
    pages["serve sweep"] = sweep((20, 100), (10, 600), "greedy", workflows=40, out=root / "sweep",
                                 progress=False).report["html"]
    config = TrainConfig(rates=(20.0, 100.0), budgets=(10.0, 600.0), workflows=30, epochs=2, minibatch_size=256)
    trained = train_router(config, root / "train", progress=False)
    pages["router train"] = trained.run_dir / "report.html"
    pages["router eval"] = evaluate_router(trained.run_dir, workflows=40, baselines=("greedy",),
                                           out=root / "eval").report["html"]
    pages["audit"] = audit_run(trained.run_dir, root / "audit").paths["html"]
    pages["mq compare"] = mq_compare(scenarios, 2, strategies=["serial", "batch-bisect"], replicates=2,
                                     backend="inline", progress=False, out=root / "compare").report["html"]
    pages["serve calibrate"] = calibrate(trained.run_dir, out=root / "calibrate")[1] / "report.html"
    profiles = load_profiles()
    with emulator(profiles) as (_, urls), gateway(profiles, urls) as (url, _):
        pages["router loadtest"] = loadtest(url, [60], [50, 600], 20, out=root / "loadtest",
                                            progress=False).report["html"]
    return pages
