"""Which cells an epoch visits: uniform, weighted, curriculum."""

from __future__ import annotations

import pytest

from loadwise.errors import ConfigError
from loadwise.rl.sampling import CellSampling
from loadwise.scenarios.grid import RECOMMENDED_GRID, RateBudgetGrid


def test_uniform_visits_every_cell_with_the_same_workflows():
    cells = CellSampling(RECOMMENDED_GRID, workflows=7).epoch_cells(3)
    assert len(cells) == len(RECOMMENDED_GRID.rates) * len(RECOMMENDED_GRID.budgets) == 30
    assert {c.workflows for c in cells} == {7}


def test_weighted_spreads_the_epochs_workflows_in_proportion():
    sampling = CellSampling(RateBudgetGrid((20.0, 200.0), (10.0, 50.0)), workflows=100, sampling="weighted",
                            weights=(1.0, 1.0, 2.0, 0.0))
    counts = {(c.rate, c.budget): c.workflows for c in sampling.epoch_cells(0)}
    assert counts == {(20.0, 10.0): 100, (20.0, 50.0): 100, (200.0, 10.0): 200}  # zero weight: not visited


def test_curriculum_starts_with_idle_servers_and_loose_budgets_and_ends_with_everything():
    sampling = CellSampling(RateBudgetGrid((20.0, 100.0, 200.0), (10.0, 200.0, 1800.0)), workflows=10,
                            curriculum_epochs=3)
    first = {(c.rate, c.budget) for c in sampling.epoch_cells(0)}
    assert (20.0, 1800.0) in first and (200.0, 10.0) not in first
    assert len(first) < len({(c.rate, c.budget) for c in sampling.epoch_cells(1)}) < 9
    assert len(sampling.epoch_cells(2)) == len(sampling.epoch_cells(3)) == 9


def test_bad_grids_and_samplings_name_the_field():
    with pytest.raises(ConfigError, match="^weights: weighted sampling needs 4 non-negative weights"):
        CellSampling(RateBudgetGrid((20.0, 200.0), (10.0, 50.0)), sampling="weighted", weights=(1.0,))
    with pytest.raises(ConfigError, match="^budgets: must be increasing"):
        RateBudgetGrid((20.0,), (50.0, 10.0))
    with pytest.raises(ConfigError, match="^rates: must be positive numbers"):
        RateBudgetGrid((20.0, -5.0), (10.0,))
    assert RateBudgetGrid.of([200, 20], [10]).rates == (20.0, 200.0)
