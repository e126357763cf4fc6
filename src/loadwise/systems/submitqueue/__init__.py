"""The CI submit-queue simulator (`shared/spec/02-submit-queue.md`, seed `003_…txt`).

Importing this package is cheap; the numba kernel is compiled (or loaded from its
on-disk cache) on the first run.
"""

from loadwise.systems.submitqueue.metrics import CLASSIC_METRICS, GROUND_TRUTH_METRICS
from loadwise.systems.submitqueue.objectives import (
    CostWeights, classic_objective, classic_score, cost_objective, cost_terms,
)
from loadwise.systems.submitqueue.params import KNOBS, SCENARIO_PARAMS
from loadwise.systems.submitqueue.scenarios import SEED_SCENARIOS, SeedScenario, seed_scenario
from loadwise.systems.submitqueue.system import SubmitQueue
from loadwise.systems.submitqueue.trace import load_trace, replay_csv

__all__ = [
    "CLASSIC_METRICS", "GROUND_TRUTH_METRICS", "KNOBS", "SCENARIO_PARAMS", "SEED_SCENARIOS",
    "CostWeights", "SeedScenario", "SubmitQueue", "classic_objective", "classic_score",
    "cost_objective", "cost_terms", "load_trace", "replay_csv", "seed_scenario",
]
