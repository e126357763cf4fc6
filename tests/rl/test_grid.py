"""Which cells an epoch visits: uniform, weighted, curriculum."""

from __future__ import annotations

import pytest

from loadwise.errors import ConfigError
from loadwise.rl.grid import DEFAULT_BUDGETS, DEFAULT_RATES, Grid, parse_numbers


def test_uniform_visits_every_cell_with_the_same_workflows():
    cells = Grid(workflows=7).epoch_cells(3)
    assert len(cells) == len(DEFAULT_RATES) * len(DEFAULT_BUDGETS) == 30
    assert {c.workflows for c in cells} == {7}


def test_weighted_spreads_the_epochs_workflows_in_proportion():
    grid = Grid(rates=(20.0, 200.0), budgets=(10.0, 50.0), workflows=100, sampling="weighted",
                weights=(1.0, 1.0, 2.0, 0.0))
    counts = {(c.rate, c.budget): c.workflows for c in grid.epoch_cells(0)}
    assert counts == {(20.0, 10.0): 100, (20.0, 50.0): 100, (200.0, 10.0): 200}  # zero weight: not visited


def test_curriculum_starts_with_idle_servers_and_loose_budgets_and_ends_with_everything():
    grid = Grid(rates=(20.0, 100.0, 200.0), budgets=(10.0, 200.0, 1800.0), workflows=10, curriculum_epochs=3)
    first = {(c.rate, c.budget) for c in grid.epoch_cells(0)}
    assert (20.0, 1800.0) in first and (200.0, 10.0) not in first
    assert len(first) < len({(c.rate, c.budget) for c in grid.epoch_cells(1)}) < 9
    assert len(grid.epoch_cells(2)) == len(grid.epoch_cells(3)) == 9


def test_bad_grids_name_the_flag():
    with pytest.raises(ConfigError, match="^--weights: weighted sampling needs 4 non-negative weights"):
        Grid(rates=(20.0, 200.0), budgets=(10.0, 50.0), sampling="weighted", weights=(1.0,))
    with pytest.raises(ConfigError, match="^--rates: '20,x' is not a comma-separated list"):
        parse_numbers("20,x", "--rates", DEFAULT_RATES)
    with pytest.raises(ConfigError, match="^--budgets: '10,-5': every value must be a positive number"):
        parse_numbers("10,-5", "--budgets", DEFAULT_BUDGETS)
    assert parse_numbers("200,20", "--rates", DEFAULT_RATES) == (20.0, 200.0)
    with pytest.raises(ConfigError, match="^--budgets: must be increasing"):
        Grid(budgets=(50.0, 10.0))


def test_weights_keep_their_order_and_may_repeat():
    from loadwise.rl.grid import parse_weights

    assert parse_weights("2,0,1,1") == (2.0, 0.0, 1.0, 1.0)
    with pytest.raises(ConfigError, match="^--weights: 'a,b' is not a comma-separated list"):
        parse_weights("a,b")
