"""`mq run` and `mq compare`: one merge-queue run, and every strategy tuned and compared.

`mq_run` simulates one strategy once in a world (a world file, overridden by
parameters). `mq_compare` answers "which strategy, with which settings, for this load?":
it tunes every strategy's knobs with the robust tuner (`app.tune`) on the same scenario
set, the same number of trials and the same simulation budget, then runs each tuned
config and each strategy's product defaults on the same fresh seeds (`purpose`
"validate", common random numbers), so every difference between strategies is paired,
and writes the comparison and its report.

The run folder holds `run.json` (the settings and scenario set, so a re-run with the
same `out` resumes them), one folder per strategy (its tune run: `run.json`, `study.db`,
`result.json`, its report; `serial`, which has no knobs, only its validation runs in
`study.db`), `runs.parquet` (every validation run), `comparison.csv` (per strategy and
scenario), `result.json` and the report. A strategy whose tune has `result.json` is not
tuned again, and validation runs come back from each folder's run cache.
"""

from __future__ import annotations

import logging
import math
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd

from loadwise.app.progress import make_progress, task_callback
from loadwise.app.rundir import RUN_FILE, new_run_dir, not_written, read_run_info, study_storage, write_run_info
from loadwise.app.tune import tune
from loadwise.errors import ConfigError
from loadwise.evaluate import Evaluator, InlineBackend, RunCache, make_backend
from loadwise.files import read_json, write_json
from loadwise.params import resolve
from loadwise.report.mergequeue import compare_report
from loadwise.scenarios import ScenarioSet, get_scenario_set, make_schedule
from loadwise.scenarios.files import scenario_set_from_data, scenario_set_to_data
from loadwise.systems.base import identity
from loadwise.systems.mergequeue import (
    STRATEGY_NAMES,
    MergeQueue,
    check_world,
    cost_terms,
    load_world_file,
)
from loadwise.systems.submitqueue.system import check_seed
from loadwise.tuning import Aggregate, ValidationResult, summarize_paired
from loadwise.tuning.progress import run_counted
from loadwise.tuning.racing import StagePlan
from loadwise.tuning.stats import ci_half_width, sample_stats

RUN_KIND = "mq-compare"
RUNS_FILE = "runs.parquet"
DEFAULTS = " defaults"  # the label suffix of a strategy's product defaults
BACKENDS = ("local", "ray", "inline")
# the metrics the comparison shows per strategy and scenario (validation means)
SHOWN_METRICS = ("time_in_queue_p95_h", "time_in_queue_mean_h", "merged_per_hour", "runner_hours",
                 "evicted_innocent", "merged_bad", "builds_per_merged", "queued_end")


@dataclass(frozen=True)
class QueueRun:
    """One run: the inputs as checked, the metrics, the objective and its terms."""

    strategy: str
    config: dict[str, Any]
    world: dict[str, Any]
    seed: int
    metrics: dict[str, float]
    cost: float
    cost_terms: dict[str, float]


def mq_run(strategy: str = "speculative", knobs: Mapping[str, Any] | None = None, world: str | Path | None = None,
           params: Mapping[str, Any] | None = None, seed: int = 0) -> QueueRun:
    """Simulate one merge-queue strategy once: `knobs` set its knobs, `world` is a world file
    (YAML/TOML) whose values `params` override, the rest take the defaults."""
    system = MergeQueue(strategy)
    try:
        config = resolve(system.knobs, knobs or {})
    except ConfigError as exc:  # shown as the knobs' field (the --set flag), then the knob
        raise ConfigError("knobs", f"{exc.field}: {exc.problem}") from None
    values = check_world({**(load_world_file(world) if world is not None else {}), **(params or {})})
    seed = check_seed(seed)
    metrics = system.run(config, values, seed)
    objective = system.objectives["default"]
    return QueueRun(strategy, config, values, seed, metrics, objective(metrics),
                    cost_terms(metrics, system.cost_weights))


@dataclass(frozen=True)
class StrategyTune:
    """How one strategy was tuned (serial, without knobs, is not)."""

    strategy: str
    config: dict[str, Any]
    trials: int
    simulations: int
    search_seconds: float
    folder: Path


