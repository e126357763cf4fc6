"""Telemetry with known properties for the audit tests."""

from __future__ import annotations

import pytest

from loadwise.auditing.synthetic import MODELS, synthetic_telemetry
from loadwise.systems.agentserve import telemetry

RATES = (50, 100, 150, 200)
BUDGETS = (10, 50, 200, 600, 1800)

# violation probability and model mix per tier: 600 s and 1800 s behave identically,
# every other adjacent pair differs in violation rate and model mix
VIOLATION = {10: 0.25, 50: 0.08, 200: 0.02, 600: 0.005, 1800: 0.005}
MIX = {10: [0.5, 0.3, 0.1, 0.05, 0.05], 50: [0.35, 0.3, 0.15, 0.1, 0.1], 200: [0.25, 0.25, 0.2, 0.15, 0.15],
       600: [0.15, 0.2, 0.2, 0.2, 0.25], 1800: [0.15, 0.2, 0.2, 0.2, 0.25]}


def tiered(**kw):
    """Lowest rate at queue depth 8, queue linear in rate, tiers as above."""
    args = dict(rates=RATES, budgets=BUDGETS, queue=lambda r: 8.0 * r / 50.0,
                violation=lambda r, b: VIOLATION[b], model_mix=lambda r, b: MIX[b],
                workflows_per_cell=300, steps_per_workflow=4, seed=7)
    args.update(kw)
    return synthetic_telemetry(**args)


@pytest.fixture(scope="session")
def tiered_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("telemetry")
    steps, workflows = tiered()
    telemetry.write(folder, steps, workflows)
    return folder


@pytest.fixture(scope="session")
def tiered_result(tiered_folder):
    import loadwise

    return loadwise.audit(tiered_folder)


@pytest.fixture(scope="session")
def known():
    """The generator and its settings, for tests that vary them (importlib mode cannot
    import conftest as a module)."""
    from types import SimpleNamespace

    return SimpleNamespace(tiered=tiered, MIX=MIX, MODELS=MODELS)
