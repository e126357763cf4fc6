"""`validate`: re-evaluating configs on fresh seeds as a verb, with its files and report.

It validates the best configs of a tune run folder and any configs named or given, and
writes validation.json (what the report is written from), validation.md/.html and
validation.csv into the run folder (or `out`). Every input is checked before a folder is
created or a worker started.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import optuna

from loadwise.app.progress import make_progress, task_callback
from loadwise.app.results import validation_data, validation_from_data
from loadwise.app.rundir import new_run_dir, not_written, read_run_info, study_storage, write_run_info
from loadwise.app.tune import read_tune
from loadwise.errors import ConfigError
from loadwise.evaluate import Evaluator, RunCache, make_backend
from loadwise.files import read_json, write_json
from loadwise.params import resolve
from loadwise.report.validation import validation_report
from loadwise.scenarios import ScenarioSet, get_scenario_set
from loadwise.scenarios.files import scenario_set_to_data
from loadwise.systems import get_system
from loadwise.systems.base import System, get_objective, identity, run_cost
from loadwise.tuning import (
    Aggregate,
    Tuner,
    ValidationResult,
    named_configs,
    published_baseline,
    ranked,
    validate_configs,
)

__all__ = ["ValidationResult", "render", "validate"]

VALIDATION_FILE = "validation.json"


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
    cache: RunCache | None = None
    if run_dir is not None:
        saved = read_tune(run_dir)
        system_obj = get_system(system if system is not None else saved.settings.system)
        scenario_set = saved.scenario_set
        aggregate = aggregate or saved.settings.aggregate
        objective = objective or saved.settings.objective
        seed = saved.settings.seed if seed is None else seed
        tuner = Tuner(saved.settings, saved.storage, system_obj, scenario_set, saved.schedule)
        tuner.sync()
        chosen.update(ranked(tuner.top(top)))
        cache = tuner.cache
    else:
        if system is None or scenarios is None:
            raise ConfigError("run_dir", "give a tune run folder, or a system and a scenario set")
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
        raise ConfigError("configs", "nothing to validate: no top configs in the run and no named configs")
    if baseline is None:
        baseline = published_baseline(chosen) or next(iter(chosen))
    elif baseline not in chosen:
        raise ConfigError("baseline", f"unknown config {baseline!r}; allowed: {', '.join(chosen)}")
    workers = make_backend(backend, system_obj, jobs, timeout, address)
    try:
        folder = Path(run_dir) if (run_dir is not None and out is None) else new_run_dir("validate", out)
        if cache is None:
            write_run_info(folder, "validate", {"system": system_obj.name,
                                                "scenario_set": scenario_set_to_data(scenario_set),
                                                "configs": chosen, "replicates": replicates})
            cache = RunCache(study_storage(folder), "loadwise", identity(system_obj))
        with make_progress(disable=not progress) as bar:
            evaluator = Evaluator(workers, cache, cost=lambda spec: run_cost(system_obj, spec.params, spec.fidelity))
            result = validate_configs(evaluator, chosen, scenario_set, obj, agg, replicates,
                                      seed or 0, baseline, task_callback(bar, "validate"))
    finally:
        workers.close()
    result.summary.to_csv(folder / "validation.csv", index=False)
    write_json(folder / VALIDATION_FILE, {"system": system_obj.name, "scenario_set": scenario_set.name,
                                          "objective": obj.name, "aggregate": str(agg), **validation_data(result)})
    result.paths = render(folder)
    return result


def render(run_dir: str | Path) -> dict[str, Path]:
    """Write validation.md/.html from the folder's `validation.json` (a validate run, or a tune run validated again)."""
    run_dir = Path(run_dir)
    read_run_info(run_dir)
    if not (run_dir / VALIDATION_FILE).is_file():
        raise not_written(run_dir, VALIDATION_FILE, "loadwise validate")
    saved = read_json(run_dir / VALIDATION_FILE)
    objective = get_objective(get_system(saved["system"]), saved["objective"])
    report = validation_report(validation_from_data(saved), saved["system"], saved["scenario_set"], objective,
                               Aggregate.parse(saved["aggregate"]))
    return report.write(run_dir, stem="validation")
