"""Robust tuning across weighted scenarios, on Optuna: the search machinery.

`Tuner` searches the knob settings that are best across a scenario set (fidelity
stages, common random numbers, adaptive replication, racing against the incumbent,
resumable RDB storage); `validate_configs` re-evaluates configs on fresh seeds;
`objective_slices` moves each knob alone around an optimum. Nothing here creates a run
folder or a report: the verbs `loadwise.app.tune` and `loadwise.app.validate` do.
"""

from loadwise.tuning.aggregate import Aggregate
from loadwise.tuning.constraints import Constraint, parse_constraints
from loadwise.tuning.named import (
    named_configs,
    published_baseline,
    ranked,
    single_scenario_reference,
)
from loadwise.tuning.progress import OnProgress
from loadwise.tuning.slices import objective_slices
from loadwise.tuning.space import search_distributions
from loadwise.tuning.tuner import (
    TrialRecord,
    Tuner,
    TuneSettings,
    check_settings,
    ci_tol_default,
)
from loadwise.tuning.validation import ValidationResult, paired_per_scenario, summarize_paired, validate_configs

__all__ = [
    "Aggregate", "Constraint", "OnProgress", "TrialRecord", "TuneSettings", "Tuner", "ValidationResult",
    "check_settings", "ci_tol_default", "named_configs", "objective_slices", "paired_per_scenario",
    "parse_constraints", "published_baseline", "ranked", "search_distributions", "single_scenario_reference",
    "summarize_paired",
    "validate_configs",
]
