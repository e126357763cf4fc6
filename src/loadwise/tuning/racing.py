"""Evaluating one config within one fidelity stage: ordering, replication and racing.

A stage is one objective: a scenario subset at one simulation length, with its own
Optuna study. `StageData` holds every run value seen in the stage; `ConfigEvaluation`
decides which runs one config needs next:

1. Scenarios in order of expected information, weight × spread (spread: how much the
   configs seen so far differ on that scenario), `min_replicates` each.
2. Racing (weighted mean only): after every result, the paired differences to the
   incumbent (same seeds) give the challenger's deficit on the scenarios run so far; on
   the scenarios not run yet the challenger is credited with the largest advantage any
   config has shown there (the range of config means). If the deficit is still positive
   with confidence 1 − δ (one-sided t test; δ split over all looks by Bonferroni), the
   challenger is dropped. The variance of a paired difference comes from the challenger's
   own replicates, else from earlier challengers (pooled), else from the bound
   Var(a − b) ≤ 4σ² (σ² the pooled run variance). Until a scenario has a range from
   three configs and a variance, nothing is dropped.
3. Replication: while the 95 % CI half-width of the objective exceeds `ci_tol`, add a
   replicate where it shrinks the variance Σ gᵢ² sᵢ²/nᵢ most (gᵢ: the aggregate's
   sensitivity to scenario i; wᵢ for the weighted mean), up to `max_replicates`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from loadwise.evaluate.runs import RunResult, RunSpec, canonical
from loadwise.evaluate.seeds import run_seed
from loadwise.scenarios.scenario import ScenarioSet
from loadwise.systems.base import Objective
from loadwise.tuning.aggregate import Aggregate
from loadwise.tuning.stats import (
    sample_stats,
    t_quantile,
    weighted_mean_variance,
    welch_df,
)

Cell = tuple[str, int]  # (scenario, replicate)


@dataclass
class StagePlan:
    """What one stage evaluates and how."""

    index: int
    scenarios: ScenarioSet
    fidelity: float
    study_seed: int
    objective: Objective
    aggregate: Aggregate
    min_replicates: int = 1
    max_replicates: int = 3
    ci_tol: float | None = None
    racing: bool = True
    delta: float = 0.05
    order: str = "information"  # or "weight": the scenario-weighting study's rule, heaviest scenarios first

    def spec(self, config: Mapping[str, Any], cell: Cell, purpose: str = "search") -> RunSpec:
        scenario, rep = cell
        draw_seed = run_seed(self.study_seed, scenario, rep, "draw")
        return RunSpec(dict(config), scenario, self.scenarios.params_for(scenario, rep, draw_seed), rep,
                       run_seed(self.study_seed, scenario, rep, purpose), self.fidelity, purpose)

    @property
    def loss_sign(self) -> float:
        return 1.0 if self.objective.direction == "minimize" else -1.0


@dataclass
class StageData:
    """Run values of every config evaluated in one stage, and what they teach about the stage."""

    plan: StagePlan
    values: dict[str, dict[Cell, float]] = field(default_factory=lambda: defaultdict(dict))
    metrics: dict[str, dict[Cell, dict[str, float]]] = field(default_factory=lambda: defaultdict(dict))
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    completed: dict[str, float] = field(default_factory=dict)  # config key -> objective
    feasible: dict[str, bool] = field(default_factory=dict)
    incumbent: str | None = None
    diff_var: dict[str, list[tuple[float, int]]] = field(default_factory=lambda: defaultdict(list))

    def record(self, result: RunResult) -> None:
        key = result.spec.config_key
        cell = (result.spec.scenario, result.spec.replicate)
        self.configs[key] = dict(result.spec.config)
        self.values[key][cell] = result.value(self.plan.objective)
        self.metrics[key][cell] = dict(result.metrics) if result.ok else {}

    def scenario_means(self, key: str) -> dict[str, list[float]]:
        by: dict[str, list[float]] = defaultdict(list)
        for (s, _), v in sorted(self.values[key].items()):
            by[s].append(v)
        return by

    def pooled_variance(self, scenario: str) -> tuple[float, float] | None:
        """Within-config run variance on `scenario`, pooled over configs with ≥ 2 replicates: (s², dof)."""
        num = dof = 0.0
        for key in self.values:
            vals = self.scenario_means(key).get(scenario, [])
            if len(vals) > 1:
                num += (len(vals) - 1) * float(np.var(vals, ddof=1))
                dof += len(vals) - 1
        return (num / dof, dof) if dof else None

    def pooled_diff_variance(self, scenario: str) -> tuple[float, float] | None:
        items = self.diff_var.get(scenario, [])
        dof = sum(d for _, d in items)
        return (sum(v * d for v, d in items) / dof, dof) if dof else None

    def spread(self, scenario: str) -> tuple[float, int]:
        """(range of config means on `scenario`, number of configs) in this stage."""
        means = [float(np.mean(v)) for key in self.values if (v := self.scenario_means(key).get(scenario))]
        return (max(means) - min(means), len(means)) if means else (0.0, 0)

    def order(self) -> list[str]:
        """Scenarios by weight × spread (most informative first); by weight until spreads are known.

        With the "weight" preset the order is by weight alone: the scenario-weighting
        study's rule "test [normal, spike]; all scenarios only if the uncertainty is high", where high
        uncertainty means racing has not yet shown the config worse than the incumbent.
        """
        weights = self.plan.scenarios.weights
        if self.plan.order == "weight":
            return self.plan.scenarios.by_weight()

        def info(s: str) -> float:
            rng, n = self.spread(s)
            if n < 2:
                pooled = self.pooled_variance(s)
                return weights[s] * (math.sqrt(pooled[0]) if pooled else 1.0)
            return weights[s] * rng

        return sorted(weights, key=lambda s: -info(s))

    def best_key(self) -> str | None:
        """The best completed config: feasible first, then by objective."""
        if not self.completed:
            return None
        sign = self.plan.loss_sign
        return min(self.completed, key=lambda k: (not self.feasible.get(k, True), sign * self.completed[k]))


class ConfigEvaluation:
    """The runs one config needs in one stage, decided one result at a time."""

    def __init__(self, data: StageData, config: Mapping[str, Any], trial: Any) -> None:
        self.data, self.plan = data, data.plan
        self.config = dict(config)
        self.key = canonical(self.config)
        self.trial = trial
        self.incumbent = data.incumbent if data.incumbent != self.key else None
        self.status = "running"  # running | complete | dropped
        self.value = math.nan
        self.ci = math.nan
        self.drop_reason = ""
        self.plan_cells: list[Cell] = [(s, r) for s in data.order() for r in range(self.plan.min_replicates)]
        self.requested: set[str] = set()
        self.waiting: dict[str, tuple[str, Cell]] = {}  # spec key -> (config key, cell)
        n_cells = len(self.plan.scenarios.names) * self.plan.max_replicates
        self.look_delta = self.plan.delta / max(1, n_cells)
        self.racing = self.plan.racing and self.plan.aggregate.linear and self.incumbent is not None

    # what to run

    def next_spec(self) -> RunSpec | None:
        """The next run this evaluation needs (incumbent runs for pairing first), or None.

        Cells whose values the stage already holds (a config proposed twice, runs shared
        with another trial) are used without running again.
        """
        while self.status == "running":
            if not self.plan_cells:
                if self.waiting:
                    return None
                self._replicate_or_finish()
                continue
            cell = self.plan_cells[0]
            if self.racing and cell not in self.data.values[self.incumbent]:
                spec = self.plan.spec(self.data.configs[self.incumbent], cell)
                if spec.key not in self.requested:
                    return self._request(spec, self.incumbent, cell)
            self.plan_cells.pop(0)
            if cell in self.data.values[self.key]:
                continue
            return self._request(self.plan.spec(self.config, cell), self.key, cell)
        return None

    def _request(self, spec: RunSpec, key: str, cell: Cell) -> RunSpec:
        self.requested.add(spec.key)
        self.waiting[spec.key] = (key, cell)
        return spec

    def wants(self, spec_key: str) -> bool:
        return spec_key in self.waiting

    # what came back

    def on_result(self, result: RunResult) -> None:
        """Take a finished run (already recorded in the stage data) and decide what is next."""
        self.waiting.pop(result.spec.key, None)
        if self.status != "running":
            return
        if self.racing and self._worse_than_incumbent():
            self.status = "dropped"
            self._remember_diff_variances()

    def _replicate_or_finish(self) -> None:
        """Add a replicate while the CI is wider than the tolerance (and room is left), else complete."""
        names, means, variances, dofs, counts, unknown = self._scenario_stats()
        weights = self.plan.scenarios.weights
        grad = self.plan.aggregate.gradient(means, weights, self.plan.objective.direction)
        g = [abs(grad[s]) for s in names]
        if not unknown:
            var = weighted_mean_variance(g, variances, counts)
            self.ci = t_quantile(0.975, welch_df(g, variances, dofs, counts)) * math.sqrt(var)
        if self.plan.ci_tol is not None:
            room = [i for i in range(len(names)) if counts[i] < self.plan.max_replicates]
            no_variance = [i for i in room if names[i] in unknown]
            if no_variance:  # a second replicate gives the scenario a variance
                self.plan_cells.append((names[no_variance[0]], counts[no_variance[0]]))
                return
            if room and not unknown and self.ci > self.plan.ci_tol:
                # the replicate that shrinks Σ gᵢ² sᵢ²/nᵢ the most
                i = max(room, key=lambda i: g[i] ** 2 * variances[i] / (counts[i] * (counts[i] + 1)))
                self.plan_cells.append((names[i], counts[i]))
                return
        self.value = self.plan.aggregate(means, weights, self.plan.objective.direction)
        self.status = "complete"
        if self.racing:
            self._remember_diff_variances()

    def _scenario_stats(self) -> tuple[list[str], dict[str, float], list[float], list[float], list[int], set[str]]:
        """Per scenario of the stage: mean, run variance (own, else pooled) and its dof, count; names without a variance."""
        by = self.data.scenario_means(self.key)
        names = list(self.plan.scenarios.weights)
        means, variances, dofs, counts, unknown = {}, [], [], [], set()
        for s in names:
            m, v, n = sample_stats(by[s])
            means[s] = m
            if n < 2:
                pooled = self.data.pooled_variance(s)
                if pooled is None:
                    unknown.add(s)
                    pooled = (math.nan, 0.0)
                v, dof = pooled
            else:
                dof = n - 1
            variances.append(v)
            dofs.append(dof)
            counts.append(n)
        return names, means, variances, dofs, counts, unknown

    # racing

    def _pairs(self) -> dict[str, list[float]]:
        mine, theirs = self.data.values[self.key], self.data.values[self.incumbent]
        sign = self.plan.loss_sign
        diffs: dict[str, list[float]] = defaultdict(list)
        for cell, v in mine.items():
            if cell in theirs:
                diffs[cell[0]].append(sign * (v - theirs[cell]))
        return diffs

    def _worse_than_incumbent(self) -> bool:
        """True when the challenger's weighted-mean loss exceeds the incumbent's with confidence 1 − δ."""
        diffs = self._pairs()
        if not diffs:
            return False
        weights = self.plan.scenarios.weights
        deficit, w, variances, dofs, counts = 0.0, [], [], [], []
        for s, wt in weights.items():
            if s in diffs:
                m, v, n = sample_stats(diffs[s])
                if n < 2:
                    pooled = self.data.pooled_diff_variance(s) or self._bounded_diff_variance(s)
                    if pooled is None:
                        return False
                    v, dof = pooled
                else:
                    dof = n - 1
                deficit += wt * m
                w.append(wt)
                variances.append(v)
                dofs.append(dof)
                counts.append(n)
            else:
                rng, n_configs = self.data.spread(s)
                if n_configs < 3:
                    return False
                deficit -= wt * rng
        var = weighted_mean_variance(w, variances, counts)
        bound = t_quantile(1 - self.look_delta, welch_df(w, variances, dofs, counts)) * math.sqrt(var)
        if deficit - bound > 0:
            self.drop_reason = f"worse than the incumbent by {deficit:.4g} (> {bound:.4g} at 1−δ)"
            return True
        return False

    def _bounded_diff_variance(self, scenario: str) -> tuple[float, float] | None:
        """Var(a − b) ≤ (σa + σb)² = 4σ² with the pooled run variance σ²: valid without any pairing gain."""
        pooled = self.data.pooled_variance(scenario)
        return (4.0 * pooled[0], pooled[1]) if pooled else None

    def _remember_diff_variances(self) -> None:
        for s, d in self._pairs().items():
            if len(d) > 1:
                self.data.diff_var[s].append((float(np.var(d, ddof=1)), len(d) - 1))

    def partial_estimate(self) -> float:
        """Loss-oriented weighted mean over the scenarios run so far (an intermediate value for pruning)."""
        by = self.data.scenario_means(self.key)
        weights = {s: w for s, w in self.plan.scenarios.weights.items() if by.get(s)}
        if not weights:
            return math.nan
        total = sum(weights.values())
        return sum(w * float(np.mean(by[s])) for s, w in weights.items()) / total
