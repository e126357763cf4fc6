"""`tune`: robust tuning as a verb, with its run folder, progress bars and report.

The run folder holds `run.json` (the resolved settings, scenario set and fidelity
stages, so that a resume runs exactly the same search), `study.db` (the default
storage: Optuna's studies and the run cache), `runs.parquet` (every simulation),
`result.json` (the best config, the counts, the validation and the slices; written
last, so a folder without it holds an unfinished tune), `validation.csv` and the
report, which `render` writes from these files alone. Every input is checked before
anything is created or started, so a bad one leaves no folder behind.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import optuna
import pandas as pd

from loadwise.app.progress import make_progress, task_callback
from loadwise.app.results import validation_data, validation_from_data
from loadwise.app.rundir import (
    RUN_FILE,
    new_run_dir,
    note_unfinished,
    read_run_info,
    study_storage,
    undone_on_error,
    write_run_info,
)
from loadwise.errors import ConfigError
from loadwise.evaluate import Evaluator, RunCache, make_backend
from loadwise.evaluate.runs import objective_value
from loadwise.files import read_json, write_json
from loadwise.report.format import number, with_ci
from loadwise.report.tune import TuneCounts, tune_report
from loadwise.scenarios import (
    FidelitySchedule,
    ScenarioSet,
    get_scenario_set,
    make_schedule,
)
from loadwise.scenarios.fidelity import SCHEDULE_ALIASES, stages_from
from loadwise.scenarios.files import scenario_set_from_data, scenario_set_to_data
from loadwise.scenarios.presets import ALIASES
from loadwise.systems import get_system
from loadwise.systems.base import Objective, System, get_objective, run_cost, search_space
from loadwise.tuning import (
    Aggregate,
    TrialRecord,
    Tuner,
    TuneSettings,
    ValidationResult,
    check_settings,
    ci_tol_default,
    named_configs,
    objective_slices,
    published_baseline,
    ranked,
    single_scenario_reference,
    validate_configs,
)

_NO_CI = "one replicate per scenario"  # why a best value can lack an interval
RESULT_FILE = "result.json"


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
        best = "none" if self.best_config is None else f"{with_ci(self.best_value, self.best_ci, 5, _NO_CI)} at {self.best_config}"
        return (f"best (full set): {best}\n{len(self.trials)} trials, {self.simulations} simulations run "
                f"(+{self.cached} cached) in {number(self.seconds)} s ({number(self.search_seconds)} s search)\nreport: {self.report.get('html', '-')}")


@dataclass(frozen=True)
class SavedTune:
    """A tune run folder read back: what `resume` continues and `validate` re-evaluates."""

    run_dir: Path
    settings: TuneSettings
    scenario_set: ScenarioSet
    schedule: FidelitySchedule
    config: dict[str, Any]  # run.json's config as saved

    @property
    def storage(self) -> str:
        return self.settings.storage or study_storage(self.run_dir)


def read_tune(run_dir: str | Path, trials: int | None = None) -> SavedTune:
    """The saved tune in `run_dir`; `trials`, when given, extends its study.

    Preset and schedule names saved under their aliases are read as the names they
    stand for, so run folders written before the presets were renamed still resume.
    """
    run_dir = Path(run_dir)
    saved = read_run_info(run_dir, "tune")["config"]
    settings = TuneSettings(**{k: v for k, v in saved.items() if k in TuneSettings.__dataclass_fields__})
    settings.scenarios = ALIASES.get(settings.scenarios, settings.scenarios)
    settings.fidelity = SCHEDULE_ALIASES.get(settings.fidelity, settings.fidelity)
    if trials:
        settings.trials = int(trials)
    scenario_set = scenario_set_from_data(saved["scenario_set"], f"{run_dir / RUN_FILE}: scenario_set")
    schedule = stages_from(saved["fidelity_stages"], name=settings.fidelity)
    return SavedTune(run_dir, settings, scenario_set, schedule, saved)


def tune(
    system: str | System = "submitqueue",
    scenarios: str | Path | ScenarioSet = "sq-weighted5",
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
    ci_tol: float | str | None = "auto",
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
    default, since it finds more robust configs than the staged schedule at one
    budget), "staged" (trials 1–10 on the heaviest scenario, 11–25 on the two heaviest,
    26+ on all; alias "seed"), "none" or a FidelitySchedule; `aggregate` is mean, worst,
    cvar:ALPHA or meanstd:KAPPA; `backend` local (process pool, `jobs` workers), ray
    (`address` for a cluster) or inline; `storage` any Optuna RDB URL (default: study.db
    in the run folder); `resume` a run folder to continue (finished simulations are
    never re-run; `trials`, when given, extends the study). `trials` defaults to 50.
    `scenario_order` is "information" (weight × spread) or "weight" (heaviest
    scenarios first).
    """
    optuna.logging.set_verbosity(logging.WARNING)
    started = time.monotonic()
    if resume is None:
        system_obj = get_system(system)
        obj = get_objective(system_obj, objective)
        scenario_set = get_scenario_set(scenarios).checked(system_obj.scenario_params)
        schedule = make_schedule(fidelity, scenario_set, early_fidelity)
        settings = TuneSettings(
            system=system if isinstance(system, str) else system_obj.name,
            scenarios=scenario_set.name if isinstance(scenarios, ScenarioSet) else ALIASES.get(str(scenarios), str(scenarios)),
            trials=int(trials or 50), fidelity=schedule.name, early_fidelity=early_fidelity,
            aggregate=str(Aggregate.parse(aggregate)), objective=obj.name, constraints=list(constraints),
            sampler=sampler, seed=int(seed), storage=storage, study_name=study_name,
            min_replicates=min_replicates, max_replicates=max_replicates,
            ci_tol=ci_tol_default(system_obj, obj) if ci_tol == "auto" else ci_tol, racing=racing, delta=delta,
            promote=promote, scenario_order=scenario_order, budget=budget, timeout=timeout,
        )
        check_settings(settings, system_obj)
        if out is not None and (Path(out) / RUN_FILE).exists():
            raise ConfigError("out", f"{out} already holds a run; resume it, or choose another folder")
        extras: dict[str, Any] = {
            "scenario_set": scenario_set_to_data(scenario_set),
            "fidelity_stages": [[st.first_trial, list(st.scenarios), st.fidelity] for st in schedule.stages],
            "validate_top": validate_top, "validate_replicates": validate_replicates, "slice_points": slice_points,
        }
    else:
        previous = read_tune(resume, trials)
        settings, scenario_set, schedule = previous.settings, previous.scenario_set, previous.schedule
        if timeout is not None:  # a larger limit rescues runs that timed out: failed runs run again
            settings.timeout = timeout
        system_obj = get_system(settings.system) if isinstance(system, str) else system
        check_settings(settings, system_obj)
        extras = {k: v for k, v in previous.config.items() if k not in TuneSettings.__dataclass_fields__}
        validate_top, validate_replicates = extras["validate_top"], extras["validate_replicates"]
        slice_points = extras["slice_points"]
    workers = make_backend(backend, system_obj, jobs, settings.timeout, address)
    try:
        fresh = resume is None and (out is None or not Path(out).exists())
        run_dir = new_run_dir("tune", out) if resume is None else Path(resume)
        with undone_on_error(run_dir, fresh) if resume is None else nullcontext(run_dir):
            write_run_info(run_dir, "tune", {**asdict(settings), **extras})
            (run_dir / RESULT_FILE).unlink(missing_ok=True)  # a resumed tune is unfinished until it writes it again
            # a resumed tune that owns its storage replays its search from the cache (Tuner._forget_trials)
            tuner = Tuner(settings, settings.storage or study_storage(run_dir), system_obj, scenario_set,
                          schedule, replay=resume is not None and settings.storage is None)
        # the search's workers go on with validation and slices; budgets count warm-ups too
        evaluator = Evaluator(workers, tuner.cache, cost=lambda spec: run_cost(system_obj, spec.params, spec.fidelity))
        with make_progress(disable=not progress) as bar:
            search_started = time.monotonic()
            try:
                records = tuner.run(evaluator, task_callback(bar, "tune"))
            except KeyboardInterrupt as exc:
                exc.run_dir = run_dir  # the CLI prints how to resume
                raise
            search_seconds = time.monotonic() - search_started
            best = tuner.best()
            validation = slices = None
            if best is not None and validate_top > 0:
                configs = {**ranked(tuner.top(validate_top)), **named_configs(tuner.system)}
                validation = validate_configs(evaluator, configs, scenario_set, tuner.objective, tuner.aggregate,
                                              validate_replicates, settings.seed, published_baseline(configs),
                                              task_callback(bar, "validate"))
            if best is not None and slice_points > 0:
                slices = objective_slices(evaluator, tuner.plans[-1], best[0], search_space(tuner.system),
                                          slice_points, task_callback(bar, "slices"))
    finally:
        workers.close()
    seconds = time.monotonic() - started
    _runs_table(tuner.cache, tuner.objective).to_parquet(run_dir / "runs.parquet", index=False)
    if validation is not None:
        validation.summary.to_csv(run_dir / "validation.csv", index=False)
    write_json(run_dir / RESULT_FILE, {
        "best_config": best[0] if best else None, "best_value": best[1] if best else None,
        "best_ci95": best[2] if best and math.isfinite(best[2]) else None,
        "trials": len(records), "simulations": evaluator.executed, "cached": evaluator.reused,
        "failed": evaluator.failed, "full_length_runs": evaluator.executed_cost, "duplicates": evaluator.duplicates,
        "seconds": seconds, "search_seconds": search_seconds,
        "validation": None if validation is None else validation_data(validation),
        "slices": None if slices is None else slices.to_dict(orient="records"),  # knob values of mixed types
    })
    paths = render(run_dir, system_obj)
    return TuneResult(run_dir, best[0] if best else None, best[1] if best else math.nan,
                      best[2] if best else math.nan, records, evaluator.executed, evaluator.reused, seconds,
                      search_seconds, validation, paths)


