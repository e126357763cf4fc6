"""Validation on fresh seeds: the honest answer to "how good is the config we found?".

The best value seen during a search is biased upward (winner's curse): it won partly by
luck. Validation re-runs the chosen configs on seeds from a stream the search never
used (`purpose="validate"`), n replicates per scenario, all configs on the same seeds
(so their differences are paired), and reports the objective with a 95 % CI from
Σ gᵢ² sᵢ²/nᵢ (gᵢ: the aggregate's sensitivity to scenario i, the weight for the
weighted mean), a per-scenario table, and the paired difference to a baseline with its
p-value (linearized for non-mean aggregates).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from loadwise.evaluate import Evaluator
from loadwise.scenarios import ScenarioSet
from loadwise.systems.base import Metrics, Objective
from loadwise.tuning.aggregate import Aggregate
from loadwise.tuning.progress import OnProgress, run_counted
from loadwise.tuning.racing import StagePlan
from loadwise.tuning.stats import (
    ci_half_width,
    paired_weighted_difference,
    sample_stats,
)


@dataclass
class ValidationResult:
    """Validated configs: `summary` (one row per config) and `per_scenario` tables."""

    summary: pd.DataFrame
    per_scenario: pd.DataFrame
    configs: dict[str, dict[str, Any]]
    baseline: str | None
    replicates: int
    direction: str
    paths: dict[str, Any] = field(default_factory=dict)  # the report's files, once a verb has written it
    # each config's run metrics by (scenario, replicate), when the runs were made here; a failed run has none
    metrics: dict[str, dict[tuple[str, int], Metrics]] = field(default_factory=dict)

    @property
    def best(self) -> str:
        """Name of the config with the best validated objective."""
        col = self.summary.set_index("config")["objective"]
        return str(col.idxmin() if self.direction == "minimize" else col.idxmax())


def validate_configs(
    evaluator: Evaluator,
    configs: Mapping[str, Mapping[str, Any]],
    scenario_set: ScenarioSet,
    objective: Objective,
    aggregate: Aggregate,
    replicates: int,
    study_seed: int,
    baseline: str | None = None,
    on_progress: OnProgress | None = None,
) -> ValidationResult:
    """Evaluate each config on every scenario × `replicates` fresh seeds and compare them."""
    replicates = max(2, int(replicates))
    plan = StagePlan(-1, scenario_set, 1.0, study_seed, objective, aggregate)
    cells = [(s, r) for s in scenario_set.names for r in range(replicates)]
    specs = {name: {cell: plan.spec(cfg, cell, purpose="validate") for cell in cells} for name, cfg in configs.items()}
    results = run_counted(evaluator, [sp for by in specs.values() for sp in by.values()], on_progress)
    values = {name: {cell: results[sp.key].value(objective) for cell, sp in by.items()} for name, by in specs.items()}
    failed = {name: sum(not results[sp.key].ok for sp in by.values()) for name, by in specs.items()}
    result = summarize_paired(values, failed, configs, scenario_set.weights, objective, aggregate, replicates, baseline)
    result.metrics = {name: {cell: dict(results[sp.key].metrics) for cell, sp in by.items() if results[sp.key].ok}
                      for name, by in specs.items()}
    return result


def paired_per_scenario(values: Mapping[str, Mapping[tuple[str, int], float]], baseline: str) -> pd.DataFrame:
    """Per scenario, each config's mean of a run figure `values[config][(scenario, replicate)]`
    with its 95 % CI, and its paired difference to `baseline` on the same seeds with its CI
    and p-value (Student's t on the differences). Replicates a config lacks (failed runs)
    leave the pair out."""
    base = values[baseline]
    rows = []
    for name, by_cell in values.items():
        if name == baseline:
            continue
        for scenario in dict.fromkeys(s for s, _ in base):
            cells = [c for c in base if c[0] == scenario and c in by_cell]
            ours, theirs = [by_cell[c] for c in cells], [base[c] for c in cells]
            m, v, n = sample_stats(ours) if cells else (math.nan, math.nan, 0)
            bm, bv, _ = sample_stats(theirs) if cells else (math.nan, math.nan, 0)
            diff, dhalf, p = paired_weighted_difference({scenario: 1.0}, {scenario: [a - b for a, b in zip(ours, theirs)]})
            rows.append({"config": name, "scenario": scenario, "mean": m, "ci95": ci_half_width([1.0], [v], [n]),
                         "baseline_mean": bm, "baseline_ci95": ci_half_width([1.0], [bv], [n]),
                         "diff": diff, "diff_ci95": dhalf, "p_value": p, "n": n})
    return pd.DataFrame(rows)


def summarize_paired(
    values: Mapping[str, Mapping[tuple[str, int], float]],
    failed: Mapping[str, int],
    configs: Mapping[str, Mapping[str, Any]],
    weights: Mapping[str, float],
    objective: Objective,
    aggregate: Aggregate,
    replicates: int,
    baseline: str | None = None,
) -> ValidationResult:
    """The validation tables from run values `values[name][(scenario, replicate)]` that every
    named config has on the same seeds (so differences to `baseline` are paired); the
    configs may belong to different systems, as long as the objective is the same."""
    rows, scen_rows = [], []
    base_values = values.get(baseline) if baseline else None
    for name, by_cell in values.items():
        per: dict[str, list[float]] = defaultdict(list)
        for (s, _), v in sorted(by_cell.items()):
            per[s].append(v)
        stats = {s: sample_stats(per[s]) for s in weights}
        means = {s: stats[s][0] for s in weights}
        value = aggregate(means, weights, objective.direction)
        grad = aggregate.gradient(means, weights, objective.direction)
        g = [abs(grad[s]) for s in weights]
        half = ci_half_width(g, [stats[s][1] for s in weights], [stats[s][2] for s in weights])
        row = {"config": name, "objective": value, "ci95": half, "failed_runs": failed[name]}
        if base_values is not None:
            if name == baseline:
                row.update({"diff_vs_baseline": 0.0, "diff_ci95": 0.0, "p_value": math.nan})
            else:
                diffs = {s: [by_cell[(s, r)] - base_values[(s, r)] for r in range(replicates)] for s in weights}
                _, dhalf, p = paired_weighted_difference(dict(zip(weights, g)), diffs)
                base_means = {s: float(np.mean([base_values[(s, r)] for r in range(replicates)])) for s in weights}
                row.update({"diff_vs_baseline": value - aggregate(base_means, weights, objective.direction),
                            "diff_ci95": dhalf, "p_value": p})
        rows.append(row)
        for s in weights:
            m, v, n = stats[s]
            scen_rows.append({"config": name, "scenario": s, "weight": weights[s], "mean": m,
                              "ci95": ci_half_width([1.0], [v], [n]), "n": n})
    summary = pd.DataFrame(rows)
    ascending = objective.direction == "minimize"
    summary = summary.sort_values("objective", ascending=ascending, kind="stable").reset_index(drop=True)
    return ValidationResult(summary, pd.DataFrame(scen_rows), {k: dict(v) for k, v in configs.items()},
                            baseline, replicates, objective.direction)
