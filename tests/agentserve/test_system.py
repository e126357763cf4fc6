"""The serving simulator as a System: variants, knobs, scenarios as cells, grouped runs."""

from __future__ import annotations

import pytest

from loadwise.errors import ConfigError
from loadwise.scenarios.grid import INFRAMIND_GRID, RateBudgetGrid, inframind_grid
from loadwise.systems import get_system
from loadwise.systems.agentserve import AgentServe, Cell, make_router, run_cells
from loadwise.systems.agentserve.routers import GreedyRouter

CELL = {"rate": 100.0, "budget": 50.0, "workflows": 80}


def test_a_variant_is_a_router_family_with_its_own_knobs():
    greedy = get_system("agentserve")
    assert greedy.name == "agentserve:greedy" and isinstance(greedy, AgentServe)
    assert [k.name for k in greedy.knobs] == ["headroom", "max_num_seqs", "discipline"]
    mix = get_system("agentserve:static-mix")
    assert {"mix_temperature", "weight_3b", "weight_32b", "discipline"} <= {k.name for k in mix.knobs}
    assert [k.name for k in get_system("agentserve:fixed:32B:deepthink").knobs] == ["max_num_seqs", "discipline"]
    with pytest.raises(ConfigError, match="^router: unknown router 'smart'"):
        get_system("agentserve:smart")
    with pytest.raises(ConfigError, match="^system: submitqueue has no variants"):
        get_system("submitqueue:fast")


def test_default_knobs_reproduce_the_router_run_directly():
    system = get_system("agentserve")
    metrics = system.run({}, CELL, seed=4)
    (direct,) = run_cells([Cell(100.0, 50.0, 80)], make_router("greedy"), 4, record=False)
    assert metrics == direct.metrics


def test_knobs_change_the_run_and_are_checked():
    system = get_system("agentserve")
    base = system.run({}, CELL, seed=4)
    careful = system.run({"headroom": 0.3}, CELL, seed=4)
    assert careful["mean_latency"] < base["mean_latency"]  # less headroom: faster pairs
    (direct,) = run_cells([Cell(100.0, 50.0, 80)], GreedyRouter(headroom=0.3), 4, record=False)
    assert careful == direct.metrics
    static = get_system("agentserve:static-mix")  # a router that does not adapt: the servers' knobs show
    assert static.run({"max_num_seqs": 4}, CELL, 4)["mean_latency"] > static.run({}, CELL, 4)["mean_latency"]
    edf = system.run({"discipline": "edf"}, CELL, seed=4)
    assert edf != base
    with pytest.raises(ConfigError, match="^discipline: 'lifo' is not allowed"):
        system.run({"discipline": "lifo"}, CELL, seed=4)
    with pytest.raises(ConfigError, match="^pattern: 'bursty' is not allowed"):
        system.run({}, {**CELL, "pattern": "bursty"}, seed=4)


def test_fidelity_shortens_the_run_and_groups_equal_single_runs():
    system = get_system("agentserve:static-mix")
    assert system.run({}, {**CELL, "workflows": 400}, 1, fidelity=0.25)["workflows"] == 100
    assert system.run({}, {**CELL, "workflows": 40}, 1, fidelity=0.25)["workflows"] == 40  # never below 50 unless fewer
    cells = [{"rate": r, "budget": b, "workflows": 60} for r, b in ((20, 10), (200, 600))]
    ticks = []
    together = system.run_group({}, cells, [3, 9], record=True, on_progress=lambda done, total: ticks.append(total))
    assert [r.metrics for r in together] == [system.run({}, c, s) for c, s in zip(cells, (3, 9))]
    assert len(together[0].artifacts["steps"]) == together[0].metrics["steps"]
    assert ticks and set(ticks) == {120}


def test_a_grid_is_a_scenario_set_the_system_accepts():
    system = get_system("agentserve")
    grid = inframind_grid(workflows=30).checked(system.scenario_params)
    assert len(grid.names) == 20 and grid.names[0] == "rate50-budget10"
    assert RateBudgetGrid.from_scenario_set(grid) == INFRAMIND_GRID
    assert system.run({}, dict(grid["rate200-budget1800"].params), 2)["workflows"] == 30