@dataclass
class Comparison:
    """The answer: the best config (a strategy, tuned or at its product defaults), the paired
    validation of every config, and the figures per config and scenario."""

    run_dir: Path
    winner: str  # the best config's label: "<strategy>" (tuned) or "<strategy> defaults"
    strategy: str
    winner_config: dict[str, Any]  # as the strategy applies it (Strategy.effective)
    validation: ValidationResult  # every config, differences paired against the winner
    own_alternative: ValidationResult | None  # the winner against the same strategy's other config
    configs: dict[str, dict[str, Any]]  # every label's effective config
    table: pd.DataFrame  # per config and scenario: objective and SHOWN_METRICS means, with CIs
    tunes: list[StrategyTune]
    next_command: str
    report: dict[str, Path] = field(default_factory=dict)

    @property
    def best_per_strategy(self) -> list[str]:
        """Each strategy's better config (tuned or defaults), best strategy first."""
        seen, out = set(), []
        for label in self.validation.summary["config"]:
            name = label.removesuffix(DEFAULTS)
            if name not in seen:
                seen.add(name)
                out.append(label)
        return out

    def __str__(self) -> str:
        row = self.validation.summary.set_index("config").loc[self.winner]
        return (f"best: {self.winner} {self.winner_config}\n"
                f"cost {row['objective']:.4g} ± {row['ci95']:.3g} developer-hours per 1000 pull requests\n"
                f"next: {self.next_command}\nreport: {self.report.get('html', '-')}")


def mq_compare(
    scenarios: str | Path | ScenarioSet = "mq-weighted4",
    trials: int = 40,
    *,
    strategies: Sequence[str] = STRATEGY_NAMES,
    fidelity: str = "short",
    replicates: int = 10,
    seed: int = 0,
    jobs: int | None = None,
    backend: str = "local",
    out: str | Path | None = None,
    progress: bool = True,
) -> Comparison:
    """Tune every strategy on `scenarios` with `trials` trials each (the same simulation
    budget: `trials` × scenarios full-length runs), validate the tuned configs and the
    product defaults on `replicates` fresh common seeds per scenario, and compare them.

    Re-run with the same `out` to resume: the saved settings are used, finished tunes
    and validation runs are not repeated."""
    optuna.logging.set_verbosity(logging.WARNING)
    resuming = out is not None and (Path(out) / RUN_FILE).exists()
    if resuming:
        saved = read_run_info(out, RUN_KIND)["config"]
        scenario_set = scenario_set_from_data(saved["scenario_set"], f"{Path(out) / RUN_FILE}: scenario_set")
        trials, fidelity, replicates, seed = saved["trials"], saved["fidelity"], saved["replicates"], saved["seed"]
        strategies = saved["strategies"]
    else:
        scenario_set = get_scenario_set(scenarios).checked(MergeQueue.scenario_params)
        _check_compare(trials, strategies, replicates, seed)
        make_schedule(fidelity, scenario_set)
    if backend not in BACKENDS:
        raise ConfigError("backend", f"{backend!r} is not allowed (one of {', '.join(BACKENDS)})")
    budget = float(trials * len(scenario_set.names))
    settings = {"scenario_set": scenario_set_to_data(scenario_set), "trials": trials, "fidelity": fidelity,
                "replicates": replicates, "seed": seed, "strategies": list(strategies), "budget": budget}
    run_dir = new_run_dir("mq-compare", out)
    write_run_info(run_dir, RUN_KIND, settings)
    tunes = [_tuned(name, scenario_set, settings, run_dir / name, jobs, backend, progress)
             for name in strategies if MergeQueue(name).knobs]
    configs = {t.strategy: t.config for t in tunes}
    runs = _validate(strategies, configs, scenario_set, replicates, seed, run_dir, jobs, backend, progress)
    runs.to_parquet(run_dir / RUNS_FILE, index=False)
    comparison = _compare(run_dir, scenario_set, runs, tunes, replicates)
    comparison.table.to_csv(run_dir / "comparison.csv", index=False)
    summary = comparison.validation.summary.set_index("config")
    winner, effective = comparison.winner, comparison.configs
    write_json(run_dir / "result.json", {
        "winner": winner, "strategy": comparison.strategy, "config": effective[winner],
        "objective": float(summary.loc[winner, "objective"]), "ci95": _finite(summary.loc[winner, "ci95"]),
        "configs": {label: {"config": effective[label], "objective": float(row["objective"]),
                            "ci95": _finite(row["ci95"]), "diff_vs_winner": _finite(row["diff_vs_baseline"]),
                            "diff_ci95": _finite(row["diff_ci95"]), "p_value": _finite(row["p_value"])}
                    for label, row in summary.iterrows()},
        "next_command": comparison.next_command,
    })
    comparison.report = render(run_dir)
    return comparison


