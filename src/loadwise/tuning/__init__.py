"""Robust tuning across weighted scenarios, on Optuna: `tune(...)` and `validate(...)`.

`tune` searches knob settings that are best across a scenario set (deterministic
weighted by default), with progressive fidelity, common random numbers, adaptive
replication, racing against the incumbent and resumable RDB storage; it then validates
the top configs on fresh seeds and writes a run folder with a report. `validate`
re-evaluates configs (from a run folder and/or by name) on fresh seeds.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from loadwise.errors import ConfigError
from loadwise.evaluate import Evaluator, RunCache, make_backend
from loadwise.evaluate.runs import objective_value
from loadwise.app.progress import make_progress
from loadwise.app.rundir import new_run_dir, read_run_info, write_run_info
from loadwise.files import write_json
from loadwise.scenarios import FidelitySchedule, ScenarioSet, get_scenario_set, make_schedule
from loadwise.scenarios.fidelity import stages_from
from loadwise.scenarios.files import scenario_set_from_data, scenario_set_to_data
from loadwise.systems import get_system
from loadwise.systems.base import System, get_objective
from loadwise.params import resolve
from loadwise.tuning.aggregate import Aggregate
from loadwise.tuning.constraints import parse_constraints
from loadwise.tuning.named import named_configs, single_scenario_reference
from loadwise.tuning.report import build_report
from loadwise.tuning.slices import objective_slices
from loadwise.tuning.slices import slice_points as points_of
from loadwise.tuning.tuner import TrialRecord, Tuner, TuneSettings, ci_tol_default, prepare_run
from loadwise.tuning.validation import ValidationResult, validate_configs

__all__ = ["TuneResult", "TuneSettings", "ValidationResult", "demo_tune", "tune", "validate"]


@dataclass
class TuneResult:
    """What a tune found and where its run folder and report are."""

    run_dir: Path
    best_config: dict[str, Any] | None
    best_value: float
    best_ci: float
    trials: list[TrialRecord]
    simulations: int
    cached: int
    seconds: float
    search_seconds: float
    validation: ValidationResult | None
    report: dict[str, Path] = field(default_factory=dict)

    def __str__(self) -> str:
        best = "none" if self.best_config is None else f"{self.best_value:.5g} ± {self.best_ci:.3g} at {self.best_config}"
        return (f"best (full set): {best}\n{len(self.trials)} trials, {self.simulations} simulations run "
                f"(+{self.cached} cached) in {self.seconds:.1f} s ({self.search_seconds:.1f} s search)\nreport: {self.report.get('html', '-')}")


def tune(
    system: str | System = "submitqueue",
    scenarios: str | Path | ScenarioSet = "seed5",
    trials: int | None = None,
    *,
    fidelity: str | FidelitySchedule = "short",
    aggregate: str = "mean",
    objective: str | None = None,
    constraints: Sequence[str] = (),
    jobs: int | None = None,
    backend: str = "local",
    address: str | None = None,
    storage: str | None = None,
    resume: str | Path | None = None,
    seed: int = 0,
    out: str | Path | None = None,
    ci_tol: float | None | str = "auto",
    min_replicates: int = 1,
    max_replicates: int = 3,
    racing: bool = True,
    delta: float = 0.05,
    promote: int = 3,
    scenario_order: str = "information",
    early_fidelity: float = 1.0,
    budget: float | None = None,
    timeout: float | None = None,
    sampler: str = "tpe",
    validate_top: int = 3,
    validate_replicates: int = 3,
    slice_points: int = 2,
    study_name: str = "loadwise",
    progress: bool = True,
) -> TuneResult:
    """Tune `system` across `scenarios`; returns the best full-set config, validation and report paths.

    `fidelity` is "short" (all scenarios, quarter-length runs for trials 1–25; the
    default, since it finds more robust configs than the seed's schedule at one budget),
    "seed" (the seed's 1–10 / 11–25 / 26+ stages), "none" or a FidelitySchedule; `aggregate` is mean, worst, cvar:ALPHA or meanstd:KAPPA;
    `backend` local (process pool, `jobs` workers), ray (`address` for a cluster) or
    inline; `storage` any Optuna RDB URL (default: study.db in the run folder);
    `resume` a run folder to continue (finished simulations are never re-run; `trials`,
    when given, extends the study). `trials` defaults to 50. `scenario_order` is
    "information" (weight × spread) or "weight" (the seed's normal-and-spike-first preset).
    """
    optuna.logging.set_verbosity(logging.WARNING)
    started = time.monotonic()
    system_obj = get_system(system)
    obj = get_objective(system_obj, objective)
    if sampler not in ("tpe", "random"):
        raise ConfigError("sampler", f"{sampler!r} is not allowed (one of tpe, random)")
    if scenario_order not in ("information", "weight"):
        raise ConfigError("scenario_order", f"{scenario_order!r} is not allowed (one of information, weight)")
    if resume is None:
        scenario_set = get_scenario_set(scenarios).checked(system_obj.scenario_params)
        make_schedule(fidelity, scenario_set, early_fidelity)  # a bad schedule fails before a run folder exists
        Aggregate.parse(aggregate)
        parse_constraints(constraints)
        tol = ci_tol_default(system_obj, obj) if ci_tol == "auto" else ci_tol
        settings = TuneSettings(
            system=system if isinstance(system, str) else system_obj.name,
            scenarios=str(scenarios) if not isinstance(scenarios, ScenarioSet) else scenarios.name,
            trials=int(trials or 50), fidelity=fidelity if isinstance(fidelity, str) else fidelity.name,
            early_fidelity=early_fidelity, aggregate=str(Aggregate.parse(aggregate)), objective=obj.name,
            constraints=list(constraints), sampler=sampler, seed=int(seed), storage=storage, study_name=study_name,
            min_replicates=min_replicates, max_replicates=max_replicates, ci_tol=tol, racing=racing, delta=delta,
            promote=promote, scenario_order=scenario_order, budget=budget, timeout=timeout,
        )
        settings, run_dir = prepare_run(settings, out, None)
        info = read_run_info(run_dir, "tune")
        info["config"]["scenario_set"] = scenario_set_to_data(scenario_set)
        info["config"]["validate_top"], info["config"]["validate_replicates"] = validate_top, validate_replicates
        info["config"]["slice_points"] = slice_points
        write_run_info(run_dir, "tune", info["config"])
    else:
        settings, run_dir = prepare_run(TuneSettings(system="", scenarios="", trials=int(trials or 0)), None, resume)
        saved = read_run_info(run_dir, "tune")["config"]
        scenario_set = scenario_set_from_data(saved["scenario_set"], "run.json: scenario_set")
        validate_top, validate_replicates = saved["validate_top"], saved["validate_replicates"]
        slice_points = saved["slice_points"]
        if isinstance(system, str):
            system_obj = get_system(settings.system)
        write_run_info(run_dir, "tune", {**saved, "trials": settings.trials})
    if resume is not None:
        schedule = stages_from(saved["fidelity_stages"], name=settings.fidelity)
    else:
        schedule = fidelity if isinstance(fidelity, FidelitySchedule) else None
    tuner = Tuner(settings, run_dir, system_obj, scenario_set, schedule, jobs=jobs, backend=backend,
                  address=address, progress=progress, resuming=resume is not None)
    if resume is None:  # the resolved schedule, so that a resume uses exactly the same stages
        info = read_run_info(run_dir, "tune")
        info["config"]["fidelity_stages"] = [[st.first_trial, list(st.scenarios), st.fidelity]
                                             for st in tuner.schedule.stages]
        write_run_info(run_dir, "tune", info["config"])
    search_started = time.monotonic()
    try:
        records = tuner.run()
    except KeyboardInterrupt as exc:
        exc.run_dir = run_dir  # the CLI prints how to resume
        raise
    search_seconds = time.monotonic() - search_started
    best = tuner.best()
    validation = slices = None
    evaluator = tuner.evaluator  # the search's workers go on with validation and slices
    try:
        with make_progress(disable=not progress) as bar:
            if best is not None and validate_top > 0:
                configs = {"robust-best": best[0]}
                for i, cfg in enumerate(tuner.top(validate_top)[1:], start=2):
                    configs[f"robust-top{i}"] = cfg
                configs.update(named_configs(tuner.system))
                n = len(configs) * len(scenario_set.names) * max(2, validate_replicates)
                task = bar.add_task("validate", total=n)
                baseline = next((c for c in ("published-defaults", "defaults") if c in configs), None)
                validation = validate_configs(evaluator, configs, scenario_set, tuner.objective, tuner.aggregate,
                                              validate_replicates, settings.seed, baseline,
                                              on_result=lambda _r: bar.advance(task))
            if best is not None and slice_points > 0:
                space = _searched(tuner.system)
                n = sum(len(points_of(p, best[0][p.name], slice_points)) for p in space) * len(scenario_set.names)
                task = bar.add_task("slices", total=n)
                slices = objective_slices(evaluator, tuner.plans[-1], best[0], space, slice_points,
                                          on_result=lambda _r: bar.advance(task))
    finally:
        evaluator.close()
    seconds = time.monotonic() - started
    sims, cached = evaluator.executed, evaluator.reused
    table = tuner.cache.table()
    metric_cols = [c for c in table.columns if c.startswith("metric.")]
    table["objective"] = [
        objective_value(tuner.objective, ok, {k.removeprefix("metric."): v for k, v in row.items() if v == v})
        for ok, row in zip(table["ok"], table[metric_cols].to_dict("records"))
    ] if len(table) else []
    table.to_parquet(run_dir / "runs.parquet", index=False)
    report = build_report(tuner, records, validation, slices, seconds, single_scenario_reference(tuner.system))
    paths = report.write(run_dir)
    if validation is not None:
        validation.summary.to_csv(run_dir / "validation.csv", index=False)
    write_json(run_dir / "result.json", {
        "best_config": best[0] if best else None, "best_value": best[1] if best else None,
        "best_ci95": best[2] if best and math.isfinite(best[2]) else None,
        "trials": len(records), "simulations": sims, "cached": cached, "seconds": seconds,
        "search_seconds": search_seconds,
    })
    return TuneResult(run_dir, best[0] if best else None, best[1] if best else math.nan,
                      best[2] if best else math.nan, records, sims, cached, seconds, search_seconds, validation, paths)


def _searched(system: System) -> list[Any]:
    from loadwise.systems.base import search_space

    return search_space(system)


def validate(
    run_dir: str | Path | None = None,
    *,
    system: str | System | None = None,
    scenarios: str | Path | ScenarioSet | None = None,
    configs: Mapping[str, Mapping[str, Any]] | Sequence[str] | None = None,
    top: int = 3,
    replicates: int = 5,
    baseline: str | None = None,
    aggregate: str | None = None,
    objective: str | None = None,
    seed: int | None = None,
    jobs: int | None = None,
    backend: str = "local",
    address: str | None = None,
    timeout: float | None = None,
    out: str | Path | None = None,
    progress: bool = True,
) -> ValidationResult:
    """Re-evaluate configs on fresh seeds: the top `top` of a tune run folder plus `configs`.

    `configs` maps names to configs, or lists named configs of the system (e.g.
    "published-defaults"); `baseline` names the config that differences are paired
    against (default: the system's published defaults when named, else the first).
    Writes validation.md/.html and validation.csv into `out` (default: the run folder,
    or a new validate run folder).
    """
    optuna.logging.set_verbosity(logging.WARNING)
    chosen: dict[str, dict[str, Any]] = {}
    storage_url, study_name = None, "loadwise"
    if run_dir is not None:
        saved = read_run_info(run_dir, "tune")["config"]
        system_obj = get_system(system if system is not None else saved["system"])
        scenario_set = scenario_set_from_data(saved["scenario_set"], "run.json: scenario_set")
        aggregate = aggregate or saved["aggregate"]
        objective = objective or saved["objective"]
        seed = saved["seed"] if seed is None else seed
        storage_url = saved["storage"] or f"sqlite:///{(Path(run_dir) / 'study.db').resolve()}"
        study_name = saved["study_name"]
        settings = TuneSettings(**{k: v for k, v in saved.items() if k in TuneSettings.__dataclass_fields__})
        tuner = Tuner(settings, Path(run_dir), system_obj, scenario_set, progress=False)
        tuner.sync()
        for i, cfg in enumerate(tuner.top(top), start=1):
            chosen["robust-best" if i == 1 else f"robust-top{i}"] = cfg
    else:
        if system is None or scenarios is None:
            raise ConfigError("validate", "give a tune run folder, or a system and a scenario set")
        system_obj = get_system(system)
        scenario_set = get_scenario_set(scenarios).checked(system_obj.scenario_params)
    obj = get_objective(system_obj, objective)
    agg = Aggregate.parse(aggregate or "mean")
    if configs is None:
        chosen.update(named_configs(system_obj))
    elif isinstance(configs, Mapping):
        chosen.update({name: resolve(system_obj.knobs, cfg, f"{name}.") for name, cfg in configs.items()})
    else:
        chosen.update(named_configs(system_obj, list(configs)))
    if not chosen:
        raise ConfigError("--config", "nothing to validate: no top configs in the run and no named configs")
    if baseline is None:
        baseline = next((c for c in ("published-defaults", "defaults") if c in chosen), next(iter(chosen)))
    elif baseline not in chosen:
        raise ConfigError("--baseline", f"unknown config {baseline!r}; allowed: {', '.join(chosen)}")
    folder = Path(run_dir) if (run_dir is not None and out is None) else new_run_dir("validate", out)
    if run_dir is None:
        write_run_info(folder, "validate", {"system": system_obj.name, "scenario_set": scenario_set_to_data(scenario_set),
                                            "configs": chosen, "replicates": replicates})
        storage_url = f"sqlite:///{(folder / 'study.db').resolve()}"
    cache = RunCache(storage_url, study_name)
    evaluator = Evaluator(make_backend(backend, system_obj, jobs, timeout, address), cache)
    try:
        with make_progress(disable=not progress) as bar:
            task = bar.add_task("validate", total=len(chosen) * len(scenario_set.names) * max(2, replicates))
            result = validate_configs(evaluator, chosen, scenario_set, obj, agg, replicates, seed or 0, baseline,
                                      on_result=lambda _r: bar.advance(task))
    finally:
        evaluator.close()
    from loadwise.report import Report

    report = Report(f"Validation: {system_obj.name} on {scenario_set.name}")
    report.paragraph(f"{obj.name} ({obj.direction}), aggregate {agg}; configs: {', '.join(chosen)}.")
    result.add_to(report)
    report.table(_config_table(chosen), caption="Configs", floatfmt="{:.4g}")
    result.paths = report.write(folder, stem="validation")
    result.summary.to_csv(folder / "validation.csv", index=False)
    return result


def _config_table(configs: Mapping[str, Mapping[str, Any]]) -> Any:
    import pandas as pd

    return pd.DataFrame([{"config": name, **cfg} for name, cfg in configs.items()])


def demo_tune(out: str | Path, progress: bool = True, jobs: int | None = None, seed: int = 0) -> TuneResult:
    """A short robust tune of the submit queue on the seed's five scenarios, for `loadwise demo`.

    30 trials on the seed's schedule with quarter-length runs in the early stages (the
    last stage is full length, so the reported best is a full-set, full-length value),
    a small validation and one slice point per knob: about half a minute on two cores.
    The report is at `result.report["html"]` (and `["markdown"]`).
    """
    return tune("submitqueue", "seed5", trials=30, fidelity="seed", early_fidelity=0.25, out=out, jobs=jobs, seed=seed,
                validate_top=1, validate_replicates=2, slice_points=1, progress=progress)
