"""The serving layer as a gymnasium.Env."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from loadwise.errors import ConfigError
from loadwise.rl.features import STEP_OBS_DIM
from loadwise.rl.gym_env import AgentServeEnv
from loadwise.systems.agentserve import Cell, make_router, run_cells
from loadwise.systems.agentserve.routing import N_ACTIONS


def test_passes_the_gymnasium_checker():
    check_env(AgentServeEnv(rate=50, budget=50, workflows=20), skip_render_check=True)


def test_episode_return_is_the_cells_goodput_and_matches_the_driver():
    """Playing greedy's planner and a fixed pair through the env gives the driver's goodput."""
    env = AgentServeEnv(rate=100, budget=50, workflows=60, planner="budget-aware")
    obs, _ = env.reset(seed=3)
    assert obs.shape == (STEP_OBS_DIM,) and env.action_space.n == N_ACTIONS
    total, costs, steps, done = 0.0, 0.0, 0, False
    while not done:
        obs, reward, done, truncated, info = env.step(4)  # 8B, concise
        total += reward
        costs += info["cost"]
        steps += 1
        assert not truncated and env.observation_space.contains(obs)
    sim_seed = int(np.random.default_rng(3).integers(0, 2**31 - 1))  # what reset(seed=3) draws
    fixed = make_router("fixed:8B:concise")
    fixed.plan = make_router("greedy").plan  # the env's budget-aware planner
    (result,) = run_cells([Cell(rate=100, budget=50, workflows=60)], fixed, seeds=sim_seed, record=False)
    assert steps == result.metrics["steps"]
    assert total / 60 == pytest.approx(result.metrics["goodput"])
    assert costs / 60 == pytest.approx(result.metrics["violation_rate"])


def test_bad_planner_is_a_config_error():
    with pytest.raises(ConfigError, match="^planner: unknown planner 'smart'"):
        AgentServeEnv(planner="smart")