def render(run_dir: str | Path) -> dict[str, Path]:
    """Write the comparison's report from its folder: `run.json`, each strategy's tune `result.json`
    and the validation runs (`runs.parquet`)."""
    run_dir = Path(run_dir)
    settings = read_run_info(run_dir, RUN_KIND)["config"]
    scenario_set = scenario_set_from_data(settings["scenario_set"], f"{run_dir / RUN_FILE}: scenario_set")
    command = f"loadwise mq compare --out {run_dir}"
    if not (run_dir / RUNS_FILE).is_file():  # written after every tune finished
        raise not_written(run_dir, f"the validation runs ({RUNS_FILE})", command)
    tunes = [_tune_result(name, run_dir / name) for name in settings["strategies"] if MergeQueue(name).knobs]
    comparison = _compare(run_dir, scenario_set, pd.read_parquet(run_dir / RUNS_FILE), tunes, settings["replicates"])
    return compare_report(comparison, scenario_set, settings).write(run_dir)


def _check_compare(trials: int, strategies: Sequence[str], replicates: int, seed: int) -> None:
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ConfigError("trials", f"expected an integer >= 1, got {trials!r}")
    unknown = [s for s in strategies if s not in STRATEGY_NAMES]
    if unknown or not strategies or len(set(strategies)) != len(strategies):
        raise ConfigError("strategies", f"expected distinct names out of {', '.join(STRATEGY_NAMES)}, "
                                        f"got {', '.join(strategies) or 'none'}")
    if isinstance(replicates, bool) or not isinstance(replicates, int) or replicates < 2:
        raise ConfigError("replicates", f"expected an integer >= 2 (paired CIs need two), got {replicates!r}")
    check_seed(seed)


def _tuned(name: str, scenario_set: ScenarioSet, settings: Mapping[str, Any], folder: Path, jobs: int | None,
           backend: str, progress: bool) -> StrategyTune:
    """The strategy's tune: read back when finished, resumed when interrupted, else run."""
    if not (folder / "result.json").exists():
        common = dict(jobs=jobs, backend=backend, validate_top=0, slice_points=0, progress=progress)
        if (folder / RUN_FILE).exists():
            tune(resume=folder, **common)
        else:
            tune(f"mergequeue:{name}", scenario_set, settings["trials"], fidelity=settings["fidelity"],
                 seed=settings["seed"], budget=settings["budget"], out=folder, **common)
    if read_json(folder / "result.json")["best_config"] is None:
        raise ConfigError("trials", f"the {name} tune finished no trial on the full scenario set; give more trials")
    return _tune_result(name, folder)


def _tune_result(name: str, folder: Path) -> StrategyTune:
    """A strategy's finished tune, from its `result.json`."""
    result = read_json(folder / "result.json")
    return StrategyTune(name, result["best_config"], result["trials"], result["simulations"],
                        result["search_seconds"], folder)


