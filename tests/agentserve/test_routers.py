"""Routers: CLI names, the static mix, budget behaviour, and the clairvoyant ceiling on goodput."""

from __future__ import annotations

import numpy as np
import pytest

from loadwise.errors import ConfigError
from loadwise.systems.agentserve import Cell, load_profiles, make_router, run_cells
from loadwise.systems.agentserve.routers import STATIC_MIX

BASELINES = ["random", "static-mix", "least-loaded", "quality-first", "greedy"] + [
    f"fixed:{m}:{s}" for m in ("3B", "8B", "14B", "24B", "32B") for s in ("flash", "concise", "deepthink")
]
RATES = (20, 30, 50, 100, 150, 200)
BUDGETS = (10, 50, 200, 600, 1800)


@pytest.fixture(scope="module")
def profiles():
    return load_profiles()


def _goodput_grid(router: str, workflows: int, profiles, seed: int = 0) -> np.ndarray:
    cells = [Cell(r, b, workflows) for r in RATES for b in BUDGETS]
    res = run_cells(cells, make_router(router), seed, profiles, record=False)
    return np.array([[x.metrics["goodput"], x.metrics["violation_rate"]] for x in res]).reshape(len(RATES), len(BUDGETS), 2)


@pytest.fixture(scope="module")
def grids(profiles):
    return {name: _goodput_grid(name, 150, profiles) for name in ["clairvoyant", *BASELINES]}


def test_clairvoyant_goodput_is_at_least_every_baselines_in_every_cell(grids):
    oracle = grids["clairvoyant"][..., 0]
    for name in BASELINES:
        worse = oracle < grids[name][..., 0]
        assert not worse.any(), (name, np.argwhere(worse))


def test_violation_at_10s_exceeds_violation_at_1800s_for_every_router(grids):
    for name, g in grids.items():
        assert np.all(g[:, 0, 1] > g[:, -1, 1]), name


@pytest.mark.slow
def test_clairvoyant_ceiling_full_grid(profiles):
    oracle = _goodput_grid("clairvoyant", 1000, profiles, seed=1)[..., 0]
    for name in BASELINES:
        assert np.all(oracle >= _goodput_grid(name, 1000, profiles, seed=1)[..., 0]), name


def test_static_mix_reproduces_the_reference_shares(profiles):
    res = run_cells([Cell(20, 600, 2000)], make_router("static-mix"), 5, profiles, record=False)[0]
    shares = [res.metrics[f"share:{m}"] for m in profiles.model_names]
    assert np.allclose(shares, STATIC_MIX, atol=0.015)
    assert np.allclose([res.metrics[f"share:{s}"] for s in ("flash", "concise", "deepthink")], 1 / 3, atol=0.02)


def test_greedy_is_budget_aware_and_quality_first_is_not(profiles):
    def deep_share(router, budget):
        r = run_cells([Cell(50, budget, 400)], make_router(router), 2, profiles, record=False)[0]
        return r.metrics[f"share:{profiles.model_names[4]}"]

    assert deep_share("greedy", 10) < deep_share("greedy", 1800) - 0.3
    assert deep_share("quality-first", 10) == deep_share("quality-first", 1800) == 1.0


def test_router_names():
    assert make_router("fixed:32B:deepthink").name == "fixed:DeepSeek-R1-Distill-Qwen-32B:deepthink"
    assert make_router("fixed:Llama-3.1-8B-Instruct:Flash").action == 3
    for name in ("random", "static-mix", "least-loaded", "quality-first", "greedy", "clairvoyant"):
        assert make_router(name).name == name
    with pytest.raises(ConfigError, match="unknown router 'best'; allowed: fixed:MODEL:STRATEGY, random"):
        make_router("best")
    with pytest.raises(ConfigError, match="unknown strategy 'slow'"):
        make_router("fixed:3B:slow")
    with pytest.raises(ConfigError, match="unknown model '7B'"):
        make_router("fixed:7B:flash")
    with pytest.raises(ConfigError, match="expected fixed:MODEL:STRATEGY"):
        make_router("fixed:3B")