def render(run_dir: str | Path, system: System | None = None) -> dict[str, Path]:
    """Write the tune's report from its folder: the study and run cache in its storage and `result.json`
    (counts, validation and slices). `system` is the tuned system when it is not one known by name.

    A tune stopped before it finished (no `result.json`) reports the search so far and
    says that validation did not run and how to finish it.
    """
    saved = read_tune(run_dir)
    if system is not None:
        system_obj = system
    else:
        try:
            system_obj = get_system(saved.settings.system)
        except ConfigError as exc:
            raise ConfigError("run_dir", f"{run_dir}: its system cannot be loaded by name ({exc.problem})") from None
    tuner = Tuner(saved.settings, saved.storage, system_obj, saved.scenario_set, saved.schedule)
    try:
        tuner.sync()
        result = read_json(saved.run_dir / RESULT_FILE) if (saved.run_dir / RESULT_FILE).is_file() else None
        counts = validation = slices = None
        if result is not None:
            counts = TuneCounts(result["simulations"], result.get("failed"), result["full_length_runs"],
                                result["cached"], result["seconds"])
            validation = validation_from_data(result["validation"]) if result.get("validation") else None
            slices = pd.DataFrame(result["slices"]) if result.get("slices") else None
        report = tune_report(tuner, tuner.records, validation, slices, counts, single_scenario_reference(system_obj))
    finally:
        tuner.cache.close()
    if result is None:
        note_unfinished(report, f"the search had finished {len(tuner.records)} trials, and validation and slices "
                        "did not run", f"loadwise tune --resume {saved.run_dir}")
    return report.write(saved.run_dir)


def _runs_table(cache: RunCache, objective: Objective) -> pd.DataFrame:
    """Every simulation of the study, with its objective value beside its metrics."""
    table = cache.table()
    metric_cols = [c for c in table.columns if c.startswith("metric.")]
    table["objective"] = [
        objective_value(objective, ok, {k.removeprefix("metric."): v for k, v in row.items() if pd.notna(v)})
        for ok, row in zip(table["ok"], table[metric_cols].to_dict("records"))
    ] if len(table) else []
    return table


def demo_tune(out: str | Path, progress: bool = True, jobs: int | None = None, seed: int = 0) -> TuneResult:
    """A short robust tune of the submit queue on its five weighted scenarios, for `loadwise demo`.

    30 trials on the staged schedule with quarter-length runs in the early stages (the
    last stage is full length, so the reported best is a full-set, full-length value),
    a small validation and one slice point per knob: about half a minute on two cores.
    The report is at `result.report["html"]` (and `["markdown"]`).
    """
    return tune("submitqueue", "sq-weighted5", trials=30, fidelity="staged", early_fidelity=0.25, out=out, jobs=jobs,
                seed=seed, validate_top=1, validate_replicates=2, slice_points=1, progress=progress)