def _validate(strategies: Sequence[str], configs: Mapping[str, Mapping[str, Any]], scenario_set: ScenarioSet,
              replicates: int, seed: int, run_dir: Path, jobs: int | None, backend: str,
              progress: bool) -> pd.DataFrame:
    """Every strategy's tuned config and its defaults on the same fresh seeds; one row per run."""
    rows = []
    cells = [(s, r) for s in scenario_set.names for r in range(replicates)]
    with make_progress(disable=not progress) as bar:
        for name in strategies:
            system = MergeQueue(name)
            objective = system.objectives["default"]
            plan = StagePlan(-1, scenario_set, 1.0, seed, objective, Aggregate.parse("mean"))
            named = {name: configs[name], name + DEFAULTS: {}} if name in configs else {name: {}}
            specs = {(label, cell): plan.spec(resolve(system.knobs, cfg), cell, purpose="validate")
                     for label, cfg in named.items() for cell in cells}
            (run_dir / name).mkdir(exist_ok=True)
            cache = RunCache(study_storage(run_dir / name), "loadwise", identity(system))
            done = all(cache.get(spec) is not None for spec in specs.values())  # resumed: start no workers
            evaluator = Evaluator(InlineBackend(system) if done else make_backend(backend, system, jobs), cache)
            try:
                results = run_counted(evaluator, list(specs.values()), task_callback(bar, f"validate {name}"))
            finally:
                evaluator.close()
                cache.close()
            for (label, (scenario, rep)), spec in specs.items():
                result = results[spec.key]
                rows.append({"strategy": name, "config": label, "scenario": scenario, "replicate": rep,
                             "seed": spec.seed, "ok": result.ok, "objective": result.value(objective),
                             **{f"metric.{k}": v for k, v in result.metrics.items()}})
    return pd.DataFrame(rows)


def _compare(run_dir: Path, scenario_set: ScenarioSet, runs: pd.DataFrame, tunes: list[StrategyTune],
             replicates: int) -> Comparison:
    """Every config's validation runs, paired against the winner: the comparison the report shows."""
    configs = {t.strategy: t.config for t in tunes}
    objective = MergeQueue().objectives["default"]
    mean = Aggregate.parse("mean")
    weights = scenario_set.weights
    values = {label: {(r.scenario, r.replicate): r.objective for r in part.itertuples()}
              for label, part in runs.groupby("config", sort=False)}
    failed = {label: int((~part["ok"]).sum()) for label, part in runs.groupby("config", sort=False)}
    effective = {}
    for label in values:
        strategy = MergeQueue(label.removesuffix(DEFAULTS)).strategy
        effective[label] = strategy.effective(resolve(strategy.knobs, configs.get(label, {})))

    def paired(labels: Sequence[str], baseline: str | None) -> ValidationResult:
        return summarize_paired({k: values[k] for k in labels}, failed, {k: effective[k] for k in labels}, weights,
                                objective, mean, replicates, baseline)

    winner = str(paired(list(values), None).summary["config"].iloc[0])
    strategy = winner.removesuffix(DEFAULTS)
    validation = paired(list(values), winner)
    other = strategy + DEFAULTS if winner == strategy else strategy
    own_alternative = paired([winner, other], other) if other in values else None
    table = _scenario_table(runs, weights)
    command = _next_command(strategy, effective[winner] if winner == strategy else {})
    return Comparison(run_dir, winner, strategy, effective[winner], validation, own_alternative, effective,
                      table, tunes, command)


def _scenario_table(runs: pd.DataFrame, weights: Mapping[str, float]) -> pd.DataFrame:
    """Per config and scenario: the mean objective with its 95 % CI and the shown metrics' means."""
    rows = []
    for (label, scenario), part in runs.groupby(["config", "scenario"], sort=False):
        m, var, n = sample_stats(part["objective"].tolist())
        row = {"config": label, "strategy": part["strategy"].iloc[0], "scenario": scenario,
               "weight": weights[scenario], "objective": m, "objective_ci95": ci_half_width([1.0], [var], [n])}
        for name in SHOWN_METRICS:
            values = part[f"metric.{name}"].to_numpy(dtype=float)
            row[name] = float(np.mean(values))
            row[f"{name}_ci95"] = ci_half_width([1.0], [float(np.var(values, ddof=1))], [len(values)])
        rows.append(row)
    return pd.DataFrame(rows)


def _next_command(strategy: str, config: Mapping[str, Any]) -> str:
    """The command that runs the winner (its knobs as --set flags; none for product defaults)."""
    settings = " ".join(f"--set {shlex.quote(f'{k}={v:g}' if isinstance(v, float) else f'{k}={v}')}"
                        for k, v in config.items())
    return f"loadwise mq run --strategy {strategy} {settings}".rstrip()


def _finite(x: Any) -> float | None:
    return float(x) if x is not None and math.isfinite(float(x)) else None
